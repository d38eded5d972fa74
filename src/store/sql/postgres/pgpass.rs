//! libpq's password file (`~/.pgpass`) format: `host:port:database:username:password` lines,
//! `*` matching anything, `\` escaping `:` and `\`, `#` starting a comment line.
//!
//! Pure: it looks up a password in text already read. Reading the file and refusing one that is
//! readable by group or others (as libpq does) belong to `settings`.

use crate::secret::Secret;

use crate::db_url::{DEFAULT_SOCKET_DIR, PgHost, PgTarget};

/// The password for `target` from the first matching line of `text`, if any.
///
/// As libpq: a Unix socket in the default directory matches the host `localhost`; another socket
/// directory matches its own path.
pub fn lookup(text: &str, target: &PgTarget) -> Option<Secret> {
    let host = match &target.host {
        PgHost::Tcp(h) => h.clone(),
        PgHost::Socket(dir) if dir.as_os_str() == DEFAULT_SOCKET_DIR => "localhost".to_string(),
        PgHost::Socket(dir) => dir.display().to_string(),
    };
    let port = target.port.to_string();
    let wanted = [host.as_str(), &port, &target.dbname, &target.user];
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(split_line)
        .find(|fields| {
            wanted
                .iter()
                .zip(fields.iter())
                .all(|(want, field)| field == "*" || field == want)
        })
        .and_then(|mut fields| fields.pop())
        .map(Secret::new)
}

/// Five fields with escapes removed, or `None` for a malformed line (libpq skips those).
fn split_line(line: &str) -> Option<Vec<String>> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields.last_mut()?.push(chars.next().unwrap_or('\\')),
            ':' if fields.len() < 5 => fields.push(String::new()),
            other => fields.last_mut()?.push(other),
        }
    }
    (fields.len() == 5).then_some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> PgTarget {
        PgTarget::parse(url, "u").expect("url")
    }

    fn found(text: &str, url: &str) -> Option<String> {
        lookup(text, &target(url)).map(|s| s.expose().to_string())
    }

    #[test]
    fn the_first_matching_line_wins() {
        let text =
            "# comment\nother:5432:app:pwreset:no\ndb:5432:app:pwreset:yes\n*:*:*:*:fallback\n";
        assert_eq!(
            found(text, "postgres://pwreset@db/app").as_deref(),
            Some("yes")
        );
        assert_eq!(
            found(text, "postgres://pwreset@db:5433/app").as_deref(),
            Some("fallback")
        );
    }

    #[test]
    fn every_field_must_match() {
        let text = "db:5432:app:pwreset:yes\n";
        for url in [
            "postgres://pwreset@db2/app",
            "postgres://pwreset@db:1/app",
            "postgres://pwreset@db/other",
            "postgres://root@db/app",
        ] {
            assert_eq!(found(text, url), None, "{url}");
        }
    }

    #[test]
    fn escapes_keep_colons_and_backslashes() {
        let text = "db:5432:a\\:b:pwreset:pa\\:ss\\\\word:x\n";
        assert_eq!(
            found(text, "postgres://pwreset@db/a%3Ab").as_deref(),
            Some("pa:ss\\word:x")
        );
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let text = "db:5432:app\ndb:5432:app:pwreset:ok\n";
        assert_eq!(
            found(text, "postgres://pwreset@db/app").as_deref(),
            Some("ok")
        );
    }

    #[test]
    fn sockets_match_localhost_or_their_directory() {
        let text = "localhost:5432:app:pwreset:default\n/tmp/s:5432:app:pwreset:custom\n";
        assert_eq!(
            found(text, "postgres://pwreset@/app").as_deref(),
            Some("default")
        );
        assert_eq!(
            found(text, "postgres://pwreset@/app?host=/tmp/s").as_deref(),
            Some("custom")
        );
    }
}
