//! `pwreset templates ...`: list the email templates and the reset page's in each language,
//! show their built-in source, preview one in a language, and check them all in every language.

use std::io::Write;

use serde::Serialize;

use super::Context;
use crate::cli::CommandResult;
use crate::cli::exit::{Exit, Failure};
use crate::cli::output::{ListWriter, Record};
use crate::cli::ui::sanitize;
use crate::templates::{self, Origin};
use crate::text::TerminalWriter;

/// List, show, preview and check the email templates
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List the templates, the languages each part is in, and where each comes from
    #[command(
        after_help = "Examples:\n  pwreset templates list\n  pwreset templates list --format json | jq -r '.[] | select(.locale == \"pl\") | .part'"
    )]
    List,
    /// Print a template's built-in source (to copy into templates.dir and edit) and its variables
    #[command(
        after_help = "Examples:\n  pwreset templates show access-info\n  pwreset templates show password-change-link > /tmp/link.txt\n  pwreset templates show access-info --locale pl     The built-in Polish"
    )]
    Show {
        /// password-change-link, access-info, password-changed or email-changed
        name: String,
        /// Show the built-in translation in this language (en, id or pl) [default: en]
        #[arg(long, value_name = "TAG")]
        locale: Option<String>,
    },
    /// Render a template with a user's data, or sample data; sends nothing
    #[command(
        after_help = "Examples:\n  pwreset templates preview password-change-link\n  pwreset templates preview access-info --user alice\n  pwreset templates preview password-change-link --locale pl"
    )]
    Preview {
        /// password-change-link, access-info, password-changed or email-changed
        name: String,
        /// Use this user's data (an email, a username or #ID) instead of a sample user
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Render it in this language, e.g. pl, id, pt-BR [default: the user's, else
        /// mail.default_locale]
        #[expect(
            clippy::doc_markdown,
            reason = "help text names the config key as it is written"
        )]
        #[arg(long, value_name = "TAG")]
        locale: Option<String>,
    },
    /// Render every template in every language; report every unknown variable and syntax error
    /// (exit 8)
    #[command(after_help = "Examples:\n  pwreset templates check")]
    Check,
}

/// Run a `templates` subcommand.
pub fn run(ctx: &Context, command: Command) -> CommandResult<Exit> {
    match command {
        Command::List => list(ctx),
        Command::Show { name, locale } => show(&name, locale.as_deref()),
        Command::Preview { name, user, locale } => {
            preview(ctx, &name, user.as_deref(), locale.as_deref())
        }
        Command::Check => check(ctx),
    }
}

fn known(name: &str) -> CommandResult<()> {
    if templates::NAMES.iter().any(|(n, _)| *n == name) {
        return Ok(());
    }
    let names: Vec<&str> = templates::NAMES.iter().map(|(n, _)| *n).collect();
    Err(Failure::usage(format!("no template {:?}", sanitize(name)))
        .hint(format!("the templates are {}", names.join(", ")))
        .into())
}

#[derive(Serialize)]
struct PartRow {
    template: &'static str,
    part: String,
    locale: String,
    source: String,
    used_for: &'static str,
}

impl Record for PartRow {
    const HEADINGS: &'static [&'static str] = &["TEMPLATE", "PART", "LOCALE", "SOURCE", "USED FOR"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.template.into(),
            self.part.clone(),
            self.locale.clone(),
            self.source.clone(),
            self.used_for.into(),
        ]
    }
}

fn list(ctx: &Context) -> CommandResult<Exit> {
    let config = ctx.config()?;
    let set = ctx.templates(&config);
    let mut writer = ListWriter::new::<PartRow>(
        ctx.settings.format,
        std::io::stdout().lock(),
        ctx.ui.stdout_is_terminal(),
    );
    let mails = templates::NAMES.iter().flat_map(|(name, used_for)| {
        let parts = templates::PARTS.iter();
        parts.map(move |suffix| (*name, format!("{name}{suffix}"), *used_for))
    });
    let pages = page_parts()
        .into_iter()
        .map(|(file, used_for)| ("page", file, used_for));
    for (template, file, used_for) in mails.chain(pages) {
        for found in set.versions(&file) {
            writer.row(&PartRow {
                template,
                part: found.name,
                locale: found.locale,
                source: match found.origin {
                    Origin::Builtin => "built-in".to_string(),
                    Origin::File(path) => path.display().to_string(),
                },
                used_for,
            })?;
        }
    }
    writer.finish()?;
    Ok(Exit::Ok)
}

