//! The test environment: a temp dir with a config and store, and a way to run pwreset in it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;

use crate::pg_support::PgTestDb;
pub use crate::testdb::{Backend, TestDb};

/// The fixed clock of every test run.
pub const NOW: &str = "2026-11-22T10:00:00Z";

/// Every pwreset run is killed after this long, and the test fails saying so: a hang is a
/// failure, never a test that runs forever. Generous, for loaded CI machines.
pub const RUN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// A temp dir holding `pwreset.toml`, the store (`pwreset.db`, or a PostgreSQL database of the
/// test's own when the test runs on PostgreSQL: [`crate::backend::current`]) and `outbox/`.
pub struct TestEnv {
    dir: tempfile::TempDir,
    pg: Option<PgTestDb>,
}

impl TestEnv {
    /// An empty temp dir, nothing initialised (on PostgreSQL, with an empty migrated database).
    pub fn empty() -> Self {
        TestEnv {
            dir: tempfile::tempdir().expect("tempdir"),
            pg: match crate::backend::current() {
                Backend::Sqlite => None,
                Backend::Postgres => Some(PgTestDb::new()),
            },
        }
    }

    /// A temp dir after `pwreset init --sample-users` (alice, bob, carol inactive, dave no email).
    pub fn with_samples() -> Self {
        let env = Self::empty();
        env.init(&["init", "--sample-users"]);
        env
    }

    /// A temp dir after `pwreset init` (no users).
    pub fn initialised() -> Self {
        let env = Self::empty();
        env.init(&["init"]);
        env
    }

    /// The test's PostgreSQL database, on that backend.
    pub fn pg(&self) -> Option<&PgTestDb> {
        self.pg.as_ref()
    }

    /// The temp dir.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the temp dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// pwreset with a cleared environment, the temp dir as working directory, a fixed clock,
    /// no system config file (never the machine's `/etc/pwreset`) and the [`RUN_DEADLINE`].
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("pwreset").expect("binary");
        cmd.env_clear()
            .current_dir(self.dir())
            .env("PWRESET_TEST_NOW", NOW)
            .env("PWRESET_TEST_SYSTEM_CONFIG", self.system_config())
            .timeout(RUN_DEADLINE);
        cmd
    }

    /// Where this test's pwreset looks last for a config, instead of `/etc/pwreset`: a file
    /// nobody writes, in the temp dir.
    fn system_config(&self) -> PathBuf {
        self.path("system/pwreset/config.toml")
    }

    /// Run with these arguments.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run pwreset")
    }

    /// Run and require exit 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(code(&out), 0, "pwreset {args:?} failed:\n{}", stderr(&out));
        stdout(&out)
    }

    /// Write a file into the temp dir.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("write file");
        path
    }

    /// Start pwreset in the background with these arguments: no stdin, stdout and stderr piped.
    /// Finish it with [`finish`].
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.process(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pwreset")
    }

    /// pwreset as a `std::process::Command`, set up like [`TestEnv::cmd`].
    pub fn process(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("pwreset"));
        cmd.env_clear()
            .env("PWRESET_TEST_NOW", NOW)
            .env("PWRESET_TEST_SYSTEM_CONFIG", self.system_config())
            .current_dir(self.dir())
            .args(args);
        cmd
    }

    /// The rexpect command for running pwreset on a pseudo-terminal.
    pub fn pty_command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = self.process(args);
        cmd.env("TERM", "dumb");
        cmd
    }
}

/// The exit code; fails the test if pwreset was killed (e.g. at the [`RUN_DEADLINE`]).
pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or_else(|| {
        panic!(
            "pwreset did not finish: killed ({}) after at most {}s\nstderr:\n{}",
            out.status,
            RUN_DEADLINE.as_secs(),
            stderr(out)
        )
    })
}

/// stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Assert the exit code and that stderr contains `needle`.
pub fn assert_fails(out: &Output, exit: i32, needle: &str) {
    let err = stderr(out);
    assert_eq!(code(out), exit, "expected exit {exit}; stderr:\n{err}");
    assert!(err.contains(needle), "stderr lacks {needle:?}:\n{err}");
}

/// The file mode bits.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

/// Run pwreset on a pseudo-terminal that answers no prompt (use with `--yes`); returns the exit
/// code and everything the terminal showed.
pub fn on_terminal_unprompted(env: &TestEnv, args: &[&str]) -> (i32, String) {
    let mut session = rexpect::session::spawn_command(env.pty_command(args), Some(10_000))
        .expect("spawn on a pty");
    let screen = session.exp_eof().expect("pwreset ends");
    match session.process().wait().expect("wait") {
        rexpect::process::WaitStatus::Exited(_, code) => (code, screen),
        other => panic!("pwreset did not exit normally: {other:?}"),
    }
}

/// Run pwreset on a pseudo-terminal, wait for `prompt`, type `answer`, and return the exit code
/// and everything the terminal showed.
pub fn on_terminal(env: &TestEnv, args: &[&str], prompt: &str, answer: &str) -> (i32, String) {
    on_terminal_meanwhile(env, args, prompt, || {}, answer)
}

