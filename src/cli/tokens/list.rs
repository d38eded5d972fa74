//! `pwreset tokens list`

use serde::Serialize;

use super::Context;
use crate::cli::CommandResult;
use crate::cli::exit::Exit;
use crate::cli::output::{ListWriter, Record};
use crate::store::tokens::{self, Filter, TokenRow};
use crate::timefmt;
use crate::tokens::state;

/// List reset links (never their tokens or digests)
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pwreset tokens list                  Live links
  pwreset tokens list --user alice --all
  pwreset tokens list --all --format csv")]
pub struct Args {
    /// Show only USER's links (an email, a username or #ID)
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// Include used, expired, revoked and undelivered links
    #[arg(long)]
    all: bool,
}

#[derive(Serialize)]
struct TokenJson {
    id: i64,
    user: String,
    user_id: i64,
    created_at: String,
    expires_at: String,
    /// `live`, `used`, `expired`, `revoked` or `pending` (since schema 5; `standing` says more).
    state: &'static str,
    recipient: Option<String>,
    /// First time the reset page was opened with the link (GET or HEAD).
    opened_at: Option<String>,
    /// Latest time it was opened.
    last_opened_at: Option<String>,
    /// How many times it was opened.
    opens: i64,
    /// How many of those opens looked like a mail scanner (HEAD, or no browser navigation).
    scanner_opens: i64,
    /// Where the link stands (`crate::tokens::state`): `pending`, `sent`, `opened`, `used`,
    /// `expired`, `revoked`, `failed` or `interrupted`.
    standing: &'static str,
    /// Why: a revocation's reason, or the reply that refused the mail.
    standing_reason: Option<String>,
    /// When the mail server accepted the mail.
    sent_at: Option<String>,
    /// The mail server's reply (acceptance or refusal).
    mail_reply: Option<String>,
}

impl TokenJson {
    fn new(row: TokenRow, now: i64) -> Self {
        let standing = state::of_link(&row, now);
        TokenJson {
            id: row.id,
            state: row.state(now),
            standing: standing.state.as_str(),
            standing_reason: standing.reason,
            sent_at: row.sent_at.map(timefmt::rfc3339),
            mail_reply: row.mail_reply,
            user: row.username,
            user_id: row.user_id,
            created_at: timefmt::rfc3339(row.created_at),
            expires_at: timefmt::rfc3339(row.expires_at),
            recipient: row.recipient,
            opened_at: row.opens.first_at.map(timefmt::rfc3339),
            last_opened_at: row.opens.last_at.map(timefmt::rfc3339),
            opens: row.opens.count,
            scanner_opens: row.opens.scanner,
        }
    }
}

impl Record for TokenJson {
    const HEADINGS: &'static [&'static str] = &[
        "ID",
        "USER",
        "CREATED",
        "EXPIRES",
        "STATE",
        "OPENED",
        "RECIPIENT",
    ];
    fn cells(&self) -> Vec<String> {
        let when = |t: &str| t.replace('T', " ").replace('Z', " UTC");
        vec![
            self.id.to_string(),
            self.user.clone(),
            when(&self.created_at),
            when(&self.expires_at),
            match &self.standing_reason {
                Some(reason) => format!("{}: {reason}", self.standing),
                None => self.standing.to_string(),
            },
            self.opened(),
            self.recipient.clone().unwrap_or_else(|| "-".into()),
        ]
    }
}

impl TokenJson {
    /// `never`, or how often and since when: `3x since 2026-11-27 10:00 UTC (2 scanner-like)`.
    fn opened(&self) -> String {
        let Some(first) = &self.opened_at else {
            return "never".into();
        };
        let first = first.replace('T', " ").replace('Z', " UTC");
        let scanner = match self.scanner_opens {
            0 => String::new(),
            n if n == self.opens => " (all scanner-like)".into(),
            n => format!(" ({n} scanner-like)"),
        };
        format!("{}x since {first}{scanner}", self.opens)
    }
}

/// Run `pwreset tokens list`.
pub fn run(ctx: &Context, args: Args) -> CommandResult<Exit> {
    let (_, store) = ctx.open_store()?;
    // A listing reads each page once: a small page cache keeps its memory flat.
    store.limit_cache(512)?;
    let user_id = match &args.user {
        Some(key) => Some(crate::users::resolve(store.conn(), key)?.id),
        None => None,
    };
    let now = ctx.settings.now.as_second();
    let mut writer = ListWriter::new::<TokenJson>(
        ctx.settings.format,
        std::io::stdout().lock(),
        ctx.ui.stdout_is_terminal(),
    );
    tokens::for_each(
        store.conn(),
        Filter {
            user_id,
            all: args.all,
        },
        now,
        |row| writer.row(&TokenJson::new(row, now)),
    )?;
    if writer.finish()? == 0 && ctx.settings.format == crate::settings::Format::Table {
        ctx.ui.status(if args.all {
            "No reset links."
        } else {
            "No live reset links (--all shows the others)."
        });
    }
    Ok(Exit::Ok)
}
