//! pwreset's own format: argon2id in a PHC string, as `crate::password` writes it (PW-1). The
//! parameters come as plain values: `password` reads the config, and a leaf may not import it.

use argon2::password_hash::PasswordVerifier as _;
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::CryptoRng;

use super::{Format, HashFmtError, library, salt16, setting};

/// How to write argon2id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2idSettings {
    /// Memory in KiB (default 19,456: OWASP's minimum, PW-1).
    pub memory_kib: u32,
    /// Passes over the memory (default 2).
    pub iterations: u32,
    /// Lanes (default 1).
    pub parallelism: u32,
}

impl Default for Argon2idSettings {
    fn default() -> Self {
        Argon2idSettings {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Argon2idSettings {
    fn params(self) -> Result<Params, HashFmtError> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| setting(Format::Argon2id, e.to_string()))
    }

    pub(super) fn check(self) -> Result<(), HashFmtError> {
        self.params().map(|_| ())
    }

    pub(super) fn hash(
        self,
        password: &str,
        rng: &mut impl CryptoRng,
    ) -> Result<String, HashFmtError> {
        let params = self.params()?;
        let library = library(Format::Argon2id);
        let salt = salt16(rng);
        let mut out = [0_u8; 32];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_into(password.as_bytes(), &salt, &mut out)
            .map_err(|e| library(&e))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|e| library(&e))?,
            salt: Some(Salt::new(&salt).map_err(|e| library(&e))?),
            hash: Some(Output::new(&out).map_err(|e| library(&e))?),
        };
        Ok(phc.to_string())
    }
}

/// Whether `stored` parses as an argon2id PHC string.
pub(super) fn is_well_formed(stored: &str) -> bool {
    stored.starts_with("$argon2id$") && PasswordHash::new(stored).is_ok()
}

/// Whether `password` matches an argon2id PHC string (parameters read from it).
pub(super) fn verify(password: &str, stored: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), stored)
        .is_ok()
}
