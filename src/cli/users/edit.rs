//! `pwreset users edit`: plan, confirm an email change, apply, report (addresses masked), and
//! mail the email-changed notice to the old address.

use serde::Serialize;

use super::Context;
use crate::cli::CommandResult;
use crate::cli::exit::Exit;
use crate::cli::output::{self, ListWriter, Record};
use crate::cli::ui::sanitize;
use crate::config::LoadedConfig;
use crate::mail::mask;
use crate::settings::Format;
use crate::users::edit::{self, Changes, Field, FieldChange, Plan};

/// Change a user's email, username, display name or language
#[derive(Debug, clap::Args)]
#[command(
    group(clap::ArgGroup::new("change").required(true).multiple(true).args(["email", "username", "name", "locale"])),
    after_help = "An email change asks for confirmation (--yes skips it), revokes the user's reset links and
mails a notice to the old address. New values are checked like those of `users add`.

Examples:
  pwreset users edit alice --email alice@new.example.com
  pwreset users edit '#12' --username asmith --name 'Anna Smith'
  pwreset users edit bob --email bob@example.org --dry-run
  pwreset users edit carol --name ''           Remove the display name
  pwreset users edit jan --locale pl           Mail and pages in Polish"
)]
pub struct Args {
    /// The user: an email, a username or #ID
    user: String,
    /// New email address
    #[arg(long, value_name = "NEW")]
    email: Option<String>,
    /// New login name
    #[arg(long, value_name = "NEW")]
    username: Option<String>,
    /// New display name ('' removes it)
    #[arg(long, value_name = "NEW")]
    name: Option<String>,
    /// New language of the user's mails and pages, a BCP 47 tag such as pl or pt-BR ('' for
    /// the configured default)
    #[arg(long, value_name = "TAG")]
    locale: Option<String>,
    /// Show what would change, and change nothing
    #[arg(long)]
    dry_run: bool,
}

/// Run `pwreset users edit`.
pub fn run(ctx: &Context, args: Args) -> CommandResult<Exit> {
    let (config, mut store) = ctx.open_store()?;
    let user = crate::users::resolve(store.conn(), &args.user)?;
    let changes = Changes {
        email: args.email,
        username: args.username,
        name: args.name,
        locale: args.locale,
    };
    let plan = edit::plan(store.conn(), user, &changes)?;
    if plan.changes.is_empty() {
        ctx.ui.status(&format!(
            "{} already has these values; nothing to do",
            who(&plan)
        ));
        return report(ctx, &plan, Outcome::Unchanged);
    }
    if args.dry_run {
        ctx.ui.status(&format!(
            "Dry run: would change {}; nothing changed",
            summary(&plan)
        ));
        return report(ctx, &plan, Outcome::DryRun);
    }
    if let Some(change) = plan.email_change() {
        ctx.ui.confirm(
            &format!(
                "Change the email of {} from {} to {}? Their reset links will be revoked and the old address told.",
                who(&plan),
                shown(change, change.old.as_deref()),
                shown(change, change.new.as_deref()),
            ),
            ctx.settings.yes,
        )?;
    }
    let edited = edit::apply(
        &mut store,
        plan.user.id,
        &changes,
        &ctx.actor()?,
        ctx.settings.now,
    )?;
    let revoked = match edited.links_revoked {
        0 => String::new(),
        n => format!("; revoked {n} reset links"),
    };
    ctx.ui
        .status(&format!("Changed {}{revoked}", summary(&edited.plan)));
    let notice_to = match edited.plan.email_change() {
        Some(change) => notify(ctx, &config, &edited.plan, change)?,
        None => None,
    };
    report(
        ctx,
        &edited.plan,
        Outcome::Done {
            links_revoked: edited.links_revoked,
            notice_to,
        },
    )
}

/// How the command ended, for its report.
enum Outcome {
    /// Every value was already what was asked.
    Unchanged,
    /// `--dry-run`.
    DryRun,
    /// Changed; the links revoked and where the notice went (masked), if it was sent.
    Done {
        links_revoked: usize,
        notice_to: Option<String>,
    },
}

/// `alice (#1)`, sanitised for the terminal.
fn who(plan: &Plan) -> String {
    format!("{} (#{})", sanitize(&plan.user.username), plan.user.id)
}

/// A value as output shows it: an email masked, others as they are, `none` for none.
fn shown(change: &FieldChange, value: Option<&str>) -> String {
    match (change.field, value) {
        (_, None) => "none".into(),
        (Field::Email, Some(email)) => mask(email),
        (_, Some(text)) => format!("{text:?}"),
    }
}

