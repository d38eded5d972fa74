//! The `file` transport: each message becomes an `.eml` file (mode 0600, it holds a secret)
//! in a folder, which is the embedded default. File names are `TIME-PID-SEQ.eml`, where SEQ
//! counts every mail of the process (not of one mailer: `serve` builds a mailer per notice), so
//! names never collide within a process, sort by time and then by order of sending, and an
//! existing file is never overwritten.

use std::fs::{DirBuilder, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
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
}

/// The mails this process has written so far, whichever mailer wrote them.
static SEQUENCE: AtomicU32 = AtomicU32::new(0);

/// How many names a mail tries before giving up (only files left by another process with the
/// same id, in the same second, are in the way).
const ATTEMPTS: u32 = 100;

impl FileMailer {
    /// A mailer writing into `dir` (created 0700 if missing). `now` dates the messages.
    pub fn new(dir: PathBuf, from: Mailbox, reply_to: Option<Mailbox>, now: SystemTime) -> Self {
        FileMailer {
            dir,
            from,
            reply_to,
            now,
        }
    }

    /// The next name of this process's mails: `TIME-PID-SEQ.eml`.
    fn next_path(&self) -> PathBuf {
        let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        let stamp = jiff::Timestamp::try_from(self.now)
            .map_or_else(|_| "0".into(), |t| t.strftime("%Y%m%dT%H%M%SZ").to_string());
        self.dir.join(format!(
            "{stamp}-{}-{:04}.eml",
            std::process::id(),
            sequence
        ))
    }

    /// A new file under the next free name (`create_new`: never an existing one), 0600.
    fn create(&self) -> Result<(std::fs::File, PathBuf), MailError> {
        let mut attempt = 0;
        loop {
            let path = self.next_path();
            let opened = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path);
            match opened {
                Ok(file) => return Ok((file, path)),
                Err(e) if e.kind() == ErrorKind::AlreadyExists && attempt < ATTEMPTS => {
                    attempt += 1;
                }
                Err(e) => return Err(local(&e, &path.display().to_string())),
            }
        }
    }
}

/// A failure of the file system, naming the file or folder.
fn local(e: &std::io::Error, what: &str) -> MailError {
    MailError::Local(format!("cannot write {what}: {e}"))
}

impl Mailer for FileMailer {
    fn send(&mut self, message: &Outgoing) -> Result<Delivered, MailError> {
        let email = build(&self.from, self.reply_to.as_ref(), message, self.now)?;
        if !self.dir.is_dir() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)
                .map_err(|e| local(&e, &self.dir.display().to_string()))?;
        }
        let (mut file, path) = self.create()?;
        let shown = path.display().to_string();
        file.write_all(&email.formatted())
            .map_err(|e| local(&e, &shown))?;
        file.sync_all().map_err(|e| local(&e, &shown))?;
        Ok(Delivered {
            detail: format!("written to {shown}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::secret::Secret;
    use crate::templates::Rendered;

    fn notice() -> Outgoing {
        Outgoing {
            to: "alice@example.com".into(),
            body: Rendered {
                subject: "Your password was changed".into(),
                text: Secret::new("plain".into()),
                html: Secret::new("<p>html</p>".into()),
            },
        }
    }

    /// One mail through a fresh mailer, as `serve` sends each notice.
    fn send_one(dir: &std::path::Path, now: SystemTime) -> String {
        let from: Mailbox = "no-reply@example.com".parse().expect("from");
        let mut mailer = FileMailer::new(dir.to_path_buf(), from, None, now);
        mailer.send(&notice()).expect("written").detail
    }

    fn names(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn fifty_mails_from_one_process_some_at_once_all_land_in_their_own_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outbox = dir.path().join("outbox");
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        std::thread::scope(|scope| {
            let senders: Vec<_> = (0..5)
                .map(|_| scope.spawn(|| (0..5).map(|_| send_one(&outbox, now)).collect()))
                .collect();
            for sender in senders {
                let sent: Vec<String> = sender.join().expect("no panic");
                assert_eq!(sent.len(), 5);
            }
        });
        for _ in 0..25 {
            send_one(&outbox, now);
        }
        assert_eq!(names(&outbox).len(), 50, "{:?}", names(&outbox));
    }

    #[test]
    fn file_names_sort_by_time_then_by_order_of_sending() {
        let dir = tempfile::tempdir().expect("tempdir");
        let early = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let late = early + Duration::from_secs(3600);
        let sent: Vec<String> = [early, early, late, late]
            .into_iter()
            .map(|now| send_one(dir.path(), now))
            .collect();
        let sent: Vec<String> = sent
            .iter()
            .map(|detail| {
                let path = detail.trim_start_matches("written to ");
                let name = std::path::Path::new(path).file_name().expect("a name");
                name.to_string_lossy().into_owned()
            })
            .collect();
        assert_eq!(
            names(dir.path()),
            sent,
            "the order of sending is the order of names"
        );
    }
}
