//! The built-in template files, compiled in: English under the plain names
//! (`access-info.txt`), and each translation under `NAME.LOCALE.PART` (`access-info.pl.txt`),
//! the same names a `templates.dir` override uses. Every language has every file but the
//! stylesheet, which has no words.

/// The languages every mail and page is built in for.
pub const LOCALES: [&str; 3] = ["en", "id", "pl"];

/// `(file name, source)` of `builtin/STEM.LANG.PART`.
macro_rules! part {
    ($stem:literal, $lang:literal, $part:literal) => {
        (
            concat!($stem, ".", $lang, $part),
            include_str!(concat!("builtin/", $stem, ".", $lang, $part)),
        )
    };
}

/// Every file of language `$lang`.
macro_rules! translation {
    ($lang:literal) => {
        &[
            part!("access-info", $lang, ".subject.txt"),
            part!("access-info", $lang, ".txt"),
            part!("access-info", $lang, ".html"),
            part!("password-changed", $lang, ".subject.txt"),
            part!("password-changed", $lang, ".txt"),
            part!("password-changed", $lang, ".html"),
            part!("email-changed", $lang, ".subject.txt"),
            part!("email-changed", $lang, ".txt"),
            part!("email-changed", $lang, ".html"),
            part!("password-change-link", $lang, ".subject.txt"),
            part!("password-change-link", $lang, ".txt"),
            part!("password-change-link", $lang, ".html"),
            part!("page", $lang, ".html"),
            part!("page-form", $lang, ".html"),
            part!("page-done", $lang, ".html"),
            part!("page-gone", $lang, ".html"),
            part!("page-code", $lang, ".html"),
            part!("page-cancel", $lang, ".html"),
            part!("page-cancelled", $lang, ".html"),
            part!("page-forbidden", $lang, ".html"),
            part!("page-too-many", $lang, ".html"),
            part!("page-error", $lang, ".html"),
            part!("page-not-found", $lang, ".html"),
        ]
    };
}

/// `(file name, source)` of a built-in file.
pub type File = (&'static str, &'static str);

/// The English templates, under their plain names.
pub const ENGLISH: &[File] = &[
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

/// The translations: Indonesian, Polish.
pub const TRANSLATIONS: [&[File]; 2] = [translation!("id"), translation!("pl")];

/// Every built-in file, English first.
pub fn all() -> impl Iterator<Item = &'static File> {
    ENGLISH.iter().chain(TRANSLATIONS.iter().copied().flatten())
}

/// The built-in source of file `name` (e.g. `access-info.pl.html`), if there is one.
pub fn source(name: &str) -> Option<&'static str> {
    all()
        .find(|(file, _)| *file == name)
        .map(|(_, source)| *source)
}
