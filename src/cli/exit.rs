//! pwreset's documented exit codes, and [`Failure`], the error a command raises with its own code.
//!
//! Which code a domain error leads to is decided in one place at the CLI edge
//! (`cli/error.rs`); domain modules never name an exit code.

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

    /// The exit code.
    pub fn exit(&self) -> Exit {
        self.exit
    }

    /// The hint, if any.
    pub fn hint_text(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

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
}
