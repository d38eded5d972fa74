//! The configuration file's shape: the typed TOML structs of `pwreset.toml` and their defaults.
//!
//! Unknown keys are rejected. Relative paths are resolved against the directory of the config
//! file. This module and its children read files but never the environment; `settings` decides
//! which file. Reading and TOML errors live in `load`, the checks run at load in `validate`, and
//! the error type in `error`. Nothing here knows about terminals, flags or exit codes.

mod error;
mod load;
mod serve;
#[cfg(test)]
mod tests;
mod validate;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use error::ConfigError;
pub use load::{LoadedConfig, Parsed, flatten, load, parse, settings_of};
pub use serve::{Cidr, ParsedServe, ServeConfig, parse_bind};
pub use validate::{check_base_url, is_loopback};

/// Shortest password a user may choose, and the floor of `password.length`, in characters.
/// Defined here rather than in `password` so that `config` depends on nothing that depends on it;
/// `password` re-exports it as `password::MIN_LENGTH`.
pub const PASSWORD_MIN_LENGTH: usize = 12;
/// Longest password a user may choose (never truncated), and the ceiling of `password.length`.
pub const PASSWORD_MAX_LENGTH: usize = 128;

/// Everything in `pwreset.toml`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[store]`: where the user store lives.
    pub store: StoreConfig,
    /// `[mail]`: how mail leaves pwreset.
    pub mail: MailConfig,
    /// `[links]`: reset links.
    pub links: LinksConfig,
    /// `[password]`: how passwords are hashed.
    pub password: PasswordConfig,
    /// `[templates]`: email templates and the values they share.
    pub templates: TemplatesConfig,
    /// `[security]`: how strict to be about the local files.
    pub security: SecurityConfig,
    /// `[audit]`: the audit log's key.
    pub audit: AuditConfig,
    /// `[serve]`: the reset page (`pwreset serve`).
    pub serve: ServeConfig,
}

/// `[audit]`
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// The file holding the key of the audit chain (mode 0600, created by `init`), relative to
    /// the config file. Keep it out of the store's backups. Default `audit.key`.
    pub key_file: PathBuf,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            key_file: PathBuf::from("audit.key"),
        }
    }
}

/// `[security]`
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Refuse to run (instead of warning) when the config or store is readable by others.
    pub strict_permissions: bool,
}

/// A duration written as text in the config, e.g. `"1h"`, `"30m"`, `"60s"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Duration(pub std::time::Duration);

impl From<Duration> for String {
    fn from(duration: Duration) -> String {
        crate::timefmt::duration(duration.secs())
    }
}

impl TryFrom<String> for Duration {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        humantime::parse_duration(&text).map(Duration).map_err(|e| {
            let why = match e {
                // Its message quotes the whole unit, however long.
                humantime::DurationError::UnknownUnit { .. } => "unknown unit".to_string(),
                other => other.to_string(),
            };
            // The error stays one short line whatever the value.
            let shown = crate::input::quoted(&text);
            format!("{shown} is not a duration like \"30m\" or \"1h\": {why}")
        })
    }
}

impl Duration {
    /// Whole seconds.
    pub fn secs(self) -> u64 {
        self.0.as_secs()
    }
    fn of(secs: u64) -> Self {
        Duration(std::time::Duration::from_secs(secs))
    }
}

/// The shortest and longest lifetime of a reset link (TOK-5).
pub const LINK_TTL_RANGE: std::ops::RangeInclusive<u64> = 300..=86_400;

/// `[links]`
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LinksConfig {
    /// The application's reset page; the link is this plus `?token=...`. Required to send links.
    pub base_url: Option<String>,
    /// How long a link works. Default 1h, allowed 5m to 24h.
    pub ttl: Duration,
    /// What happens to a user's earlier links when a new one is sent.
    pub supersede: Supersede,
    /// Minimum time between two links to the same user, unless forced. Default 60s.
    pub cooldown: Duration,
    /// Failed redemptions allowed per user per hour before redeeming is refused. Default 100.
    pub max_failed_redeems_per_hour: u32,
    /// Whether link mails also carry a one-time code to type on the reset page. Default true.
    pub code: bool,
}

