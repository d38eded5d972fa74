//! The audit key: 32 random bytes kept outside the store, which key every row's MAC.
//!
//! Owns creating the key file (mode 0600, from the RNG it is given), reading it (refused when
//! readable by others, like the SMTP password file) and computing a MAC with it. The key is held
//! in zeroizing memory, is `[redacted]` in Debug output, and is never printed or stored.
//! Nothing here knows about terminals, flags, exit codes or the store: whoever appends an audit
//! row passes this key in.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use hmac::{KeyInit, Mac};
use zeroize::Zeroizing;

/// The key's length in bytes.
pub const KEY_LEN: usize = 32;

/// The secret that keys the audit chain.
#[derive(Clone)]
pub struct AuditKey(Zeroizing<[u8; KEY_LEN]>);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key([redacted])")
    }
}

/// Why the audit key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file does not exist.
    #[error("audit key {} does not exist", path.display())]
    Missing {
        /// Where it was looked for (`audit.key_file`).
        path: PathBuf,
    },
    /// The key file is readable by group or others.
    #[error("audit key {} is readable by others (mode {mode:o})", path.display())]
    ReadableByOthers {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file does not hold 64 hex digits.
    #[error("audit key {} does not hold 64 hex digits", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
    },
    /// The key file could not be read or written.
    #[error("cannot access audit key {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl AuditKey {
    /// A fresh key from `rng` (the OS CSPRNG at the CLI edge).
    pub fn generate(rng: &mut impl rand::CryptoRng) -> AuditKey {
        let mut bytes = Zeroizing::new([0_u8; KEY_LEN]);
        rng.fill_bytes(bytes.as_mut());
        AuditKey(bytes)
    }

    /// Read the key file: refused when missing, readable by others or malformed.
    pub fn load(path: &Path) -> Result<AuditKey, KeyError> {
        if !path.exists() {
            return Err(KeyError::Missing {
                path: path.to_path_buf(),
            });
        }
        if let Some(mode) = crate::fsmode::loose_mode(path) {
            return Err(KeyError::ReadableByOthers {
                path: path.to_path_buf(),
                mode,
            });
        }
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|source| KeyError::Io {
                    path: path.to_path_buf(),
                    source,
                })?,
            );
        let mut bytes = Zeroizing::new([0_u8; KEY_LEN]);
        hex::decode_to_slice(text.trim_end_matches(['\r', '\n']), bytes.as_mut()).map_err(
            |_| KeyError::Malformed {
                path: path.to_path_buf(),
            },
        )?;
        Ok(AuditKey(bytes))
    }

    /// Write the key to a new file created with mode 0600; an existing file is never replaced.
    pub fn create(&self, path: &Path) -> Result<(), KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        let mut text = Zeroizing::new(hex::encode(self.0.as_ref()));
        text.push('\n');
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// HMAC-SHA256 over `prev`, a newline and `payload`, hex-encoded.
    pub fn mac(&self, prev: &str, payload: &str) -> String {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.0.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(prev.as_bytes());
        mac.update(b"\n");
        mac.update(payload.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A key for one purpose (e.g. `"pwreset code"`), derived from this one: HMAC-SHA256 of
    /// the label. Knowing a derived key tells nothing of the audit key or of other derived keys.
    pub fn derive(&self, label: &str) -> Zeroizing<[u8; KEY_LEN]> {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.0.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(b"pwreset derived key\n");
        mac.update(label.as_bytes());
        let mut out = Zeroizing::new([0_u8; KEY_LEN]);
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }

    /// A fixed key for unit tests.
    #[cfg(test)]
    pub fn for_tests() -> AuditKey {
        AuditKey(Zeroizing::new([7; KEY_LEN]))
    }
}

#[cfg(test)]
#[expect(
    clippy::disallowed_methods,
    reason = "the test creates a real key from the OS RNG"
)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_private_and_round_trips() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.key");
        assert!(matches!(
            AuditKey::load(&path),
            Err(KeyError::Missing { .. })
        ));
        let key = AuditKey::generate(&mut rand::rng());
        key.create(&path).expect("create");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(key.create(&path).is_err(), "never replaced");
        let loaded = AuditKey::load(&path).expect("load");
        assert_eq!(loaded.mac("a", "b"), key.mac("a", "b"));
        assert_eq!(format!("{loaded:?}"), "Key([redacted])");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        assert!(matches!(
            AuditKey::load(&path),
            Err(KeyError::ReadableByOthers { mode: 0o640, .. })
        ));
        std::fs::write(&path, "not hex\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(matches!(
            AuditKey::load(&path),
            Err(KeyError::Malformed { .. })
        ));
    }
}
