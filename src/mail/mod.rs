//! Sending mail: a [`Mailer`] trait with three transports (`.eml` files, SMTP, sendmail), and
//! building a multipart/alternative message from a rendered template with typed headers only.
//!
//! Nothing here prints. Errors name the server and its reply, never credentials.

mod address;
mod file;
mod sendmail;
mod smtp;

use std::time::SystemTime;

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};

pub use address::{Address, Recipient, RecipientRule};
pub use file::FileMailer;
pub use sendmail::SendmailMailer;
pub use smtp::{SmtpMailer, SmtpSettings, Step};

use crate::templates::Rendered;

/// A message ready to send.
#[derive(Debug)]
pub struct Outgoing {
    /// Recipient address (already validated).
    pub to: String,
    /// The rendered template.
    pub body: Rendered,
}

/// What the transport said when it accepted a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// e.g. the server's reply, or the `.eml` path.
    pub detail: String,
}

/// Something that can send mail.
pub trait Mailer {
    /// Send one message; `Ok` only when the transport accepted it.
    fn send(&mut self, message: &Outgoing) -> Result<Delivered, MailError>;

    /// The transport's way of sending one message while the caller prepares the next, if it
    /// has one (SMTP: the server's processing overlaps pwreset's own work).
    fn pipelined(&mut self) -> Option<&mut dyn Pipelined> {
        None
    }
}

/// Sending in two steps: `submit` starts a message, `collect` waits for the transport's answer
/// about the oldest one still on its way (`Ok` only when it accepted it). At most `depth`
/// messages may be on their way at once.
pub trait Pipelined {
    /// How many messages may be on their way at once.
    fn depth(&self) -> usize {
        1
    }
    /// Start sending `message`.
    fn submit(&mut self, message: &Outgoing) -> Result<(), MailError>;
    /// Wait for the answer about the submitted message.
    fn collect(&mut self) -> Result<Delivered, MailError>;
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The mail settings are unusable (exit 8).
    #[error("{0}")]
    Config(String),
    /// A header value was rejected before sending (MAIL-2).
    #[error("cannot build the message: {0}")]
    Build(String),
    /// The server answered with an error.
    #[error("{server} refused the message: {reply}")]
    Refused {
        /// Which server.
        server: String,
        /// Its reply (code and text).
        reply: String,
        /// Whether the reply was a 4xx (worth retrying later).
        transient: bool,
    },
    /// The server could not be reached, or the connection failed.
    #[error("cannot talk to {server}: {detail}")]
    Connection {
        /// Which server.
        server: String,
        /// What failed.
        detail: String,
        /// What kind of failure, decided where the error is made.
        kind: ConnectionKind,
    },
    /// The message was handed to the server, but its answer never came (the connection broke
    /// or timed out after the message was sent): it may have been delivered. Never retried, so
    /// that nobody gets a second, different secret.
    #[error(
        "{server} took the message but its answer was lost ({detail}); it may have been delivered"
    )]
    Unconfirmed {
        /// Which server.
        server: String,
        /// What failed.
        detail: String,
    },
    /// The local transport (file, sendmail) failed.
    #[error("{0}")]
    Local(String),
}

/// What kind of failure a [`MailError::Connection`] is, for advice on what to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionKind {
    /// The server left a wait unanswered for all of `mail.smtp.timeout`.
    TimedOut,
    /// The server's TLS certificate was not accepted (unknown issuer, wrong name, expired).
    Certificate,
    /// Anything else: refused, reset, no STARTTLS, no usable AUTH mechanism.
    Other,
}

impl MailError {
    /// Whether trying again later may succeed (4xx replies, dropped connections).
    pub fn is_transient(&self) -> bool {
        match self {
            MailError::Refused { transient, .. } => *transient,
            MailError::Connection { .. } => true,
            _ => false,
        }
    }

    /// What the server (or the local transport) answered, kept with the link or temporary
    /// password the mail carried: the reply of a refusal, what failed otherwise. Names the
    /// server at most, never a credential (SMTP-4).
    pub fn reply(&self) -> String {
        match self {
            MailError::Refused { reply, .. } => reply.clone(),
            MailError::Connection { server, detail, .. }
            | MailError::Unconfirmed { server, detail } => {
                format!("{server}: {detail}")
            }
            MailError::Config(text) | MailError::Build(text) | MailError::Local(text) => {
                text.clone()
            }
        }
    }

    /// Whether the message may have reached the server although this is an error.
    pub fn may_have_been_delivered(&self) -> bool {
        matches!(self, MailError::Unconfirmed { .. })
    }
}

/// Build the message: From, To, optional Reply-To, Subject, Date, and a multipart/alternative
/// body with a text/plain and a text/html part.
pub fn build(
    from: &Mailbox,
    reply_to: Option<&Mailbox>,
    message: &Outgoing,
    date: SystemTime,
) -> Result<Message, MailError> {
    let to: Mailbox = message
        .to
        .parse()
        .map_err(|e| MailError::Build(format!("recipient {:?}: {e}", message.to)))?;
    if message.body.subject.contains(['\r', '\n', '\0']) {
        return Err(MailError::Build("the subject contains a line break".into()));
    }
    let mut builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(message.body.subject.clone())
        .date(date)
        .message_id(None);
    if let Some(reply_to) = reply_to {
        builder = builder.reply_to(reply_to.clone());
    }
    let body = MultiPart::alternative_plain_html(
        message.body.text.expose().to_string(),
        message.body.html.expose().to_string(),
    );
    builder
        .multipart(body)
        .map_err(|e| MailError::Build(e.to_string()))
}

/// `a***@example.com`: enough to recognise an address without showing it whole.
pub fn mask(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_string(),
    }
}

#[cfg(test)]
mod tests;
