//! The password hash formats of the applications whose users pwreset resets (issue 22): writing
//! a new password in each format an application checks today (Django's `pbkdf2_sha256`,
//! Laravel's bcrypt `$2y$`, Odoo's passlib `$pbkdf2-sha512$`, pwreset's own argon2id), telling
//! what a stored value is (which format, unusable, or a value Odoo would take as plaintext), and
//! verifying a password against the formats it writes.
//!
//! A leaf: it imports nothing of pwreset but other leaves (`secret`), reads no settings, and
//! takes its salts from the RNG it is handed. It never logs or prints a password, and the
//! values it returns show no hash in `Debug`. The hashing is the `RustCrypto` `pbkdf2` crate's and
//! the `bcrypt` crate's, never written here.

mod argon2id;
mod bcrypt_2y;
mod django;
mod passlib;
mod recognise;

use std::fmt;

use rand::CryptoRng;

pub use argon2id::Argon2idSettings;
pub use bcrypt_2y::BcryptSettings;
pub use django::DjangoSettings;
pub use passlib::PasslibSettings;
pub use recognise::{Profile, Stored, is_hashed_for, recognise};

use crate::secret::Secret;

/// A format pwreset can write, by the name the `sql` profile's configuration gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// pwreset's own: argon2id in a PHC string (`$argon2id$v=19$m=..,t=..,p=..$salt$hash`).
    Argon2id,
    /// bcrypt as Laravel (PHP's `password_hash`) writes it: `$2y$<cost>$<salt+hash>`.
    Bcrypt,
    /// Django's default hasher: `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>`.
    Pbkdf2Sha256Django,
    /// passlib's `pbkdf2_sha512`, as Odoo stores it: `$pbkdf2-sha512$<rounds>$<salt>$<hash>`.
    Pbkdf2Sha512Passlib,
}

impl Format {
    /// Every writable format.
    pub const ALL: [Format; 4] = [
        Format::Argon2id,
        Format::Bcrypt,
        Format::Pbkdf2Sha256Django,
        Format::Pbkdf2Sha512Passlib,
    ];

    /// The format's name in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            Format::Argon2id => "argon2id",
            Format::Bcrypt => "bcrypt",
            Format::Pbkdf2Sha256Django => "pbkdf2_sha256_django",
            Format::Pbkdf2Sha512Passlib => "pbkdf2_sha512_passlib",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Format {
    type Err = HashFmtError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|format| format.name() == name)
            .ok_or_else(|| HashFmtError::UnknownFormat(name.to_string()))
    }
}

/// Why a password could not be hashed or checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashFmtError {
    /// A format name that is not one of [`Format::ALL`].
    #[error(
        "unknown password hash format {0:?}: use argon2id, bcrypt, pbkdf2_sha256_django or pbkdf2_sha512_passlib"
    )]
    UnknownFormat(String),
    /// A setting outside what the format (or pwreset's floor for it) allows.
    #[error("{format}: {reason}")]
    Setting {
        /// The format whose setting it is.
        format: Format,
        /// What is wrong, with the allowed range.
        reason: String,
    },
    /// bcrypt reads at most 72 bytes and stops at a NUL: a longer password would be cut.
    #[error(
        "bcrypt cannot hold this password: it uses only the first 72 bytes and stops at a NUL byte, and pwreset never truncates a password"
    )]
    NotForBcrypt,
    /// The hashing library refused (the message names no password).
    #[error("{format}: cannot hash the password: {reason}")]
    Library {
        /// The format being written.
        format: Format,
        /// The library's message.
        reason: String,
    },
    /// A stored value that is not in one of the writable formats, so it cannot be verified here.
    #[error("the stored password is not in a format pwreset can check ({0})")]
    NotVerifiable(String),
}

/// A freshly made hash, ready to store: [`Encoded::as_str`] gives the value; `Debug` shows only
/// its format (LOG-2: hashes are never recorded).
#[derive(Clone, PartialEq, Eq)]
pub struct Encoded {
    format: Format,
    value: String,
}

impl Encoded {
    /// The format it is in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The value to write into the application's password column.
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

impl fmt::Debug for Encoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Encoded({}, [redacted])", self.format)
    }
}

/// How to write a new password: one format and its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashSettings {
    /// pwreset's argon2id.
    Argon2id(Argon2idSettings),
    /// Laravel's bcrypt.
    Bcrypt(BcryptSettings),
    /// Django's `pbkdf2_sha256`.
    Pbkdf2Sha256Django(DjangoSettings),
    /// passlib's (Odoo's) `pbkdf2_sha512`.
    Pbkdf2Sha512Passlib(PasslibSettings),
}

