//! The one set of sample values that `templates preview`, `templates check` and `config check`
//! render the templates with: a placeholder link, password and note, so nothing real is shown.
//! Pure: the time is a parameter and nothing is read or sent.

use crate::config::Config;
use crate::user::User;

use super::{UserVars, Vars};

/// Sample values for rendering template `name` under `config` at `now` (Unix seconds), with
/// `user`'s name and address if given, else a sample user.
pub fn sample_vars(config: &Config, name: &str, user: Option<&User>, now: i64) -> Vars {
    let base = config
        .links
        .base_url
        .clone()
        .unwrap_or_else(|| "https://app.example.com/reset".into());
    let ttl = if name == "password-change-link" {
        config.links.ttl.secs()
    } else {
        config.password.temp_ttl.secs()
    };
    let names = config.templates.values_for(name);
    Vars {
        user: user.map_or_else(sample_user, UserVars::from),
        link: Some(format!("{base}?token=PREVIEW-ONLY-NOT-A-REAL-TOKEN")),
        cancel_link: Some(format!(
            "{}/cancel?token=PREVIEW-ONLY-NOT-A-REAL-TOKEN",
            base.trim_end_matches('/')
        )),
        code: config.links.code.then(|| "PREV-IEW0".into()),
        page_url: Some(base.clone()),
        password: Some("PREVIEW-ONLY-PASSWORD".into()),
        expires_at: Some(crate::timefmt::human(
            now + i64::try_from(ttl).unwrap_or(3600),
        )),
        expires_in: Some(ttl),
        app_name: names.0,
        support_contact: names.1,
        login_url: config.templates.login_url.clone(),
        by_admin: true,
        note: Some("PREVIEW: a note from the administrator (--note) appears here".into()),
        new_email: Some("a***@new.example.com".into()),
    }
}

/// The sample values every template is checked with (`templates check`, `config check`).
pub fn check_vars(config: &Config, now: i64) -> Vars {
    sample_vars(config, "password-change-link", None, now)
}

fn sample_user() -> UserVars {
    UserVars {
        name: "Alice Andersen".into(),
        username: "alice".into(),
        email: Some("alice@example.com".into()),
        locale: None,
    }
}
