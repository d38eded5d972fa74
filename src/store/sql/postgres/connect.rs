//! Opening a connection to a [`PgTarget`]: TLS per its `sslmode`, every wait bounded (DB-4),
//! and failures sorted into the few kinds an admin can act on ([`PgConnectError`]).
//!
//! DB-4: tokio-postgres' own `connect_timeout` bounds only the TCP connect, so the whole of
//! connecting (TCP, the TLS handshake, startup and login) is bounded here by the target's
//! `connect_timeout`; the session gets a server-side `statement_timeout`
//! ([`STATEMENT_TIMEOUT`]) and TCP keepalives, and the client gives up any one wait for the
//! server after the statement timeout plus the connect timeout.
//!
//! The password is passed in (found by `settings`); it goes to the server only, never into an
//! error. Nothing here knows about flags or exit codes.

use std::time::Duration;

use tokio_postgres::config::SslMode as WireSslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{Config, NoTls, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::secret::Secret;

use super::client::PgClient;
use super::tls::{self, TlsSetupError};
use crate::db_url::{PgHost, PgTarget, SslMode};

/// Why no connection could be opened. Each message names the target (user, host, port,
/// database), never the password.
#[derive(Debug, thiserror::Error)]
pub enum PgConnectError {
    /// Called on a thread that runs a tokio runtime: the sync client would panic there.
    #[error("cannot connect to {target} from inside an async runtime")]
    InsideAsyncRuntime {
        /// The database.
        target: String,
    },
    /// No answer: wrong host or port, server down, firewall, or the connect timeout passed.
    #[error("cannot reach {target}: {reason}")]
    Unreachable {
        /// The database.
        target: String,
        /// What the network said.
        reason: String,
    },
    /// The server refused the role or its password, or asked for a password nobody gave.
    #[error("{target} refused the login: {reason}")]
    BadCredentials {
        /// The database.
        target: String,
        /// The server's words, or "no password was found".
        reason: String,
    },
    /// The server has no such database.
    #[error("{target}: the database does not exist")]
    MissingDatabase {
        /// The database.
        target: String,
    },
    /// TLS could not be set up or negotiated (no TLS on the server, an untrusted certificate,
    /// a host name the certificate does not name).
    #[error("TLS to {target} failed: {reason}")]
    Tls {
        /// The database.
        target: String,
        /// What failed.
        reason: String,
    },
    /// Anything else the server or client reported while connecting.
    #[error("cannot connect to {target}: {reason}")]
    Other {
        /// The database.
        target: String,
        /// The error.
        reason: String,
    },
}

/// The server-side bound on each statement of a pwreset session (DB-4): far above what any
/// statement of pwreset takes, far below "forever".
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(120);

/// How long an idle connection goes before the operating system probes the peer (TCP
/// keepalive), so that a server that vanished is noticed.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);

/// Connect to `target`, with `password` if the server asks for one.
///
/// The client is synchronous: it runs its own tokio runtime, and would panic ("Cannot start a
/// runtime from within a runtime") on a thread that already runs one. This returns
/// [`PgConnectError::InsideAsyncRuntime`] instead; async code (`serve`) must call it from a
/// blocking thread (`spawn_blocking`).
pub fn connect(target: &PgTarget, password: Option<&Secret>) -> Result<PgClient, PgConnectError> {
    let name = target.to_string();
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(PgConnectError::InsideAsyncRuntime { target: name });
    }
    let tls = tls::client_config(target.sslmode, target.sslrootcert.as_deref()).map_err(
        |e: TlsSetupError| PgConnectError::Tls {
            target: name.clone(),
            reason: e.to_string(),
        },
    )?;
    let config = wire_config(target, password);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PgConnectError::Other {
            target: name.clone(),
            reason: format!("cannot start the client's runtime: {e}"),
        })?;
    let bound = target.connect_timeout;
    let result = match tls {
        Some(tls) => open(runtime, &config, MakeRustlsConnect::new(tls), bound),
        None => open(runtime, &config, NoTls, bound),
    };
    match result {
        Ok(client) => Ok(client),
        Err(Some(e)) => Err(classify(&e, name, password.is_some())),
        Err(None) => Err(PgConnectError::Unreachable {
            target: name,
            reason: format!(
                "no answer within {}s (TLS, startup or login): the server or something in \
                 front of it accepted the connection and then went silent",
                bound.as_secs()
            ),
        }),
    }
}

