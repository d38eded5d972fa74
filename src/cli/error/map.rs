//! The mapping itself: one function per error type, each an exhaustive `match` giving the exit
//! code and the hint. Only `cli/error.rs` uses it (through its `classified!` list); `smtp test`
//! also asks for a mail error's class.

use super::Class;
use crate::audit::AuditError;
use crate::bulk::BulkError;
use crate::cli::exit::{Exit, Failure};
use crate::config::ConfigError;
use crate::db_url::TargetError;
use crate::delivery::{DeliveryError, FlowError, RecordError};
use crate::generate::{GenerateError, GenerateFailure};
use crate::input::LimitError;
use crate::keys::KeyError;
use crate::links::{LinkError, LinkFailure, Refusal};
use crate::mail::{ConnectionKind, MailError};
use crate::password::HashError;
use crate::settings::{Problem, SettingsError, Untrusted};
use crate::store::StoreError;
use crate::store::sql::postgres::PgConnectError;
use crate::store::sql::{DbError, ErrorKind};
use crate::templates::TemplateError;
use crate::tokens::TokenError;
use crate::users::import::ImportError;
use crate::users::{ResolveError, UserError};
use crate::web::ServeError;

pub(super) fn failure(err: &Failure) -> Class {
    Class {
        exit: err.exit(),
        hint: err.hint_text().map(str::to_string),
    }
}

pub(super) fn config(err: &ConfigError) -> Class {
    match err {
        ConfigError::NotFound { .. } => Class::hint(
            Exit::Config,
            "run `pwreset init` to create one, or point to it with --config / PWRESET_CONFIG",
        ),
        ConfigError::BadStoreUrl {
            source: TargetError::PasswordInUrl,
            ..
        } => Class::hint(Exit::Config, NO_PASSWORD_IN_URL),
        ConfigError::BadStoreUrl { .. } => Class::hint(
            Exit::Config,
            "write it as postgres://USER@HOST:PORT/DATABASE or sqlite:PATH",
        ),
        ConfigError::Invalid { .. } | ConfigError::BadValue { .. } => Class::hint(
            Exit::Config,
            "compare with config.example.toml, which lists every key with its default",
        ),
        ConfigError::Unreadable { .. } | ConfigError::ReadableByOthers { .. } => {
            Class::new(Exit::Config)
        }
    }
}

pub(super) fn store(err: &StoreError) -> Class {
    match err {
        StoreError::Missing { .. } => Class::hint(
            Exit::Config,
            "run `pwreset init`, or point --db / PWRESET_DB at the store",
        ),
        StoreError::Open { .. } => Class::new(Exit::Config),
        StoreError::NewerSchema { .. } => {
            Class::hint(Exit::Config, "upgrade pwreset to use this store")
        }
        StoreError::Connect(e) => pg_connect(e),
        StoreError::Db(e) => db(e),
    }
}

/// The hint for a password in a store URL.
const NO_PASSWORD_IN_URL: &str = "remove the password from the URL (it would show in `ps` and \
     shell history): pwreset reads it from PGPASSWORD, store.password_file (0600) or ~/.pgpass";

/// A store URL pwreset refuses, given where `exit` says (a flag: 2; the config: 8).
fn store_url(err: &TargetError, exit: Exit) -> Class {
    match err {
        TargetError::PasswordInUrl => Class::hint(exit, NO_PASSWORD_IN_URL),
        TargetError::PlaintextToRemote { .. } => Class::hint(
            exit,
            "use sslmode=require or verify-full: a store that is not on this machine is reached over TLS",
        ),
        TargetError::Invalid(_)
        | TargetError::UnknownParameter(_)
        | TargetError::BadValue { .. } => Class::hint(
            exit,
            "write it as postgres://USER@HOST:PORT/DATABASE?sslmode=verify-full",
        ),
    }
}

/// No connection to a PostgreSQL store: exit 8, with what to check.
fn pg_connect(err: &PgConnectError) -> Class {
    let hint = match err {
        PgConnectError::InsideAsyncRuntime { .. } | PgConnectError::Other { .. } => {
            return Class::new(Exit::Config);
        }
        PgConnectError::Unreachable { .. } => {
            "check the host and port of the store URL and that the server accepts TCP \
             connections; the wait is bounded by connect_timeout (store.connect_timeout)"
        }
        PgConnectError::BadCredentials { .. } => {
            "give the role's password in PGPASSWORD, store.password_file (mode 0600) or a \
             ~/.pgpass line for this host, port, database and role; never in the URL"
        }
        PgConnectError::MissingDatabase { .. } => {
            "create it (`createdb -O ROLE NAME`); the first pwreset command then creates the schema"
        }
        PgConnectError::Tls { .. } => {
            "check sslmode and sslrootcert in the store URL: verify-full needs the CA that \
             signed the server's certificate in sslrootcert, and a certificate naming the host"
        }
    };
    Class::hint(Exit::Config, hint)
}

/// The hint for a store locked by another writer.
pub(super) const BUSY: &str =
    "another pwreset holds the store; try again, or raise store.busy_timeout_ms";

/// The hint for a database that stopped answering (DB-4).
pub(super) const TIMEOUT: &str = "the database did not answer in time: check the server and \
     what holds its locks (pg_stat_activity); each statement may take at most 120s";