/// The files of the reset page (`pwreset serve`), with what each is for.
fn page_parts() -> Vec<(String, &'static str)> {
    let mut parts = vec![(
        templates::LAYOUT.to_string(),
        "the layout every page extends (serve)",
    )];
    parts.extend(
        templates::PAGES
            .iter()
            .map(|(name, used_for)| (templates::page_file(name), *used_for)),
    );
    parts.push((
        templates::STYLESHEET.to_string(),
        "the pages' one stylesheet (serve)",
    ));
    parts
}

/// The infix of a built-in translation's file names: `""` for English, `.pl` for Polish.
fn builtin_infix(locale: Option<&str>) -> CommandResult<String> {
    let Some(tag) = locale else {
        return Ok(String::new());
    };
    let tag = crate::user::locale::parse(tag)
        .map_err(|err| Failure::usage(format!("--locale: {err}")))?;
    match tag.as_str() {
        "en" => Ok(String::new()),
        tag if templates::BUILTIN_LOCALES.contains(&tag) => Ok(format!(".{tag}")),
        tag => Err(
            Failure::usage(format!("--locale: there is no built-in {tag} translation"))
                .hint(format!(
                    "built in: {}; write one in templates.dir, starting from the English",
                    templates::BUILTIN_LOCALES.join(", ")
                ))
                .into(),
        ),
    }
}

fn show(name: &str, locale: Option<&str>) -> CommandResult<Exit> {
    known(name)?;
    let infix = builtin_infix(locale)?;
    let mut out = std::io::stdout().lock();
    for suffix in templates::PARTS {
        let file = format!("{name}{infix}{suffix}");
        writeln!(out, "==> {file} <==")?;
        writeln!(
            out,
            "{}",
            templates::builtin_source(&file)
                .unwrap_or_default()
                .trim_end()
        )?;
        writeln!(out)?;
    }
    writeln!(out, "Variables:")?;
    for (variable, meaning) in templates::VARIABLES {
        writeln!(out, "  {variable:<16} {meaning}")?;
    }
    writeln!(
        out,
        "\nCopy a part into templates.dir under the same file name to override it."
    )?;
    out.flush()?;
    Ok(Exit::Ok)
}

/// Sample data, or `user`'s, with a placeholder link and password that work nowhere, in
/// `locale` if given (else the user's language, else the default).
fn preview(
    ctx: &Context,
    name: &str,
    user: Option<&str>,
    locale: Option<&str>,
) -> CommandResult<Exit> {
    known(name)?;
    let locale = locale
        .map(crate::user::locale::parse)
        .transpose()
        .map_err(|err| Failure::usage(format!("--locale: {err}")))?;
    let (config, store) = ctx.open_store_if(user.is_some())?;
    let user = match (user, &store) {
        (Some(key), Some(store)) => Some(crate::users::resolve(store.conn(), key)?),
        _ => None,
    };
    let mut vars = templates::sample_vars(
        &config.config,
        name,
        user.as_ref(),
        ctx.settings.now.as_second(),
    );
    if locale.is_some() {
        vars.user.locale = locale;
    }
    let mail = ctx.templates(&config).render(name, &vars)?;
    // The user's data is in the text: neutralised on a terminal, exact in a pipe or file.
    let mut out = TerminalWriter::new(std::io::stdout().lock(), ctx.ui.stdout_is_terminal());
    writeln!(out, "Subject: {}", mail.subject)?;
    writeln!(
        out,
        "\n==> text/plain <==\n{}",
        mail.text.expose().trim_end()
    )?;
    writeln!(
        out,
        "\n==> text/html <==\n{}",
        mail.html.expose().trim_end()
    )?;
    out.flush()?;
    ctx.ui
        .status("Preview only: nothing was sent; the link and password are placeholders.");
    Ok(Exit::Ok)
}

fn check(ctx: &Context) -> CommandResult<Exit> {
    let config = ctx.config()?;
    let set = ctx.templates(&config);
    let mut problems = set.check(&templates::check_vars(
        &config.config,
        ctx.settings.now.as_second(),
    ));
    problems.extend(set.check_pages());
    for problem in &mut problems {
        if let Origin::File(path) = set.origin(&problem.file) {
            problem.file = path.display().to_string();
        }
    }
    let Some(last) = problems.pop() else {
        let locales: Vec<String> = set.locales().iter().map(ToString::to_string).collect();
        ctx.ui.status(&format!(
            "All {} templates render, and the {} pages of `pwreset serve`, in {}.",
            templates::NAMES.len(),
            templates::PAGES.len(),
            locales.join(", ")
        ));
        return Ok(Exit::Ok);
    };
    for problem in &problems {
        ctx.ui.error(&problem.to_string(), None);
    }
    Err(last.into())
}
