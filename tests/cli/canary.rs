//! The canary: one run of every command that handles a secret (send-link, tokens redeem,
//! generate by mail, generate --show on a pty, a bulk link run), then every byte pwreset wrote
//! (store, WAL, shared memory, outbox, any other file in its directory) and every byte of every
//! run's stdout and stderr is searched for each secret. A secret may appear only in the mail it
//! belongs to, and a shown password only on the terminal (TOK-3, PW-4, LOG-2).

use std::path::{Path, PathBuf};

use crate::support::{
    TestEnv, assert_exit, contains_bytes, html_part, on_terminal_unprompted, text_part, token_in,
};

/// The new password typed into `tokens redeem`: recognisable, and in no mail at all.
const CANARY_PASSWORD: &str = "Canary-Zebra-Quartz-4711-Lantern";

/// Where a secret may be seen.
#[derive(Debug)]
enum Home {
    /// Only in this mail of the outbox.
    Mail(PathBuf),
    /// Only on the terminal of the `--show` run.
    Terminal,
    /// Nowhere pwreset writes.
    Nowhere,
}

/// The `.eml` files of the outbox, oldest first.
fn mail_files(env: &TestEnv) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(env.path("outbox"))
        .expect("an outbox")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
}

/// The mails that arrived while `run` ran.
fn new_mails(env: &TestEnv, run: impl FnOnce()) -> Vec<PathBuf> {
    let before = mail_files(env);
    run();
    mail_files(env)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect()
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// The value after `prefix` on the line that has it, up to the end of the line.
fn after(text: &str, prefix: &str) -> String {
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix:?} in:\n{text}"))
        + prefix.len();
    text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect()
}

/// A mail as raw bytes and as decoded text, so an encoded secret is found too.
fn mail_views(path: &Path) -> Vec<Vec<u8>> {
    let raw = std::fs::read(path).expect("read mail");
    let text = text_part(&raw).into_bytes();
    let html = html_part(&raw).into_bytes();
    vec![raw, text, html]
}

/// What the runs left to check: the secrets with their homes, every run's output, the screen.
#[derive(Default)]
struct Canary {
    secrets: Vec<(&'static str, String, Home)>,
    outputs: Vec<(String, Vec<u8>)>,
    screen: String,
}

impl Canary {
    /// Run `args` (with `stdin`), require exit 0, keep its output; returns stdout and the mails
    /// it wrote.
    fn run(&mut self, env: &TestEnv, args: &[&str], stdin: &str) -> Vec<PathBuf> {
        let mut out = None;
        let mails = new_mails(env, || out = Some(env.run_stdin(args, stdin)));
        let out = out.expect("ran");
        assert_exit(&out, 0);
        self.outputs
            .push((format!("{args:?} stdout"), out.stdout.clone()));
        self.outputs
            .push((format!("{args:?} stderr"), out.stderr.clone()));
        mails
    }

    /// Each secret is where it belongs.
    fn assert_homes(&self) {
        for (what, secret, home) in &self.secrets {
            match home {
                Home::Mail(mail) => assert!(
                    mail_views(mail).iter().any(|v| contains_bytes(v, secret)),
                    "the {what} is not in its own mail"
                ),
                Home::Terminal => assert!(self.screen.contains(secret.as_str())),
                Home::Nowhere => {}
            }
        }
    }

    /// No file under `dir` holds a secret, except a mail holding its own.
    fn scan_files(&self, dir: &Path, label: &str) {
        for file in files_under(dir) {
            let views = if file.extension().is_some_and(|e| e == "eml") {
                mail_views(&file)
            } else {
                vec![std::fs::read(&file).expect("read file")]
            };
            for (what, secret, home) in &self.secrets {
                if matches!(home, Home::Mail(own) if *own == file) {
                    continue;
                }
                assert!(
                    !views.iter().any(|v| contains_bytes(v, secret)),
                    "{label}: the {what} is in {}",
                    file.display()
                );
            }
        }
    }

    /// No run printed a secret, and the `--show` terminal shows only its own.
    fn scan_outputs(&self) {
        for (what, secret, home) in &self.secrets {
            for (run, bytes) in &self.outputs {
                assert!(!contains_bytes(bytes, secret), "the {what} is in {run}");
            }
            if !matches!(home, Home::Terminal) {
                assert!(
                    !self.screen.contains(secret.as_str()),
                    "the {what} is on the --show terminal"
                );
            }
        }
    }
}

/// One run of each command that handles a secret.
fn run_everything(env: &TestEnv) -> Canary {
    let mut canary = Canary::default();

    // send-link: a token in alice's mail.
    let mails = canary.run(env, &["send-link", "alice"], "");
    assert_eq!(mails.len(), 1);
    let token = token_in(&std::fs::read(&mails[0]).expect("mail"));
    let home = Home::Mail(mails[0].clone());
    canary
        .secrets
        .push(("send-link token", token.clone(), home));

    // tokens redeem: the token and a new password on stdin; the notice carries neither.
    let stdin = format!("{token}\n{CANARY_PASSWORD}\n");
    canary.run(env, &["tokens", "redeem"], &stdin);
    let redeemed = CANARY_PASSWORD.to_string();
    canary
        .secrets
        .push(("redeemed password", redeemed, Home::Nowhere));

    // generate by mail: bob's temporary password in bob's mail.
    let mails = canary.run(env, &["--yes", "reset", "generate", "bob"], "");
    assert_eq!(mails.len(), 1);
    let text = text_part(&std::fs::read(&mails[0]).expect("mail"));
    let emailed = after(&text, "Temporary password: ");
    let home = Home::Mail(mails[0].clone());
    canary.secrets.push(("emailed password", emailed, home));

    // generate --show on a pty: alice's temporary password on the terminal only.
    let notices = new_mails(env, || {
        let args = ["--yes", "reset", "generate", "alice", "--show"];
        let (code, screen) = on_terminal_unprompted(env, &args);
        assert_eq!(code, 0, "{screen}");
        canary.screen = screen;
    });
    assert_eq!(notices.len(), 1, "the change notice");
    let shown = after(&canary.screen, "Temporary password for alice: ");
    assert!(
        shown.len() >= 12,
        "a password on the screen: {}",
        canary.screen
    );
    canary
        .secrets
        .push(("shown password", shown, Home::Terminal));

    // A bulk link run: a token in each mail.
    let mails = canary.run(env, &["reset", "bulk", "--link", "--all", "--yes"], "");
    assert!(!mails.is_empty(), "the bulk run mailed someone");
    for mail in mails {
        let token = token_in(&std::fs::read(&mail).expect("mail"));
        canary.secrets.push(("bulk token", token, Home::Mail(mail)));
    }
    canary
}

#[test]
fn every_secret_appears_only_where_it_belongs() {
    let env = TestEnv::with_samples();
    // A reader that never checkpoints keeps what pwreset writes in the WAL, to be scanned raw;
    // the scan walks the temp dir, where only an SQLite store keeps its files.
    let reader = env.sqlite("scans the store's files in the temp dir");
    reader
        .execute_batch("PRAGMA wal_autocheckpoint = 0;")
        .expect("no checkpoints");
    let users: i64 = reader
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .expect("read the store");
    assert_eq!(users, 4);

    let canary = run_everything(&env);
    canary.assert_homes();
    assert!(
        env.path("pwreset.db-wal").exists(),
        "the WAL is kept while the reader holds it"
    );
    canary.scan_files(env.dir(), "before the checkpoint");
    reader
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .expect("checkpoint");
    canary.scan_files(env.dir(), "after the checkpoint");
    canary.scan_outputs();
}
