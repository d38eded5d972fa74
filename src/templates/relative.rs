//! How long until a link or password expires, in words of the reader's language: `1 hour
//! 30 minutes`, `2 godziny`, `1 jam 30 menit`. Written to follow "in" (English), "za" (Polish,
//! which takes the accusative: 1 godzinę, 2 godziny, 5 godzin) and "dalam" (Indonesian).
//! Languages without their own words here get English. Absolute times stay UTC in ISO form
//! ([`crate::timefmt::human`]) in every language.

/// A duration's units: days (only from 48 hours on), hours, minutes (rounded up).
fn units(secs: u64) -> (u64, u64, u64) {
    let minutes = secs.div_ceil(60);
    let (hours, minutes) = (minutes / 60, minutes % 60);
    if hours >= 48 {
        (hours / 24, hours % 24, minutes)
    } else {
        (0, hours, minutes)
    }
}

/// `secs` in words of `language` (the language part of a tag, e.g. `pl`).
pub fn spoken(language: &str, secs: u64) -> String {
    let words: &Words = match language {
        "pl" => &POLISH,
        "id" => &INDONESIAN,
        _ => &ENGLISH,
    };
    let (days, hours, minutes) = units(secs);
    let parts: Vec<String> = [
        (days, &words.day),
        (hours, &words.hour),
        (minutes, &words.minute),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, forms)| format!("{n} {}", forms[(words.plural)(n)]))
    .collect();
    match parts.as_slice() {
        [] => words.under_a_minute.to_string(),
        [one] => one.clone(),
        [init @ .., last] => match words.and {
            Some(and) => format!("{} {and} {last}", init.join(", ")),
            None => parts.join(" "),
        },
    }
}

/// One language's words.
struct Words {
    /// Which form a count takes: an index into the forms below.
    plural: fn(u64) -> usize,
    day: [&'static str; 3],
    hour: [&'static str; 3],
    minute: [&'static str; 3],
    /// The word before the last unit, if the language joins them with one.
    and: Option<&'static str>,
    under_a_minute: &'static str,
}

const ENGLISH: Words = Words {
    plural: |n| usize::from(n != 1),
    day: ["day", "days", ""],
    hour: ["hour", "hours", ""],
    minute: ["minute", "minutes", ""],
    and: None,
    under_a_minute: "less than a minute",
};

/// Polish: one (1), few (2-4, 22-24, ... but not 12-14), many (the rest), in the accusative.
const POLISH: Words = Words {
    plural: |n| match (n % 10, n % 100) {
        _ if n == 1 => 0,
        (2..=4, rest) if !(12..=14).contains(&rest) => 1,
        _ => 2,
    },
    day: ["dzień", "dni", "dni"],
    hour: ["godzinę", "godziny", "godzin"],
    minute: ["minutę", "minuty", "minut"],
    and: Some("i"),
    under_a_minute: "niecałą minutę",
};

/// Indonesian nouns do not change with the count.
const INDONESIAN: Words = Words {
    plural: |_| 0,
    day: ["hari", "", ""],
    hour: ["jam", "", ""],
    minute: ["menit", "", ""],
    and: None,
    under_a_minute: "kurang dari satu menit",
};

#[cfg(test)]
mod tests {
    use super::spoken;

    #[test]
    fn english_counts_and_joins_units() {
        assert_eq!(spoken("en", 3600), "1 hour");
        assert_eq!(spoken("en", 5400), "1 hour 30 minutes");
        assert_eq!(spoken("en", 86_400), "24 hours");
        assert_eq!(spoken("en", 2 * 86_400), "2 days");
        assert_eq!(spoken("en", 3 * 86_400 + 3600), "3 days 1 hour");
        assert_eq!(spoken("en", 59), "1 minute");
        assert_eq!(spoken("en", 0), "less than a minute");
        assert_eq!(spoken("de", 60), "1 minute", "no words of its own: English");
    }

    #[test]
    fn polish_takes_one_few_and_many_forms() {
        for (hours, words) in [
            (1, "1 godzinę"),
            (2, "2 godziny"),
            (4, "4 godziny"),
            (5, "5 godzin"),
            (12, "12 godzin"),
            (14, "14 godzin"),
            (22, "22 godziny"),
            (24, "24 godziny"),
            (25, "25 godzin"),
        ] {
            assert_eq!(spoken("pl", hours * 3600), words);
        }
        assert_eq!(spoken("pl", 5400), "1 godzinę i 30 minut");
        assert_eq!(
            spoken("pl", 2 * 86_400 + 3 * 3600 + 120),
            "2 dni, 3 godziny i 2 minuty"
        );
        assert_eq!(spoken("pl", 86_400 * 2), "2 dni");
        assert_eq!(spoken("pl", 60), "1 minutę");
        assert_eq!(spoken("pl", 0), "niecałą minutę");
    }

    #[test]
    fn indonesian_does_not_inflect() {
        assert_eq!(spoken("id", 3600), "1 jam");
        assert_eq!(spoken("id", 5400), "1 jam 30 menit");
        assert_eq!(spoken("id", 5 * 86_400), "5 hari");
        assert_eq!(spoken("id", 1), "1 menit");
    }
}
