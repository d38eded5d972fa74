//! The key that digests one-time link codes, derived from the audit key. Whoever issues or
//! checks a code passes this key in; the store never holds it.

use hmac::{KeyInit, Mac};
use zeroize::Zeroizing;

use super::AuditKey;

/// The label that derives the code key from the audit key.
pub const KEY_LABEL: &str = "pwreset code";

/// The key that digests codes, derived from the audit key.
#[derive(Clone)]
pub struct CodeKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeKey([redacted])")
    }
}

impl CodeKey {
    /// The code key of an audit key.
    pub fn from_audit(key: &AuditKey) -> CodeKey {
        CodeKey(key.derive(KEY_LABEL))
    }

    /// Hex HMAC-SHA256 of a normalised code: the only form that is stored.
    pub fn digest(&self, normalized: &str) -> String {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.0.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(normalized.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The code key of the unit tests' audit key.
    #[cfg(test)]
    pub fn for_tests() -> CodeKey {
        CodeKey::from_audit(&AuditKey::for_tests())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_keyed() {
        let a = CodeKey(Zeroizing::new([1; 32]));
        let b = CodeKey(Zeroizing::new([2; 32]));
        assert_eq!(a.digest("K7QFM2XD"), a.digest("K7QFM2XD"));
        assert_ne!(a.digest("K7QFM2XD"), b.digest("K7QFM2XD"));
        assert_ne!(a.digest("K7QFM2XD"), a.digest("K7QFM2XE"));
        assert_eq!(format!("{a:?}"), "CodeKey([redacted])");
    }
}