impl Default for LinksConfig {
    fn default() -> Self {
        LinksConfig {
            base_url: None,
            ttl: Duration::of(3600),
            supersede: Supersede::Revoke,
            cooldown: Duration::of(60),
            max_failed_redeems_per_hour: 100,
            code: true,
        }
    }
}

/// What a new link does to older ones.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Supersede {
    /// Revoke the user's older outstanding links once the new mail is accepted.
    Revoke,
    /// Leave them working until they expire.
    Keep,
}

/// `[password]`
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    /// Length of generated temporary passwords. Default 16 (about 93 bits), at least 12.
    pub length: usize,
    /// How long a generated temporary password works. Default 24h.
    pub temp_ttl: Duration,
    /// argon2id memory cost in KiB. Default 19456 (OWASP minimum).
    pub argon2_memory_kib: u32,
    /// argon2id iterations. Default 2.
    pub argon2_iterations: u32,
    /// argon2id parallelism. Default 1.
    pub argon2_parallelism: u32,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        PasswordConfig {
            length: 16,
            temp_ttl: Duration::of(86_400),
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
        }
    }
}

/// `[templates]`
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TemplatesConfig {
    /// Folder whose files override the built-in templates, relative to the config file.
    pub dir: Option<PathBuf>,
    /// The application's name, as the emails call it.
    pub app_name: String,
    /// Who users should contact if they did not expect a mail, e.g. an address or phone number.
    pub support_contact: Option<String>,
    /// Where users log in, for the access-info mail.
    pub login_url: Option<String>,
    /// `[templates.password-change-link]`: values for that template only.
    #[serde(rename = "password-change-link")]
    pub password_change_link: TemplateOverride,
    /// `[templates.access-info]`: values for that template only.
    #[serde(rename = "access-info")]
    pub access_info: TemplateOverride,
    /// `[templates.password-changed]`: values for that template only.
    #[serde(rename = "password-changed")]
    pub password_changed: TemplateOverride,
}

/// `[templates.NAME]`: per-template values that replace the `[templates]` ones.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TemplateOverride {
    /// `app_name` for this template.
    pub app_name: Option<String>,
    /// `support_contact` for this template.
    pub support_contact: Option<String>,
}

impl TemplatesConfig {
    /// `app_name` and `support_contact` for template `name`, with its overrides applied.
    pub fn values_for(&self, name: &str) -> (String, Option<String>) {
        let own = match name {
            "password-change-link" => &self.password_change_link,
            "access-info" => &self.access_info,
            _ => &self.password_changed,
        };
        (
            own.app_name
                .clone()
                .unwrap_or_else(|| self.app_name.clone()),
            own.support_contact
                .clone()
                .or_else(|| self.support_contact.clone()),
        )
    }
}

impl Default for TemplatesConfig {
    fn default() -> Self {
        TemplatesConfig {
            dir: None,
            app_name: "our service".to_string(),
            support_contact: None,
            login_url: None,
            password_change_link: TemplateOverride::default(),
            access_info: TemplateOverride::default(),
            password_changed: TemplateOverride::default(),
        }
    }
}

/// `[store]`
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Path of the SQLite store, relative to the config file. Default `pwreset.db`.
    pub path: PathBuf,
    /// The store as a URL (`postgres://USER@HOST/DB?sslmode=...`, or `sqlite:PATH`); wins over
    /// `path`. Never with a password in it. Default: unset.
    pub url: Option<String>,
    /// A 0600 file holding the PostgreSQL role's password (`PGPASSWORD` wins; `~/.pgpass` is
    /// read when neither is set). Relative to the config file.
    pub password_file: Option<PathBuf>,
    /// How long to wait for the PostgreSQL server to answer a connect, unless the URL sets
    /// `connect_timeout`. Default 10s.
    pub connect_timeout: Option<Duration>,
    /// How long to wait for a lock held by another pwreset (e.g. cron), in milliseconds.
    pub busy_timeout_ms: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from("pwreset.db"),
            url: None,
            password_file: None,
            connect_timeout: None,
            busy_timeout_ms: 5000,
        }
    }
}

