//! The `sendmail` transport: the message is piped to `sendmail -t -i`, the classic Unix route.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::SystemTime;

use lettre::message::Mailbox;

use super::{Delivered, MailError, Mailer, Outgoing, build};

/// `sendmail` exits 75 (`EX_TEMPFAIL`) when the message should be retried later.
const EX_TEMPFAIL: i32 = 75;

/// Pipes messages to a sendmail program.
#[derive(Debug)]
pub struct SendmailMailer {
    program: PathBuf,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    now: SystemTime,
}

impl SendmailMailer {
    /// A mailer running `program -t -i`.
    pub fn new(
        program: PathBuf,
        from: Mailbox,
        reply_to: Option<Mailbox>,
        now: SystemTime,
    ) -> Self {
        SendmailMailer {
            program,
            from,
            reply_to,
            now,
        }
    }
}

impl Mailer for SendmailMailer {
    fn send(&mut self, message: &Outgoing) -> Result<Delivered, MailError> {
        let email = build(&self.from, self.reply_to.as_ref(), message, self.now)?;
        let server = self.program.display().to_string();
        let mut child = Command::new(&self.program)
            .args(["-t", "-i"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| MailError::Local(format!("cannot run {server}: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(&email.formatted())
                .map_err(|e| MailError::Local(format!("cannot write to {server}: {e}")))?;
        }
        let output = child
            .wait_with_output()
            .map_err(|e| MailError::Local(format!("{server}: {e}")))?;
        if output.status.success() {
            return Ok(Delivered {
                detail: format!("accepted by {server}"),
            });
        }
        let stderr = String::from_utf8_lossy(&output.stderr)
            .trim()
            .replace('\n', " ");
        Err(MailError::Refused {
            server,
            reply: format!(
                "exit status {}{}",
                output.status.code().unwrap_or(-1),
                if stderr.is_empty() {
                    String::new()
                } else {
                    format!(": {stderr}")
                }
            ),
            transient: output.status.code() == Some(EX_TEMPFAIL),
        })
    }
}
