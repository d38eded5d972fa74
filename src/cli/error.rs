//! The one place where an error becomes an exit code and a hint.
//!
//! Domain modules return their own `thiserror` enums and know nothing of exit codes, flags or
//! commands. This file maps each of them, with an exhaustive `match`, to an [`Exit`] and the
//! advice printed on the `hint:` line, so a new variant that nobody mapped does not compile.
//! Commands return [`CommandResult`]: `?` on a domain error needs that error's
//! `From<_> for CommandError`, which only the `classified!` list below provides, so a new
//! error type that nobody mapped does not compile either (rather than exiting 1).
//! The dependency points one way: the CLI imports the domain's errors, never the reverse.

use crate::audit::{AuditError, KeyError};
use crate::bulk::BulkError;
use crate::config::ConfigError;
use crate::delivery::{DeliveryError, FlowError, RecordError};
use crate::exit::{Exit, Failure};
use crate::generate::{GenerateError, GenerateFailure};
use crate::input::LimitError;
use crate::links::{LinkError, LinkFailure, Refusal};
use crate::mail::MailError;
use crate::password::HashError;
use crate::settings::{Problem, SettingsError, Untrusted};
use crate::store::StoreError;
use crate::templates::TemplateError;
use crate::tokens::TokenError;
use crate::users::UserError;
use crate::users::import::ImportError;

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
    rusqlite::Error => sqlite,
    MailError => mail,
    TemplateError => template,
    SettingsError => settings,
    Untrusted => untrusted,
}

/// Decide the exit code and hint for an error: the outermost classified cause wins; an error
/// that is none of pwreset's own is exit 1.
pub fn classify(err: &anyhow::Error) -> Class {
    err.chain()
        .find_map(known_cause)
        .unwrap_or_else(|| Class::new(Exit::Failure))
}

fn failure(err: &Failure) -> Class {
    Class {
        exit: err.exit(),
        hint: err.hint_text().map(str::to_string),
    }
}

fn config(err: &ConfigError) -> Class {
    match err {
        ConfigError::NotFound { .. } => Class::hint(
            Exit::Config,
            "run `pwreset init` to create one, or point to it with --config / PWRESET_CONFIG",
        ),
        ConfigError::BadValue { message, .. } if message.contains("chmod") => {
            Class::new(Exit::Config)
        }
        ConfigError::Invalid { .. } | ConfigError::BadValue { .. } => Class::hint(
            Exit::Config,
            "compare with config.example.toml, which lists every key with its default",
        ),
        ConfigError::Unreadable { .. } => Class::new(Exit::Config),
    }
}

fn store(err: &StoreError) -> Class {
    match err {
        StoreError::Missing { .. } => Class::hint(
            Exit::Config,
            "run `pwreset init`, or point --db / PWRESET_DB at the store",
        ),
        StoreError::Open { .. } => Class::new(Exit::Config),
        StoreError::NewerSchema { .. } => {
            Class::hint(Exit::Config, "upgrade pwreset to use this store")
        }
        StoreError::Sqlite(e) => sqlite(e),
    }
}

/// The hint for a store locked by another writer.
const BUSY: &str = "another pwreset holds the store; try again, or raise store.busy_timeout_ms";

/// A database error: exit 1; a store still locked by another writer after
/// `store.busy_timeout_ms` is exit 8, with advice. Every error type holding a store error keeps
/// this hint, wherever the lock was met.
fn sqlite(err: &rusqlite::Error) -> Class {
    match err {
        rusqlite::Error::SqliteFailure(e, _)
            if matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            Class::hint(Exit::Config, BUSY)
        }
        _ => Class::new(Exit::Failure),
    }
}

/// The class of an error inside another: its exit code, and its hint only when it is
/// [`BUSY`] or [`NO_KEY`] (the other hints are about what the inner error's own command did).
fn inner(class: Class) -> Class {
    Class {
        exit: class.exit,
        hint: class.hint.filter(|hint| hint == BUSY || hint == NO_KEY),
    }
}

fn hash(_: &HashError) -> Class {
    Class::new(Exit::Failure)
}

