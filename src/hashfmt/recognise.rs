//! What a stored password value is: one of the writable formats, another application's format
//! pwreset only recognises, no password at all (unusable), or nothing known; and whether an
//! application would take it as a hash rather than as plaintext. Reads the value's shape only:
//! no hashing, so it is cheap enough for every row of a listing.

use std::fmt;

use super::{Format, argon2id, bcrypt_2y, django, passlib};

/// Django's other hashers (`django.contrib.auth.hashers`), by the algorithm field before `$`.
const DJANGO_OTHERS: &[&str] = &[
    "argon2",
    "bcrypt_sha256",
    "bcrypt",
    "scrypt",
    "pbkdf2_sha1",
    "md5",
    "sha1",
    "unsalted_md5",
    "unsalted_sha1",
    "crypt",
];

/// What a stored value is. Holds the name of a scheme, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// No password login: NULL, empty, Django's unusable `!...`, or a locked `*...`.
    Unusable,
    /// A format pwreset writes and verifies.
    Writable(Format),
    /// A scheme pwreset knows but does not write, such as `django argon2` or `passlib
    /// pbkdf2-sha256`: the application still checks it, pwreset cannot.
    Other(String),
    /// Not a format pwreset knows (Odoo would take it as plaintext).
    Unknown,
}

impl fmt::Display for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stored::Unusable => f.write_str("no usable password"),
            Stored::Writable(format) => write!(f, "{format}"),
            Stored::Other(scheme) => f.write_str(scheme),
            Stored::Unknown => f.write_str("an unknown format"),
        }
    }
}

impl Stored {
    /// Whether the user can log in with a password at all.
    pub fn is_usable(&self) -> bool {
        *self != Stored::Unusable
    }
}

/// What `stored` (a password column's value, `None` for NULL) is.
pub fn recognise(stored: Option<&str>) -> Stored {
    let Some(value) = stored.filter(|v| !v.is_empty()) else {
        return Stored::Unusable;
    };
    if value.starts_with('!') || value.starts_with('*') {
        return Stored::Unusable;
    }
    if let Some(format) = writable(value) {
        return Stored::Writable(format);
    }
    if let Some(scheme) = django_other(value) {
        return Stored::Other(format!("django {scheme}"));
    }
    if let Some(scheme) = modular_crypt(value) {
        return Stored::Other(format!("passlib {scheme}"));
    }
    Stored::Unknown
}

/// The writable format `value` is well formed in, if any.
fn writable(value: &str) -> Option<Format> {
    Format::ALL
        .into_iter()
        .find(|format| is_well_formed(value, *format))
}

fn is_well_formed(value: &str, format: Format) -> bool {
    match format {
        Format::Argon2id => argon2id::is_well_formed(value),
        Format::Bcrypt => bcrypt_2y::is_well_formed(value),
        Format::Pbkdf2Sha256Django => django::is_well_formed(value),
        Format::Pbkdf2Sha512Passlib => passlib::is_well_formed(value),
    }
}

/// Django's algorithm name for a value of one of its other hashers (`identify_hasher`: the
/// field before the first `$`, or 32 characters without `$` for the oldest unsalted MD5).
fn django_other(value: &str) -> Option<&'static str> {
    if !value.contains('$') {
        let md5 = value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit());
        return md5.then_some("unsalted_md5");
    }
    let algorithm = value.split('$').next()?;
    DJANGO_OTHERS.iter().copied().find(|a| *a == algorithm)
}

/// The scheme of a modular-crypt value (`$<scheme>$...`), as passlib names them.
fn modular_crypt(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('$')?;
    let (scheme, tail) = rest.split_once('$')?;
    let plausible = !scheme.is_empty()
        && !tail.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    plausible.then_some(scheme)
}

/// An application whose password column pwreset writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Django's `auth_user.password`.
    Django,
    /// Laravel's `users.password` (the bcrypt driver).
    Laravel,
    /// Odoo's `res_users.password` (passlib: `pbkdf2_sha512`, else plaintext).
    Odoo,
    /// The `sql` profile: your own queries, with the format named.
    Sql(Format),
}

impl Profile {
    /// The format pwreset writes for this application.
    pub fn format(self) -> Format {
        match self {
            Profile::Django => Format::Pbkdf2Sha256Django,
            Profile::Laravel => Format::Bcrypt,
            Profile::Odoo => Format::Pbkdf2Sha512Passlib,
            Profile::Sql(format) => format,
        }
    }
}

/// Whether the application would take `stored` as a hash, not as a password in clear. The
/// guard before every write (SRC-1): Odoo's passlib context takes any value that does not
/// parse as `pbkdf2_sha512` as plaintext, so a malformed value there would be a password
/// anyone reading the table could use.
pub fn is_hashed_for(stored: &str, profile: Profile) -> bool {
    match profile {
        Profile::Django => {
            is_well_formed(stored, Format::Pbkdf2Sha256Django) || django_other(stored).is_some()
        }
        Profile::Laravel | Profile::Odoo | Profile::Sql(_) => {
            is_well_formed(stored, profile.format())
        }
    }
}
