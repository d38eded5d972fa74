//! Email templates: subject, text and HTML parts rendered with minijinja, in the reader's
//! language.
//!
//! Built-in templates are compiled in (English, Indonesian, Polish); a file of the same name in
//! `templates.dir` overrides that one part (e.g. `password-change-link.html`, or
//! `password-change-link.pl.html` for Polish readers), and a file in a new language adds it.
//! Each part is looked for along the reader's fallback chain ([`locales`]). HTML parts are
//! auto-escaped, text parts and subjects are not. Unknown variables are errors, never blanks.
//! Rendering is a pure function of the template and the context: nothing here sends or prints.

use std::path::{Path, PathBuf};

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use crate::secret::Secret;
use crate::user::User;
use crate::user::locale::{self, Locale};

mod builtin;
mod load;
pub mod locales;
mod pages;
pub mod relative;
mod sample;
pub use builtin::LOCALES as BUILTIN_LOCALES;
pub use load::MAX_FILE_BYTES;
use load::{describe, html_formatter, load};
pub use pages::{LAYOUT, PAGES, PageProblem, PageVars, STYLESHEET, page_file, page_files};
pub use sample::{check_vars, sample_vars};

/// The parts every template has, as file-name suffixes.
pub const PARTS: [&str; 3] = [".subject.txt", ".txt", ".html"];

/// The templates pwreset sends, with what each is for.
pub const NAMES: [(&str, &str); 4] = [
    (
        "password-change-link",
        "the reset link (send-link, bulk --link)",
    ),
    (
        "access-info",
        "login instructions with a temporary password (reset generate, bulk --generate)",
    ),
    (
        "password-changed",
        "notice after a change, no secret (generate --show, tokens redeem)",
    ),
    (
        "email-changed",
        "notice to the old address after an email change, no secret (users edit --email)",
    ),
];

/// The variables templates can use, with what they hold.
pub const VARIABLES: [(&str, &str); 16] = [
    (
        "user.name",
        "display name, or the username when there is none",
    ),
    ("user.username", "login name"),
    ("user.email", "email address"),
    ("link", "the reset link (password-change-link only)"),
    (
        "cancel_link",
        "the link that cancels the reset, \"this wasn't me\" (password-change-link only)",
    ),
    (
        "code",
        "the one-time code to type on the page instead (password-change-link; none when links.code = false)",
    ),
    (
        "page_url",
        "the reset page without a token, where the code is typed (password-change-link only)",
    ),
    (
        "expires_at",
        "when the link or temporary password stops working, e.g. 2026-11-22 11:00 UTC",
    ),
    ("expires_in", "how long until then, e.g. 1 hour"),
    ("password", "the temporary password (access-info only)"),
    ("app_name", "templates.app_name"),
    ("login_url", "templates.login_url"),
    ("support_contact", "templates.support_contact"),
    (
        "by_admin",
        "true when an administrator changed the password (password-changed)",
    ),
    ("note", "a note from the administrator, given with --note"),
    (
        "new_email",
        "the account's new email address, masked, e.g. b***@example.org (email-changed only)",
    ),
];

/// Where a template part comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Compiled into pwreset.
    Builtin,
    /// A file in `templates.dir` overriding the built-in.
    File(PathBuf),
}

/// A template could not be read or rendered.
#[derive(Debug, thiserror::Error)]
#[error("template {file}: {message}")]
pub struct TemplateError {
    /// The file (or built-in name) at fault.
    pub file: String,
    /// What went wrong, with the line where known.
    pub message: String,
}

/// What a template may use about the user.
#[derive(Debug, Clone, Serialize)]
pub struct UserVars {
    /// Display name, or the username when there is none.
    pub name: String,
    /// Login name.
    pub username: String,
    /// Email address.
    pub email: Option<String>,
    /// The language the user reads (none: `mail.default_locale`); picks the templates, not a
    /// variable of them.
    #[serde(skip)]
    pub locale: Option<Locale>,
}

