//! Where a database lives: parsing `store.url` / `--db` / `PWRESET_DB` into a SQLite path or a
//! PostgreSQL target, and the TLS rules (DB-2) decided from the host.
//!
//! A leaf: the config checks a URL with it, the settings resolve one, and the driver
//! (`store::sql::postgres`) connects to what it describes, without any of them importing
//! another.
//!
//! Pure: no environment, no files, no network. A URL carrying a password is refused (DB-1); the
//! password is found later by `settings` (`PGPASSWORD`, `store.password_file`, `.pgpass`).

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use percent_encoding::percent_decode_str;

/// The default connect timeout when neither the URL nor the config names one.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where libpq looks for the server's socket when no host is given (Debian's build).
pub const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

/// A store location as given by the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite file (`sqlite:PATH` or a plain path).
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://` or `postgresql://`).
    Postgres(PgTarget),
}

/// How the client reaches the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgHost {
    /// A host name or IP address over TCP.
    Tcp(String),
    /// A directory holding the server's Unix socket.
    Socket(PathBuf),
}

/// The TLS policy, after the DB-2 rules were applied (see [`SslMode::effective`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plaintext: only for loopback hosts and Unix sockets.
    Disable,
    /// TLS if the server offers it, else plaintext: only for loopback hosts.
    Prefer,
    /// TLS required, the certificate not verified (libpq's meaning).
    Require,
    /// TLS with the certificate chain verified, not the host name.
    VerifyCa,
    /// TLS with the chain and the host name verified.
    VerifyFull,
}

/// A PostgreSQL database to connect to; it never holds a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTarget {
    /// Host or socket directory.
    pub host: PgHost,
    /// TCP port (also names the socket file).
    pub port: u16,
    /// Role to log in as.
    pub user: String,
    /// Database name.
    pub dbname: String,
    /// The TLS policy in force.
    pub sslmode: SslMode,
    /// CA certificates (PEM) for verify-ca/verify-full; the platform roots when `None`.
    pub sslrootcert: Option<PathBuf>,
    /// Bound on establishing the connection.
    pub connect_timeout: Duration,
    /// Shown in `pg_stat_activity`.
    pub application_name: String,
}

/// Why a store location was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The URL names a password (visible in `ps` and shell history).
    #[error("the store URL contains a password")]
    PasswordInUrl,
    /// The URL does not parse.
    #[error("invalid store URL: {0}")]
    Invalid(String),
    /// A query parameter pwreset does not know (a typo must not weaken TLS silently).
    #[error("unknown store URL parameter `{0}`")]
    UnknownParameter(String),
    /// A parameter with a value pwreset cannot use.
    #[error("invalid value for store URL parameter `{name}`: `{value}`")]
    BadValue {
        /// The parameter.
        name: String,
        /// Its value.
        value: String,
    },
    /// `sslmode=disable` towards a host that is not loopback.
    #[error(
        "sslmode=disable is refused for {host}: only loopback hosts and Unix sockets may use plaintext"
    )]
    PlaintextToRemote {
        /// The host.
        host: String,
    },
}

/// The query parameters pwreset accepts in a PostgreSQL URL.
pub const KNOWN_PARAMETERS: &[&str] = &[
    "host",
    "port",
    "user",
    "dbname",
    "sslmode",
    "sslrootcert",
    "connect_timeout",
    "application_name",
];

