//! How times and durations are written: RFC 3339 for data, short UTC forms for people.
//! (Durations in words for mails are the templates' own: `templates::relative`.)

use jiff::Timestamp;

/// RFC 3339 in UTC, e.g. `2026-11-22T10:00:00Z`, for JSON and CSV.
pub fn rfc3339(secs: i64) -> String {
    Timestamp::from_second(secs).map_or_else(|_| secs.to_string(), |t| t.to_string())
}

/// `2026-11-22 10:00 UTC`, for tables and messages.
pub fn human(secs: i64) -> String {
    Timestamp::from_second(secs).map_or_else(
        |_| secs.to_string(),
        |t| t.strftime("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// An optional time for a table cell; `-` when absent.
pub fn human_opt(secs: Option<i64>) -> String {
    secs.map_or_else(|| "-".to_string(), human)
}

/// A duration in the largest whole units, e.g. `1h`, `30m`, `1d 2h`.
pub fn duration(secs: u64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(human(1_795_000_000), "2026-11-18 11:06 UTC");
        assert_eq!(human_opt(None), "-");
        assert_eq!(duration(3600), "1h");
        assert_eq!(duration(93_600), "1day 2h");
    }
}
