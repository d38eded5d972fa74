//! The `sendmail` transport: the message is piped to `sendmail -t -i`, the classic Unix route.
//!
//! The child runs with a minimal environment (a fixed `PATH`, nothing of pwreset's own, so no
//! secret such as `PWRESET_SMTP_PASSWORD` reaches it), in a process group of its own, and is
//! killed with that group when it gives no answer within the configured timeout. Its output is
//! read on threads (keeping only the first few KiB), so a chatty child never blocks on a full
//! pipe. Nothing here prints.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use lettre::message::Mailbox;

use super::{Delivered, MailError, Mailer, Outgoing, build};

/// `sendmail` exits 75 (`EX_TEMPFAIL`) when the message should be retried later.
const EX_TEMPFAIL: i32 = 75;

/// The child's whole environment: a fixed search path, not pwreset's own.
const SAFE_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// A bare program name (no `/`) as the child's `PATH` finds it; any other path as it is.
fn on_safe_path(program: &Path) -> PathBuf {
    let bare = program.components().count() == 1 && program.is_relative();
    bare.then(|| {
        SAFE_PATH
            .split(':')
            .map(|dir| Path::new(dir).join(program))
            .find(|candidate| candidate.is_file())
    })
    .flatten()
    .unwrap_or_else(|| program.to_path_buf())
}

/// How much of the child's stderr is kept for the error message.
const STDERR_KEPT: u64 = 4096;

/// How often the child is checked for having exited.
const POLL: Duration = Duration::from_millis(10);

/// Pipes messages to a sendmail program.
#[derive(Debug)]
pub struct SendmailMailer {
    program: PathBuf,
    timeout: Duration,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    now: SystemTime,
}

impl SendmailMailer {
    /// A mailer running `program -t -i`, killed when it has not exited within `timeout`.
    pub fn new(
        program: PathBuf,
        timeout: Duration,
        from: Mailbox,
        reply_to: Option<Mailbox>,
        now: SystemTime,
    ) -> Self {
        SendmailMailer {
            program,
            timeout,
            from,
            reply_to,
            now,
        }
    }

    /// The program that runs for the configured `program`: that path, or for a bare name the
    /// file it names on the child's fixed search path (whose owner and directories must be
    /// trusted).
    pub fn program_at(program: &Path) -> PathBuf {
        on_safe_path(program)
    }

    fn spawn(&self, server: &str) -> Result<Child, MailError> {
        Command::new(&self.program)
            .args(["-t", "-i"])
            .env_clear()
            .env("PATH", SAFE_PATH)
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| MailError::Local(format!("cannot run {server}: {e}")))
    }

    /// Wait for the child to exit; past the timeout, kill its process group and return `None`.
    fn wait(&self, child: &mut Child, server: &str) -> Result<Option<ExitStatus>, MailError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let waited = child
                .try_wait()
                .map_err(|e| MailError::Local(format!("{server}: {e}")))?;
            if waited.is_some() {
                return Ok(waited);
            }
            if Instant::now() >= deadline {
                kill_group(child);
                return Ok(None);
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Mailer for SendmailMailer {
    fn send(&mut self, message: &Outgoing) -> Result<Delivered, MailError> {
        let email = build(&self.from, self.reply_to.as_ref(), message, self.now)?;
        let server = self.program.display().to_string();
        let mut child = self.spawn(&server)?;
        // Writing, and reading the child's output, happen on threads: a child that reads no
        // input or writes much output must not block pwreset, only run into the timeout.
        let writer = child.stdin.take().map(|mut stdin| {
            let bytes = email.formatted();
            std::thread::spawn(move || stdin.write_all(&bytes))
        });
        let drain = child.stdout.take().map(|mut stdout| {
            std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()))
        });
        let stderr = child.stderr.take().map(keep_head);
        let Some(status) = self.wait(&mut child, &server)? else {
            return Err(self.stopped(server, writer));
        };
        // The child has exited (and its group was not killed): its pipes close unless it left
        // a process behind holding them, so the threads are not waited for beyond this point.
        drop(drain);
        let written = writer.and_then(finished);
        if status.code().is_none() && written.as_ref().is_some_and(Result::is_ok) {
            // Killed by a signal (the OOM killer, an operator) after it took the message: it
            // may have queued it first.
            return Err(MailError::Unconfirmed {
                server,
                detail: "it was killed by a signal after it was handed the message".into(),
            });
        }
        if status.success() {
            if let Some(Err(e)) = written {
                return Err(MailError::Local(format!("cannot write to {server}: {e}")));
            }
            return Ok(Delivered {
                detail: format!("accepted by {server}"),
            });
        }
        let stderr = stderr.and_then(finished).unwrap_or_default();
        let stderr = String::from_utf8_lossy(&stderr)
            .trim()
            .replace(['\n', '\r'], " ");
        Err(refused(server, status, &stderr))
    }
}

impl SendmailMailer {
    /// The child was stopped at the timeout. Once the whole message was handed to it, it may
    /// have queued the mail before it hung: that is a mail possibly delivered (never resent),
    /// like a lost SMTP answer after the end of DATA.
    fn stopped(
        &self,
        server: String,
        writer: Option<JoinHandle<std::io::Result<()>>>,
    ) -> MailError {
        let within = format!(
            "no exit within {}s, so it was stopped",
            self.timeout.as_secs()
        );
        if writer
            .and_then(finished)
            .is_some_and(|written| written.is_ok())
        {
            return MailError::Unconfirmed {
                server,
                detail: within,
            };
        }
        MailError::Local(format!(
            "{server} gave no answer within {}s and was stopped; check the local mail system, or raise mail.sendmail.timeout",
            self.timeout.as_secs()
        ))
    }
}

/// Read the first [`STDERR_KEPT`] bytes of the child's stderr and discard the rest.
fn keep_head(stderr: ChildStderr) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut head = Vec::new();
        let mut stderr = stderr;
        let _ = (&mut stderr).take(STDERR_KEPT).read_to_end(&mut head);
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        head
    })
}

/// The thread's result once it finished; `None` if it has not within a second (a process the
/// child left behind may still hold the pipe open: pwreset does not wait for it).
fn finished<T>(handle: JoinHandle<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(1);
    while !handle.is_finished() && Instant::now() < deadline {
        std::thread::sleep(POLL);
    }
    if handle.is_finished() {
        handle.join().ok()
    } else {
        None
    }
}

fn refused(server: String, status: ExitStatus, stderr: &str) -> MailError {
    let reply = format!(
        "exit status {}{}",
        status.code().unwrap_or(-1),
        if stderr.is_empty() {
            String::new()
        } else {
            format!(": {stderr}")
        }
    );
    MailError::Refused {
        server,
        reply,
        transient: status.code() == Some(EX_TEMPFAIL),
    }
}

/// Kill the child's whole process group (it was started as the group's leader), then reap it.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}