/// Connect on `runtime` with `tls`, all of it within `bound` (`Err(None)`: the bound passed);
/// the connection's task is driven by the client's calls, each wait bounded too.
fn open<T>(
    runtime: tokio::runtime::Runtime,
    config: &Config,
    tls: T,
    bound: Duration,
) -> Result<PgClient, Option<tokio_postgres::Error>>
where
    T: MakeTlsConnect<Socket> + 'static,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    // The timer is made inside the runtime: it needs the runtime's clock.
    let connected =
        runtime.block_on(async { tokio::time::timeout(bound, config.connect(tls)).await });
    let (client, connection) = connected.map_err(|_elapsed| None)?.map_err(Some)?;
    let wait_bound = STATEMENT_TIMEOUT + bound;
    Ok(PgClient::new(runtime, client, connection, wait_bound))
}

fn wire_config(target: &PgTarget, password: Option<&Secret>) -> Config {
    let mut config = Config::new();
    match &target.host {
        PgHost::Tcp(host) => config.host(host),
        PgHost::Socket(dir) => config.host_path(dir),
    };
    config
        .port(target.port)
        .user(&target.user)
        .dbname(&target.dbname)
        .application_name(&target.application_name)
        // Plan every statement for the table as it is now: a generic plan cached while a bulk
        // run's tables were small (a new store) kept scanning them whole as they grew, which
        // made a 20,000-user run on a new store twice as slow.
        // DB-4: no statement runs forever, whoever holds what it waits for.
        .options(format!(
            "-c plan_cache_mode=force_custom_plan -c statement_timeout={}s",
            STATEMENT_TIMEOUT.as_secs()
        ))
        .connect_timeout(target.connect_timeout)
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE)
        .ssl_mode(match target.sslmode {
            SslMode::Disable => WireSslMode::Disable,
            SslMode::Prefer => WireSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => WireSslMode::Require,
        });
    if let Some(password) = password {
        config.password(password.expose());
    }
    config
}

/// Sort a connect failure by the server's SQLSTATE, else by the client's [`ClientKind`].
fn classify(err: &tokio_postgres::Error, target: String, password_given: bool) -> PgConnectError {
    if let Some(db) = err.as_db_error() {
        let code = db.code();
        if *code == SqlState::INVALID_CATALOG_NAME {
            return PgConnectError::MissingDatabase { target };
        }
        let reason = db.message().to_string();
        if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            return PgConnectError::BadCredentials { target, reason };
        }
        return PgConnectError::Other { target, reason };
    }
    let reason = with_causes(err);
    match ClientKind::of(err) {
        // The one configuration error `wire_config` leaves possible: the server asked for a
        // password and none was given.
        ClientKind::Config if !password_given => {
            let reason = "the server asked for a password and none was found".to_string();
            PgConnectError::BadCredentials { target, reason }
        }
        ClientKind::Tls => PgConnectError::Tls { target, reason },
        ClientKind::Connect | ClientKind::Timeout => PgConnectError::Unreachable { target, reason },
        ClientKind::Config | ClientKind::Other => PgConnectError::Other { target, reason },
    }
}

/// The kind of a client-side failure. tokio-postgres keeps its error kind private and shows it
/// only as the error's `Display`: one fixed label per kind, without the cause. [`Self::of`]
/// reads that label back, whole, in this one place; nothing matches the cause's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientKind {
    /// The socket could not be opened (refused, unreachable, or `connect_timeout` passed).
    Connect,
    /// The server stopped answering.
    Timeout,
    /// TLS was refused by the server or its handshake failed.
    Tls,
    /// The connection settings lacked something; for `wire_config`'s settings, a password.
    Config,
    /// Anything else.
    Other,
}

impl ClientKind {
    fn of(err: &tokio_postgres::Error) -> ClientKind {
        match err.to_string().as_str() {
            "error connecting to server" => ClientKind::Connect,
            "timeout waiting for server" => ClientKind::Timeout,
            "error performing TLS handshake" => ClientKind::Tls,
            "invalid configuration" => ClientKind::Config,
            _ => ClientKind::Other,
        }
    }
}

/// The error and its causes, `: `-separated (the crate's own message omits them).
fn with_causes(err: &tokio_postgres::Error) -> String {
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(err);
    while let Some(inner) = cause {
        let more = inner.to_string();
        if !text.ends_with(&more) {
            text = format!("{text}: {more}");
        }
        cause = inner.source();
    }
    text
}