/// A database error: exit 1; a store still locked by another writer after
/// `store.busy_timeout_ms` is exit 8, with advice. Every error type holding a store error keeps
/// this hint, wherever the lock was met.
pub(super) fn db(err: &DbError) -> Class {
    match err.kind() {
        ErrorKind::Busy => Class::hint(Exit::Config, BUSY),
        ErrorKind::Timeout => Class::hint(Exit::Config, TIMEOUT),
        ErrorKind::Unique | ErrorKind::Other => Class::new(Exit::Failure),
    }
}

/// The class of an error inside another: its exit code, and its hint only when it is
/// [`BUSY`] or [`TIMEOUT`] (the other hints are about what the inner error's own command did).
pub(super) fn inner(class: Class) -> Class {
    Class {
        exit: class.exit,
        hint: class.hint.filter(|hint| *hint == BUSY || *hint == TIMEOUT),
    }
}

pub(super) fn hash(_: &HashError) -> Class {
    Class::new(Exit::Failure)
}

/// A user not resolved, or the audit row of the refusal not written: each as on its own.
pub(super) fn resolve(err: &ResolveError) -> Class {
    match err {
        ResolveError::User(err) => user(err),
        ResolveError::Audit(err) => audit(err),
    }
}

pub(super) fn user(err: &UserError) -> Class {
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

pub(super) fn import(err: &ImportError) -> Class {
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
pub(super) fn limit(_: &LimitError) -> Class {
    Class::hint(
        Exit::Usage,
        "split the input into smaller files (limits: 16 MiB, 1,000,000 lines, 64 KiB a line)",
    )
}

pub(super) fn audit(err: &AuditError) -> Class {
    match err {
        AuditError::Broken { .. } => Class::hint(
            Exit::Failure,
            "the audit table was edited outside pwreset; keep a copy of the store for investigation",
        ),
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
pub(super) const NO_KEY: &str = "restore the key file from where you keep it; if this store never had one (upgraded from before schema 4), run `pwreset audit rekey` to create it";

pub(super) fn audit_key(err: &KeyError) -> Class {
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

pub(super) fn token(err: &TokenError) -> Class {
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

pub(super) fn refusal(err: &Refusal) -> Class {
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
pub(super) fn delivery<E: FlowError>(err: &DeliveryError<E>, own: fn(&E) -> Class) -> Class {
    match err {
        DeliveryError::Refused(e) => refusal(e),
        DeliveryError::Mail(e) => mail(e),
        DeliveryError::Template(e) => template(e),
        DeliveryError::Store(e) => inner(store(e)),
        DeliveryError::Audit(e) => inner(audit(e)),
        DeliveryError::Own(e) => own(e),
    }
}

pub(super) fn link(err: &LinkError) -> Class {
    delivery(err, |own| match own {
        LinkFailure::Token(e) => inner(token(e)),
        LinkFailure::RevokedMeanwhile => Class::new(Exit::Refused),
    })
}

pub(super) fn generate(err: &GenerateError) -> Class {
    delivery(err, |own| match own {
        GenerateFailure::Hash(_) => Class::new(Exit::Failure),
    })
}

pub(super) fn record(err: &RecordError) -> Class {
    match err {
        RecordError::Store(e) => inner(store(e)),
        RecordError::Audit(e) => inner(audit(e)),
    }
}

pub(super) fn bulk(err: &BulkError) -> Class {
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
        MailError::Connection {
            kind: ConnectionKind::TimedOut,
            ..
        } => Class::hint(
            Exit::MailNotDelivered,
            "the server did not answer in time: check that it is up, or raise mail.smtp.timeout",
        ),
        MailError::Connection {
            kind: ConnectionKind::Certificate,
            ..
        } => Class::hint(
            Exit::MailNotDelivered,
            "the certificate must match mail.smtp.host and chain to a trusted CA; for a private CA set mail.smtp.ca_file",
        ),
        MailError::Connection {
            kind: ConnectionKind::Other,
            ..
        } => Class::hint(
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

pub(super) fn template(_: &TemplateError) -> Class {
    Class::hint(
        Exit::Config,
        "fix the template in templates.dir, or remove it to use the built-in one",
    )
}

pub(super) fn settings(err: &SettingsError) -> Class {
    match err {
        SettingsError::Format(_) => Class::hint(Exit::Usage, "use table, json or csv"),
        SettingsError::ControlCharacters(_)
        | SettingsError::TestNow(_)
        | SettingsError::TestCrashAt(_) => Class::new(Exit::Usage),
        SettingsError::StoreUrl { error, .. } => store_url(error, Exit::Usage),
    }
}

/// A file pwreset must not trust: exit 8, with the command that fixes it.
pub(super) fn untrusted(err: &Untrusted) -> Class {
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

/// `serve` could not start: a bind failure is exit 8 with advice.
pub(super) fn serve(err: &ServeError) -> Class {
    match err {
        ServeError::Bind { .. } => Class::hint(
            Exit::Config,
            "another program may listen there, or the address is not this machine's; choose another with --bind or serve.bind",
        ),
        ServeError::Runtime(_) => Class::new(Exit::Failure),
    }
}