fn user(err: &UserError) -> Class {
    match err {
        UserError::Unknown(_) => Class::hint(
            Exit::Refused,
            "find the user with `pwreset users list --search TEXT`",
        ),
        UserError::Ambiguous { .. } => Class::hint(Exit::Usage, "name the user by id, e.g. `#12`"),
        UserError::Invalid(_) => Class::new(Exit::Usage),
        UserError::EmailTaken { id, .. } => {
            Class::hint(Exit::Failure, format!("see `pwreset users show '#{id}'`"))
        }
        UserError::UsernameTaken(_) => Class::hint(Exit::Failure, "choose another with --username"),
        UserError::Store(err) => store(err),
        UserError::Audit(err) => inner(audit(err)),
    }
}

fn import(err: &ImportError) -> Class {
    match err {
        ImportError::Header(_) => Class::hint(
            Exit::Usage,
            "the first line must name columns from: email,username,name,active (email is required)",
        ),
        ImportError::Read(_) => Class::new(Exit::Usage),
        ImportError::Input(err) => limit(err),
        ImportError::Store(err) => inner(store(err)),
        ImportError::Audit(err) => inner(audit(err)),
    }
}

/// Input past a documented size limit: a usage error.
fn limit(_: &LimitError) -> Class {
    Class::hint(
        Exit::Usage,
        "split the input into smaller files (limits: 16 MiB, 1,000,000 lines, 64 KiB a line)",
    )
}

fn audit(err: &AuditError) -> Class {
    match err {
        AuditError::Broken { .. } => Class::hint(
            Exit::Failure,
            "the audit table was edited outside pwreset; keep a copy of the store for investigation",
        ),
        AuditError::NoKey { .. } => Class::hint(Exit::Config, NO_KEY),
        AuditError::Unanchored { .. } => Class::hint(
            Exit::Failure,
            "if this store was just upgraded, run `pwreset audit rekey`; otherwise the log was rewritten outside pwreset: keep a copy of the store",
        ),
        AuditError::HeadMissing { .. } => Class::hint(
            Exit::Failure,
            "the audit log was cut back or replaced after you recorded that head; keep a copy of the store for investigation",
        ),
        AuditError::Store(err) => store(err),
    }
}

/// The hint for a missing audit key.
const NO_KEY: &str = "restore the key file from where you keep it; if this store never had one (upgraded from before schema 4), run `pwreset audit rekey` to create it";

fn audit_key(err: &KeyError) -> Class {
    match err {
        KeyError::Missing { .. } => Class::hint(Exit::Config, NO_KEY),
        KeyError::ReadableByOthers { path, .. } => {
            Class::hint(Exit::Config, format!("run `chmod 600 {}`", path.display()))
        }
        KeyError::Malformed { .. } | KeyError::Io { .. } => Class::hint(
            Exit::Config,
            "restore the key file from where you keep it (audit.key_file in the config)",
        ),
    }
}

fn token(err: &TokenError) -> Class {
    match err {
        TokenError::Invalid | TokenError::Expired => Class::hint(
            Exit::TokenInvalid,
            "ask for a new link: pwreset send-link USER",
        ),
        TokenError::Throttled { .. } => Class::new(Exit::Refused),
        TokenError::Policy(_) => Class::new(Exit::Usage),
        TokenError::Hash(_) => Class::new(Exit::Failure),
        TokenError::Store(err) => inner(store(err)),
        TokenError::Audit(err) => inner(audit(err)),
    }
}

fn refusal(err: &Refusal) -> Class {
    let hint = match err {
        Refusal::Inactive(user) => {
            format!("activate the user first: pwreset users activate {user}")
        }
        Refusal::NoValidEmail(user) => format!("check the address with: pwreset users show {user}"),
        Refusal::BadHeader { id, .. } => format!(
            "see the user with `pwreset users show '#{id}'`, correct the name or address where the application wrote it, or run `pwreset users deactivate '#{id}'` meanwhile"
        ),
        Refusal::Cooldown { .. } => "wait, or pass --force to send another now".into(),
    };
    Class::hint(Exit::Refused, hint)
}

