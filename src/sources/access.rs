//! Running a profile's statements: find a user by login, list users a page at a time, and
//! write a new hash as a compare-and-swap on the hash read, with the profile's clean-up in the
//! same transaction. The rows come back as [`AppUser`], whose `Debug` hides the hash (LOG-2).

use std::fmt;

use super::profile::Profile;
use crate::hashfmt::{Encoded, Stored};
use crate::store::sql::{Conn, DbError, Row};
use crate::vals;

/// A user as the application's database holds them.
#[derive(Clone, PartialEq, Eq)]
pub struct AppUser {
    /// The application's key.
    pub id: i64,
    /// The login (Django's username, Laravel's email, Odoo's login).
    pub login: String,
    /// The email address, if any.
    pub email: Option<String>,
    /// The display name (may be empty).
    pub name: String,
    /// Whether the application lets them log in.
    pub active: bool,
    /// The stored password hash as read (the compare-and-swap's guard), if any.
    pub password: Option<String>,
}

impl fmt::Debug for AppUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppUser")
            .field("id", &self.id)
            .field("login", &self.login)
            .field("email", &self.email)
            .field("name", &self.name)
            .field("active", &self.active)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Why a user of the application gets no reset mail (issue 22's "who gets mail": the same
/// rules as pwreset's own users, plus a password login to reset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// The application does not let them log in.
    Inactive,
    /// No email, or one mail cannot be sent to.
    NoEmail,
    /// No password login at all (NULL, empty, Django's unusable `!...`, a locked `*...`):
    /// nothing to reset, and setting one would open a login the application closed.
    NoPasswordLogin,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Skip::Inactive => "inactive",
            Skip::NoEmail => "no valid email",
            Skip::NoPasswordLogin => "no password login in the application",
        })
    }
}

impl AppUser {
    /// Why this user gets no reset mail, or `None` when they may get one. A hash in a format
    /// pwreset does not write (Django's `argon2$`, `scrypt$`, ...) or does not know (an old
    /// plaintext value) is a password login, which a reset replaces.
    pub fn skip(&self) -> Option<Skip> {
        let email_ok = self
            .email
            .as_deref()
            .is_some_and(|email| crate::user::check_email(email).is_ok());
        if !self.active {
            Some(Skip::Inactive)
        } else if !email_ok {
            Some(Skip::NoEmail)
        } else if crate::hashfmt::recognise(self.password.as_deref()) == Stored::Unusable {
            Some(Skip::NoPasswordLogin)
        } else {
            None
        }
    }

    fn from_row(row: &Row<'_>) -> Result<AppUser, DbError> {
        Ok(AppUser {
            id: row.get(0)?,
            login: row.get(1)?,
            email: row.get::<Option<String>>(2)?.filter(|e| !e.is_empty()),
            name: row.get::<Option<String>>(3)?.unwrap_or_default(),
            active: row.get::<Option<bool>>(4)?.unwrap_or(false),
            password: row.get(5)?,
        })
    }
}

/// The user whose login is exactly `login`, if there is one.
pub fn find_by_login(
    conn: &Conn,
    profile: &Profile,
    login: &str,
) -> Result<Option<AppUser>, DbError> {
    conn.query_opt(
        &profile.find_by_login_sql(),
        &vals![login],
        AppUser::from_row,
    )
}

/// Up to `limit` users (all with `None`) with a key above `after` (from the first with
/// `None`), in key order.
pub fn list(
    conn: &Conn,
    profile: &Profile,
    after: Option<i64>,
    limit: Option<i64>,
) -> Result<Vec<AppUser>, DbError> {
    conn.query_vec(
        &profile.list_sql(conn),
        &vals![after, limit],
        AppUser::from_row,
    )
}

/// What a compare-and-swap write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swap {
    /// The hash was still the one read: the new one is written (and the clean-up done).
    Written,
    /// The hash changed meanwhile (or the user is gone): nothing was written.
    Changed,
}

/// Write `new` as user `id`'s password if their hash is still `old`, and run the profile's
/// clean-up, in one transaction (SRC-1). The value is whatever `new` holds: pwreset's hashes
/// only (an [`Encoded`] is never plaintext).
pub fn write_password(
    conn: &mut Conn,
    profile: &Profile,
    id: i64,
    old: &str,
    new: &Encoded,
) -> Result<Swap, DbError> {
    let tx = conn.begin_row_write()?;
    let changed = tx.execute(&profile.write_sql(), &vals![new.as_str(), id, old])?;
    if changed != 1 {
        return Ok(Swap::Changed);
    }
    if let Some(sql) = profile.after_write_sql() {
        tx.execute(sql, &vals![id])?;
    }
    tx.commit()?;
    Ok(Swap::Written)
}
