//! Email templates: subject, text and HTML parts rendered with minijinja.
//!
//! Built-in templates are compiled in; a file of the same name in `templates.dir` overrides that
//! one part (e.g. `password-change-link.html`). HTML parts are auto-escaped, text parts and
//! subjects are not. Unknown variables are errors, never blanks. Rendering is a pure function of
//! the template and the context: nothing here sends or prints.

use std::path::{Path, PathBuf};

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use crate::secret::Secret;
use crate::store::users::User;

mod pages;
mod sample;
pub use pages::{LAYOUT, PAGES, PageVars, STYLESHEET, page_file, page_files};
pub use sample::{check_vars, sample_vars};

/// The built-in templates: (file name, source).
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "access-info.subject.txt",
        include_str!("builtin/access-info.subject.txt"),
    ),
    ("access-info.txt", include_str!("builtin/access-info.txt")),
    ("access-info.html", include_str!("builtin/access-info.html")),
    (
        "password-changed.subject.txt",
        include_str!("builtin/password-changed.subject.txt"),
    ),
    (
        "password-changed.txt",
        include_str!("builtin/password-changed.txt"),
    ),
    (
        "password-changed.html",
        include_str!("builtin/password-changed.html"),
    ),
    (
        "email-changed.subject.txt",
        include_str!("builtin/email-changed.subject.txt"),
    ),
    (
        "email-changed.txt",
        include_str!("builtin/email-changed.txt"),
    ),
    (
        "email-changed.html",
        include_str!("builtin/email-changed.html"),
    ),
    (
        "password-change-link.subject.txt",
        include_str!("builtin/password-change-link.subject.txt"),
    ),
    (
        "password-change-link.txt",
        include_str!("builtin/password-change-link.txt"),
    ),
    (
        "password-change-link.html",
        include_str!("builtin/password-change-link.html"),
    ),
    ("page.html", include_str!("builtin/page.html")),
    ("page-form.html", include_str!("builtin/page-form.html")),
    ("page-done.html", include_str!("builtin/page-done.html")),
    ("page-gone.html", include_str!("builtin/page-gone.html")),
    ("page-code.html", include_str!("builtin/page-code.html")),
    ("page-cancel.html", include_str!("builtin/page-cancel.html")),
    (
        "page-cancelled.html",
        include_str!("builtin/page-cancelled.html"),
    ),
    (
        "page-forbidden.html",
        include_str!("builtin/page-forbidden.html"),
    ),
    (
        "page-too-many.html",
        include_str!("builtin/page-too-many.html"),
    ),
    ("page-error.html", include_str!("builtin/page-error.html")),
    (
        "page-not-found.html",
        include_str!("builtin/page-not-found.html"),
    ),
    ("page.css", include_str!("builtin/page.css")),
];

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
}

impl From<&User> for UserVars {
    /// The user's name (display name, or the username), username and email.
    fn from(user: &User) -> Self {
        UserVars {
            name: user
                .display_name
                .clone()
                .unwrap_or_else(|| user.username.clone()),
            username: user.username.clone(),
            email: user.email.clone(),
        }
    }
}

/// The built-in source of a part, e.g. `access-info.html`.
pub fn builtin_source(file: &str) -> Option<&'static str> {
    BUILTIN
        .iter()
        .find(|(name, _)| *name == file)
        .map(|(_, source)| *source)
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
    /// How long until then, e.g. `1 hour`.
    pub expires_in: Option<String>,
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
        let loader_dir = dir.clone();
        env.set_loader(move |name| load(loader_dir.as_deref(), name));
        Templates { env, dir }
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

    /// Render every part of every template with `vars`; returns every problem found.
    pub fn check(&self, vars: &Vars) -> Vec<TemplateError> {
        NAMES
            .iter()
            .flat_map(|(name, _)| PARTS.iter().map(move |suffix| (name, suffix)))
            .filter_map(|(name, suffix)| self.part(name, suffix, vars).err())
            .collect()
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

    /// Render the three parts of template `name`.
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

    fn part(&self, name: &str, suffix: &str, vars: &Vars) -> Result<String, TemplateError> {
        self.render_file(&format!("{name}{suffix}"), vars)
    }

    /// Render template file `file` with `vars`.
    fn render_file(&self, file: &str, vars: &impl Serialize) -> Result<String, TemplateError> {
        let template = self
            .env
            .get_template(file)
            .map_err(|e| describe(file, &e))?;
        template
            .render(minijinja::value::Serde(vars))
            .map_err(|e| describe(file, &e))
    }
}

/// Auto-escape HTML the way markupsafe does (`& < > " '`), leaving `/` alone so that links
/// stay readable in the HTML source; everything else as minijinja does by default.
fn html_formatter(
    out: &mut minijinja::Output,
    state: &mut minijinja::State,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    if !matches!(state.auto_escape(), AutoEscape::Html)
        || value.is_safe()
        || value.is_none()
        || value.is_undefined()
    {
        return minijinja::escape_formatter(out, state, value);
    }
    let text = value.to_string();
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    out.write_str(&escaped)
        .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string()))
}

/// The largest template file read from `templates.dir`: 256 KiB.
pub const MAX_FILE_BYTES: u64 = 256 * 1024;

fn load(dir: Option<&Path>, name: &str) -> Result<Option<String>, minijinja::Error> {
    if let Some(dir) = dir {
        let path = dir.join(name);
        if path.is_file() {
            return read_limited(&path).map(Some).map_err(|e| {
                minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    format!("cannot read {}: {e}", path.display()),
                )
            });
        }
    }
    Ok(BUILTIN
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(_, source)| (*source).to_string()))
}

/// Read a template file of at most [`MAX_FILE_BYTES`], never more than one byte past it.
fn read_limited(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {} KiB",
            MAX_FILE_BYTES / 1024
        )));
    }
    Ok(text)
}

fn describe(file: &str, err: &minijinja::Error) -> TemplateError {
    let line = err
        .line()
        .map(|l| format!("line {l}: "))
        .unwrap_or_default();
    let detail = err.detail().map(|d| format!(": {d}")).unwrap_or_default();
    TemplateError {
        file: file.to_string(),
        message: format!("{line}{}{detail}", err.kind()),
    }
}

#[cfg(test)]
mod tests;