impl HashSettings {
    /// The format's default settings (what the application writes today).
    pub fn default_for(format: Format) -> Self {
        match format {
            Format::Argon2id => HashSettings::Argon2id(Argon2idSettings::default()),
            Format::Bcrypt => HashSettings::Bcrypt(BcryptSettings::default()),
            Format::Pbkdf2Sha256Django => {
                HashSettings::Pbkdf2Sha256Django(DjangoSettings::default())
            }
            Format::Pbkdf2Sha512Passlib => {
                HashSettings::Pbkdf2Sha512Passlib(PasslibSettings::default())
            }
        }
    }

    /// The format these settings write.
    pub fn format(&self) -> Format {
        match self {
            HashSettings::Argon2id(_) => Format::Argon2id,
            HashSettings::Bcrypt(_) => Format::Bcrypt,
            HashSettings::Pbkdf2Sha256Django(_) => Format::Pbkdf2Sha256Django,
            HashSettings::Pbkdf2Sha512Passlib(_) => Format::Pbkdf2Sha512Passlib,
        }
    }

    /// Whether the settings are allowed (checked again by [`HashSettings::hash`]).
    pub fn check(&self) -> Result<(), HashFmtError> {
        match self {
            HashSettings::Argon2id(s) => s.check(),
            HashSettings::Bcrypt(s) => s.check(),
            HashSettings::Pbkdf2Sha256Django(s) => s.check(),
            HashSettings::Pbkdf2Sha512Passlib(s) => s.check(),
        }
    }

    /// Hash `password` with a fresh salt from `rng`.
    pub fn hash(
        &self,
        password: &Secret,
        rng: &mut impl CryptoRng,
    ) -> Result<Encoded, HashFmtError> {
        let password = password.expose();
        let value = match self {
            HashSettings::Argon2id(s) => s.hash(password, rng)?,
            HashSettings::Bcrypt(s) => s.hash(password, rng)?,
            HashSettings::Pbkdf2Sha256Django(s) => s.hash(password, rng)?,
            HashSettings::Pbkdf2Sha512Passlib(s) => s.hash(password, rng)?,
        };
        Ok(Encoded {
            format: self.format(),
            value,
        })
    }
}

/// Whether `password` matches `stored`, for the writable formats (the parameters are read from
/// the value). A wrong password is `Ok(false)`; a value in any other format, or one that does
/// not parse, is an error.
pub fn verify(password: &Secret, stored: &str) -> Result<bool, HashFmtError> {
    let password = password.expose();
    match recognise(Some(stored)) {
        Stored::Writable(Format::Argon2id) => Ok(argon2id::verify(password, stored)),
        Stored::Writable(Format::Bcrypt) => Ok(bcrypt_2y::verify(password, stored)),
        Stored::Writable(Format::Pbkdf2Sha256Django) => django::verify(password, stored),
        Stored::Writable(Format::Pbkdf2Sha512Passlib) => passlib::verify(password, stored),
        other => Err(HashFmtError::NotVerifiable(other.to_string())),
    }
}

/// Whether two byte strings are equal, in time that depends only on their lengths.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A setting error for `format`.
fn setting(format: Format, reason: String) -> HashFmtError {
    HashFmtError::Setting { format, reason }
}

/// `Ok` when the setting `what` of `format` lies in `allowed`, else an error naming the range.
fn within(
    format: Format,
    what: &str,
    value: u32,
    allowed: std::ops::RangeInclusive<u32>,
) -> Result<(), HashFmtError> {
    if allowed.contains(&value) {
        return Ok(());
    }
    let (low, high) = allowed.into_inner();
    let reason = if high == u32::MAX {
        format!("{what} {value} is too low: use at least {low}")
    } else {
        format!("{what} {value} is out of range: use {low} to {high}")
    };
    Err(setting(format, reason))
}

/// A library's refusal while writing `format` (its message names no password).
fn library(format: Format) -> impl Fn(&dyn fmt::Display) -> HashFmtError {
    move |e| HashFmtError::Library {
        format,
        reason: e.to_string(),
    }
}

/// A fresh 16-byte salt from `rng`.
fn salt16(rng: &mut impl CryptoRng) -> [u8; 16] {
    let mut salt = [0_u8; 16];
    rng.fill_bytes(&mut salt);
    salt
}

#[cfg(test)]
mod tests;
