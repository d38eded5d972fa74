//! `pwreset tokens redeem`

use serde::Serialize;

use super::Context;
use crate::cli::CommandResult;
use crate::cli::exit::Exit;
use crate::cli::output;
use crate::config::LoadedConfig;
use crate::generate;
use crate::mail::{Delivered, MailError, Recipient};
use crate::notice::Notice;
use crate::settings::{self, Format, Overrides};
use crate::timefmt;
use crate::tokens::{self, RedeemPolicy};
use crate::user::User;

/// Use a token to set a new password (both read from stdin or prompted)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Reads the token, then the new password, one line each from stdin; on a terminal it
prompts for both without echo. The password must be 12 to 128 characters and not easy to guess.

Examples:
  printf '%s\\n%s\\n' \"$TOKEN\" \"$NEW_PASSWORD\" | pwreset tokens redeem
  pwreset tokens redeem                Prompt for both"
)]
pub struct Args {}

#[derive(Serialize)]
struct RedeemJson {
    user: String,
    user_id: i64,
    password_changed_at: String,
}

/// Run `pwreset tokens redeem`.
pub fn run(ctx: &Context, _args: Args) -> CommandResult<Exit> {
    let (config, mut store) = ctx.open_store()?;
    let mut input = ctx.ui.secret_input();
    let token = input.read("reset token", false)?;
    let password = input.read("new password", true)?;
    let policy = RedeemPolicy {
        password: &config.config.password,
        max_failures_per_hour: config.config.links.max_failed_redeems_per_hour,
    };
    let now = ctx.settings.clock(); // after the prompts: a token may expire while one types
    let user = tokens::redeem(
        &mut store,
        token.expose().trim(),
        &password,
        policy,
        &ctx.actor()?,
        now,
        &mut crate::cli::os_rng(),
    )?;
    if ctx.settings.format == Format::Json {
        let body = RedeemJson {
            user: user.username.clone(),
            user_id: user.id,
            password_changed_at: timefmt::rfc3339(now.as_second()),
        };
        output::json(&mut std::io::stdout().lock(), &body)?;
    }
    ctx.ui.status(&format!(
        "Password changed for {}; their other reset links were revoked",
        crate::cli::ui::sanitize(&user.username)
    ));
    notify(ctx, &config, &user)?;
    Ok(Exit::Ok)
}

/// PW-6: tell the user their password was changed (unless `mail.notify_on_change = false`).
/// The change has happened; a failed notice is a warning, not an error.
pub(crate) fn notify(ctx: &Context, config: &LoadedConfig, user: &User) -> CommandResult<()> {
    if !config.config.mail.notify_on_change || !crate::user::has_valid_email(user) {
        return Ok(());
    }
    let sent = mail_notice(ctx, config, user, |courier, notice, to| {
        crate::notice::send(courier, notice, user, to)
    })?;
    match sent {
        Some((to, Ok(_))) => ctx.ui.status(&format!(
            "Sent a notice of the change to {}",
            crate::mail::mask(to.as_str())
        )),
        Some((_, Err(err))) => ctx.ui.warn(&format!(
            "the password was changed, but the notice was not sent: {err}"
        )),
        None => {}
    }
    Ok(())
}

/// How a notice ended: where it went, and what the transport said.
pub(crate) type NoticeSent = Option<(Recipient, Result<Delivered, MailError>)>;

/// Mail one secret-free notice about `user` through the configured transport: `send` renders
/// it with the notices' settings and sends it to the user's address (or the admin's, under
/// `mail.deliver_to = "admin"`). `None` when there is no address to send it to.
pub(crate) fn mail_notice(
    ctx: &Context,
    config: &LoadedConfig,
    user: &User,
    send: impl FnOnce(&mut generate::Courier<'_>, &Notice, &Recipient) -> Result<Delivered, MailError>,
) -> CommandResult<NoticeSent> {
    let overrides = Overrides::default();
    let rule = settings::recipient_rule(config, &overrides);
    let Some(to) = rule.for_user(user.email.as_deref()) else {
        return Ok(None);
    };
    let settings = settings::generate_settings(config, &overrides);
    let templates = ctx.templates(config);
    let mut mailer = ctx.mailer(config)?;
    let mut courier = generate::Courier {
        mailer: mailer.as_mut(),
        templates: &templates,
        settings: &settings,
    };
    let sent = send(&mut courier, &settings.notice(false), &to);
    Ok(Some((to, sent)))
}
