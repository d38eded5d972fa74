//! Language tags: a user's `locale`, `mail.default_locale`, the languages of the templates, and
//! the browser's `Accept-Language`.
//!
//! pwreset accepts the part of BCP 47 (RFC 5646) that picks a translation:
//! `language[-Script][-REGION]`, e.g. `pl`, `id`, `pt-BR`, `zh-Hant-TW`, in any letter case, and
//! stores it in its canonical form (`pt-br` becomes `pt-BR`). Variants, extensions and private
//! use are refused rather than silently dropped. The fallback chain of a tag drops its last part
//! one at a time (RFC 4647 "lookup"): `zh-Hant-TW`, `zh-Hant`, `zh`. Pure: nothing here reads a
//! file or the store.

use std::fmt;

/// A checked language tag in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Locale(String);

/// English: the language of the templates without a locale in their name, and the end of every
/// fallback chain.
pub const ENGLISH: &str = "en";

/// Why a text is not a language tag pwreset accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{tag:?} is not a language tag such as pl, id or pt-BR: {why}")]
pub struct LocaleError {
    /// The text given (shortened when long).
    pub tag: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl Locale {
    /// English ([`ENGLISH`]).
    pub fn english() -> Locale {
        Locale(ENGLISH.to_string())
    }

    /// The canonical text, e.g. `pt-BR`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The language alone, e.g. `pt` for `pt-BR`.
    pub fn language(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }

    /// This tag and each shorter one, most specific first: `zh-Hant-TW`, `zh-Hant`, `zh`.
    pub fn fallbacks(&self) -> Vec<Locale> {
        let mut chain = vec![self.clone()];
        let mut text = self.0.as_str();
        while let Some((shorter, _)) = text.rsplit_once('-') {
            chain.push(Locale(shorter.to_string()));
            text = shorter;
        }
        chain
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Locale {
    type Err = LocaleError;

    fn from_str(tag: &str) -> Result<Self, Self::Err> {
        parse(tag)
    }
}

/// Check `tag` and return its canonical form: the language in lower case (2 or 3 letters), a
/// script in title case (4 letters), a region in upper case (2 letters) or 3 digits.
pub fn parse(tag: &str) -> Result<Locale, LocaleError> {
    let refuse = |why| LocaleError {
        tag: tag.chars().take(40).collect(),
        why,
    };
    if tag.contains('_') {
        return Err(refuse("separate its parts with '-', e.g. pt-BR"));
    }
    let mut parts = tag.split('-');
    let language = parts.next().unwrap_or_default();
    if !(2..=3).contains(&language.len()) || !language.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(refuse("it must start with a language of 2 or 3 letters"));
    }
    let mut canonical = language.to_ascii_lowercase();
    let mut rest = parts.peekable();
    if let Some(script) = rest.next_if(|p| p.len() == 4 && is_alpha(p)) {
        canonical.push('-');
        canonical.push_str(&script[..1].to_ascii_uppercase());
        canonical.push_str(&script[1..].to_ascii_lowercase());
    }
    if let Some(region) = rest.next_if(|p| is_region(p)) {
        canonical.push('-');
        canonical.push_str(&region.to_ascii_uppercase());
    }
    if rest.next().is_some() {
        return Err(refuse(
            "only language[-Script][-REGION] is supported (no variants or extensions)",
        ));
    }
    Ok(Locale(canonical))
}

fn is_alpha(part: &str) -> bool {
    part.bytes().all(|b| b.is_ascii_alphabetic())
}

fn is_region(part: &str) -> bool {
    (part.len() == 2 && is_alpha(part))
        || (part.len() == 3 && part.bytes().all(|b| b.is_ascii_digit()))
}

/// The most wanted of `available` according to an `Accept-Language` header: entries in order
/// of their q-value (ties keep the header's order; `q=0` and `*` are skipped), each tried with
/// its fallbacks (`pt-BR` then `pt`). `None` when nothing matches. Tags pwreset does not accept
/// whole (e.g. `de-CH-1996`) are tried from their longest accepted prefix.
pub fn negotiate(header: &str, available: &[Locale]) -> Option<Locale> {
    let mut wanted: Vec<(u16, Locale)> = header
        .split(',')
        .take(MAX_ENTRIES)
        .filter(|text| text.len() <= MAX_ENTRY_BYTES)
        .filter_map(entry)
        .filter(|(q, _)| *q > 0)
        .collect();
    wanted.sort_by_key(|(q, _)| std::cmp::Reverse(*q));
    wanted.iter().find_map(|(_, tag)| {
        tag.fallbacks()
            .into_iter()
            .find(|candidate| available.contains(candidate))
    })
}

/// The most `Accept-Language` entries looked at.
const MAX_ENTRIES: usize = 32;

/// The longest `Accept-Language` entry looked at (`zh-Hant-TW;q=0.875` is 18 bytes): longer
/// ones are skipped unparsed, so a hostile header costs time in its length, not its square.
const MAX_ENTRY_BYTES: usize = 64;

/// One `tag;q=0.8` entry: the q-value in thousandths and the tag.
fn entry(text: &str) -> Option<(u16, Locale)> {
    let mut pieces = text.split(';');
    let tag = pieces.next()?.trim();
    let mut q = 1000;
    for param in pieces {
        let (key, value) = param.trim().split_once('=')?;
        if key.trim().eq_ignore_ascii_case("q") {
            q = quality(value.trim())?;
        }
    }
    longest_accepted(tag).map(|locale| (q, locale))
}

/// A q-value (`0`, `0.5`, `1.000`) in thousandths; `None` when malformed.
fn quality(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// `tag`, or its longest prefix that [`parse`] accepts.
fn longest_accepted(tag: &str) -> Option<Locale> {
    let mut text = tag;
    loop {
        if let Ok(locale) = parse(text) {
            return Some(locale);
        }
        text = text.rsplit_once('-')?.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<Locale> {
        list.iter().map(|t| parse(t).expect("tag")).collect()
    }

    #[test]
    fn tags_are_stored_in_canonical_form() {
        for (given, canonical) in [
            ("pl", "pl"),
            ("PL", "pl"),
            ("pt-br", "pt-BR"),
            ("PT-bR", "pt-BR"),
            ("zh-hant-tw", "zh-Hant-TW"),
            ("sr-LATN", "sr-Latn"),
            ("es-419", "es-419"),
            ("fil", "fil"),
        ] {
            assert_eq!(parse(given).map(|l| l.to_string()), Ok(canonical.into()));
        }
    }

    #[test]
    fn anything_else_is_refused_with_the_reason() {
        for (bad, why) in [
            ("", "2 or 3 letters"),
            ("p", "2 or 3 letters"),
            ("polish", "2 or 3 letters"),
            ("p1", "2 or 3 letters"),
            ("pt_BR", "'-'"),
            ("pt-", "no variants"),
            ("pt-BR-x", "no variants"),
            ("de-CH-1996", "no variants"),
            ("en-u-ca-gregory", "no variants"),
            ("pl\n", "2 or 3 letters"),
            ("ł", "2 or 3 letters"),
        ] {
            let err = parse(bad).expect_err(bad);
            assert!(err.why.contains(why), "{bad:?}: {err}");
            assert!(!err.to_string().contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn the_fallback_chain_drops_one_part_at_a_time() {
        let chain = parse("zh-Hant-TW").expect("tag").fallbacks();
        assert_eq!(chain, tags(&["zh-Hant-TW", "zh-Hant", "zh"]));
        assert_eq!(parse("pl").expect("tag").fallbacks(), tags(&["pl"]));
        assert_eq!(parse("pt-BR").expect("tag").language(), "pt");
    }

    #[test]
    fn accept_language_honours_q_values_and_fallbacks() {
        let available = tags(&["en", "id", "pl"]);
        let pick = |header| negotiate(header, &available).map(|l| l.to_string());
        assert_eq!(pick("pl"), Some("pl".into()));
        assert_eq!(pick("pl-PL,pl;q=0.9,en;q=0.8"), Some("pl".into()));
        assert_eq!(pick("en;q=0.5, id;q=0.9"), Some("id".into()));
        assert_eq!(pick("de, id-ID;q=0.3"), Some("id".into()));
        assert_eq!(pick("fr, *;q=0.5"), None);
        assert_eq!(pick("pl;q=0, en;q=0.1"), Some("en".into()));
        assert_eq!(pick("en-GB-oxendict"), Some("en".into()));
        assert_eq!(pick("pl;q=2, id;q=abc, en;q=0.001"), Some("en".into()));
        assert_eq!(pick(""), None);
        let ties = pick("id;q=0.8, pl;q=0.8");
        assert_eq!(ties, Some("id".into()), "ties keep the header's order");
    }

    #[test]
    fn an_overlong_accept_language_entry_is_skipped_unparsed() {
        let available = tags(&["en", "id", "pl"]);
        let hostile = format!("{}, pl;q=0.5", "a-".repeat(200_000));
        assert_eq!(
            negotiate(&hostile, &available).map(|l| l.to_string()),
            Some("pl".into()),
            "the long entry is skipped, the next one still counts"
        );
        let padded = format!("pl{}", " ".repeat(MAX_ENTRY_BYTES));
        assert_eq!(
            negotiate(&padded, &available),
            None,
            "over the limit, however simple"
        );
    }
}
