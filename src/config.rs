//! The configuration file: typed TOML structs, their defaults, and validation at load.
//!
//! Unknown keys are rejected. Relative paths are resolved against the directory of the config
//! file. This module reads files but never the environment; `settings` decides which file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
        humantime::parse_duration(&text)
            .map(Duration)
            .map_err(|e| format!("{text:?} is not a duration like \"30m\" or \"1h\": {e}"))
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
}

impl Default for LinksConfig {
    fn default() -> Self {
        LinksConfig {
            base_url: None,
            ttl: Duration::of(3600),
            supersede: Supersede::Revoke,
            cooldown: Duration::of(60),
            max_failed_redeems_per_hour: 100,
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
    /// How long to wait for a lock held by another pwreset (e.g. cron), in milliseconds.
    pub busy_timeout_ms: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from("pwreset.db"),
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
}

impl Default for SendmailConfig {
    fn default() -> Self {
        SendmailConfig {
            path: PathBuf::from("/usr/sbin/sendmail"),
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

/// A problem with the configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No config file was found in any of the searched places.
    #[error("no configuration file found (looked in {searched})")]
    NotFound {
        /// The places searched, joined for display.
        searched: String,
    },
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the expected shape.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What was wrong and what was expected.
        message: String,
    },
    /// A value parsed but is not acceptable.
    #[error("{path}: {key}: {message}")]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The dotted key.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

/// A loaded config together with the file it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The file that was read.
    pub path: PathBuf,
    /// Its parsed contents.
    pub config: Config,
    /// The dotted keys the file sets (the others have their defaults).
    pub set_keys: std::collections::BTreeSet<String>,
}

impl LoadedConfig {
    /// Resolve a path from the config relative to the config file's directory.
    pub fn resolve(&self, relative: &Path) -> PathBuf {
        let base = self.path.parent().unwrap_or_else(|| Path::new("."));
        base.join(relative)
    }
}

/// Read and validate a config file.
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let config = parse(path, &text)?;
    let set_keys = toml::from_str::<toml::Table>(&text)
        .map(|table| flatten(&table))
        .unwrap_or_default()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    Ok(LoadedConfig {
        path: path.to_path_buf(),
        config,
        set_keys,
    })
}

/// Every leaf of a TOML table as `(dotted.key, value)`, in order.
pub fn flatten(table: &toml::Table) -> Vec<(String, toml::Value)> {
    let mut out = Vec::new();
    flatten_into(table, "", &mut out);
    out
}

fn flatten_into(table: &toml::Table, prefix: &str, out: &mut Vec<(String, toml::Value)>) {
    for (key, value) in table {
        let dotted = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => flatten_into(inner, &dotted, out),
            other => out.push((dotted, other.clone())),
        }
    }
}

/// Every setting of `config` (defaults included) as `(dotted.key, value)`.
pub fn settings_of(config: &Config) -> Vec<(String, toml::Value)> {
    toml::Table::try_from(config)
        .map(|table| flatten(&table))
        .unwrap_or_default()
}

/// Parse config text; `path` is only used in error messages.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let config: Config = toml::from_str(text).map_err(|err| invalid(path, text, &err))?;
    validate(path, &config)?;
    Ok(config)
}

fn invalid(path: &Path, text: &str, err: &toml::de::Error) -> ConfigError {
    let offset = err.span().map_or(0, |span| span.start);
    let (line, column) = line_and_column(text, offset);
    let message = err.message().trim().replace('\n', " ");
    ConfigError::Invalid {
        path: path.to_path_buf(),
        line,
        column,
        message,
    }
}

/// 1-based line and column of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn validate(path: &Path, config: &Config) -> Result<(), ConfigError> {
    let bad = |(key, message): Problem| ConfigError::BadValue {
        path: path.to_path_buf(),
        key: key.to_string(),
        message,
    };
    if config.store.path.as_os_str().is_empty() {
        return Err(bad(("store.path", "must not be empty".into())));
    }
    check_mail(&config.mail).map_err(bad)?;
    check_links(&config.links).map_err(bad)?;
    check_password(&config.password).map_err(bad)?;
    Ok(())
}