impl From<&User> for UserVars {
    /// The user's name (display name, or the username), username, email and language (a
    /// stored tag that does not parse counts as none).
    fn from(user: &User) -> Self {
        UserVars {
            name: user
                .display_name
                .clone()
                .unwrap_or_else(|| user.username.clone()),
            username: user.username.clone(),
            email: user.email.clone(),
            locale: user.locale.as_deref().and_then(|t| locale::parse(t).ok()),
        }
    }
}

/// The built-in source of a part, e.g. `access-info.html` or `access-info.pl.html`.
pub fn builtin_source(file: &str) -> Option<&'static str> {
    builtin::source(file)
}

/// Every variable a template can use. Unset ones render as nothing in `{% if %}` tests.
/// Its Debug output hides the link and the password.
#[derive(Clone, Serialize)]
pub struct Vars {
    /// The user the mail is about.
    pub user: UserVars,
    /// The reset link (password-change-link only).
    pub link: Option<String>,
    /// The link that cancels the reset (password-change-link only).
    pub cancel_link: Option<String>,
    /// The one-time code to type instead of clicking (password-change-link, when enabled).
    pub code: Option<String>,
    /// The reset page without a token, where the code is typed (password-change-link only).
    pub page_url: Option<String>,
    /// The temporary password (access-info only).
    pub password: Option<String>,
    /// When the link or password expires, e.g. `2026-11-22 11:00 UTC`.
    pub expires_at: Option<String>,
    /// How long until then, in seconds; templates get it in words of their language
    /// (`expires_in`, e.g. `1 hour`, `1 godzinę`).
    #[serde(skip)]
    pub expires_in: Option<u64>,
    /// The application's name.
    pub app_name: String,
    /// Who to contact if the mail was unexpected.
    pub support_contact: Option<String>,
    /// Where users log in.
    pub login_url: Option<String>,
    /// Whether an administrator (rather than the user) changed the password
    /// (password-changed only).
    pub by_admin: bool,
    /// A note from the administrator (`--note`), if any.
    pub note: Option<String>,
    /// The account's new email address, masked (email-changed only).
    pub new_email: Option<String>,
}

impl std::fmt::Debug for Vars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vars")
            .field("user", &self.user.username)
            .field("link", &"[redacted]")
            .field("cancel_link", &"[redacted]")
            .field("code", &"[redacted]")
            .field("password", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// A rendered email. The bodies may carry a secret (the link), so they are held as secrets.
#[derive(Debug)]
pub struct Rendered {
    /// Subject line.
    pub subject: String,
    /// text/plain body.
    pub text: Secret,
    /// text/html body.
    pub html: Secret,
}

/// The template set: built-ins, overridden by files in a folder.
pub struct Templates {
    env: Environment<'static>,
    dir: Option<PathBuf>,
    default_locale: Locale,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Templates")
    }
}

impl Templates {
    /// Templates from `dir` (if given) over the built-ins.
    #[allow(clippy::case_sensitive_file_extension_comparisons)] // part names are ours: `.html`
    pub fn new(dir: Option<&Path>) -> Templates {
        let dir: Option<PathBuf> = dir.map(Path::to_path_buf);
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_formatter(html_formatter);
        // `{% extends "page.html" %}` in `pl,en/page-form.html` means `pl,en/page.html`.
        env.set_path_join_callback(|name, parent| match parent.split_once('/') {
            Some((chain, _)) if !name.contains('/') => format!("{chain}/{name}").into(),
            _ => name.into(),
        });
        let loader_dir = dir.clone();
        env.set_loader(move |name| load(loader_dir.as_deref(), name));
        Templates {
            env,
            dir,
            default_locale: Locale::english(),
        }
    }

    /// The same templates for readers without a language of their own in `locale`
    /// (`mail.default_locale`; English unless set).
    #[must_use]
    pub fn with_default_locale(mut self, locale: Locale) -> Templates {
        self.default_locale = locale;
        self
    }

    /// The entries of a templates folder, whose owners and modes the CLI checks before any mail
    /// is made from them (none when the folder cannot be read: loading reports that).
    pub fn files(dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default()
    }

    /// Where a part (e.g. `access-info.html`) comes from.
    pub fn origin(&self, file: &str) -> Origin {
        match &self.dir {
            Some(dir) if dir.join(file).is_file() => Origin::File(dir.join(file)),
            _ => Origin::Builtin,
        }
    }

