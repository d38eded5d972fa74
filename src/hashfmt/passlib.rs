//! passlib's `pbkdf2_sha512`, the format Odoo stores: `$pbkdf2-sha512$<rounds>$<salt>$<hash>`,
//! salt and hash in passlib's "adapted base64" (`.` for `+`, no padding), a 16-byte salt and the
//! 64-byte output, as `passlib.hash.pbkdf2_sha512` writes them. The `RustCrypto` `pbkdf2` crate's
//! `mcf` module writes and checks this format.

use pbkdf2::password_hash::{CustomizedPasswordHasher as _, PasswordVerifier as _};
use pbkdf2::{Algorithm, Params, Pbkdf2, mcf::PasswordHashRef};
use rand::CryptoRng;

use super::{Format, HashFmtError, library, salt16, within};

/// passlib's `pbkdf2_sha512.default_salt_size`.
const SALT_BYTES: usize = 16;
/// passlib's `pbkdf2_sha512.checksum_size`: the whole SHA-512 output.
const OUTPUT_BYTES: usize = 64;

/// How to write passlib's `pbkdf2_sha512`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasslibSettings {
    /// PBKDF2 rounds; Odoo 17 sets `pbkdf2_sha512__rounds=600000`. Fewer are refused.
    pub rounds: u32,
}

impl PasslibSettings {
    /// The default and the floor: Odoo's setting, and OWASP's count for PBKDF2-HMAC-SHA256.
    pub const MIN_ROUNDS: u32 = 600_000;

    pub(super) fn check(self) -> Result<(), HashFmtError> {
        let allowed = Self::MIN_ROUNDS..=u32::MAX;
        within(Format::Pbkdf2Sha512Passlib, "rounds", self.rounds, allowed)
    }

    pub(super) fn hash(
        self,
        password: &str,
        rng: &mut impl CryptoRng,
    ) -> Result<String, HashFmtError> {
        self.check()?;
        let library = library(Format::Pbkdf2Sha512Passlib);
        let params =
            Params::new_with_output_len(self.rounds, OUTPUT_BYTES).map_err(|e| library(&e))?;
        let salt: [u8; SALT_BYTES] = salt16(rng);
        let hash = Pbkdf2::SHA512
            .hash_password_customized(
                password.as_bytes(),
                &salt,
                Some(Algorithm::PBKDF2_SHA512_ID),
                None,
                params,
            )
            .map_err(|e| library(&e))?;
        Ok(hash.to_string())
    }
}

impl Default for PasslibSettings {
    fn default() -> Self {
        PasslibSettings {
            rounds: Self::MIN_ROUNDS,
        }
    }
}

/// The parts of a `$pbkdf2-sha512$` value, if it is one passlib would parse: rounds, salt and a
/// 64-byte hash.
pub(super) fn is_well_formed(stored: &str) -> bool {
    let Some(rest) = stored.strip_prefix("$pbkdf2-sha512$") else {
        return false;
    };
    let parts: Vec<&str> = rest.split('$').collect();
    let [rounds, salt, hash] = parts[..] else {
        return false;
    };
    let ab64 = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/')
    };
    let rounds_ok = rounds
        .parse::<u32>()
        .is_ok_and(|n| n > 0 && !rounds.starts_with('0'));
    // 64 bytes in unpadded base64 are 86 characters.
    rounds_ok && ab64(salt) && ab64(hash) && hash.len() == 86
}

/// Whether `password` matches a `$pbkdf2-sha512$` value.
pub(super) fn verify(password: &str, stored: &str) -> Result<bool, HashFmtError> {
    let malformed = || HashFmtError::NotVerifiable("a malformed pbkdf2-sha512 value".into());
    if !is_well_formed(stored) {
        return Err(malformed());
    }
    let hash = PasswordHashRef::new(stored).map_err(|_| malformed())?;
    match Pbkdf2::SHA512.verify_password(password.as_bytes(), hash) {
        Ok(()) => Ok(true),
        Err(pbkdf2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(_) => Err(malformed()),
    }
}
