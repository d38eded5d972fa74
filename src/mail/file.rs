//! The `file` transport: each message becomes an `.eml` file (mode 0600, it holds a secret)
//! in a folder, which is the embedded default.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::SystemTime;

use lettre::message::Mailbox;

use super::{Delivered, MailError, Mailer, Outgoing, build};

/// Writes messages into a folder.
#[derive(Debug)]
pub struct FileMailer {
    dir: PathBuf,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    now: SystemTime,
    sequence: u32,
}

impl FileMailer {
    /// A mailer writing into `dir` (created 0700 if missing). `now` dates the messages.
    pub fn new(dir: PathBuf, from: Mailbox, reply_to: Option<Mailbox>, now: SystemTime) -> Self {
        FileMailer {
            dir,
            from,
            reply_to,
            now,
            sequence: 0,
        }
    }

    fn next_path(&mut self) -> PathBuf {
        self.sequence += 1;
        let stamp = jiff::Timestamp::try_from(self.now)
            .map_or_else(|_| "0".into(), |t| t.strftime("%Y%m%dT%H%M%SZ").to_string());
        self.dir.join(format!(
            "{stamp}-{}-{:04}.eml",
            std::process::id(),
            self.sequence
        ))
    }
}

impl Mailer for FileMailer {
    fn send(&mut self, message: &Outgoing) -> Result<Delivered, MailError> {
        let email = build(&self.from, self.reply_to.as_ref(), message, self.now)?;
        let local =
            |e: std::io::Error, what: &str| MailError::Local(format!("cannot write {what}: {e}"));
        if !self.dir.is_dir() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)
                .map_err(|e| local(e, &self.dir.display().to_string()))?;
        }
        let path = self.next_path();
        let shown = path.display().to_string();
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| local(e, &shown))?;
        file.write_all(&email.formatted())
            .map_err(|e| local(e, &shown))?;
        file.sync_all().map_err(|e| local(e, &shown))?;
        Ok(Delivered {
            detail: format!("written to {shown}"),
        })
    }
}
