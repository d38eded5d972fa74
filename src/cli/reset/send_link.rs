//! `pwreset send-link` (also `pwreset reset send-link`): email a user a single-use reset link.

use serde::Serialize;

use crate::cli::CommandResult;
use crate::cli::Context;
use crate::cli::exit::{Exit, Failure};
use crate::cli::output;
use crate::config::LINK_TTL_RANGE;
use crate::links::{self, LinkRequest};
use crate::mail::Address;
use crate::settings::{self, Format, Overrides};
use crate::user::User;
use crate::{mail, timefmt};

const EXAMPLES: &str = "Examples:
  pwreset send-link alice@example.com
  pwreset send-link alice --ttl 30m --reason 'TICKET-1234'
  pwreset send-link bob --to helpdesk@example.com     Send it to yourself to pass on
  pwreset send-link carol --print-link                Also show the link, to read out";

/// Email a user a single-use, time-limited link to set a new password
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The user: an email, a username or #ID
    user: String,
    /// Send the mail to ADDRESS instead of the user's own address
    #[arg(long, value_name = "ADDRESS")]
    to: Option<Address>,
    /// Let the link work for DURATION, from 5m to 24h [default: links.ttl, 1h]
    #[arg(long, value_name = "DURATION", value_parser = parse_ttl)]
    ttl: Option<u64>,
    /// Send even if the user was sent a link within links.cooldown (60s)
    #[arg(long)]
    force: bool,
    /// Also print the link on this terminal, for out-of-band delivery (audited; terminal only)
    #[arg(long)]
    print_link: bool,
    /// Add TEXT to the mail as a note from the administrator
    #[arg(long, value_name = "TEXT", value_parser = crate::cli::parse_note)]
    note: Option<String>,
}

fn parse_ttl(text: &str) -> Result<u64, String> {
    let secs = humantime::parse_duration(text)
        .map_err(|e| format!("{e}; use e.g. 30m or 2h"))?
        .as_secs();
    if LINK_TTL_RANGE.contains(&secs) {
        Ok(secs)
    } else {
        Err(format!("{text} is outside the allowed 5m..24h"))
    }
}

#[derive(Serialize)]
struct SentJson {
    user: String,
    user_id: i64,
    recipient: String,
    expires_at: String,
    token_id: i64,
    superseded: usize,
}

/// Run `pwreset send-link`.
pub fn run(ctx: &Context, args: Args) -> CommandResult<Exit> {
    if args.print_link && !ctx.ui.stdout_is_terminal() {
        return Err(Failure::usage(
            "--print-link prints only to a terminal, never into a pipe or file",
        )
        .hint("run it on a terminal, or leave out --print-link")
        .into());
    }
    let (config, mut store) = ctx.open_store()?;
    let overrides = Overrides {
        ttl_secs: args.ttl,
        to: args.to,
        note: args.note,
        rate: None,
    };
    let settings = settings::link_settings(&config, &overrides)?;
    let (actor, now) = (ctx.actor()?, ctx.settings.now);
    let user = crate::users::resolve_audited(&mut store, &args.user, links::ACTION, &actor, now)?;
    let recipient = settings::recipient_rule(&config, &overrides).for_user(user.email.as_deref());
    let mut mailer = ctx.mailer(&config)?;
    let note = args
        .print_link
        .then_some("link printed to the operator's terminal");
    let request = LinkRequest {
        user: &user,
        recipient: recipient.as_ref(),
        force: args.force,
        bulk: None,
        note,
    };
    let templates = ctx.templates(&config);
    let mut courier = links::Courier {
        mailer: mailer.as_mut(),
        templates: &templates,
        settings: &settings,
    };
    let sent = links::send(
        &mut store,
        &mut courier,
        request,
        &actor,
        now,
        &mut crate::cli::os_rng(),
    )?;
    report(ctx, &user, &sent, now, args.print_link)?;
    Ok(Exit::Ok)
}

/// Say what was sent (JSON on stdout with `--format json`), and print the link if asked.
fn report(
    ctx: &Context,
    user: &User,
    sent: &links::Sent,
    now: jiff::Timestamp,
    print_link: bool,
) -> CommandResult<()> {
    let masked = mail::mask(sent.recipient.as_str());
    if ctx.settings.format == Format::Json {
        let json = SentJson {
            user: user.username.clone(),
            user_id: user.id,
            recipient: masked.clone(),
            expires_at: timefmt::rfc3339(sent.expires_at),
            token_id: sent.token_id,
            superseded: sent.superseded,
        };
        output::json(&mut std::io::stdout().lock(), &json)?;
    }
    let ttl = u64::try_from(sent.expires_at - now.as_second()).unwrap_or(0);
    ctx.ui.status(&format!(
        "Reset link sent to {masked} for {} (expires {}, in {})",
        crate::cli::ui::sanitize(&user.username),
        timefmt::human(sent.expires_at),
        timefmt::duration(ttl)
    ));
    ctx.ui.status(&format!("Mail {}", sent.delivered.detail));
    if print_link {
        use std::io::Write;
        writeln!(std::io::stdout().lock(), "{}", sent.link.expose())?;
    }
    Ok(())
}