/// [`on_terminal`], running `meanwhile` once the prompt is shown and before answering it (e.g.
/// another pwreset command while a bulk run waits for its confirmation).
pub fn on_terminal_meanwhile(
    env: &TestEnv,
    args: &[&str],
    prompt: &str,
    meanwhile: impl FnOnce(),
    answer: &str,
) -> (i32, String) {
    let mut session = rexpect::session::spawn_command(env.pty_command(args), Some(10_000))
        .expect("spawn on a pty");
    let mut seen = session.exp_string(prompt).expect("the prompt appears");
    seen.push_str(prompt);
    meanwhile();
    session.send_line(answer).expect("answer");
    seen.push_str(&session.exp_eof().expect("pwreset ends"));
    match session.process().wait().expect("wait") {
        rexpect::process::WaitStatus::Exited(_, code) => (code, seen),
        other => panic!("pwreset did not exit normally: {other:?}"),
    }
}

/// The text/plain part of a raw message, decoded.
pub fn text_part(raw: &[u8]) -> String {
    let parsed = mailparse::parse_mail(raw).expect("a MIME message");
    find_part(&parsed, "text/plain").expect("a text/plain part")
}

/// The text/html part of a raw message, decoded.
pub fn html_part(raw: &[u8]) -> String {
    let parsed = mailparse::parse_mail(raw).expect("a MIME message");
    find_part(&parsed, "text/html").expect("a text/html part")
}

fn find_part(mail: &mailparse::ParsedMail<'_>, mime: &str) -> Option<String> {
    if mail.ctype.mimetype == mime {
        return Some(mail.get_body().expect("decodable body"));
    }
    mail.subparts.iter().find_map(|part| find_part(part, mime))
}

/// The reset token in a message's text part (the 43 characters after `token=`).
pub fn token_in(raw: &[u8]) -> String {
    let text = text_part(raw);
    let start = text.find("token=").expect("a link with a token") + "token=".len();
    text[start..start + 43].to_string()
}

impl TestEnv {
    /// The `.eml` files in `outbox/`, oldest first.
    pub fn outbox(&self) -> Vec<Vec<u8>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.path("outbox"))
            .map(|dir| dir.map(|e| e.expect("entry").path()).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .map(|f| std::fs::read(f).expect("read eml"))
            .collect()
    }

    /// Send alice a link through the default file transport and return its token.
    pub fn link_for(&self, user: &str) -> String {
        let before = self.outbox().len();
        self.ok(&["send-link", user, "--force"]);
        let mails = self.outbox();
        assert_eq!(mails.len(), before + 1, "one new mail");
        token_in(mails.last().expect("a mail"))
    }

    /// Run with these arguments and this stdin.
    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Output {
        self.cmd()
            .args(args)
            .write_stdin(stdin)
            .output()
            .expect("run pwreset")
    }
}

/// Parse JSON output, or fail showing it.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("invalid JSON ({e}): {text}"))
}

/// Assert the exit code, showing stdout and stderr when it differs.
pub fn assert_exit(out: &Output, exit: i32) {
    assert_eq!(
        code(out),
        exit,
        "expected exit {exit}\nstdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

/// Whether `needle` occurs in `haystack` (for scanning files for secrets).
pub fn contains_bytes(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The password `set_old_password` gives a user.
pub const OLD_PASSWORD: &str = "old-password-123";

/// Give `username` the known password [`OLD_PASSWORD`], as if set before; returns its hash.
#[expect(
    clippy::disallowed_methods,
    reason = "the test draws a real salt from the OS RNG"
)]
pub fn set_old_password(env: &TestEnv, username: &str) -> String {
    let config = pwreset::config::PasswordConfig::default();
    let hash = pwreset::password::hash(OLD_PASSWORD, &config, &mut rand::rng())
        .expect("hash the old password");
    let changed = env.db().execute(
        "UPDATE users SET password_hash = ?1 WHERE username = ?2",
        &pwreset::vals![hash, username],
    );
    assert_eq!(changed, 1);
    hash
}

/// Every column of every user, to show that a command changed none of them.
pub fn users_snapshot(env: &TestEnv) -> Vec<String> {
    env.db().dump("users", "id")
}

/// How long a test waits for anything before failing: generous, for loaded CI machines.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Wait for a [`TestEnv::spawn`]ed pwreset to exit, reading its output meanwhile; kill it and
/// fail the test if it is still running after [`DEADLINE`].
pub fn finish(mut child: Child) -> Output {
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                pipe.read_to_end(&mut bytes).expect("read pwreset's output");
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let until = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for pwreset") {
            break status;
        }
        if Instant::now() >= until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pwreset did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Run pwreset and wait for it with [`finish`] (bounded by [`DEADLINE`]).
pub fn run_bounded(env: &TestEnv, args: &[&str]) -> Output {
    finish(env.spawn(args))
}
/// Wait until `done()` holds, failing the test (saying `what`) after [`DEADLINE`].
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + DEADLINE;
    while !done() {
        assert!(
            Instant::now() < until,
            "waited {DEADLINE:?} for {what}; giving up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A TCP connection whose reads and writes give up after [`DEADLINE`].
pub fn connect_bounded(addr: impl std::net::ToSocketAddrs) -> std::net::TcpStream {
    let stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(DEADLINE))
        .expect("read timeout");
    stream
        .set_write_timeout(Some(DEADLINE))
        .expect("write timeout");
    stream
}