impl StoreLocation {
    /// `postgres://`/`postgresql://` URLs, `sqlite:PATH`, else a plain path. `default_user` is
    /// the role when the URL names none (libpq uses the OS user name).
    pub fn parse(text: &str, default_user: &str) -> Result<StoreLocation, TargetError> {
        if let Some(path) = text.strip_prefix("sqlite:") {
            return Ok(StoreLocation::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return PgTarget::parse(text, default_user).map(StoreLocation::Postgres);
        }
        Ok(StoreLocation::Sqlite(PathBuf::from(text)))
    }
}

/// The raw pieces of a URL before the defaults and DB-2 rules.
#[derive(Default)]
struct Pieces {
    host: Option<String>,
    port: Option<String>,
    user: Option<String>,
    dbname: Option<String>,
    sslmode: Option<String>,
    sslrootcert: Option<String>,
    connect_timeout: Option<String>,
    application_name: Option<String>,
}

impl PgTarget {
    /// Parse a `postgres://` or `postgresql://` URL (see [`KNOWN_PARAMETERS`]).
    pub fn parse(text: &str, default_user: &str) -> Result<PgTarget, TargetError> {
        let text = move_user_of_empty_host(text)?;
        let url = url::Url::parse(&text).map_err(|e| TargetError::Invalid(e.to_string()))?;
        if url.password().is_some() {
            return Err(TargetError::PasswordInUrl);
        }
        let pieces = Pieces::from_url(&url)?;
        pieces.resolve(default_user)
    }

    /// True for loopback hosts and Unix sockets: traffic that never leaves the machine.
    pub fn is_local(&self) -> bool {
        match &self.host {
            PgHost::Socket(_) => true,
            PgHost::Tcp(host) => is_loopback(host),
        }
    }
}

impl Pieces {
    fn from_url(url: &url::Url) -> Result<Pieces, TargetError> {
        let mut pieces = Pieces {
            host: url_host(url),
            port: url.port().map(|p| p.to_string()),
            user: Some(decode(url.username())?).filter(|u| !u.is_empty()),
            dbname: Some(decode(url.path().trim_start_matches('/'))?).filter(|d| !d.is_empty()),
            ..Pieces::default()
        };
        for (name, value) in url.query_pairs() {
            let value = value.into_owned();
            let slot = match name.as_ref() {
                "password" => return Err(TargetError::PasswordInUrl),
                "host" => &mut pieces.host,
                "port" => &mut pieces.port,
                "user" => &mut pieces.user,
                "dbname" => &mut pieces.dbname,
                "sslmode" => &mut pieces.sslmode,
                "sslrootcert" => &mut pieces.sslrootcert,
                "connect_timeout" => &mut pieces.connect_timeout,
                "application_name" => &mut pieces.application_name,
                other => return Err(TargetError::UnknownParameter(other.to_string())),
            };
            *slot = Some(value);
        }
        Ok(pieces)
    }

