//! [`pg_sql`]: the one mechanical rewrite from the SQLite dialect the statements are written
//! in to PostgreSQL's: `?N` parameters become `$N`. (In SQLite `$1` is a *named* parameter
//! numbered by first appearance, so shared SQL must keep `?N`.) Everything else that differs
//! between the dialects is written out twice at the call site, marked `// dialect:`.

/// `sql` with every `?N` outside string literals, quoted identifiers and comments turned into
/// `$N`.
pub fn pg_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                // A doubled quote inside is an escaped quote: leaving and re-entering the
                // literal copies it unchanged.
                for inner in chars.by_ref() {
                    out.push(inner);
                    if inner == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for inner in chars.by_ref() {
                    out.push(inner);
                    if inner == '\n' {
                        break;
                    }
                }
            }
            '?' if chars.peek().is_some_and(char::is_ascii_digit) => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}
