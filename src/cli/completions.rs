//! `pwreset completions` and `pwreset man`: shell completions and man pages, generated from the
//! clap definition so they never drift from the real flags.

use std::io::Write;
use std::path::PathBuf;

use super::Context;
use crate::cli::CommandResult;
use crate::cli::exit::{Exit, Failure};

/// Print a completion script for SHELL
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pwreset completions bash > /etc/bash_completion.d/pwreset
  pwreset completions zsh > \"${fpath[1]}/_pwreset\"
  pwreset completions fish > ~/.config/fish/completions/pwreset.fish")]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, powershell or elvish
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Run `pwreset completions`.
pub fn completions(_ctx: &Context, args: CompletionsArgs) -> CommandResult<Exit> {
    let mut command = super::command();
    // Into a buffer first: clap_complete panics if its writer fails (e.g. `| head`).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "pwreset", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(Exit::Ok)
}

/// Print the man page, or write one page per command into a folder
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pwreset man | man -l -
  pwreset man --dir /usr/local/share/man/man1     One page per command: pwreset-send-link.1, ...")]
pub struct ManArgs {
    /// Write pwreset.1 and a page for every subcommand into DIR instead of printing
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Run `pwreset man`.
pub fn man(_ctx: &Context, args: ManArgs) -> CommandResult<Exit> {
    let command = super::command();
    if let Some(dir) = args.dir {
        clap_mangen::generate_to(command, &dir).map_err(|e| {
            Failure::new(
                Exit::Failure,
                format!("cannot write man pages into {}: {e}", dir.display()),
            )
        })?;
        return Ok(Exit::Ok);
    }
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(command).render(&mut out)?;
    out.flush()?;
    Ok(Exit::Ok)
}
