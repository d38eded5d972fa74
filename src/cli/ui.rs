//! The terminal: status lines, warnings and prompts on stderr, and neutralising control
//! characters in user data before it reaches a terminal.
//!
//! Every line printed here goes through [`crate::text`]: status, detail, warning, error and hint
//! messages quote user data and server replies, so the printing itself neutralises them and
//! keeps each on one line (a quoted reply cannot forge an `error:` line); a new call site
//! cannot forget to.
//!
//! Only commands use this module; domain modules never print.

use std::io::{IsTerminal, Write};

use crate::cli::exit::{Exit, Failure};
use crate::settings::{ColorChoice, Settings};
pub use crate::text::sanitize;

/// How this invocation talks to the operator.
#[derive(Debug, Clone)]
pub struct Ui {
    color: bool,
    quiet: bool,
    verbose: u8,
    interactive: bool,
    stdout_tty: bool,
    stderr_tty: bool,
}

impl Ui {
    /// Decide color and interactivity from the settings and the attached terminals.
    pub fn new(settings: &Settings) -> Ui {
        let stderr_tty = std::io::stderr().is_terminal();
        let color = match settings.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => stderr_tty,
        };
        Ui {
            color,
            quiet: settings.quiet,
            verbose: settings.verbose,
            interactive: stderr_tty && std::io::stdin().is_terminal(),
            stdout_tty: std::io::stdout().is_terminal(),
            stderr_tty,
        }
    }

    /// A plain interface for reporting errors before settings exist.
    pub fn plain() -> Ui {
        Ui {
            color: false,
            quiet: false,
            verbose: 0,
            interactive: false,
            stdout_tty: false,
            stderr_tty: false,
        }
    }

    /// Whether stdout is a terminal (tables get box drawing only then).
    pub fn stdout_is_terminal(&self) -> bool {
        self.stdout_tty
    }

    /// Whether progress can be drawn (stderr is a terminal and not `--quiet`).
    pub fn shows_progress(&self) -> bool {
        self.stderr_tty && !self.quiet
    }

    /// Whether a prompt can be shown (stdin and stderr are terminals).
    pub fn is_interactive(&self) -> bool {
        self.interactive
    }

    /// A status line on stderr, unless `--quiet`; on one line, control characters neutralised.
    pub fn status(&self, message: &str) {
        if !self.quiet {
            eprintln_safe(&one_line(message));
        }
    }

    /// A detail line on stderr, only with `--verbose`; on one line, control characters neutralised.
    pub fn detail(&self, message: &str) {
        if self.verbose > 0 && !self.quiet {
            eprintln_safe(&one_line(message));
        }
    }

    /// A warning on stderr (shown even with `--quiet`); on one line, control characters neutralised.
    pub fn warn(&self, message: &str) {
        eprintln_safe(&format!(
            "{} {}",
            self.paint("warning:", "33"),
            one_line(message)
        ));
    }

    /// The final error report: `error: ...` and an optional `hint: ...`.
    pub fn error(&self, message: &str, hint: Option<&str>) {
        eprintln_safe(&format!(
            "{} {}",
            self.paint("error:", "31"),
            one_line(message)
        ));
        if let Some(hint) = hint {
            eprintln_safe(&format!("{} {}", self.paint("hint:", "36"), one_line(hint)));
        }
    }

    fn paint(&self, text: &str, code: &str) -> String {
        if self.color {
            format!("\u{1b}[1;{code}m{text}\u{1b}[0m")
        } else {
            text.to_string()
        }
    }

    /// Ask a yes/no question on the terminal. `--yes` answers yes; without a terminal the
    /// question cannot be asked, which is a usage error; "no" aborts with exit 5.
    pub fn confirm(&self, question: &str, yes: bool) -> anyhow::Result<()> {
        if yes {
            return Ok(());
        }
        if !self.interactive {
            return Err(Failure::usage(
                "this needs confirmation, but there is no terminal to ask on",
            )
            .hint("pass --yes to confirm non-interactively")
            .into());
        }
        let answer = dialoguer::Confirm::new()
            .with_prompt(sanitize(question))
            .default(false)
            .interact_on(&dialoguer::console::Term::stderr())?;
        if answer {
            Ok(())
        } else {
            Err(Failure::new(Exit::Aborted, "aborted, nothing changed").into())
        }
    }
}

/// The longest line accepted as a token or password on stdin.
const MAX_SECRET_LINE: u64 = 4096;

/// Reads secrets: one per line from stdin, or a no-echo prompt when on a terminal.
pub struct SecretInput {
    interactive: bool,
    stdin: std::io::StdinLock<'static>,
}

impl Ui {
    /// Start reading secrets (token, password) from stdin or the terminal.
    pub fn secret_input(&self) -> SecretInput {
        SecretInput {
            interactive: self.interactive,
            stdin: std::io::stdin().lock(),
        }
    }
}

impl SecretInput {
    /// Read one secret. On a terminal, prompt without echo (twice when `confirm`); otherwise
    /// take the next line of stdin, without its line ending. `what` names it in errors.
    pub fn read(&mut self, what: &str, confirm: bool) -> anyhow::Result<crate::secret::Secret> {
        if self.interactive {
            let term = dialoguer::console::Term::stderr();
            let mut prompt = dialoguer::Password::new().with_prompt(what);
            if confirm {
                prompt =
                    prompt.with_confirmation(format!("Repeat {what}"), "the two entries differ");
            }
            return Ok(crate::secret::Secret::new(prompt.interact_on(&term)?));
        }
        let mut raw = zeroize::Zeroizing::new(Vec::new());
        std::io::BufRead::read_until(
            &mut std::io::Read::take(&mut self.stdin, MAX_SECRET_LINE),
            b'\n',
            &mut raw,
        )?;
        if raw.len() as u64 >= MAX_SECRET_LINE && !raw.ends_with(b"\n") {
            return Err(Failure::usage(format!(
                "the {what} on stdin is longer than {MAX_SECRET_LINE} bytes"
            ))
            .hint("give one line of at most 4 KiB")
            .into());
        }
        let Ok(line) = std::str::from_utf8(&raw) else {
            return Err(Failure::usage(format!("the {what} on stdin is not valid UTF-8")).into());
        };
        // A byte-order mark from a Windows editor is not part of the secret.
        let value = line
            .trim_start_matches('\u{feff}')
            .trim_end_matches(['\r', '\n']);
        if value.is_empty() {
            return Err(
                Failure::usage(format!("expected the {what} on a line of stdin"))
                    .hint("pipe it in, e.g. from a file, or run on a terminal to be prompted")
                    .into(),
            );
        }
        Ok(crate::secret::Secret::new(value.to_string()))
    }
}

/// `1204` as `1,204`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn eprintln_safe(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn one_line(text: &str) -> String {
    sanitize(&text.replace(['\r', '\n'], " ")).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1204), "1,204");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }

    #[test]
    fn one_line_joins_lines() {
        assert_eq!(one_line("a\nb"), "a b");
        assert_eq!(one_line("a\r\nerror: b\u{1b}[2J"), "a  error: b\\u{1b}[2J");
    }
}
