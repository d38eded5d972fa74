//! `pwreset users ...`: dispatch, and the row structs that users are printed as.

mod activate;
mod add;
mod deactivate;
mod edit;
mod import;
mod list;
mod show;

use serde::Serialize;

use super::Context;
use crate::cli::CommandResult;
use crate::cli::exit::Exit;
use crate::cli::output::Record;
use crate::store::users::Listed;
use crate::timefmt;
use crate::user::User;

/// List, show, add, edit, import, activate and deactivate users
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List users as a table, JSON or CSV
    List(list::Args),
    /// Show one user
    Show(show::Args),
    /// Add a user
    Add(add::Args),
    /// Change a user's email, username or display name
    Edit(edit::Args),
    /// Import users from a CSV file
    Import(import::Args),
    /// Activate a user
    Activate(activate::Args),
    /// Deactivate a user and revoke their outstanding reset links
    Deactivate(deactivate::Args),
}

/// Run a `users` subcommand.
pub fn run(ctx: &Context, command: Command) -> CommandResult<Exit> {
    match command {
        Command::List(args) => list::run(ctx, args),
        Command::Show(args) => show::run(ctx, args),
        Command::Add(args) => add::run(ctx, args),
        Command::Edit(args) => edit::run(ctx, args),
        Command::Import(args) => import::run(ctx, args),
        Command::Activate(args) => activate::run(ctx, args),
        Command::Deactivate(args) => deactivate::run(ctx, args),
    }
}

/// A user in a listing (JSON keys and CSV headers are the field names).
#[derive(Debug, Serialize)]
struct UserRow {
    id: i64,
    username: String,
    email: Option<String>,
    name: Option<String>,
    active: bool,
    must_change_password: bool,
    password_changed_at: Option<String>,
    /// The user's language tag; `null` means `mail.default_locale`.
    locale: Option<String>,
}

impl From<Listed> for UserRow {
    /// Takes the user's strings over (no copy per cell).
    fn from(user: Listed) -> Self {
        UserRow {
            id: user.id,
            username: user.username,
            email: user.email,
            name: user.display_name,
            active: user.active,
            must_change_password: user.must_change_password,
            password_changed_at: user.password_changed_at.map(timefmt::rfc3339),
            locale: user.locale,
        }
    }
}

impl Record for UserRow {
    const HEADINGS: &'static [&'static str] = &[
        "ID",
        "USERNAME",
        "EMAIL",
        "NAME",
        "ACTIVE",
        "MUST CHANGE",
        "PASSWORD CHANGED",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.username.clone(),
            dash(self.email.as_deref()),
            dash(self.name.as_deref()),
            yes_no(self.active),
            yes_no(self.must_change_password),
            dash(
                self.password_changed_at
                    .as_deref()
                    .map(|t| t.replace('T', " ").replace('Z', " UTC"))
                    .as_deref(),
            ),
        ]
    }
}

/// One user in full (`users show`, `users add --format json`).
#[derive(Debug, Serialize)]
struct UserDetail {
    id: i64,
    username: String,
    email: Option<String>,
    email_valid: bool,
    name: Option<String>,
    active: bool,
    has_password: bool,
    must_change_password: bool,
    temp_password_expires_at: Option<String>,
    password_changed_at: Option<String>,
    created_at: String,
    updated_at: String,
    live_reset_links: u64,
    /// The last mail an interrupted pwreset may have sent without committing it.
    interrupted_mail: Option<String>,
    /// Where the user's latest reset link stands (`users show`; `crate::tokens::state`).
    last_link_state: Option<&'static str>,
    /// Why (a revocation's reason, the reply that refused the mail).
    last_link_state_reason: Option<String>,
    /// When its mail was accepted.
    last_link_sent_at: Option<String>,
    /// The mail server's reply.
    last_link_mail_reply: Option<String>,
    /// Where the user's latest temporary password stands.
    temp_password_state: Option<&'static str>,
    /// Why (e.g. why it was never set).
    temp_password_state_reason: Option<String>,
    /// When its mail was accepted.
    temp_password_sent_at: Option<String>,
    /// The mail server's reply.
    temp_password_mail_reply: Option<String>,
    /// The user's language tag; `null` means `mail.default_locale`.
    locale: Option<String>,
}

impl UserDetail {
    fn new(user: &User, live_reset_links: u64, interrupted_mail: Option<String>) -> Self {
        UserDetail {
            id: user.id,
            username: user.username.clone(),
            email: user.email.clone(),
            email_valid: crate::user::has_valid_email(user),
            name: user.display_name.clone(),
            active: user.active,
            has_password: user.has_password,
            must_change_password: user.must_change_password,
            temp_password_expires_at: user.temp_password_expires_at.map(timefmt::rfc3339),
            password_changed_at: user.password_changed_at.map(timefmt::rfc3339),
            created_at: timefmt::rfc3339(user.created_at),
            updated_at: timefmt::rfc3339(user.updated_at),
            live_reset_links,
            interrupted_mail,
            last_link_state: None,
            last_link_state_reason: None,
            last_link_sent_at: None,
            last_link_mail_reply: None,
            temp_password_state: None,
            temp_password_state_reason: None,
            temp_password_sent_at: None,
            temp_password_mail_reply: None,
            locale: user.locale.clone(),
        }
    }
}

impl Record for UserDetail {
    const HEADINGS: &'static [&'static str] = &[
        "id",
        "username",
        "email",
        "email valid",
        "name",
        "active",
        "password set",
        "must change",
        "temporary password expires",
        "password changed",
        "created",
        "updated",
        "live reset links",
        "interrupted mail",
        "last reset link",
        "temporary password",
        "locale",
    ];
    fn cells(&self) -> Vec<String> {
        let time = |t: &Option<String>| dash(t.as_deref());
        vec![
            self.id.to_string(),
            self.username.clone(),
            dash(self.email.as_deref()),
            yes_no(self.email_valid),
            dash(self.name.as_deref()),
            yes_no(self.active),
            yes_no(self.has_password),
            yes_no(self.must_change_password),
            time(&self.temp_password_expires_at),
            time(&self.password_changed_at),
            self.created_at.clone(),
            self.updated_at.clone(),
            self.live_reset_links.to_string(),
            dash(self.interrupted_mail.as_deref()),
            show::standing_cell(
                self.last_link_state,
                self.last_link_state_reason.as_deref(),
                self.last_link_mail_reply.as_deref(),
            ),
            show::standing_cell(
                self.temp_password_state,
                self.temp_password_state_reason.as_deref(),
                self.temp_password_mail_reply.as_deref(),
            ),
            self.locale
                .clone()
                .unwrap_or_else(|| "- (mail.default_locale)".into()),
        ]
    }
}

fn dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_string()
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_string()
}

/// `alice <alice@example.com>` for messages, sanitised for the terminal.
fn describe(user: &User) -> String {
    let text = match &user.email {
        Some(email) => format!("{} <{email}>", user.username),
        None => user.username.clone(),
    };
    crate::cli::ui::sanitize(&text).into_owned()
}
