//! The reset page's templates (`pwreset serve`): one HTML file per page, extending the `page.html`
//! layout, plus the stylesheet `page.css`. Like the mails, each file is built in (in each
//! built-in language) and overridable from `templates.dir` one by one, auto-escaped, and strict
//! about unknown variables. Every word a page shows is in its template, the reasons for a
//! refused input included ([`PageProblem`]), so that a language is a set of files. Rendering
//! only: nothing here knows about HTTP.

use serde::Serialize;

use super::{TemplateError, Templates};
use crate::user::locale::Locale;

/// The layout every page extends.
pub const LAYOUT: &str = "page.html";
/// The pages' one stylesheet.
pub const STYLESHEET: &str = "page.css";

/// The pages, by the name in their `data-page` attribute, with what each is for.
pub const PAGES: [(&str, &str); 10] = [
    ("form", "the new-password form"),
    ("done", "after the password was changed"),
    (
        "gone",
        "the link or code is invalid, used, revoked or expired",
    ),
    ("code", "enter a code instead of opening the link"),
    (
        "cancel",
        "\"this wasn't me\": one button that cancels the reset",
    ),
    ("cancelled", "after the reset was cancelled"),
    ("forbidden", "a cross-site or stale form was refused"),
    ("too-many", "too many failed attempts from one address"),
    ("error", "an internal error; nothing changed"),
    ("not-found", "no such page"),
];

/// The file of page `name`, e.g. `page-form.html`.
pub fn page_file(name: &str) -> String {
    format!("page-{name}.html")
}

/// Every file the pages are made of: the layout, each page, and the stylesheet.
pub fn page_files() -> Vec<String> {
    let mut files = vec![LAYOUT.to_string()];
    files.extend(PAGES.iter().map(|(name, _)| page_file(name)));
    files.push(STYLESHEET.to_string());
    files
}

/// Every variable a page can use; unset ones are empty.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PageVars {
    /// The page's name, for `data-page`.
    pub page: String,
    /// The path of `links.base_url`, without a trailing slash (the form posts here).
    pub path: String,
    /// `templates.app_name`.
    pub app_name: String,
    /// `templates.support_contact`.
    pub support_contact: Option<String>,
    /// `serve.logo_url`.
    pub logo_url: Option<String>,
    /// `templates.login_url` (done page).
    pub login_url: Option<String>,
    /// The password was changed in this browser just now (done page; else it claims nothing).
    pub changed: bool,
    /// The user's login name (form and done pages).
    pub username: Option<String>,
    /// The form's CSRF value.
    pub csrf: String,
    /// What was wrong with the input, shown next to the field in the page's words.
    pub problem: Option<PageProblem>,
    /// What was typed in the login field of the code form.
    pub login: String,
    /// The shortest new password accepted, in characters (for the policy sentence).
    pub min_length: usize,
    /// The longest new password accepted, in characters.
    pub max_length: usize,
    /// Whether codes are on (the form links to the code page).
    pub codes: bool,
    /// The link expired (gone page).
    pub expired: bool,
    /// Too many wrong codes revoked the link (gone page).
    pub exhausted: bool,
}

/// Why a page refuses what was typed; the page says it in its language. In templates, the
/// value of `problem` is the kebab-case name, e.g. `too-short`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PageProblem {
    /// The two new passwords differ.
    Mismatch,
    /// The new password is shorter than `min_length`.
    TooShort,
    /// The new password is longer than `max_length`.
    TooLong,
    /// The new password is too easy to guess.
    Common,
    /// The new password is the username or email.
    SameAsIdentity,
    /// The code is wrong, or no longer works.
    WrongCode,
}

impl Templates {
    /// Render page `name` (see [`PAGES`]) in `locale` (falling back as mails do) with `vars`.
    pub fn render_page(
        &self,
        name: &str,
        locale: &Locale,
        vars: &PageVars,
    ) -> Result<String, TemplateError> {
        let chain = self.chain(Some(locale));
        self.render_file(&chain, &page_file(name), vars, None)
    }

    /// The stylesheet: `page.css` from `templates.dir`, else the built-in one.
    pub fn stylesheet(&self) -> Result<String, TemplateError> {
        super::load(self.dir.as_deref(), STYLESHEET)
            .map_err(|e| super::describe(STYLESHEET, &e))
            .map(Option::unwrap_or_default)
    }

    /// Render every page with sample values in every language; returns every problem found,
    /// each once.
    pub fn check_pages(&self) -> Vec<TemplateError> {
        let mut problems = Vec::new();
        for tag in self.locales() {
            let found = PAGES
                .iter()
                .filter_map(|(name, _)| self.render_page(name, &tag, &sample(name)).err());
            super::once_each(&mut problems, found);
        }
        problems.extend(self.stylesheet().err());
        problems
    }
}

/// Sample values for checking page `name`: every optional value set.
fn sample(name: &str) -> PageVars {
    PageVars {
        page: name.to_string(),
        path: "/reset-password".into(),
        app_name: "Example".into(),
        support_contact: Some("help@example.com".into()),
        logo_url: Some("https://example.com/logo.png".into()),
        login_url: Some("https://example.com/login".into()),
        changed: true,
        username: Some("alice".into()),
        csrf: "0".repeat(64),
        problem: Some(PageProblem::TooShort),
        login: "alice".into(),
        min_length: 12,
        max_length: 128,
        codes: true,
        expired: false,
        exhausted: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_page_renders_and_an_override_replaces_one_page() {
        let builtin = Templates::new(None);
        assert!(builtin.check_pages().is_empty());
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("page-gone.html"),
            "{% extends \"page.html\" %}{% block content %}<p>Ours</p>{% endblock %}",
        )
        .expect("write");
        let set = Templates::new(Some(dir.path()));
        let en = Locale::english();
        let gone = set
            .render_page("gone", &en, &sample("gone"))
            .expect("render");
        assert!(gone.contains("<p>Ours</p>") && gone.contains("data-page=\"gone\""));
        let done = set
            .render_page("done", &en, &sample("done"))
            .expect("render");
        assert!(
            done.contains("id=\"login-link\""),
            "the others stay built in"
        );
    }

    #[test]
    fn page_values_are_escaped() {
        let mut vars = sample("form");
        vars.username = Some("<script>x</script>".into());
        let html = Templates::new(None)
            .render_page("form", &Locale::english(), &vars)
            .expect("render");
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
    }

    /// Each page in each built-in language, with every optional value set (the sample a
    /// `templates check` renders), so that a change of wording shows in review.
    #[test]
    fn every_page_in_every_builtin_language() {
        let builtin = Templates::new(None);
        for tag in crate::templates::BUILTIN_LOCALES {
            let locale = crate::user::locale::parse(tag).expect("a built-in tag");
            for (name, _) in PAGES {
                let html = builtin
                    .render_page(name, &locale, &sample(name))
                    .expect("render");
                assert!(html.contains(&format!("lang=\"{tag}\"")), "{name} in {tag}");
                insta::assert_snapshot!(format!("page_{name}_{tag}"), html);
            }
        }
    }
}
