//! `pwreset reset generate`: set a random temporary password and email it (the admin never sees
//! it), or show it once on this terminal, or both.

use std::io::Write;

use serde::Serialize;

use super::Context;
use crate::cli::CommandResult;
use crate::cli::exit::{Exit, Failure};
use crate::cli::output;
use crate::cli::ui::sanitize;
use crate::generate::{self, Courier, GenerateRequest, Handover};
use crate::mail::{Address, Recipient};
use crate::settings::{self, Format, Overrides};
use crate::user::User;
use crate::{mail, timefmt};

const EXAMPLES: &str = "Examples:
  pwreset reset generate alice                 Email alice a temporary password (you never see it)
  pwreset reset generate alice --show          Show it here once, to read out by phone
  pwreset reset generate alice --show --email  Both
  pwreset reset generate bob --to helpdesk@example.com";

/// Set a new random temporary password and email it, or show it once
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The user: an email, a username or #ID
    user: String,
    /// Email the password with the access-info template (the default unless --show)
    #[arg(long)]
    email: bool,
    /// Show the password once on this terminal (refused into a pipe or file)
    #[arg(long)]
    show: bool,
    /// Email it to ADDRESS instead of the user's own address
    #[arg(long, value_name = "ADDRESS")]
    to: Option<Address>,
    /// Do not make the user change the password at next login
    #[arg(long)]
    no_force_change: bool,
    /// Add TEXT to the mail as a note from the administrator
    #[arg(long, value_name = "TEXT", value_parser = crate::cli::parse_note)]
    note: Option<String>,
}

#[derive(Serialize)]
struct GeneratedJson {
    user: String,
    user_id: i64,
    emailed_to: Option<String>,
    shown: bool,
    expires_at: String,
    must_change_password: bool,
}

/// Run `pwreset reset generate`.
pub fn run(ctx: &Context, args: Args) -> CommandResult<Exit> {
    check_output(ctx, &args)?;
    let (config, mut store) = ctx.open_store()?;
    let (actor, now) = (ctx.actor()?, ctx.settings.now);
    let user =
        crate::users::resolve_audited(&mut store, &args.user, generate::ACTION, &actor, now)?;
    let overrides = Overrides {
        to: args.to.clone(),
        note: args.note.clone(),
        ..Overrides::default()
    };
    let address = settings::recipient_rule(&config, &overrides).for_user(user.email.as_deref());
    let handover = handover(&args, &user, address.as_ref());
    let request = GenerateRequest {
        user: &user,
        handover,
        force_change: !args.no_force_change,
        bulk: None,
    };
    let recipient = match generate::check(&request) {
        Ok(recipient) => recipient.map(Recipient::as_str),
        Err(refusal) => {
            generate::record_refusal(&mut store, &request, &refusal, &actor, now)?;
            return Err(refusal.into());
        }
    };
    ctx.ui
        .confirm(&question(&user, recipient, args.show), ctx.settings.yes)?;
    let settings = settings::generate_settings(&config, &overrides);
    let prepared = generate::prepare(&settings.password, &mut crate::cli::os_rng())?;
    let mut mailer = ctx.mailer(&config)?;
    let templates = ctx.templates(&config);
    let mut courier = Courier {
        mailer: mailer.as_mut(),
        templates: &templates,
        settings: &settings,
    };
    let now = ctx.settings.clock(); // after the prompt
    let done = generate::apply(&mut store, &mut courier, request, &prepared, &actor, now)?;
    if args.show {
        show(&user, &prepared, done.expires_at)?;
    }
    report(ctx, &user, &args, recipient, &done)?;
    Ok(Exit::Ok)
}

/// How the password reaches the user: mailed to `address` (the default, or `--email`), or
/// only shown, with the change notice to `address` when the user has a valid email.
fn handover<'a>(args: &Args, user: &User, address: Option<&'a Recipient>) -> Handover<'a> {
    if args.email || !args.show {
        return Handover::Email(address);
    }
    let notice_to = address.filter(|_| crate::user::has_valid_email(user));
    Handover::Show { notice_to }
}

/// Print the password once, on the terminal (`check_output` made sure it is one).
fn show(user: &User, prepared: &generate::Prepared, expires_at: i64) -> CommandResult<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Temporary password for {}: {}",
        sanitize(&user.username),
        prepared.password.expose()
    )?;
    writeln!(
        out,
        "It is temporary: {} must change it at first login. It stops working at {}.",
        sanitize(&user.username),
        timefmt::human(expires_at)
    )?;
    Ok(())
}

fn check_output(ctx: &Context, args: &Args) -> CommandResult<()> {
    if args.show && !args.email && args.to.is_some() {
        return Err(
            Failure::usage("--to mails the password, but --show alone only shows it")
                .hint("add --email to show it and also mail it to that address")
                .into(),
        );
    }
    if args.show && ctx.settings.format == Format::Json {
        return Err(Failure::usage(
            "--show cannot be combined with --format json: a shown password never goes into JSON",
        )
        .into());
    }
    if args.show && !ctx.ui.stdout_is_terminal() {
        return Err(Failure::usage(
            "--show prints the password only to a terminal, never into a pipe or file",
        )
        .hint("run it on a terminal, or use --email to mail it without seeing it")
        .into());
    }
    Ok(())
}

fn question(user: &User, recipient: Option<&str>, show: bool) -> String {
    let name = match &user.email {
        Some(email) => format!("{} <{email}>", user.username),
        None => user.username.clone(),
    };
    let how = match (recipient, show) {
        (Some(to), true) => format!("email it to {} and show it here", mail::mask(to)),
        (Some(to), false) => format!("email it to {}", mail::mask(to)),
        (None, _) => "show it here".to_string(),
    };
    format!("Replace the password of {name} with a new temporary one and {how}?")
}

fn report(
    ctx: &Context,
    user: &User,
    args: &Args,
    recipient: Option<&str>,
    done: &generate::Generated,
) -> CommandResult<()> {
    let name = sanitize(&user.username);
    if let Some(to) = recipient {
        ctx.ui.status(&format!(
            "Temporary password for {name} emailed to {} (stops working {}{})",
            mail::mask(to),
            timefmt::human(done.expires_at),
            if args.no_force_change {
                ""
            } else {
                "; must be changed at first login"
            }
        ));
    }
    match &done.notice {
        Some(Ok(_)) => ctx
            .ui
            .status(&format!("Sent {name} a notice that the password was reset")),
        Some(Err(err)) => ctx.ui.warn(&format!(
            "the password was changed, but the notice to {name} was not sent: {err}"
        )),
        None => {}
    }
    if ctx.settings.format == Format::Json {
        let json = GeneratedJson {
            user: user.username.clone(),
            user_id: user.id,
            emailed_to: recipient.map(mail::mask),
            shown: args.show,
            expires_at: timefmt::rfc3339(done.expires_at),
            must_change_password: !args.no_force_change,
        };
        output::json(&mut std::io::stdout().lock(), &json)?;
    }
    Ok(())
}
