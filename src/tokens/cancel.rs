//! The value of the "this wasn't me" link: not the reset token, but `ID.MAC`, an HMAC of the
//! token's row id and digest under a key derived from the audit key. Dropping `/cancel` from a
//! forwarded cancel link therefore opens no password form, a reset token is no cancel value,
//! and the value dies with its link (it is bound to the token's digest). The link names a row
//! id, never the user. Knows nothing of HTTP; whoever mails or checks a value passes the key.

use hmac::{KeyInit, Mac};
use jiff::Timestamp;
use zeroize::Zeroizing;

use super::{Held, OpenKind, TokenError, Verified, verify_held};
use crate::keys::AuditKey;
use crate::secret::Secret;
use crate::store::Store;
use crate::store::tokens as sql;

/// The label that derives the cancel key from the audit key.
pub const KEY_LABEL: &str = "pwreset cancel link";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The key of cancel values, derived from the audit key.
pub struct CancelKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for CancelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CancelKey([redacted])")
    }
}

impl CancelKey {
    /// The cancel key of an audit key.
    pub fn from_audit(key: &AuditKey) -> CancelKey {
        CancelKey(key.derive(KEY_LABEL))
    }

    fn mac(&self, token_id: i64, digest: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(self.0.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(format!("cancel\n{token_id}\n{digest}").as_bytes());
        mac
    }

    /// The cancel value of token row `token_id` whose digest is `digest`: `ID.HEX`.
    pub fn value(&self, token_id: i64, digest: &str) -> Secret {
        let tag = hex::encode(self.mac(token_id, digest).finalize().into_bytes());
        Secret::new(format!("{token_id}.{tag}"))
    }

    /// Whether `value` is the cancel value of row `token_id` with `digest` (constant-time).
    fn matches(&self, value: &str, token_id: i64, digest: &str) -> bool {
        let Some((id, tag)) = value.split_once('.') else {
            return false;
        };
        let Ok(tag) = hex::decode(tag) else {
            return false;
        };
        id == token_id.to_string() && self.mac(token_id, digest).verify_slice(&tag).is_ok()
    }
}

/// Why a cancel value opened nothing, and whether it named a real link (an old cancel link
/// rather than a guess).
#[derive(Debug)]
pub struct CancelRefused {
    /// The value's MAC matched a row: a used, revoked or expired link, not a guess.
    pub known: bool,
    /// Invalid (unknown, used, revoked), expired, or the store's error.
    pub error: TokenError,
}

impl CancelRefused {
    fn unknown() -> CancelRefused {
        CancelRefused {
            known: false,
            error: TokenError::Invalid,
        }
    }
}

/// Open a cancel link: a value whose MAC matches its row is counted as an open of that link
/// (like the reset link's), and the live link it names comes back with its digest.
pub fn open_cancel(
    store: &mut Store,
    key: &CancelKey,
    value: &str,
    kind: OpenKind,
    now: Timestamp,
) -> Result<(Verified, String), CancelRefused> {
    let refused = |error: TokenError| CancelRefused { known: true, error };
    let id = value
        .split_once('.')
        .and_then(|(id, _)| id.parse::<i64>().ok())
        .ok_or_else(CancelRefused::unknown)?;
    let digest = sql::digest_of(store.conn(), id)
        .map_err(|e| refused(e.into()))?
        .ok_or_else(CancelRefused::unknown)?;
    if !key.matches(value, id, &digest) {
        return Err(CancelRefused::unknown());
    }
    let tx = store.write().map_err(|e| refused(e.into()))?;
    let scanner = kind == OpenKind::ScannerLike;
    sql::record_open(&tx, &digest, scanner, now.as_second()).map_err(|e| refused(e.into()))?;
    tx.commit().map_err(|e| refused(e.into()))?;
    let verified = verify_held(store, Held::Id(id), now).map_err(refused)?;
    Ok((verified, digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_bound_to_its_row_digest_and_key() {
        let key = CancelKey::from_audit(&AuditKey::for_tests());
        let value = key.value(7, "abc");
        let value = value.expose();
        assert!(value.starts_with("7."), "{value}");
        assert!(key.matches(value, 7, "abc"));
        assert!(!key.matches(value, 7, "abd"), "another token");
        assert!(!key.matches(value, 8, "abc"), "another row");
        assert!(!key.matches("7.zz", 7, "abc"));
        let code_key = AuditKey::for_tests().derive(crate::keys::KEY_LABEL);
        assert_ne!(*code_key, *key.0, "not the code key");
    }
}
