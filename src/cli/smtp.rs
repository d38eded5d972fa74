//! `pwreset smtp test`: check the mail setup step by step before the first real reset.

use std::io::Write;

use serde::Serialize;

use super::Context;
use crate::cli::CommandResult;
use crate::cli::exit::{Exit, Failure};
use crate::config::{LoadedConfig, TlsMode, Transport};
use crate::mail::{MailError, Outgoing, Step};
use crate::secret::Secret;
use crate::settings::Format;
use crate::templates::Rendered;

/// Check the mail setup
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Connect, greet, start TLS and authenticate, printing each step; with --send-to, send a test message
    #[command(after_help = "Examples:
  pwreset smtp test
  pwreset smtp test --send-to you@example.com
  pwreset smtp test --format json

Exits 0 when every step passed, 6 when the server could not be reached or refused something,
8 when the settings themselves are wrong (e.g. plain SMTP with a password).")]
    Test(TestArgs),
}

/// `smtp test` flags.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Also send a short test message to ADDRESS
    #[arg(long, value_name = "ADDRESS")]
    send_to: Option<String>,
}

/// Run an `smtp` subcommand.
pub fn run(ctx: &Context, command: Command) -> CommandResult<Exit> {
    match command {
        Command::Test(args) => test(ctx, &args),
    }
}

#[derive(Serialize)]
struct Report<'a> {
    ok: bool,
    steps: &'a [Step],
    error: Option<String>,
}

fn test(ctx: &Context, args: &TestArgs) -> CommandResult<Exit> {
    let config = ctx.config()?;
    let message = match &args.send_to {
        Some(to) => {
            crate::user::check_email(to).map_err(|e| Failure::usage(format!("--send-to: {e}")))?;
            Some(test_message(to, &config))
        }
        None => None,
    };
    let (steps, outcome) = match config.config.mail.transport {
        Transport::Smtp => ctx.smtp_mailer(&config)?.probe(message.as_ref()),
        Transport::File | Transport::Sendmail => local(ctx, &config, message.as_ref())?,
    };
    print(ctx, &config, &steps, outcome.as_ref().err())?;
    match outcome {
        Ok(()) => Ok(Exit::Ok),
        Err(err) => {
            let hint = hint(&config, &steps, &err);
            let failure = Failure::new(super::error::mail(&err).exit, err.to_string());
            Err(match hint {
                Some(hint) => failure.hint(hint),
                None => failure,
            }
            .into())
        }
    }
}

/// The file and sendmail transports have no server to probe: say where mail goes, and send the
/// test message through them if asked.
fn local(
    ctx: &Context,
    config: &LoadedConfig,
    message: Option<&Outgoing>,
) -> CommandResult<(Vec<Step>, Result<(), MailError>)> {
    let mail = &config.config.mail;
    let detail = match mail.transport {
        Transport::File => format!(
            "file transport: messages are written to {}",
            config.resolve(&mail.file.dir).display()
        ),
        _ => format!(
            "sendmail transport: messages are piped to {} -t -i",
            mail.sendmail.path.display()
        ),
    };
    let mut steps = vec![Step {
        step: "transport",
        detail,
    }];
    let Some(message) = message else {
        return Ok((steps, Ok(())));
    };
    match ctx.mailer(config)?.send(message) {
        Ok(delivered) => {
            steps.push(Step {
                step: "send",
                detail: format!("accepted: {}", delivered.detail),
            });
            Ok((steps, Ok(())))
        }
        Err(err) => Ok((steps, Err(err))),
    }
}

fn test_message(to: &str, config: &LoadedConfig) -> Outgoing {
    let app = &config.config.templates.app_name;
    let text = format!(
        "This is a test message from pwreset for {app}. It confirms that mail reaches {to}.\nNo action is needed.\n"
    );
    let html = format!(
        "<p>This is a test message from pwreset for {}. No action is needed.</p>",
        crate::cli::ui::sanitize(app).replace('<', "&lt;")
    );
    Outgoing {
        to: to.to_string(),
        body: Rendered {
            subject: "pwreset test message".into(),
            text: Secret::new(text),
            html: Secret::new(html),
        },
    }
}

fn print(
    ctx: &Context,
    config: &LoadedConfig,
    steps: &[Step],
    error: Option<&MailError>,
) -> CommandResult<()> {
    let mut out = std::io::stdout().lock();
    if ctx.settings.format == Format::Json {
        let report = Report {
            ok: error.is_none(),
            steps,
            error: error.map(ToString::to_string),
        };
        return Ok(crate::cli::output::json(&mut out, &report)?);
    }
    for step in steps {
        writeln!(
            out,
            "ok    {:<9} {}",
            step.step,
            crate::cli::ui::sanitize(&step.detail)
        )?;
    }
    if error.is_some() {
        writeln!(
            out,
            "FAIL  {:<9} (see the error below)",
            next_step(config, steps)
        )?;
    }
    Ok(())
}

/// The first step this configuration expects that has not passed: the one that failed.
fn next_step(config: &LoadedConfig, steps: &[Step]) -> &'static str {
    let smtp = &config.config.mail.smtp;
    let mut expected = vec!["connect"];
    if config.config.mail.transport == Transport::Smtp {
        expected.push("greeting");
        if smtp.tls == TlsMode::Starttls {
            expected.push("tls");
        }
        if smtp.username.is_some() {
            expected.push("auth");
        }
    }
    expected.push("send");
    expected
        .into_iter()
        .find(|want| !steps.iter().any(|s| s.step == *want))
        .unwrap_or("send")
}

/// Advice for the failures admins meet most: the wrong port for the TLS mode, certificates,
/// credentials, a refused sender.
fn hint(config: &LoadedConfig, steps: &[Step], err: &MailError) -> Option<String> {
    let smtp = &config.config.mail.smtp;
    let text = err.to_string();
    let port = smtp.port();
    let stage = next_step(config, steps);
    if text.contains("certificate") {
        return Some("the certificate must match mail.smtp.host and chain to a trusted CA; for a private CA set mail.smtp.ca_file".into());
    }
    if smtp.tls == TlsMode::Implicit && stage == "connect" && port != 465 {
        return Some(format!(
            "port {port} does not start with TLS: use tls = \"starttls\" (usually port 587)"
        ));
    }
    if smtp.tls != TlsMode::Implicit && port == 465 && matches!(stage, "connect" | "greeting") {
        return Some(
            "port 465 speaks TLS from the first byte: set mail.smtp.tls = \"implicit\"".into(),
        );
    }
    if text.contains("authentication failed") {
        return Some(format!(
            "check mail.smtp.username and the password in ${} or password_file",
            smtp.password_env
        ));
    }
    if stage == "send" && !matches!(err, MailError::Connection { .. }) {
        return Some(format!(
            "the server refused the test message; check that it accepts mail from {}",
            config.config.mail.from
        ));
    }
    super::error::mail(err).hint
}
