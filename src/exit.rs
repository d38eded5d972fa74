//! Exit codes and the one place that turns an error into a message, a hint and a code.
//!
//! Domain modules return their own error enums; this module knows each of them and maps it to an
//! [`Exit`]. Nothing else in pwreset chooses an exit code for an error or calls `process::exit`.

use std::fmt::{self, Write as _};

/// The documented exit codes of pwreset. The numbers are a stable interface for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Success, including "nothing to do".
    Ok = 0,
    /// Any failure not covered by a more specific code.
    Failure = 1,
    /// Bad flags, arguments or input; also a prompt that cannot be shown.
    Usage = 2,
    /// Some items of a batch failed; the others were done.
    Partial = 3,
    /// Refused: user unknown, inactive, without a valid email, or in cooldown. Nothing changed.
    Refused = 4,
    /// The operator answered "no" at a confirmation prompt.
    Aborted = 5,
    /// The mail was not accepted; nothing changed.
    MailNotDelivered = 6,
    /// A reset token is invalid, used or expired.
    TokenInvalid = 7,
    /// Configuration or store error: bad config, newer schema, unreadable file.
    Config = 8,
}

impl Exit {
    /// Every exit code, in numeric order.
    pub const ALL: [Exit; 9] = [
        Exit::Ok,
        Exit::Failure,
        Exit::Usage,
        Exit::Partial,
        Exit::Refused,
        Exit::Aborted,
        Exit::MailNotDelivered,
        Exit::TokenInvalid,
        Exit::Config,
    ];

    /// The numeric code handed to the operating system.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// One line describing when pwreset exits with this code.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Ok => "success (also: nothing to do)",
            Exit::Failure => "other failure",
            Exit::Usage => "usage error: bad flags or input, or a prompt without a terminal",
            Exit::Partial => "partial failure: some items of a batch failed, the rest were done",
            Exit::Refused => {
                "refused: user unknown, inactive, without a valid email, or in cooldown; nothing changed"
            }
            Exit::Aborted => "aborted at a confirmation prompt",
            Exit::MailNotDelivered => "mail not delivered; nothing changed",
            Exit::TokenInvalid => "token invalid, used or expired",
            Exit::Config => "configuration or store error",
        }
    }

    /// The exit-code table shown at the end of `pwreset --help`.
    pub fn help_table() -> String {
        Exit::ALL
            .iter()
            .fold(String::from("Exit codes:\n"), |mut out, exit| {
                let _ = writeln!(out, "  {}  {}", exit.code(), exit.meaning());
                out
            })
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

/// An error raised by a command itself, with the exit code and hint it should produce.
#[derive(Debug)]
pub struct Failure {
    exit: Exit,
    message: String,
    hint: Option<String>,
}

impl Failure {
    /// A failure with the given exit code and message.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Failure {
            exit,
            message: message.into(),
            hint: None,
        }
    }

    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Failure::new(Exit::Usage, message)
    }

    /// Attach a hint, printed on its own `hint:` line.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// What the top level prints and returns for an error.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The exit code.
    pub exit: Exit,
    /// The hint line, if any.
    pub hint: Option<String>,
}

/// Errors that know their own exit code and hint.
pub trait Classify {
    /// The exit code this error leads to.
    fn exit(&self) -> Exit;
    /// Advice on what to do next, if there is any.
    fn hint(&self) -> Option<String> {
        None
    }
}

impl Classify for Failure {
    fn exit(&self) -> Exit {
        self.exit
    }
    fn hint(&self) -> Option<String> {
        self.hint.clone()
    }
}

/// Whether the error is a closed pipe on stdout, which is not a failure (`pwreset ... | head -1`).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    let broken = |io: &std::io::Error| io.kind() == std::io::ErrorKind::BrokenPipe;
    err.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(broken)
            || cause
                .downcast_ref::<csv::Error>()
                .is_some_and(|e| matches!(e.kind(), csv::ErrorKind::Io(io) if broken(io)))
            || cause
                .downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}

/// The error and its causes on one line, `outer: inner`, leaving out a cause whose text the
/// line already holds (many errors quote their source in their own message).
pub fn message(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Decide the exit code and hint for an error: the outermost classified cause wins.
pub fn classify(err: &anyhow::Error) -> Outcome {
    for cause in err.chain() {
        if let Some(known) = as_classified(cause) {
            return Outcome {
                exit: known.exit(),
                hint: known.hint(),
            };
        }
    }
    Outcome {
        exit: Exit::Failure,
        hint: None,
    }
}

fn as_classified<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a dyn Classify> {
    macro_rules! try_types {
        ($($ty:ty),*) => {
            $(if let Some(e) = cause.downcast_ref::<$ty>() { return Some(e); })*
        };
    }
    try_types!(
        Failure,
        crate::config::ConfigError,
        crate::store::StoreError,
        crate::users::UserError,
        crate::users::import::ImportError,
        crate::audit::AuditError,
        crate::tokens::TokenError,
        crate::links::LinkError,
        crate::generate::GenerateError,
        crate::bulk::BulkError,
        crate::links::Refusal,
        crate::mail::MailError,
        crate::templates::TemplateError
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_numbers() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, vec![0, 1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn help_table_lists_every_code() {
        let table = Exit::help_table();
        for exit in Exit::ALL {
            assert!(table.contains(&format!("  {}  {}", exit.code(), exit.meaning())));
        }
    }

    #[test]
    fn failure_keeps_its_code_and_hint_through_context() {
        let err = anyhow::Error::new(Failure::new(Exit::Refused, "no").hint("try this"))
            .context("while doing a thing");
        assert_eq!(
            classify(&err),
            Outcome {
                exit: Exit::Refused,
                hint: Some("try this".into())
            }
        );
    }

    #[test]
    fn message_does_not_repeat_a_quoted_cause() {
        let io = std::io::Error::other("disk full");
        let err = anyhow::Error::new(crate::config::ConfigError::Unreadable {
            path: "/x".into(),
            source: io,
        })
        .context("loading settings");
        assert_eq!(
            message(&err),
            "loading settings: cannot read config /x: disk full"
        );
    }

    #[test]
    fn unknown_errors_are_exit_1() {
        let err = anyhow::anyhow!("something odd");
        assert_eq!(classify(&err).exit, Exit::Failure);
    }

    #[test]
    fn broken_pipe_is_recognised_under_context() {
        let io = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "pipe");
        let err = anyhow::Error::new(io).context("writing rows");
        assert!(is_broken_pipe(&err));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
        let io = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "pipe");
        assert!(is_broken_pipe(&anyhow::Error::new(csv::Error::from(io))));
    }
}
