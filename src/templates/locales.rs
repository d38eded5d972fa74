//! Templates per language: which file a template stands for in a language, along a fallback
//! chain (`pt-BR`, `pt`, then `mail.default_locale` and its language, then English), and which
//! languages there are (built in, and found in `templates.dir`).
//!
//! A file for a language inserts the tag after the template's name: `page-form.pl.html`,
//! `access-info.pt-BR.subject.txt`. English is also the plain name (`page-form.html`), which is
//! where every chain ends. Within the template environment a file is asked for under a name
//! that carries its chain, `pl,en/page-form.html`, so that `{% extends "page.html" %}` finds
//! the layout in the same language and each chain is parsed and cached once.

use std::path::Path;

use super::{NAMES, Origin, PAGES, Templates, builtin};
use crate::user::locale::{self, ENGLISH, Locale};

/// A file found for a template name: its real name, language, and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The file's name, e.g. `page-form.pl.html`.
    pub name: String,
    /// The language it is in.
    pub locale: String,
    /// Built in, or the path of the override.
    pub origin: Origin,
}

/// The name of `file` (e.g. `page-form.html`) in `locale`: `page-form.pl.html`.
pub fn localized(file: &str, locale: &str) -> String {
    match file.split_once('.') {
        Some((stem, rest)) => format!("{stem}.{locale}.{rest}"),
        None => format!("{file}.{locale}"),
    }
}

/// The first of `chain` that has `file`: its override in `dir`, else its built-in.
pub fn resolve(dir: Option<&Path>, chain: &[String], file: &str) -> Option<Found> {
    for tag in chain {
        let mut names = vec![localized(file, tag)];
        if tag == ENGLISH {
            names.push(file.to_string());
        }
        for name in names {
            let path = dir.map(|dir| dir.join(&name));
            let origin = match path {
                Some(path) if path.is_file() => Origin::File(path),
                _ if builtin::source(&name).is_some() => Origin::Builtin,
                _ => continue,
            };
            return Some(Found {
                name,
                locale: tag.clone(),
                origin,
            });
        }
    }
    None
}

/// The languages to try for a reader of `wanted` (none: the default), most wanted first.
pub fn chain(wanted: Option<&Locale>, default: &Locale) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    let all = wanted.into_iter().chain(std::iter::once(default));
    for tag in all.flat_map(Locale::fallbacks).chain([Locale::english()]) {
        if !tags.iter().any(|t| t == tag.as_str()) {
            tags.push(tag.to_string());
        }
    }
    tags
}

/// The environment's name of `file` read along `chain`.
pub fn chained(chain: &[String], file: &str) -> String {
    format!("{}/{file}", chain.join(","))
}

/// A name from [`chained`] split into its chain and file; a plain name is English.
pub fn unchain(name: &str) -> (Vec<String>, &str) {
    match name.split_once('/') {
        Some((chain, file)) => (chain.split(',').map(str::to_string).collect(), file),
        None => (vec![ENGLISH.to_string()], name),
    }
}

/// The stems of every template file: the mails, the layout and each page.
fn stems() -> impl Iterator<Item = String> {
    let pages = PAGES.iter().map(|(page, _)| format!("page-{page}"));
    NAMES
        .iter()
        .map(|(name, _)| (*name).to_string())
        .chain(std::iter::once("page".to_string()))
        .chain(pages)
}