type Problem = (&'static str, String);

fn check_mail(mail: &MailConfig) -> Result<(), Problem> {
    let from = mail.from.parse::<lettre::message::Mailbox>();
    if from.is_err() || mail.from.chars().any(char::is_control) {
        let msg = format!(
            "{:?} is not a mailbox like `Example <no-reply@example.com>`",
            mail.from
        );
        return Err(("mail.from", msg));
    }
    if let Some(reply_to) = &mail.reply_to {
        if reply_to.parse::<lettre::message::Mailbox>().is_err()
            || reply_to.chars().any(char::is_control)
        {
            return Err((
                "mail.reply_to",
                format!("{reply_to:?} is not a mailbox like `Helpdesk <help@example.com>`"),
            ));
        }
    }
    match (&mail.deliver_to, &mail.admin_email) {
        (DeliverTo::Admin, None) => {
            return Err((
                "mail.admin_email",
                "is required when deliver_to = \"admin\"".into(),
            ));
        }
        (_, Some(admin)) => {
            crate::users::check_email(admin).map_err(|e| ("mail.admin_email", e))?;
        }
        (DeliverTo::User, None) => {}
    }
    if mail.transport == Transport::Smtp {
        check_smtp(&mail.smtp)?;
    }
    if mail.rate == Some(0) {
        return Err(("mail.rate", "must be at least 1 message a minute".into()));
    }
    if mail.retries > 10 || mail.retry_backoff.secs() > 300 {
        return Err((
            "mail.retries",
            "at most 10 retries, with retry_backoff at most 5m".into(),
        ));
    }
    Ok(())
}

/// SMTP-1: plain SMTP only to loopback and only without credentials, because lettre would
/// send AUTH in the clear if asked.
fn check_smtp(smtp: &SmtpConfig) -> Result<(), Problem> {
    if smtp.host.is_empty()
        || smtp
            .host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err((
            "mail.smtp.host",
            format!("{:?} is not a host name", smtp.host),
        ));
    }
    if smtp.tls == TlsMode::None {
        if !is_loopback(&smtp.host) {
            let msg = format!(
                "\"none\" (plain SMTP) is allowed only to a loopback host, not {}; use \"starttls\" or \"implicit\"",
                smtp.host
            );
            return Err(("mail.smtp.tls", msg));
        }
        if smtp.username.is_some() {
            let msg = "\"none\" cannot be used with a username: credentials would cross the network unencrypted";
            return Err(("mail.smtp.tls", msg.into()));
        }
    }
    if smtp.timeout.secs() == 0 || smtp.timeout.secs() > 300 {
        return Err(("mail.smtp.timeout", "must be between 1s and 5m".into()));
    }
    Ok(())
}

/// Whether a host name or address is this machine's loopback.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn check_links(links: &LinksConfig) -> Result<(), Problem> {
    if let Some(base) = &links.base_url {
        check_base_url(base).map_err(|e| ("links.base_url", e))?;
    }
    if !LINK_TTL_RANGE.contains(&links.ttl.secs()) {
        let msg = format!(
            "{} is outside 5m..24h",
            crate::timefmt::duration(links.ttl.secs())
        );
        return Err(("links.ttl", msg));
    }
    if links.cooldown.secs() > 86_400 {
        return Err(("links.cooldown", "must be at most 24h".into()));
    }
    Ok(())
}

/// MAIL-1: https, or http only for a loopback host; no user name or password; no fragment.
pub fn check_base_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    let host = url.host_str().unwrap_or_default();
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(host) => {}
        "http" => return Err(format!("{text:?} must use https (http only for localhost)")),
        other => return Err(format!("{text:?} has scheme {other}; use https")),
    }
    if host.is_empty() {
        return Err(format!("{text:?} has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{text:?} must not contain a user name or password"));
    }
    if url.fragment().is_some() {
        return Err(format!("{text:?} must not contain a #fragment"));
    }
    Ok(url)
}

