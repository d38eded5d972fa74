//! Users: how an operator names one (email, username or `#ID`), what a valid email, username
//! and display name are, and the state changes on users (add, activate, deactivate, and
//! [`edit`]), each written together with its audit row.

pub mod edit;
pub mod import;

use crate::store::sql::{Conn, DbError};
use jiff::Timestamp;

use crate::audit::{self, Actor, Event, Outcome};
use crate::store::users::{self as sql, NewUser};
use crate::store::{Store, StoreError, tokens};
use crate::user::User;
use crate::user::{check_email, check_locale, check_name, check_username};

/// Why a user could not be found, created or changed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// No user has this email, username or id.
    #[error("no user matches {0:?}")]
    Unknown(String),
    /// The text names one user by email and another by username.
    #[error("{key:?} is ambiguous: it matches {candidates}")]
    Ambiguous {
        /// What the operator typed.
        key: String,
        /// The matching users, for display.
        candidates: String,
    },
    /// A value failed validation.
    #[error("{0}")]
    Invalid(String),
    /// Another user already has this email.
    #[error("email {email} is already used by {username} (#{id})")]
    EmailTaken {
        /// The email.
        email: String,
        /// The user who has it.
        username: String,
        /// That user's id.
        id: i64,
    },
    /// Another user already has this username.
    #[error("username {0:?} is already taken")]
    UsernameTaken(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the audit row failed.
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
}

impl From<DbError> for UserError {
    fn from(err: DbError) -> Self {
        UserError::Store(StoreError::Db(err))
    }
}

/// Why [`resolve_audited`] found no user: the user could not be resolved (an unknown one is
/// recorded in the audit log first), or that audit row could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// No one user matches (the refusal is recorded when the user is unknown).
    #[error(transparent)]
    User(#[from] UserError),
    /// Recording the refusal failed.
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
}

/// Resolve `key` as [`resolve`] does; an unknown user is refused and recorded in the audit log
/// under `action`.
pub fn resolve_audited(
    store: &mut Store,
    key: &str,
    action: &str,
    actor: &Actor,
    now: Timestamp,
) -> Result<User, ResolveError> {
    match resolve(store.conn(), key) {
        Err(err @ UserError::Unknown(_)) => {
            let event = Event::new(action, Outcome::Refused)
                .target_text(&crate::text::sanitize(key))
                .detail(Some("no such user".into()));
            audit::record(store, actor, now, &event)?;
            Err(err.into())
        }
        other => Ok(other?),
    }
}

/// Find the one user that `key` names: `#ID`, an email (ignoring case) or a username.
pub fn resolve(conn: &Conn, key: &str) -> Result<User, UserError> {
    if let Some(id) = key
        .strip_prefix('#')
        .and_then(|digits| digits.parse::<i64>().ok())
    {
        return sql::by_id(conn, id)?.ok_or_else(|| UserError::Unknown(key.to_string()));
    }
    let mut found = sql::matching(conn, key)?;
    match found.len() {
        0 => Err(UserError::Unknown(key.to_string())),
        1 => Ok(found.remove(0)),
        _ => Err(UserError::Ambiguous {
            key: key.to_string(),
            candidates: found
                .iter()
                .map(|u| format!("#{} ({})", u.id, u.username))
                .collect::<Vec<_>>()
                .join(" and "),
        }),
    }
}

/// A language tag as the operator typed it (`--locale`), in canonical form; a bad one is
/// refused like any other bad value.
pub fn canonical_locale(tag: &str) -> Result<String, UserError> {
    crate::user::locale::parse(tag)
        .map(|locale| locale.to_string())
        .map_err(|err| UserError::Invalid(format!("locale {err}")))
}

/// Validate a new user against the rules and the store, without writing anything.
pub fn check_new(conn: &Conn, user: &NewUser) -> Result<(), UserError> {
    if let Some(email) = &user.email {
        check_email_free(conn, email, None)?;
    }
    check_username(&user.username).map_err(UserError::Invalid)?;
    if let Some(name) = &user.display_name {
        check_name(name).map_err(UserError::Invalid)?;
    }
    if let Some(tag) = &user.locale {
        check_locale(tag).map_err(UserError::Invalid)?;
    }
    check_username_free(conn, &user.username, None)
}

/// Check an email and that no user but `owner` has it (ignoring case).
pub fn check_email_free(conn: &Conn, email: &str, owner: Option<i64>) -> Result<(), UserError> {
    check_email(email).map_err(UserError::Invalid)?;
    match sql::by_email(conn, email)? {
        Some(other) if Some(other.id) != owner => Err(UserError::EmailTaken {
            email: email.to_string(),
            username: other.username,
            id: other.id,
        }),
        _ => Ok(()),
    }
}

/// Check that no user but `owner` has this username (ignoring case).
pub fn check_username_free(
    conn: &Conn,
    username: &str,
    owner: Option<i64>,
) -> Result<(), UserError> {
    match sql::by_username(conn, username)? {
        Some(other) if Some(other.id) != owner => {
            Err(UserError::UsernameTaken(username.to_string()))
        }
        _ => Ok(()),
    }
}

/// Add a user and its audit row in one transaction.
pub fn add(
    store: &mut Store,
    user: &NewUser,
    actor: &Actor,
    now: Timestamp,
) -> Result<User, UserError> {
    let tx = store.write()?;
    check_new(&tx, user)?;
    let id = sql::insert(&tx, user, now.as_second())?;
    let created = sql::by_id(&tx, id)?.ok_or_else(|| UserError::Unknown(format!("#{id}")))?;
    audit::append(
        &tx,
        actor,
        now,
        &Event::new("user.add", Outcome::Ok).target(&created),
    )?;
    tx.commit()?;
    Ok(created)
}

/// The result of activating or deactivating a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activation {
    /// Whether the flag changed (false: it already had that value).
    pub changed: bool,
    /// Outstanding reset links revoked by a deactivation.
    pub links_revoked: usize,
}

/// Set a user's active flag. Deactivating revokes the user's outstanding reset links.
pub fn set_active(
    store: &mut Store,
    user: &User,
    active: bool,
    actor: &Actor,
    now: Timestamp,
) -> Result<Activation, UserError> {
    let tx = store.write()?;
    // Revoke before the change: the store's trigger would revoke them too, uncounted (TOK-7).
    let deactivating = !active && sql::by_id(&tx, user.id)?.is_some_and(|u| u.active);
    let links_revoked = if deactivating {
        tokens::revoke_outstanding(&tx, user.id, now.as_second(), "user deactivated")?
    } else {
        0
    };
    let changed = sql::set_active(&tx, user.id, active, now.as_second())?;
    if changed {
        let action = if active {
            "user.activate"
        } else {
            "user.deactivate"
        };
        let detail =
            (links_revoked > 0).then(|| format!("revoked {links_revoked} outstanding links"));
        audit::append(
            &tx,
            actor,
            now,
            &Event::new(action, Outcome::Ok).target(user).detail(detail),
        )?;
    }
    tx.commit()?;
    Ok(Activation {
        changed,
        links_revoked,
    })
}

#[cfg(test)]
mod tests;