    /// Render every part of every template with `vars`, for a reader of each language there
    /// are templates in; returns every problem found, each once.
    pub fn check(&self, vars: &Vars) -> Vec<TemplateError> {
        let mut problems = Vec::new();
        for tag in self.locales() {
            let mut vars = vars.clone();
            vars.user.locale = Some(tag);
            let found = NAMES
                .iter()
                .flat_map(|(name, _)| PARTS.iter().map(move |suffix| (name, suffix)))
                .filter_map(|(name, suffix)| self.part(name, suffix, &vars).err());
            once_each(&mut problems, found);
        }
        problems
    }

    /// Render one part (`suffix` from [`PARTS`]) of template `name`.
    pub fn render_part(
        &self,
        name: &str,
        suffix: &str,
        vars: &Vars,
    ) -> Result<String, TemplateError> {
        self.part(name, suffix, vars)
    }

    /// Render the three parts of template `name` in the language of `vars.user`.
    pub fn render(&self, name: &str, vars: &Vars) -> Result<Rendered, TemplateError> {
        let subject = self.part(name, ".subject.txt", vars)?;
        let subject = subject.trim().to_string();
        if subject.contains(['\r', '\n']) {
            return Err(TemplateError {
                file: format!("{name}.subject.txt"),
                message: "the subject renders to more than one line".into(),
            });
        }
        Ok(Rendered {
            subject,
            text: Secret::new(self.part(name, ".txt", vars)?),
            html: Secret::new(self.part(name, ".html", vars)?),
        })
    }

    /// The languages tried for a reader of `wanted` (none: the default).
    fn chain(&self, wanted: Option<&Locale>) -> Vec<String> {
        locales::chain(wanted, &self.default_locale)
    }

    fn part(&self, name: &str, suffix: &str, vars: &Vars) -> Result<String, TemplateError> {
        let chain = self.chain(vars.user.locale.as_ref());
        self.render_file(&chain, &format!("{name}{suffix}"), vars, vars.expires_in)
    }

    /// The language `file` is found in along `chain`.
    fn lang(&self, chain: &[String], file: &str) -> String {
        locales::resolve(self.dir.as_deref(), chain, file)
            .map_or_else(|| locale::ENGLISH.to_string(), |found| found.locale)
    }

    /// Render `file`, found along `chain`, with `vars`, plus `lang` (the language of the file
    /// found) and `expires_in` (`expires_in` seconds in words of that language).
    fn render_file(
        &self,
        chain: &[String],
        file: &str,
        vars: &impl Serialize,
        expires_in: Option<u64>,
    ) -> Result<String, TemplateError> {
        let name = locales::chained(chain, file);
        let lang = self.lang(chain, file);
        let language = lang.split('-').next().unwrap_or_default();
        let expires_in = expires_in.map(|secs| relative::spoken(language, secs));
        let context = minijinja::context! {
            lang => lang,
            expires_in => expires_in,
            ..minijinja::Value::from(minijinja::value::Serde(vars))
        };
        let describe = |e: &minijinja::Error| self.describe(&name, e);
        let template = self.env.get_template(&name).map_err(|e| describe(&e))?;
        template.render(context).map_err(|e| describe(&e))
    }

    /// A template error, naming the real file at fault (the layout, when it is at fault).
    fn describe(&self, name: &str, err: &minijinja::Error) -> TemplateError {
        let at = err.name().filter(|n| n.contains('/')).unwrap_or(name);
        let file = self
            .found(at)
            .map_or_else(|| locales::unchain(at).1.to_string(), |f| f.name);
        describe(&file, err)
    }
}

/// Add each of `found` to `problems` unless the same problem is there already (a broken file
/// shared by several languages' chains is reported once).
fn once_each(problems: &mut Vec<TemplateError>, found: impl Iterator<Item = TemplateError>) {
    for problem in found {
        let seen = problems
            .iter()
            .any(|p| p.file == problem.file && p.message == problem.message);
        if !seen {
            problems.push(problem);
        }
    }
}

#[cfg(test)]
mod tests;