/// `alice (#1): email a***@example.com -> b***@example.org, name "A" -> "B"`.
fn summary(plan: &Plan) -> String {
    let changes: Vec<String> = plan
        .changes
        .iter()
        .map(|c| {
            let (old, new) = (shown(c, c.old.as_deref()), shown(c, c.new.as_deref()));
            format!("{} {old} -> {new}", c.field.as_str())
        })
        .collect();
    sanitize(&format!("{}: {}", who(plan), changes.join(", "))).into_owned()
}

/// Mail the email-changed notice to the old address, unless the user is inactive or that
/// address cannot take mail (said on stderr). The change has happened: a failed notice is a
/// warning. Returns where it went, masked, if it was accepted.
fn notify(
    ctx: &Context,
    config: &LoadedConfig,
    plan: &Plan,
    change: &FieldChange,
) -> CommandResult<Option<String>> {
    let before = &plan.user;
    if let Err(refusal) = crate::delivery::eligible(before) {
        ctx.ui.warn(&format!(
            "no notice of the change was mailed to the old address: {refusal}"
        ));
        return Ok(None);
    }
    let new_email = change.new.as_deref().unwrap_or_default();
    let sent = super::super::tokens::mail_notice(ctx, config, before, |courier, notice, to| {
        edit::notice::send(courier, notice, before, new_email, to)
    })?;
    Ok(match sent {
        Some((to, Ok(_))) => {
            let to = mask(to.as_str());
            ctx.ui
                .status(&format!("Sent a notice of the change to {to}"));
            Some(to)
        }
        Some((_, Err(err))) => {
            ctx.ui.warn(&format!(
                "the email was changed, but the notice was not sent: {err}"
            ));
            None
        }
        None => None,
    })
}

/// One changed field, as output shows it (emails masked).
#[derive(Debug, Serialize)]
struct ChangeRow {
    field: &'static str,
    old: Option<String>,
    new: Option<String>,
}

impl ChangeRow {
    fn new(change: &FieldChange) -> Self {
        let value = |v: Option<&str>| match (change.field, v) {
            (Field::Email, Some(email)) => Some(mask(email)),
            (_, v) => v.map(str::to_string),
        };
        ChangeRow {
            field: change.field.as_str(),
            old: value(change.old.as_deref()),
            new: value(change.new.as_deref()),
        }
    }
}

impl Record for ChangeRow {
    const HEADINGS: &'static [&'static str] = &["FIELD", "OLD", "NEW"];
    fn cells(&self) -> Vec<String> {
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        vec![self.field.to_string(), dash(&self.old), dash(&self.new)]
    }
}

/// The JSON report of an edit.
#[derive(Debug, Serialize)]
struct EditJson {
    user: String,
    user_id: i64,
    dry_run: bool,
    changes: Vec<ChangeRow>,
    links_revoked: usize,
    notice_to: Option<String>,
}

/// JSON: the report object. Otherwise a dry run lists its changes on stdout (table or CSV);
/// a real run's report is the status line already on stderr.
fn report(ctx: &Context, plan: &Plan, outcome: Outcome) -> CommandResult<Exit> {
    let rows = plan.changes.iter().map(ChangeRow::new);
    let stdout = std::io::stdout().lock();
    if ctx.settings.format == Format::Json {
        let (dry_run, links_revoked, notice_to) = match outcome {
            Outcome::Unchanged => (false, 0, None),
            Outcome::DryRun => (true, 0, None),
            Outcome::Done {
                links_revoked,
                notice_to,
            } => (false, links_revoked, notice_to),
        };
        let after = plan.changes.iter().find(|c| c.field == Field::Username);
        let body = EditJson {
            user: after
                .and_then(|c| c.new.clone())
                .unwrap_or_else(|| plan.user.username.clone()),
            user_id: plan.user.id,
            dry_run,
            changes: rows.collect(),
            links_revoked,
            notice_to,
        };
        output::json(&mut { stdout }, &body)?;
    } else if matches!(outcome, Outcome::DryRun) {
        let mut writer =
            ListWriter::new::<ChangeRow>(ctx.settings.format, stdout, ctx.ui.stdout_is_terminal());
        for row in rows {
            writer.row(&row)?;
        }
        writer.finish()?;
    }
    Ok(Exit::Ok)
}