    fn resolve(self, default_user: &str) -> Result<PgTarget, TargetError> {
        let host = match self.host {
            Some(h) if h.starts_with('/') => PgHost::Socket(PathBuf::from(h)),
            Some(h) => PgHost::Tcp(h),
            None => PgHost::Socket(PathBuf::from(DEFAULT_SOCKET_DIR)),
        };
        let user = self.user.unwrap_or_else(|| default_user.to_string());
        let sslrootcert = self.sslrootcert.map(PathBuf::from);
        let asked = self.sslmode.as_deref().map(parse_sslmode).transpose()?;
        let sslmode = SslMode::effective(asked, &host, sslrootcert.is_some())?;
        Ok(PgTarget {
            port: parse_value("port", self.port, 5432_u16)?,
            dbname: self.dbname.unwrap_or_else(|| user.clone()),
            connect_timeout: parse_timeout(self.connect_timeout)?,
            application_name: self
                .application_name
                .unwrap_or_else(|| "pwreset".to_string()),
            host,
            user,
            sslmode,
            sslrootcert,
        })
    }
}

/// What the user asked for in `sslmode=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

fn parse_sslmode(value: &str) -> Result<Asked, TargetError> {
    Ok(match value {
        "disable" => Asked::Disable,
        "allow" | "prefer" => Asked::Prefer,
        "require" => Asked::Require,
        "verify-ca" => Asked::VerifyCa,
        "verify-full" => Asked::VerifyFull,
        _ => return Err(bad("sslmode", value)),
    })
}

impl SslMode {
    /// The DB-2 rules. Unix sockets never use TLS. A loopback host defaults to `prefer`; any
    /// other host defaults to `verify-full` (chain and name, against `sslrootcert` or the
    /// platform's roots: libpq's advice, so an on-path impostor is refused), refuses `disable`,
    /// and takes `allow`/`prefer` as `require` (never a silent plaintext fallback). `require` is
    /// an explicit downgrade; as in libpq, with an explicit `sslrootcert` it verifies the chain
    /// (`verify-ca`).
    fn effective(
        asked: Option<Asked>,
        host: &PgHost,
        has_root: bool,
    ) -> Result<SslMode, TargetError> {
        let PgHost::Tcp(name) = host else {
            return Ok(SslMode::Disable);
        };
        let local = is_loopback(name);
        Ok(match asked {
            Some(Asked::Disable) if !local => {
                return Err(TargetError::PlaintextToRemote { host: name.clone() });
            }
            Some(Asked::Disable) => SslMode::Disable,
            None | Some(Asked::Prefer) if local => SslMode::Prefer,
            Some(Asked::Prefer | Asked::Require) if has_root => SslMode::VerifyCa,
            Some(Asked::Prefer | Asked::Require) => SslMode::Require,
            Some(Asked::VerifyCa) => SslMode::VerifyCa,
            None | Some(Asked::VerifyFull) => SslMode::VerifyFull,
        })
    }
}

fn url_host(url: &url::Url) -> Option<String> {
    match url.host()? {
        url::Host::Domain("") => None,
        url::Host::Domain(d) => Some(decode(d).unwrap_or_else(|_| d.to_string())),
        url::Host::Ipv4(ip) => Some(ip.to_string()),
        url::Host::Ipv6(ip) => Some(ip.to_string()),
    }
}

/// `postgres://user@/db?host=/dir` is valid for libpq but not for a URL parser (a user with an
/// empty host): move the user into the query as `user=`. A `user:password@` is refused here.
fn move_user_of_empty_host(text: &str) -> Result<String, TargetError> {
    let Some((scheme, rest)) = text.split_once("://") else {
        return Ok(text.to_string());
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let Some(user) = authority.strip_suffix('@').filter(|u| !u.contains('@')) else {
        return Ok(text.to_string());
    };
    if user.contains(':') {
        return Err(TargetError::PasswordInUrl);
    }
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    let sep = if query.is_empty() { "" } else { "&" };
    Ok(format!("{scheme}://{path}?{query}{sep}user={user}"))
}

fn decode(text: &str) -> Result<String, TargetError> {
    percent_decode_str(text)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| TargetError::Invalid(format!("`{text}` is not UTF-8 once decoded")))
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn bad(name: &str, value: &str) -> TargetError {
    TargetError::BadValue {
        name: name.to_string(),
        value: value.to_string(),
    }
}

fn parse_value<T: std::str::FromStr>(
    name: &str,
    value: Option<String>,
    default: T,
) -> Result<T, TargetError> {
    match value {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| bad(name, &v)),
    }
}

/// Whole seconds, at least 1: libpq's 0 means "wait forever", which pwreset never does.
fn parse_timeout(value: Option<String>) -> Result<Duration, TargetError> {
    let Some(text) = value else {
        return Ok(DEFAULT_CONNECT_TIMEOUT);
    };
    match text.parse::<u64>() {
        Ok(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
        _ => Err(bad("connect_timeout", &text)),
    }
}

impl fmt::Display for PgTarget {
    /// `postgres://user@host:port/db` (or `?host=/socket/dir`), for messages; no password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            PgHost::Tcp(h) if h.contains(':') => {
                write!(
                    f,
                    "postgres://{}@[{h}]:{}/{}",
                    self.user, self.port, self.dbname
                )
            }
            PgHost::Tcp(h) => write!(
                f,
                "postgres://{}@{h}:{}/{}",
                self.user, self.port, self.dbname
            ),
            PgHost::Socket(dir) => write!(
                f,
                "postgres://{}@/{}?host={}&port={}",
                self.user,
                self.dbname,
                dir.display(),
                self.port
            ),
        }
    }
}

#[cfg(test)]
mod tests;
