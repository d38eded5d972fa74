//! The command line: clap definitions, the shared [`Context`], dispatch, and the one place where
//! a command's result becomes messages and an exit code.

mod audit;
mod completions;
mod config;
mod context;
pub mod error;
mod exit;
mod init;
mod opener;
mod output;
mod reset;
mod serve;
mod smtp;
mod store;
mod templates;
mod tokens;
mod ui;
mod users;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

pub use context::{Context, os_rng};
pub use error::{CommandError, CommandResult};
pub use opener::StoreOpener;

use crate::settings::{ColorChoice, Environment, Flags, Format, Settings};
use exit::Exit;

const EXAMPLES: &str = "Examples:
  pwreset init --sample-users          Create pwreset.toml, the store and an outbox here
  pwreset send-link alice@example.com  Email alice a reset link
  pwreset tokens purge                 From cron: delete expired and used tokens
  pwreset users list --status active   List active users
  pwreset users import users.csv       Import users from CSV
  pwreset audit --since 24h            Show the last day's audit log";

/// Reset other people's passwords safely: reset links, temporary passwords, bulk resets.
#[derive(Debug, Parser)]
#[command(
    name = "pwreset",
    version,
    propagate_version = true,
    max_term_width = 100
)]
#[command(after_long_help = after_help(), after_help = after_help())]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

fn after_help() -> String {
    format!("{EXAMPLES}\n\n{}", Exit::help_table())
}

/// Flags accepted by every command, listed under their own heading after the command's own
/// flags. (Doc comments here are clap help, shown verbatim.)
#[allow(clippy::doc_markdown)]
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Global options")]
struct GlobalArgs {
    /// Read the config from PATH [env: PWRESET_CONFIG] [default: ./pwreset.toml, then
    /// $XDG_CONFIG_HOME/pwreset/config.toml, then /etc/pwreset/config.toml]
    #[arg(short = 'c', long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Use the store at PATH instead of store.path from the config [env: PWRESET_DB]
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Print data as a table, JSON or CSV [env: PWRESET_FORMAT] [default: table]
    #[arg(long, global = true, value_enum)]
    format: Option<Format>,
    /// Answer yes to confirmation prompts
    #[arg(short = 'y', long, global = true)]
    yes: bool,
    /// Print no status messages, only data and errors
    #[arg(short = 'q', long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Print more detail on stderr
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Color output: auto, always or never (a non-empty NO_COLOR means never) [default: auto]
    #[arg(long, global = true, value_enum, value_name = "WHEN")]
    color: Option<ColorChoice>,
    /// Record NAME as the acting operator in the audit log
    #[arg(long, global = true, value_name = "NAME")]
    actor: Option<String>,
    /// Record TEXT as the reason in the audit log, e.g. a ticket number
    #[arg(long, global = true, value_name = "TEXT")]
    reason: Option<String>,
}

impl GlobalArgs {
    fn into_flags(self) -> Flags {
        Flags {
            config: self.config,
            db: self.db,
            format: self.format,
            color: self.color,
            yes: self.yes,
            quiet: self.quiet,
            verbose: self.verbose,
            actor: self.actor,
            reason: self.reason,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Email a user a single-use, time-limited link to set a new password
    SendLink(reset::send_link::Args),
    /// Reset passwords: send a reset link, set a temporary password, or many at once
    #[command(subcommand)]
    Reset(reset::Command),
    /// List, verify, redeem, revoke and purge reset tokens
    #[command(subcommand)]
    Tokens(tokens::Command),
    /// Create a config, an empty store and an outbox folder
    Init(init::Args),
    /// List, show, add, import, activate and deactivate users
    #[command(subcommand)]
    Users(users::Command),
    /// Show or verify the audit log
    Audit(audit::Args),
    /// Show or check the configuration
    #[command(subcommand)]
    Config(config::Command),
    /// Check the mail setup step by step, optionally sending a test message
    #[command(subcommand)]
    Smtp(smtp::Command),
    /// List, show, preview and check the email templates
    #[command(subcommand)]
    Templates(templates::Command),
    /// Serve the page the reset link opens (runs until SIGTERM or Ctrl-C)
    Serve(serve::Args),
    /// Work on the store as a whole: migrate it to another backend
    #[command(subcommand)]
    Store(store::Command),
    /// Print a completion script for bash, zsh, fish, powershell or elvish
    Completions(completions::CompletionsArgs),
    /// Print the man page, or write one page per command into a folder
    Man(completions::ManArgs),
}

/// Run pwreset with these arguments (the first is the program name).
pub fn run(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> std::process::ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            if let Some(reason) = bad_address(&err) {
                ui::Ui::plain().error(&format!("--to: {reason}"), None);
                return Exit::Usage.into();
            }
            let _ = err.print();
            return if err.use_stderr() {
                Exit::Usage
            } else {
                Exit::Ok
            }
            .into();
        }
    };
    let settings = match Settings::resolve(cli.global.into_flags(), &Environment::capture()) {
        Ok(settings) => settings,
        Err(err) => return report(&ui::Ui::plain(), &err.into()).into(),
    };
    let ctx = Context::new(settings);
    match dispatch(&ctx, cli.command) {
        Ok(exit) => exit.into(),
        Err(err) => report(&ctx.ui, &err).into(),
    }
}

/// Why a `--to ADDRESS` was refused, when that is the parse error: it is reported as
/// `error: --to: <reason>`, like the errors found after parsing, not in clap's format.
fn bad_address(err: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    if err.kind() != ErrorKind::ValueValidation || !arg.starts_with("--to ") {
        return None;
    }
    std::error::Error::source(err).map(ToString::to_string)
}

fn dispatch(ctx: &Context, command: Command) -> CommandResult<Exit> {
    match command {
        Command::SendLink(args) => reset::send_link::run(ctx, args),
        Command::Reset(command) => reset::run(ctx, command),
        Command::Tokens(command) => tokens::run(ctx, command),
        Command::Init(args) => init::run(ctx, args),
        Command::Users(command) => users::run(ctx, command),
        Command::Audit(args) => audit::run(ctx, args),
        Command::Config(command) => config::run(ctx, command),
        Command::Smtp(command) => smtp::run(ctx, command),
        Command::Templates(command) => templates::run(ctx, command),
        Command::Serve(args) => serve::run(ctx, args),
        Command::Store(command) => store::run(ctx, command),
        Command::Completions(args) => completions::completions(ctx, args),
        Command::Man(args) => completions::man(ctx, args),
    }
}

/// Print an error and its hint; a closed stdout pipe is success.
fn report(ui: &ui::Ui, err: &CommandError) -> Exit {
    if error::is_broken_pipe(err.error()) {
        return Exit::Ok;
    }
    let class = err.class();
    ui.error(&error::message(err.error()), class.hint.as_deref());
    class.exit
}

/// The clap command, for completions, man pages and tests.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Check a `--note` for the mails: one line of at most 500 characters, no control characters.
fn parse_note(text: &str) -> Result<String, String> {
    if text.chars().any(char::is_control) {
        return Err("the note must be one line without control characters".into());
    }
    if text.chars().count() > 500 {
        return Err("the note is longer than 500 characters".into());
    }
    Ok(text.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_lists_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Exit codes:"));
        assert!(help.contains("8  configuration or store error"));
    }
}
