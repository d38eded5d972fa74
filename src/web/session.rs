//! Session cookies and CSRF values (WEB-2, WEB-3): the cookie names a token row and carries an
//! HMAC over the cookie's name, the row id and the token's digest, so it is useless once the
//! token is used, revoked or replaced, it never holds the token itself, and a cookie of one
//! name is no cookie of another. CSRF values are HMACs of the cookie's name and value. Owns the
//! cookie syntax too; never logs a value.

use axum::http::HeaderMap;
use hmac::{KeyInit, Mac};
use zeroize::Zeroizing;

use super::Site;
use crate::secret::Secret;

/// The cookie that names the token whose password form is shown.
pub const SESSION: &str = "pwreset_session";
/// The cookie that names the token a "this wasn't me" page would cancel.
pub const CANCEL: &str = "pwreset_cancel";
/// A random cookie that binds the CSRF value of a form shown without a session (the code form).
pub const FORM: &str = "pwreset_form";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The key of cookies and CSRF values.
pub struct SessionKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey([redacted])")
    }
}

impl SessionKey {
    /// Wrap a derived key.
    pub fn new(key: [u8; 32]) -> Self {
        SessionKey(Zeroizing::new(key))
    }

    fn mac(&self, parts: &[&[u8]]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(self.0.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    /// The value of cookie `name` for token row `token_id` whose digest is `digest`.
    pub fn cookie(&self, name: &str, token_id: i64, digest: &str) -> Secret {
        let id = token_id.to_string();
        let mac = self.mac(&[
            b"session",
            name.as_bytes(),
            id.as_bytes(),
            digest.as_bytes(),
        ]);
        Secret::new(format!("{id}.{}", hex::encode(mac.finalize().into_bytes())))
    }

    /// Whether `value` is cookie `name` of row `token_id` with `digest` (constant-time).
    pub fn cookie_matches(&self, name: &str, value: &str, token_id: i64, digest: &str) -> bool {
        let Some((id, tag)) = value.split_once('.') else {
            return false;
        };
        let Ok(tag) = hex::decode(tag) else {
            return false;
        };
        id == token_id.to_string()
            && self
                .mac(&[
                    b"session",
                    name.as_bytes(),
                    id.as_bytes(),
                    digest.as_bytes(),
                ])
                .verify_slice(&tag)
                .is_ok()
    }

    /// The CSRF value of a form bound to cookie `name` whose value is `cookie`.
    pub fn csrf(&self, name: &str, cookie: &str) -> String {
        hex::encode(
            self.mac(&[b"csrf", name.as_bytes(), cookie.as_bytes()])
                .finalize()
                .into_bytes(),
        )
    }

    /// Whether `given` is the CSRF value bound to cookie `name` whose value is `cookie`
    /// (constant-time).
    pub fn csrf_matches(&self, name: &str, cookie: &str, given: &str) -> bool {
        hex::decode(given).is_ok_and(|tag| {
            self.mac(&[b"csrf", name.as_bytes(), cookie.as_bytes()])
                .verify_slice(&tag)
                .is_ok()
        })
    }
}

/// The row id a session cookie names, before its MAC is checked against the row's digest.
pub fn token_id(value: &str) -> Option<i64> {
    value.split_once('.')?.0.parse().ok()
}

/// A fresh random value for the [`FORM`] cookie.
pub fn random_value(rng: &mut impl rand::CryptoRng) -> String {
    let mut bytes = [0_u8; 16];
    rng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The value of cookie `name` in the request, if it is there once and well-formed (a secret:
/// a session or cancel cookie lets its bearer act on the link).
pub fn read(headers: &HeaderMap, name: &str) -> Option<Secret> {
    let mut found = headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(key, _)| *key == name)
        .map(|(_, value)| Secret::new(value.to_string()));
    let value = found.next()?;
    let text = value.expose();
    let safe = !text.is_empty()
        && text.len() <= 200
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.');
    (found.next().is_none() && safe).then_some(value)
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Lax`, `Path` = the site's path, `Secure` under https,
/// living `max_age` seconds (0 clears it).
pub fn set(site: &Site, name: &str, value: &str, max_age: i64) -> String {
    let secure = if site.secure { "; Secure" } else { "" };
    format!(
        "{name}={value}; Max-Age={}; Path={}; HttpOnly; SameSite=Lax{secure}",
        max_age.max(0),
        site.at("")
    )
}

/// A `Set-Cookie` value that clears cookie `name`.
pub fn clear(site: &Site, name: &str) -> String {
    set(site, name, "", 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_is_bound_to_row_and_digest() {
        let key = SessionKey::new([3; 32]);
        let value = key.cookie(SESSION, 7, "abc");
        let value = value.expose();
        assert_eq!(token_id(value), Some(7));
        assert!(key.cookie_matches(SESSION, value, 7, "abc"));
        assert!(!key.cookie_matches(SESSION, value, 7, "abd"));
        assert!(!key.cookie_matches(SESSION, value, 8, "abc"));
        assert!(!SessionKey::new([4; 32]).cookie_matches(SESSION, value, 7, "abc"));
        assert!(!key.cookie_matches(SESSION, "7.zz", 7, "abc"));
    }

    #[test]
    fn a_cookie_of_one_name_is_no_cookie_of_another() {
        let key = SessionKey::new([3; 32]);
        let cancel = key.cookie(CANCEL, 7, "abc");
        assert!(key.cookie_matches(CANCEL, cancel.expose(), 7, "abc"));
        assert!(!key.cookie_matches(SESSION, cancel.expose(), 7, "abc"));
        assert_ne!(cancel, key.cookie(SESSION, 7, "abc"));
    }

    #[test]
    fn a_csrf_value_of_one_cookie_name_is_no_good_for_another() {
        let key = SessionKey::new([3; 32]);
        let form = key.csrf(FORM, "7.aa");
        assert!(key.csrf_matches(FORM, "7.aa", &form));
        assert!(!key.csrf_matches(SESSION, "7.aa", &form));
        assert!(!key.csrf_matches(CANCEL, "7.aa", &form));
    }

    #[test]
    fn csrf_is_bound_to_cookie() {
        let key = SessionKey::new([3; 32]);
        let csrf = key.csrf(SESSION, "7.aa");
        assert!(key.csrf_matches(SESSION, "7.aa", &csrf));
        assert!(!key.csrf_matches(SESSION, "7.ab", &csrf));
        assert!(!key.csrf_matches(SESSION, "7.aa", ""));
        assert!(!key.csrf_matches(SESSION, "7.aa", "not hex"));
    }

    #[test]
    fn cookies_are_read_once_and_clean() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "cookie",
            "a=1; pwreset_session=5.ab".parse().expect("header"),
        );
        assert_eq!(
            read(&headers, SESSION).as_ref().map(Secret::expose),
            Some("5.ab")
        );
        headers.append("cookie", "pwreset_session=6.cd".parse().expect("header"));
        assert_eq!(
            read(&headers, SESSION),
            None,
            "two values: neither is believed"
        );
        assert_eq!(read(&headers, FORM), None);
    }

    #[test]
    fn set_cookie_has_the_attributes() {
        let site = Site::new(&"https://example.com/reset/".parse().expect("url"));
        let line = set(&site, SESSION, "1.ab", 600);
        assert_eq!(
            line,
            "pwreset_session=1.ab; Max-Age=600; Path=/reset; HttpOnly; SameSite=Lax; Secure"
        );
        assert!(clear(&site, SESSION).contains("Max-Age=0"));
    }
}