/// The failures every "mail a secret, then commit" action shares; `own` maps the rest.
fn delivery<E: FlowError>(err: &DeliveryError<E>, own: fn(&E) -> Class) -> Class {
    match err {
        DeliveryError::Refused(e) => refusal(e),
        DeliveryError::Mail(e) => mail(e),
        DeliveryError::Template(e) => template(e),
        DeliveryError::Store(e) => inner(store(e)),
        DeliveryError::Audit(e) => inner(audit(e)),
        DeliveryError::Own(e) => own(e),
    }
}

fn link(err: &LinkError) -> Class {
    delivery(err, |own| match own {
        LinkFailure::Token(e) => inner(token(e)),
        LinkFailure::RevokedMeanwhile => Class::new(Exit::Refused),
    })
}

fn generate(err: &GenerateError) -> Class {
    delivery(err, |own| match own {
        GenerateFailure::Hash(_) => Class::new(Exit::Failure),
    })
}

fn record(err: &RecordError) -> Class {
    match err {
        RecordError::Store(e) => inner(store(e)),
        RecordError::Audit(e) => inner(audit(e)),
    }
}

fn bulk(err: &BulkError) -> Class {
    match err {
        BulkError::Input(_) | BulkError::Run(_) => Class::new(Exit::Usage),
        BulkError::UnknownRun(_) => Class::hint(
            Exit::Usage,
            "run ids are printed when a run starts, and are in `pwreset audit --action 'bulk.*'`",
        ),
        BulkError::Aborted(_) => {
            Class::hint(Exit::Usage, "plan a new run, which checks every user again")
        }
        BulkError::UnknownAction { .. } => Class::new(Exit::Config),
        // Planning takes the write lock here: "another pwreset holds the store" applies.
        BulkError::Store(e) => store(e),
        BulkError::Audit(e) => inner(audit(e)),
    }
}

/// The exit code and hint of a mail error (also used by `smtp test`).
pub fn mail(err: &MailError) -> Class {
    match err {
        MailError::Config(_) => Class::new(Exit::Config),
        MailError::Connection { .. } if err.is_timeout() => Class::hint(
            Exit::MailNotDelivered,
            "the server did not answer in time: check that it is up, or raise mail.smtp.timeout",
        ),
        MailError::Connection { .. } if err.is_certificate() => Class::hint(
            Exit::MailNotDelivered,
            "the certificate must match mail.smtp.host and chain to a trusted CA; for a private CA set mail.smtp.ca_file",
        ),
        MailError::Connection { .. } => Class::hint(
            Exit::MailNotDelivered,
            "check mail.smtp.host, port and tls in the config",
        ),
        MailError::Unconfirmed { .. } => Class::hint(
            Exit::MailNotDelivered,
            "nothing was committed and it is not resent; ask the user whether it arrived",
        ),
        MailError::Refused {
            transient: true, ..
        } => Class::hint(
            Exit::MailNotDelivered,
            "the server asked to try again later",
        ),
        MailError::Refused { .. } | MailError::Build(_) | MailError::Local(_) => {
            Class::new(Exit::MailNotDelivered)
        }
    }
}

fn template(_: &TemplateError) -> Class {
    Class::hint(
        Exit::Config,
        "fix the template in templates.dir, or remove it to use the built-in one",
    )
}

fn settings(err: &SettingsError) -> Class {
    match err {
        SettingsError::Format(_) => Class::hint(Exit::Usage, "use table, json or csv"),
        SettingsError::ControlCharacters(_)
        | SettingsError::TestNow(_)
        | SettingsError::TestCrashAt(_) => Class::new(Exit::Usage),
    }
}

/// A file pwreset must not trust: exit 8, with the command that fixes it.
fn untrusted(err: &Untrusted) -> Class {
    let path = err.path.display();
    let hint = match err.problem {
        Problem::OwnedByOther => format!(
            "if you trust it, run `chown root {path}` (or give it to yourself); if not, remove it"
        ),
        Problem::WritableByGroup | Problem::WritableByOthers => {
            format!("run `chmod go-w {path}`")
        }
    };
    Class::hint(Exit::Config, hint)
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

#[cfg(test)]
mod tests;
