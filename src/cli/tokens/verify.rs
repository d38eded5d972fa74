//! `pwreset tokens verify`

use std::io::Write;

use serde::Serialize;

use super::Context;
use crate::cli::CommandResult;
use crate::cli::exit::Exit;
use crate::cli::output;
use crate::settings::Format;
use crate::timefmt;
use crate::tokens::{self, TokenError};

/// Check a token read from stdin: exit 0 if live, 7 if not
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The token is read from stdin (one line), or prompted for without echo on a terminal.
Unknown, tampered, used and revoked tokens get the same answer; an expired one says so.

Examples:
  printf '%s\\n' \"$TOKEN\" | pwreset tokens verify && echo valid
  printf '%s\\n' \"$TOKEN\" | pwreset tokens verify --format json"
)]
pub struct Args {}

#[derive(Serialize)]
struct VerifyJson {
    valid: bool,
    reason: Option<&'static str>,
    user: Option<String>,
    user_id: Option<i64>,
    expires_at: Option<String>,
}

/// Run `pwreset tokens verify`.
pub fn run(ctx: &Context, _args: Args) -> CommandResult<Exit> {
    let (_, store) = ctx.open_store()?;
    let token = ctx.ui.secret_input().read("reset token", false)?;
    let result = tokens::verify(&store, token.expose().trim(), ctx.settings.now);
    let json = ctx.settings.format == Format::Json;
    match result {
        Ok(verified) => {
            if json {
                let body = VerifyJson {
                    valid: true,
                    reason: None,
                    user: Some(verified.user.username.clone()),
                    user_id: Some(verified.user.id),
                    expires_at: Some(timefmt::rfc3339(verified.expires_at)),
                };
                output::json(&mut std::io::stdout().lock(), &body)?;
            } else if ctx.settings.verbose > 0 {
                writeln!(
                    std::io::stdout().lock(),
                    "{}",
                    crate::cli::ui::sanitize(&verified.user.username)
                )?;
            }
            ctx.ui.detail(&format!(
                "valid until {}",
                timefmt::human(verified.expires_at)
            ));
            Ok(Exit::Ok)
        }
        Err(err @ (TokenError::Invalid | TokenError::Expired)) => {
            if json {
                let reason = if matches!(err, TokenError::Expired) {
                    "expired"
                } else {
                    "invalid"
                };
                let body = VerifyJson {
                    valid: false,
                    reason: Some(reason),
                    user: None,
                    user_id: None,
                    expires_at: None,
                };
                output::json(&mut std::io::stdout().lock(), &body)?;
            }
            Err(err.into())
        }
        Err(err) => Err(err.into()),
    }
}