fn check_password(password: &PasswordConfig) -> Result<(), Problem> {
    let floor = PasswordConfig::default();
    if password.argon2_memory_kib < floor.argon2_memory_kib {
        let msg = format!("must be at least {}", floor.argon2_memory_kib);
        return Err(("password.argon2_memory_kib", msg));
    }
    if password.argon2_iterations < floor.argon2_iterations {
        let msg = format!("must be at least {}", floor.argon2_iterations);
        return Err(("password.argon2_iterations", msg));
    }
    if password.length < crate::password::MIN_LENGTH
        || password.length > crate::password::MAX_LENGTH
    {
        let msg = format!(
            "must be between {} and {}",
            crate::password::MIN_LENGTH,
            crate::password::MAX_LENGTH
        );
        return Err(("password.length", msg));
    }
    if password.temp_ttl.secs() < 300 || password.temp_ttl.secs() > 30 * 86_400 {
        return Err(("password.temp_ttl", "must be between 5m and 30 days".into()));
    }
    if !(1..=16).contains(&password.argon2_parallelism) {
        return Err((
            "password.argon2_parallelism",
            "must be between 1 and 16".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Config, ConfigError> {
        parse(Path::new("/etc/pwreset/config.toml"), text)
    }

    #[test]
    fn example_config_mentions_every_key() {
        let text = include_str!("../config.example.toml");
        let optional = [
            "mail.admin_email",
            "mail.reply_to",
            "mail.rate",
            "mail.smtp.port",
            "mail.smtp.username",
            "mail.smtp.password_file",
            "mail.smtp.ca_file",
            "links.base_url",
            "templates.dir",
            "templates.support_contact",
            "templates.login_url",
        ];
        let keys = settings_of(&Config::default())
            .into_iter()
            .map(|(k, _)| k)
            .chain(optional.iter().map(|k| (*k).to_string()));
        for key in keys {
            let (section, name) = key.rsplit_once('.').unwrap_or(("", &key));
            let header = format!("[{section}]");
            let at = text
                .find(&header)
                .unwrap_or_else(|| panic!("no section {header} for {key}"));
            let body = &text[at..];
            let body = &body[..body[1..].find("\n[").map_or(body.len(), |i| i + 1)];
            assert!(
                body.contains(&format!("\n{name} =")) || body.contains(&format!("# {name} =")),
                "{key} is not in config.example.toml"
            );
        }
    }

    #[test]
    fn example_config_lists_the_defaults() {
        let text = include_str!("../config.example.toml");
        assert_eq!(parse_str(text).expect("example parses"), Config::default());
    }

    #[test]
    fn per_template_values_override_the_shared_ones() {
        let text = "[templates]\napp_name = \"Shop\"\nsupport_contact = \"help@shop\"\n[templates.access-info]\napp_name = \"Shop Admin\"\n";
        let config = parse_str(text).expect("parses");
        assert_eq!(
            config.templates.values_for("access-info"),
            ("Shop Admin".into(), Some("help@shop".into()))
        );
        assert_eq!(
            config.templates.values_for("password-change-link"),
            ("Shop".into(), Some("help@shop".into()))
        );
        assert!(
            parse_str("[templates.access-info]\ncolour = 1\n").is_err(),
            "unknown keys are rejected"
        );
    }

    #[test]
    fn the_rehearsal_config_in_contrib_is_valid() {
        let config = parse_str(include_str!("../contrib/rehearsal.toml"))
            .expect("contrib/rehearsal.toml parses");
        assert_eq!(config.mail.deliver_to, DeliverTo::Admin);
        assert_eq!(
            config.mail.admin_email.as_deref(),
            Some("helpdesk@example.com")
        );
    }

    #[test]
    fn empty_file_gives_defaults() {
        let config = parse_str("").expect("empty config parses");
        assert_eq!(config, Config::default());
        assert_eq!(config.store.path, PathBuf::from("pwreset.db"));
        assert_eq!(config.mail.transport, Transport::File);
    }

    #[test]
    fn unknown_key_is_rejected_with_line_and_column() {
        let err = parse_str("[store]\npath = \"x.db\"\ncolour = 3\n").expect_err("unknown key");
        let text = err.to_string();
        assert!(text.starts_with("/etc/pwreset/config.toml:3:1: "), "{text}");
        assert!(text.contains("unknown field `colour`"), "{text}");
        assert!(!text.contains('\n'), "one line: {text}");
    }

    #[test]
    fn wrong_type_names_what_was_expected() {
        let err = parse_str("[store]\nbusy_timeout_ms = \"soon\"\n").expect_err("wrong type");
        let text = err.to_string();
        assert!(text.contains(":2:19:"), "{text}");
        assert!(
            text.contains("invalid type: string \"soon\", expected u32"),
            "{text}"
        );
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse_str("[store\n").expect_err("syntax");
        assert!(matches!(err, ConfigError::Invalid { line: 1, .. }), "{err}");
    }

    #[test]
    fn unknown_transport_is_rejected() {
        let err = parse_str("[mail]\ntransport = \"pigeon\"\n").expect_err("transport");
        assert!(
            err.to_string().contains("unknown variant `pigeon`"),
            "{err}"
        );
    }

    #[test]
    fn bad_from_is_rejected() {
        let err = parse_str("[mail]\nfrom = \"not an address\"\n").expect_err("from");
        assert!(err.to_string().contains("mail.from"), "{err}");
    }

    #[test]
    fn plain_smtp_only_to_loopback_and_without_credentials() {
        let remote = "[mail]\ntransport = \"smtp\"\n[mail.smtp]\nhost = \"mail.example.com\"\ntls = \"none\"\n";
        assert!(
            parse_str(remote)
                .expect_err("remote plain")
                .to_string()
                .contains("loopback")
        );
        let creds = "[mail]\ntransport = \"smtp\"\n[mail.smtp]\nhost = \"127.0.0.1\"\ntls = \"none\"\nusername = \"u\"\n";
        assert!(
            parse_str(creds)
                .expect_err("creds in clear")
                .to_string()
                .contains("username")
        );
        let local =
            "[mail]\ntransport = \"smtp\"\n[mail.smtp]\nhost = \"localhost\"\ntls = \"none\"\n";
        assert_eq!(parse_str(local).expect("local relay").mail.smtp.port(), 25);
        let tls = "[mail]\ntransport = \"smtp\"\n[mail.smtp]\nhost = \"smtp.example.com\"\nusername = \"u\"\n";
        assert_eq!(parse_str(tls).expect("starttls").mail.smtp.port(), 587);
    }

    #[test]
    fn base_url_rules() {
        assert!(check_base_url("https://app.example.com/reset").is_ok());
        assert!(check_base_url("http://localhost:8080/reset").is_ok());
        assert!(check_base_url("http://127.0.0.1/reset").is_ok());
        assert!(check_base_url("http://app.example.com/reset").is_err());
        assert!(check_base_url("https://user:pw@app.example.com/").is_err());
        assert!(check_base_url("https://app.example.com/#x").is_err());
        assert!(check_base_url("ftp://app.example.com/").is_err());
        assert!(check_base_url("javascript:alert(1)").is_err());
        let err = parse_str("[links]\nbase_url = \"http://evil.example\"\n").expect_err("http");
        assert!(err.to_string().contains("links.base_url"), "{err}");
    }

    #[test]
    fn link_ttl_must_be_between_5m_and_24h() {
        assert!(parse_str("[links]\nttl = \"4m\"\n").is_err());
        assert!(parse_str("[links]\nttl = \"25h\"\n").is_err());
        assert_eq!(
            parse_str("[links]\nttl = \"2h\"\n")
                .expect("2h")
                .links
                .ttl
                .secs(),
            7200
        );
        let err = parse_str("[links]\nttl = \"soon\"\n").expect_err("bad duration");
        assert!(err.to_string().contains(":2:7:"), "{err}");
    }

    #[test]
    fn admin_delivery_needs_an_admin_address() {
        assert!(parse_str("[mail]\ndeliver_to = \"admin\"\n").is_err());
        let ok = parse_str("[mail]\ndeliver_to = \"admin\"\nadmin_email = \"ops@example.com\"\n");
        assert_eq!(ok.expect("admin").mail.deliver_to, DeliverTo::Admin);
    }

    #[test]
    fn argon2_parameters_may_only_go_up() {
        assert!(parse_str("[password]\nargon2_memory_kib = 1024\n").is_err());
        assert!(
            parse_str("[password]\nargon2_memory_kib = 65536\nargon2_iterations = 3\n").is_ok()
        );
    }

    #[test]
    fn relative_paths_resolve_beside_the_config() {
        let loaded = LoadedConfig {
            path: PathBuf::from("/srv/app/pwreset.toml"),
            config: Config::default(),
            set_keys: std::collections::BTreeSet::new(),
        };
        assert_eq!(
            loaded.resolve(Path::new("pwreset.db")),
            PathBuf::from("/srv/app/pwreset.db")
        );
        assert_eq!(
            loaded.resolve(Path::new("/var/db/x.db")),
            PathBuf::from("/var/db/x.db")
        );
    }

    #[test]
    fn line_and_column_count_characters() {
        assert_eq!(line_and_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_and_column("", 0), (1, 1));
    }
}
