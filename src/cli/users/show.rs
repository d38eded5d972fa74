//! `pwreset users show`: the user, their live links, and the last mail an interrupted pwreset
//! may have sent them.

use super::{Context, UserDetail};
use crate::cli::CommandResult;
use crate::cli::exit::Exit;
use crate::cli::output;
use crate::store::{intents, temp_passwords, tokens};
use crate::timefmt;
use crate::tokens::state;

/// A state for the table: `sent (250 2.0.0 Ok: queued as 4XyZ)`, `revoked: superseded`, or
/// `-` when there is none.
pub(super) fn standing_cell(
    state: Option<&str>,
    reason: Option<&str>,
    reply: Option<&str>,
) -> String {
    match (state, reason, reply) {
        (None, ..) => "-".into(),
        (Some(state), Some(reason), _) => format!("{state}: {reason}"),
        (Some(state), None, Some(reply)) => format!("{state} ({reply})"),
        (Some(state), None, None) => state.into(),
    }
}

/// `reset link to a***@example.com, 2026-11-22T10:00:00Z (never committed)`.
fn describe_interrupted((at, action, recipient): (i64, String, String)) -> String {
    let what = if action == crate::links::ACTION {
        "reset link (revoked)"
    } else {
        "temporary password (never set)"
    };
    format!(
        "{what} to {}, {}",
        crate::mail::mask(&recipient),
        timefmt::rfc3339(at)
    )
}

/// Show one user
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pwreset users show alice
  pwreset users show alice@example.com --format json
  pwreset users show '#42'")]
pub struct Args {
    /// The user: an email, a username or #ID
    user: String,
}

/// Run `pwreset users show`.
pub fn run(ctx: &Context, args: Args) -> CommandResult<Exit> {
    let (_, store) = ctx.open_store()?;
    let user = crate::users::resolve(store.conn(), &args.user)?;
    let live = tokens::count_live(store.conn(), user.id, ctx.settings.now.as_second())?;
    let interrupted = intents::last_interrupted(store.conn(), user.id)?.map(describe_interrupted);
    let mut detail = UserDetail::new(&user, live, interrupted);
    let now = ctx.settings.now.as_second();
    if let Some(link) = tokens::latest(store.conn(), user.id)? {
        let standing = state::of_link(&link, now);
        detail.last_link_state = Some(standing.state.as_str());
        detail.last_link_state_reason = standing.reason;
        detail.last_link_sent_at = link.sent_at.map(timefmt::rfc3339);
        detail.last_link_mail_reply = link.mail_reply;
    }
    if let Some(temp) = temp_passwords::latest(store.conn(), user.id)? {
        let standing = state::of_temp_password(&temp, now);
        detail.temp_password_state = Some(standing.state.as_str());
        detail.temp_password_state_reason = standing.reason;
        detail.temp_password_sent_at = temp.sent_at.map(timefmt::rfc3339);
        detail.temp_password_mail_reply = temp.mail_reply;
    }
    output::record(
        ctx.settings.format,
        &mut std::io::stdout().lock(),
        &detail,
        ctx.ui.stdout_is_terminal(),
    )?;
    Ok(Exit::Ok)
}