/// `[mail]`
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// Which transport sends mail: `file` (the default), `smtp` or `sendmail`.
    pub transport: Transport,
    /// The From header, e.g. `Example <no-reply@example.com>`.
    pub from: String,
    /// An optional Reply-To header, e.g. the helpdesk.
    pub reply_to: Option<String>,
    /// Who receives mail: the user (default) or `admin_email` (rehearsals, the partner-panel way).
    pub deliver_to: DeliverTo,
    /// The address used when `deliver_to = "admin"`.
    pub admin_email: Option<String>,
    /// Send a "your password was reset" notice when an admin sets a password without mailing it.
    pub notify_on_change: bool,
    /// Bulk runs send at most this many messages a minute (`--rate` overrides). Default: no cap.
    pub rate: Option<u32>,
    /// How often a 4xx reply or dropped connection is retried per message. Default 3.
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one. Default 2s.
    pub retry_backoff: Duration,
    /// `[mail.file]`: settings of the `file` transport.
    pub file: FileTransportConfig,
    /// `[mail.smtp]`: settings of the `smtp` transport.
    pub smtp: SmtpConfig,
    /// `[mail.sendmail]`: settings of the `sendmail` transport.
    pub sendmail: SendmailConfig,
    /// The language of users without a `locale` of their own, e.g. `en`, `pl`, `pt-BR`.
    /// Default `en`.
    pub default_locale: String,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            transport: Transport::File,
            from: "pwreset <no-reply@localhost>".to_string(),
            reply_to: None,
            deliver_to: DeliverTo::User,
            admin_email: None,
            notify_on_change: true,
            rate: None,
            retries: 3,
            retry_backoff: Duration::of(2),
            file: FileTransportConfig::default(),
            smtp: SmtpConfig::default(),
            sendmail: SendmailConfig::default(),
            default_locale: crate::user::locale::ENGLISH.to_string(),
        }
    }
}

/// The mail transports pwreset knows.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Each message becomes an `.eml` file in `mail.file.dir`.
    File,
    /// Submit to an SMTP server.
    Smtp,
    /// Pipe to the local `sendmail -t -i`.
    Sendmail,
}

/// Where mail goes.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DeliverTo {
    /// To the user's own address.
    User,
    /// To `mail.admin_email`.
    Admin,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (port 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    Starttls,
    /// No TLS: only to a loopback host and only without credentials.
    None,
}

/// `[mail.smtp]`
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Server host name (certificates are checked against it).
    pub host: String,
    /// Port. Default: 465 for implicit TLS, 587 for STARTTLS, 25 without TLS.
    pub port: Option<u16>,
    /// `implicit`, `starttls` (default) or `none`.
    pub tls: TlsMode,
    /// User name for AUTH; no AUTH without it.
    pub username: Option<String>,
    /// Environment variable holding the password. Default `PWRESET_SMTP_PASSWORD`.
    pub password_env: String,
    /// File holding the password (must be mode 0600); used when the variable is unset.
    pub password_file: Option<PathBuf>,
    /// Extra CA certificate (PEM) to trust, e.g. for an internal relay.
    pub ca_file: Option<PathBuf>,
    /// Connect and command timeout. Default 30s.
    pub timeout: Duration,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: "localhost".to_string(),
            port: None,
            tls: TlsMode::Starttls,
            username: None,
            password_env: "PWRESET_SMTP_PASSWORD".to_string(),
            password_file: None,
            ca_file: None,
            timeout: Duration::of(30),
        }
    }
}

impl SmtpConfig {
    /// The port in use, defaulting by TLS mode.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            TlsMode::Implicit => 465,
            TlsMode::Starttls => 587,
            TlsMode::None => 25,
        })
    }
}

/// `[mail.sendmail]`
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SendmailConfig {
    /// The sendmail program; it is run as `PATH -t -i`.
    pub path: PathBuf,
    /// How long the program may take to accept a message before it is killed. Default 30s.
    pub timeout: Duration,
}

impl Default for SendmailConfig {
    fn default() -> Self {
        SendmailConfig {
            path: PathBuf::from("/usr/sbin/sendmail"),
            timeout: Duration::of(30),
        }
    }
}

/// `[mail.file]`
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FileTransportConfig {
    /// Folder for `.eml` files, relative to the config file. Default `outbox`.
    pub dir: PathBuf,
}

impl Default for FileTransportConfig {
    fn default() -> Self {
        FileTransportConfig {
            dir: PathBuf::from("outbox"),
        }
    }
}
