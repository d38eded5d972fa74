//! The config file and a command's own flags turned into typed, per-capability settings:
//! reset links ([`link_settings`]), temporary passwords ([`generate_settings`]), mail pacing
//! ([`pacing`]) and who receives the mails ([`recipient_rule`]).
//!
//! Precedence, lowest to highest, for every value here: built-in defaults < config file <
//! `PWRESET_*` environment variables < flags. The flags layer is the command's own flags, given
//! as [`Overrides`] (`--ttl`, `--rate`, `--to`, `--note`); no value here has an environment
//! variable today. Commands ask these functions for their settings instead of merging layers
//! themselves. Nothing here prints or knows exit codes.

use std::time::Duration;

use crate::bulk::Pacing;
use crate::config::{ConfigError, DeliverTo, LoadedConfig};
use crate::generate::GenerateSettings;
use crate::links::LinkSettings;
use crate::mail::{Address, Recipient, RecipientRule};

/// A command's own flags: the highest layer. `None` means "not given".
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--ttl`: lifetime of a reset link, seconds (over `links.ttl`).
    pub ttl_secs: Option<u64>,
    /// `--rate`: messages a minute (over `mail.rate`).
    pub rate: Option<u32>,
    /// `--to`: where every mail goes (over `mail.deliver_to` / `mail.admin_email`).
    pub to: Option<Address>,
    /// `--note`: a note from the administrator for the mails.
    pub note: Option<String>,
}

/// Reset-link settings; fails when `links.base_url` is not set.
pub fn link_settings(
    config: &LoadedConfig,
    overrides: &Overrides,
) -> Result<LinkSettings, ConfigError> {
    let links = &config.config.links;
    let bad = |message: String| ConfigError::BadValue {
        path: config.path.clone(),
        key: "links.base_url".into(),
        message,
    };
    let base_url = config.parsed.base_url.clone().ok_or_else(|| {
        bad(
            "is not set; it is the application's reset page, e.g. https://app.example.com/reset"
                .into(),
        )
    })?;
    let names = config.config.templates.values_for("password-change-link");
    Ok(LinkSettings {
        base_url,
        ttl_secs: overrides.ttl_secs.unwrap_or(links.ttl.secs()),
        supersede: links.supersede,
        cooldown_secs: links.cooldown.secs(),
        app_name: names.0,
        support_contact: names.1,
        note: overrides.note.clone(),
        code: links.code,
    })
}

/// The settings of temporary-password mails and password-changed notices.
pub fn generate_settings(config: &LoadedConfig, overrides: &Overrides) -> GenerateSettings {
    let c = &config.config;
    let names = c.templates.values_for("access-info");
    GenerateSettings {
        password: c.password.clone(),
        app_name: names.0,
        support_contact: names.1,
        notice_names: c.templates.values_for("password-changed"),
        note: overrides.note.clone(),
        login_url: c.templates.login_url.clone(),
        notify_on_change: c.mail.notify_on_change,
    }
}

/// The send rate cap (`--rate`, else `mail.rate`, else none) and the configured retries.
pub fn pacing(config: &LoadedConfig, overrides: &Overrides) -> Pacing {
    let mail = &config.config.mail;
    let rate = overrides.rate.or(mail.rate);
    Pacing {
        min_interval: rate.map(|per_minute| Duration::from_secs_f64(60.0 / f64::from(per_minute))),
        retries: mail.retries,
        backoff: mail.retry_backoff.0,
    }
}

/// Who receives the command's mails: `--to`, else `mail.admin_email` when
/// `mail.deliver_to = "admin"`, else each user at their own address.
pub fn recipient_rule(config: &LoadedConfig, overrides: &Overrides) -> RecipientRule {
    if let Some(to) = &overrides.to {
        return RecipientRule::Override(to.clone().into());
    }
    let mail = &config.config.mail;
    let admin = match mail.deliver_to {
        DeliverTo::Admin => mail.admin_email.as_deref().and_then(Recipient::new),
        DeliverTo::User => None,
    };
    admin.map_or(RecipientRule::User, RecipientRule::Override)
}
