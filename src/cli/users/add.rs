//! `pwreset users add`

use super::{Context, UserDetail, describe};
use crate::cli::CommandResult;
use crate::cli::exit::Exit;
use crate::cli::output;
use crate::settings::Format;
use crate::store::users::NewUser;
use crate::user::username_from_email;

/// Add a user
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pwreset users add alice@example.com --name 'Alice Andersen'
  pwreset users add a.smith@example.com --username asmith --inactive
  pwreset users add jan@example.pl --locale pl")]
pub struct Args {
    /// The user's email address
    email: String,
    /// Login name [default: the email's local part, lowercased]
    #[arg(long, value_name = "U")]
    username: Option<String>,
    /// Display name
    #[arg(long, value_name = "N")]
    name: Option<String>,
    /// Create the user inactive (no mail is sent to inactive users)
    #[arg(long)]
    inactive: bool,
    /// Write to the user in this language (mails and the reset page), e.g. pl, id, pt-BR
    /// [default: mail.default_locale]
    #[expect(
        clippy::doc_markdown,
        reason = "help text names the config key as it is written"
    )]
    #[arg(long, value_name = "TAG")]
    locale: Option<String>,
}

/// Run `pwreset users add`.
pub fn run(ctx: &Context, args: Args) -> CommandResult<Exit> {
    let locale = args
        .locale
        .as_deref()
        .map(crate::users::canonical_locale)
        .transpose()?;
    let (_, mut store) = ctx.open_store()?;
    let user = NewUser {
        username: args
            .username
            .unwrap_or_else(|| username_from_email(&args.email)),
        email: Some(args.email),
        display_name: args.name,
        active: !args.inactive,
        locale,
    };
    let created = crate::users::add(&mut store, &user, &ctx.actor()?, ctx.settings.now)?;
    if ctx.settings.format == Format::Json {
        output::json(
            &mut std::io::stdout().lock(),
            &UserDetail::new(&created, 0, None),
        )?;
    }
    let state = if created.active { "" } else { " (inactive)" };
    ctx.ui.status(&format!(
        "Added {} as #{}{state}",
        describe(&created),
        created.id
    ));
    Ok(Exit::Ok)
}
