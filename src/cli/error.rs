//! The one place where an error becomes an exit code and a hint.
//!
//! Domain modules return their own `thiserror` enums and know nothing of exit codes, flags or
//! commands. This file maps each of them, with an exhaustive `match`, to an [`Exit`] and the
//! advice printed on the `hint:` line, so a new variant that nobody mapped does not compile.
//! Commands return [`CommandResult`]: `?` on a domain error needs that error's
//! `From<_> for CommandError`, which only the `classified!` list below provides, so a new
//! error type that nobody mapped does not compile either (rather than exiting 1).
//! The dependency points one way: the CLI imports the domain's errors, never the reverse.
//! This file holds the error type commands return and the list of classified types; the
//! mapping of each type is in `map`.

use crate::audit::AuditError;
use crate::bulk::BulkError;
use crate::cli::exit::{Exit, Failure};
use crate::config::ConfigError;
use crate::delivery::RecordError;
use crate::generate::GenerateError;
use crate::input::LimitError;
use crate::keys::KeyError;
use crate::links::{LinkError, Refusal};
use crate::mail::MailError;
use crate::password::HashError;
use crate::settings::{SettingsError, Untrusted};
use crate::store::StoreError;
use crate::store::sql::DbError;
use crate::templates::TemplateError;
use crate::tokens::TokenError;
use crate::users::import::ImportError;
use crate::users::{ResolveError, UserError};
use crate::web::ServeError;

pub use map::mail;
use map::{
    audit, audit_key, bulk, config, db, failure, generate, hash, import, limit, link, record,
    refusal, resolve, serve, settings, store, template, token, untrusted, user,
};

/// An exit code and the hint that goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// The exit code.
    pub exit: Exit,
    /// The advice on what to do next, if there is any.
    pub hint: Option<String>,
}

impl Class {
    fn new(exit: Exit) -> Self {
        Class { exit, hint: None }
    }

    fn hint(exit: Exit, hint: impl Into<String>) -> Self {
        Class {
            exit,
            hint: Some(hint.into()),
        }
    }
}

/// An error on its way to the top level, with the exit code and hint decided where it entered
/// the CLI.
#[derive(Debug)]
pub struct CommandError {
    class: Class,
    error: anyhow::Error,
}

/// What commands return.
pub type CommandResult<T> = Result<T, CommandError>;

impl CommandError {
    /// The exit code and hint.
    pub fn class(&self) -> &Class {
        &self.class
    }

    /// The error itself, with its causes.
    pub fn error(&self) -> &anyhow::Error {
        &self.error
    }
}

/// Errors from the terminal side (`ui`, `output`) and I/O with added context: classified by
/// the pwreset errors found among their causes, else exit 1.
impl From<anyhow::Error> for CommandError {
    fn from(error: anyhow::Error) -> Self {
        CommandError {
            class: classify(&error),
            error,
        }
    }
}

/// Errors that are none of pwreset's own: writing output, reading input. Exit 1 (a closed
/// stdout pipe is not reported at all).
macro_rules! foreign {
    ($($ty:ty),* $(,)?) => {
        $(impl From<$ty> for CommandError {
            fn from(err: $ty) -> Self {
                CommandError {
                    class: Class::new(Exit::Failure),
                    error: err.into(),
                }
            }
        })*
    };
}

foreign!(std::io::Error, csv::Error, serde_json::Error);

/// Errors this file knows how to classify.
pub trait Classify {
    /// The exit code and hint for this error.
    fn class(&self) -> Class;
}

/// Implement [`Classify`] and `From<_> for CommandError` for each error type with its mapping
/// function, and list the types once for [`classify`], which looks for them in an error's
/// chain of causes.
macro_rules! classified {
    ($($ty:ty => $map:ident),* $(,)?) => {
        $(impl Classify for $ty {
            fn class(&self) -> Class {
                $map(self)
            }
        }

        impl From<$ty> for CommandError {
            fn from(err: $ty) -> Self {
                CommandError {
                    class: $map(&err),
                    error: err.into(),
                }
            }
        })*

        fn known_cause(cause: &(dyn std::error::Error + 'static)) -> Option<Class> {
            $(if let Some(err) = cause.downcast_ref::<$ty>() {
                return Some(err.class());
            })*
            None
        }
    };
}

classified! {
    Failure => failure,
    ConfigError => config,
    StoreError => store,
    UserError => user,
    ResolveError => resolve,
    ImportError => import,
    LimitError => limit,
    AuditError => audit,
    KeyError => audit_key,
    TokenError => token,
    Refusal => refusal,
    LinkError => link,
    GenerateError => generate,
    RecordError => record,
    BulkError => bulk,
    HashError => hash,
    DbError => db,
    MailError => mail,
    TemplateError => template,
    SettingsError => settings,
    Untrusted => untrusted,
    ServeError => serve,
}

/// Decide the exit code and hint for an error: the outermost classified cause wins; an error
/// that is none of pwreset's own is exit 1.
pub fn classify(err: &anyhow::Error) -> Class {
    err.chain()
        .find_map(known_cause)
        .unwrap_or_else(|| Class::new(Exit::Failure))
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

mod map;
#[cfg(test)]
mod tests;
