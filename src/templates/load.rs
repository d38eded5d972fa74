//! Where template sources come from and how their failures read: the loader behind the
//! environment (an override in `templates.dir`, read up to [`MAX_FILE_BYTES`], else the
//! built-in), HTML escaping, and a minijinja error as a [`TemplateError`] with its line.

use std::path::Path;

use minijinja::AutoEscape;

use super::{Origin, TemplateError, builtin, locales};

/// Auto-escape HTML the way markupsafe does (`& < > " '`), leaving `/` alone so that links
/// stay readable in the HTML source; everything else as minijinja does by default.
pub(super) fn html_formatter(
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

/// The source behind environment name `name` ([`locales::chained`], or a plain English name).
pub(super) fn load(dir: Option<&Path>, name: &str) -> Result<Option<String>, minijinja::Error> {
    let (chain, file) = locales::unchain(name);
    let Some(found) = locales::resolve(dir, &chain, file) else {
        return Ok(None);
    };
    match found.origin {
        Origin::File(path) => read_limited(&path).map(Some).map_err(|e| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("cannot read {}: {e}", path.display()),
            )
        }),
        Origin::Builtin => Ok(builtin::source(&found.name).map(str::to_string)),
    }
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

pub(super) fn describe(file: &str, err: &minijinja::Error) -> TemplateError {
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
