//! bcrypt as Laravel writes it (PHP's `password_hash(..., PASSWORD_BCRYPT)`): `$2y$<cost>$` and
//! 53 characters of salt and hash, with the `bcrypt` crate. bcrypt reads only the first 72
//! bytes of a password and stops at a NUL, so such passwords are refused, never cut.

use rand::CryptoRng;

use super::{Format, HashFmtError, library, salt16, within};

/// How to write Laravel's bcrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BcryptSettings {
    /// The cost (log2 of the rounds): Laravel's `BCRYPT_ROUNDS`, 12 since Laravel 11.
    pub cost: u32,
}

impl BcryptSettings {
    /// Laravel 11's default cost.
    pub const DEFAULT_COST: u32 = 12;
    /// The lowest cost pwreset writes: Laravel 10's default and OWASP's floor.
    pub const MIN_COST: u32 = 10;
    /// bcrypt's highest cost.
    pub const MAX_COST: u32 = 31;

    pub(super) fn check(self) -> Result<(), HashFmtError> {
        within(
            Format::Bcrypt,
            "cost",
            self.cost,
            Self::MIN_COST..=Self::MAX_COST,
        )
    }

    pub(super) fn hash(
        self,
        password: &str,
        rng: &mut impl CryptoRng,
    ) -> Result<String, HashFmtError> {
        self.check()?;
        if password.len() > 72 || password.contains('\0') {
            return Err(HashFmtError::NotForBcrypt);
        }
        let salt = salt16(rng);
        // Checked above: all of the password is used (the crate's `non_truncating_*` also counts
        // the terminating NUL, and would refuse a 72-byte password bcrypt reads whole).
        let parts = bcrypt::hash_with_salt(password, self.cost, salt)
            .map_err(|e| library(Format::Bcrypt)(&e))?;
        Ok(parts.format_for_version(bcrypt::Version::TwoY))
    }
}

impl Default for BcryptSettings {
    fn default() -> Self {
        BcryptSettings {
            cost: Self::DEFAULT_COST,
        }
    }
}

/// Whether `stored` is a bcrypt value PHP's `password_verify` reads (`$2y$`, `$2b$`, `$2a$`).
pub(super) fn is_well_formed(stored: &str) -> bool {
    let prefixed = ["$2y$", "$2b$", "$2a$"]
        .iter()
        .any(|p| stored.starts_with(p));
    let cost = stored.get(4..6).and_then(|c| c.parse::<u32>().ok());
    let alphabet = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'/';
    prefixed
        && stored.len() == 60
        && cost.is_some_and(|c| (4..=31).contains(&c))
        && stored.as_bytes()[6] == b'$'
        && stored.bytes().skip(7).all(alphabet)
}

/// Whether `password` matches a bcrypt value (as PHP checks it: only its first 72 bytes count).
pub(super) fn verify(password: &str, stored: &str) -> bool {
    bcrypt::verify(password, stored).unwrap_or(false)
}
