//! The checks a parsed config must pass at load: mail addresses, SMTP transport safety (SMTP-1),
//! the links' base URL (MAIL-1) and lifetimes, and the password hashing floor. Pure functions
//! over the parsed structs; no I/O.

use std::path::Path;

use lettre::message::Mailbox;

use crate::db_url::StoreLocation;

use super::{
    Config, ConfigError, DeliverTo, LINK_TTL_RANGE, LinksConfig, MailConfig, PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH, Parsed, PasswordConfig, SmtpConfig, TlsMode, Transport,
};

/// Check a parsed config; the values checked by parsing them are handed back in their types.
pub(super) fn validate(path: &Path, config: &Config) -> Result<Parsed, ConfigError> {
    let bad = |(key, message): Problem| ConfigError::BadValue {
        path: path.to_path_buf(),
        key: key.to_string(),
        message,
    };
    if config.store.path.as_os_str().is_empty() {
        return Err(bad(("store.path", "must not be empty".into())));
    }
    if let Some(url) = &config.store.url {
        // The role does not matter here; settings parses it again with the OS user's name.
        StoreLocation::parse(url, "pwreset").map_err(|source| ConfigError::BadStoreUrl {
            path: path.to_path_buf(),
            source,
        })?;
    }
    let (from, reply_to) = check_mail(&config.mail).map_err(bad)?;
    let base_url = check_links(&config.links).map_err(bad)?;
    check_password(&config.password).map_err(bad)?;
    let serve = super::serve::check(&config.serve).map_err(bad)?;
    let default_locale = crate::user::locale::parse(&config.mail.default_locale)
        .map_err(|e| bad(("mail.default_locale", e.to_string())))?;
    Ok(Parsed {
        base_url,
        from,
        reply_to,
        serve,
        default_locale,
    })
}

type Problem = (&'static str, String);

/// `mail.from` and `mail.reply_to` as mailboxes, and the other mail settings checked.
fn check_mail(mail: &MailConfig) -> Result<(Mailbox, Option<Mailbox>), Problem> {
    let from = mailbox(&mail.from).ok_or_else(|| {
        let msg = format!(
            "{:?} is not a mailbox like `Example <no-reply@example.com>`",
            mail.from
        );
        ("mail.from", msg)
    })?;
    let reply_to = match &mail.reply_to {
        Some(text) => Some(mailbox(text).ok_or_else(|| {
            (
                "mail.reply_to",
                format!("{text:?} is not a mailbox like `Helpdesk <help@example.com>`"),
            )
        })?),
        None => None,
    };
    match (&mail.deliver_to, &mail.admin_email) {
        (DeliverTo::Admin, None) => {
            return Err((
                "mail.admin_email",
                "is required when deliver_to = \"admin\"".into(),
            ));
        }
        (_, Some(admin)) => {
            crate::user::check_email(admin).map_err(|e| ("mail.admin_email", e))?;
        }
        (DeliverTo::User, None) => {}
    }
    if mail.transport == Transport::Smtp {
        check_smtp(&mail.smtp)?;
    }
    if mail.sendmail.timeout.secs() == 0 || mail.sendmail.timeout.secs() > 300 {
        return Err(("mail.sendmail.timeout", "must be between 1s and 5m".into()));
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
    Ok((from, reply_to))
}

/// A mailbox without control characters (MAIL-2), or `None`.
fn mailbox(text: &str) -> Option<Mailbox> {
    if text.chars().any(char::is_control) {
        return None;
    }
    text.parse().ok()
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

/// `links.base_url` as a checked URL, and the links' lifetimes checked.
fn check_links(links: &LinksConfig) -> Result<Option<url::Url>, Problem> {
    let base_url = match &links.base_url {
        Some(base) => Some(check_base_url(base).map_err(|e| ("links.base_url", e))?),
        None => None,
    };
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
    Ok(base_url)
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
    if password.length < PASSWORD_MIN_LENGTH || password.length > PASSWORD_MAX_LENGTH {
        let msg = format!("must be between {PASSWORD_MIN_LENGTH} and {PASSWORD_MAX_LENGTH}");
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
