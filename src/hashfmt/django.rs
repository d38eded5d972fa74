//! Django's default hasher, `pbkdf2_sha256`: `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>`,
//! as `django/contrib/auth/hashers.py` writes it (PBKDF2-HMAC-SHA256 over the UTF-8 password and
//! the salt's text, 32 bytes, standard base64 with padding; the salt is 22 characters of
//! `[a-zA-Z0-9]`, 131 bits, the least that reaches Django's 128-bit `salt_entropy`).

use base64::Engine as _;
use rand::{CryptoRng, RngExt as _};

use super::{Format, HashFmtError, same_bytes, within};

/// Django's `RANDOM_STRING_CHARS`, the alphabet of its salts.
const SALT_ALPHABET: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// `ceil(128 / log2(62))`: the salt length Django makes and below which it re-hashes.
const SALT_LENGTH: usize = 22;
/// The algorithm field.
const PREFIX: &str = "pbkdf2_sha256";

/// How to write Django's `pbkdf2_sha256`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DjangoSettings {
    /// PBKDF2 iterations: the count of the Django the site runs, so Django does not re-hash on
    /// login (`must_update`). Default: Django 5.2 LTS's, 1,000,000.
    pub iterations: u32,
}

impl DjangoSettings {
    /// Django 5.2 LTS's `PBKDF2PasswordHasher.iterations`.
    pub const DEFAULT_ITERATIONS: u32 = 1_000_000;
    /// The fewest pwreset writes: Django 4.2 LTS's count and OWASP's for PBKDF2-HMAC-SHA256.
    pub const MIN_ITERATIONS: u32 = 600_000;

    pub(super) fn check(self) -> Result<(), HashFmtError> {
        let allowed = Self::MIN_ITERATIONS..=u32::MAX;
        within(
            Format::Pbkdf2Sha256Django,
            "iterations",
            self.iterations,
            allowed,
        )
    }

    pub(super) fn hash(
        self,
        password: &str,
        rng: &mut impl CryptoRng,
    ) -> Result<String, HashFmtError> {
        self.check()?;
        let salt: String = (0..SALT_LENGTH)
            .map(|_| char::from(SALT_ALPHABET[rng.random_range(0..SALT_ALPHABET.len())]))
            .collect();
        Ok(encode(password, &salt, self.iterations))
    }
}

impl Default for DjangoSettings {
    fn default() -> Self {
        DjangoSettings {
            iterations: Self::DEFAULT_ITERATIONS,
        }
    }
}

/// Django's `encode`: the whole stored value for this password, salt and count.
fn encode(password: &str, salt: &str, iterations: u32) -> String {
    let mut out = [0_u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt.as_bytes(), iterations, &mut out);
    let hash = base64::engine::general_purpose::STANDARD.encode(out);
    format!("{PREFIX}${iterations}${salt}${hash}")
}

/// The iterations and salt of a stored value, if it is one.
fn parse(stored: &str) -> Option<(u32, &str)> {
    let mut parts = stored.splitn(4, '$');
    let (algorithm, iterations, salt, hash) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let iterations = iterations.parse::<u32>().ok().filter(|n| *n > 0)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(hash)
        .ok()?;
    (algorithm == PREFIX && !salt.is_empty() && decoded.len() == 32).then_some((iterations, salt))
}

/// Whether `stored` is a well-formed `pbkdf2_sha256` value.
pub(super) fn is_well_formed(stored: &str) -> bool {
    parse(stored).is_some()
}

/// Django's `verify`: encode again with the stored salt and count, compare in constant time.
pub(super) fn verify(password: &str, stored: &str) -> Result<bool, HashFmtError> {
    let (iterations, salt) = parse(stored)
        .ok_or_else(|| HashFmtError::NotVerifiable("a malformed pbkdf2_sha256 value".into()))?;
    Ok(same_bytes(
        encode(password, salt, iterations).as_bytes(),
        stored.as_bytes(),
    ))
}
