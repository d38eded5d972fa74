//! What a link mail carries for the reset page: a one-time code (only its keyed digest stored,
//! `links.code = false` turns it off), the page's address for typing it, and a "this wasn't me"
//! link; and what `tokens list` shows of a link's opens.

use crate::support::{TestEnv, contains_bytes, json, text_part};

/// The code in a mail's text: the indented `XXXX-XXXX` line.
pub(crate) fn code_in(text: &str) -> Option<String> {
    text.lines().map(str::trim).find_map(|line| {
        let ok = line.len() == 9
            && line.as_bytes()[4] == b'-'
            && line
                .chars()
                .all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_uppercase());
        ok.then(|| line.to_string())
    })
}

/// Everything the store holds, as bytes (its files on SQLite, its tables elsewhere).
fn store_bytes(env: &TestEnv) -> Vec<u8> {
    let contents = env.store_contents();
    assert!(
        contents.iter().any(|(_, bytes)| !bytes.is_empty()),
        "a store"
    );
    contents.into_iter().flat_map(|(_, bytes)| bytes).collect()
}

#[test]
fn a_link_mail_carries_a_code_the_page_address_and_a_cancel_link() {
    let env = TestEnv::with_samples();
    let token = env.link_for("alice@example.com");
    let mail = env.outbox().pop().expect("a mail");
    let text = text_part(&mail);
    let code = code_in(&text).unwrap_or_else(|| panic!("no code in:\n{text}"));
    assert!(!code.contains(['I', 'L', 'O', 'U']), "{code}");
    let page = "If the link does not open, go to http://localhost:8080/reset-password";
    assert!(text.lines().any(|l| l.trim_end() == page), "{text}");
    let cancel = "http://localhost:8080/reset-password/cancel?cancel=";
    assert!(text.contains(cancel), "{text}");
    assert!(!text.contains(&format!("cancel?token={token}")), "{text}");
    let bytes = store_bytes(&env);
    assert!(!contains_bytes(&bytes, &code), "the code is in the store");
    assert!(!contains_bytes(&bytes, &code.replace('-', "")));
    assert!(!contains_bytes(&bytes, &token), "the token is in the store");
    let digest_len = env.count("SELECT length(code_hmac) FROM reset_tokens");
    assert_eq!(digest_len, 64, "a hex HMAC-SHA256 is stored");
}

#[test]
fn links_code_false_sends_no_code_and_stores_none() {
    let env = TestEnv::with_samples();
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    let config = config.replacen("[links]\n", "[links]\ncode = false\n", 1);
    env.write("pwreset.toml", &config);
    env.link_for("alice@example.com");
    let text = text_part(&env.outbox().pop().expect("a mail"));
    assert_eq!(code_in(&text), None, "{text}");
    assert!(!text.contains("type this code"), "{text}");
    assert_eq!(
        env.count("SELECT count(*) FROM reset_tokens WHERE code_hmac IS NULL"),
        1
    );
}

#[test]
fn tokens_list_shows_opens() {
    let env = TestEnv::with_samples();
    let token = env.link_for("alice@example.com");
    assert!(!token.is_empty());
    let listed = json(&env.ok(&["tokens", "list", "--format", "json"]));
    let row = &listed[0];
    assert_eq!(row["opens"], 0);
    assert_eq!(row["scanner_opens"], 0);
    assert!(row["opened_at"].is_null(), "{row}");
    assert!(env.ok(&["tokens", "list"]).contains("never"));
    // What the page records (tested against the page itself in `serve`), as the table shows it.
    env.db().execute(
        "UPDATE reset_tokens SET opens = 3, scanner_opens = 2, \
         opened_at = 1795000000, last_opened_at = 1795000060",
        &[],
    );
    let listed = json(&env.ok(&["tokens", "list", "--format", "json"]));
    assert_eq!(listed[0]["opens"], 3);
    assert_eq!(listed[0]["opened_at"], "2026-11-18T11:06:40Z");
    assert_eq!(listed[0]["last_opened_at"], "2026-11-18T11:07:40Z");
    let table = env.ok(&["tokens", "list"]);
    assert!(
        table.contains("3x since 2026-11-18 11:06:40 UTC (2 scanner-like)"),
        "{table}"
    );
}