/// The languages of the files in `dir` named like a template in a language
/// (`STEM.LOCALE.PART`, the tag in canonical form), each once, sorted.
fn dir_locales(dir: &Path, only_pages: bool) -> Vec<Locale> {
    let mut found: Vec<Locale> = Templates::files(dir)
        .iter()
        .filter_map(|path| path.file_name()?.to_str().map(str::to_string))
        .filter_map(|name| {
            let mut parts = name.splitn(3, '.');
            let (stem, tag, _) = (parts.next()?, parts.next()?, parts.next()?);
            let known = stems().any(|s| s == stem) && (!only_pages || stem.starts_with("page"));
            let tag = locale::parse(tag).ok().filter(|l| l.as_str() == tag)?;
            known.then_some(tag)
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

impl Templates {
    /// The languages there are templates in: the built-in ones and those in `templates.dir`.
    pub fn locales(&self) -> Vec<Locale> {
        self.locales_where(false)
    }

    fn locales_where(&self, only_pages: bool) -> Vec<Locale> {
        let mut all: Vec<Locale> = builtin::LOCALES
            .iter()
            .filter_map(|tag| locale::parse(tag).ok())
            .collect();
        all.extend(
            self.dir
                .as_deref()
                .map(|d| dir_locales(d, only_pages))
                .unwrap_or_default(),
        );
        all.push(self.default_locale.clone());
        all.sort();
        all.dedup();
        all
    }

    /// The language of a page: the user's when there are pages in it (or in its language),
    /// else the best match of the browser's `Accept-Language`, else `mail.default_locale`.
    pub fn page_locale(&self, user: Option<&str>, accept_language: Option<&str>) -> Locale {
        let available = self.locales_where(true);
        let user = user.and_then(|tag| locale::parse(tag).ok());
        if let Some(user) = user.filter(|u| u.fallbacks().iter().any(|l| available.contains(l))) {
            return user;
        }
        accept_language
            .and_then(|header| locale::negotiate(header, &available))
            .unwrap_or_else(|| self.default_locale.clone())
    }

    /// Where `file` comes from in each language that has its own version of it (built in or
    /// in `templates.dir`); English includes the plain name.
    pub fn versions(&self, file: &str) -> Vec<Found> {
        self.locales()
            .iter()
            .filter_map(|tag| {
                let only = [tag.to_string()];
                resolve(self.dir.as_deref(), &only, file)
            })
            .collect()
    }

    /// The real file name (and origin) behind an environment name from [`chained`].
    pub(super) fn found(&self, name: &str) -> Option<Found> {
        let (chain, file) = unchain(name);
        resolve(self.dir.as_deref(), &chain, file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(text: &str) -> Locale {
        locale::parse(text).expect("tag")
    }

    #[test]
    fn the_chain_runs_from_the_wanted_tag_to_the_default_to_english() {
        assert_eq!(
            chain(Some(&tag("pt-BR")), &tag("pl")),
            ["pt-BR", "pt", "pl", "en"]
        );
        assert_eq!(chain(None, &tag("en")), ["en"]);
        assert_eq!(chain(Some(&tag("en-GB")), &tag("en")), ["en-GB", "en"]);
    }

    #[test]
    fn names_carry_their_chain() {
        let chain = vec!["pl".to_string(), "en".to_string()];
        let name = chained(&chain, "page-form.html");
        assert_eq!(name, "pl,en/page-form.html");
        assert_eq!(unchain(&name), (chain, "page-form.html"));
        assert_eq!(unchain("page.css"), (vec!["en".to_string()], "page.css"));
        assert_eq!(
            localized("access-info.subject.txt", "pt-BR"),
            "access-info.pt-BR.subject.txt"
        );
    }

    #[test]
    fn a_file_resolves_to_the_first_language_that_has_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("access-info.pt.txt"), "Olá").expect("write");
        let chain = chain(Some(&tag("pt-BR")), &tag("pl"));
        let text = resolve(Some(dir.path()), &chain, "access-info.txt").expect("found");
        assert_eq!(
            (text.name.as_str(), text.locale.as_str()),
            ("access-info.pt.txt", "pt")
        );
        assert!(matches!(text.origin, Origin::File(_)));
        let html = resolve(Some(dir.path()), &chain, "access-info.html").expect("found");
        assert_eq!(
            (html.name.as_str(), html.origin),
            ("access-info.pl.html", Origin::Builtin)
        );
        let css = resolve(None, &chain, "page.css").expect("found");
        assert_eq!((css.name.as_str(), css.locale.as_str()), ("page.css", "en"));
    }
}
