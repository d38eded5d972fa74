//! SQL for the `users` table. Never selects `password_hash` into a [`User`].

use super::sql::many::{ints, list};
use super::sql::{Conn, DbError, Row};
use crate::user::User;
use crate::vals;

// dialect: `password_hash IS NOT NULL` is a boolean column in PostgreSQL; read as 0/1.
const COLUMNS: &str = "id, username, email, display_name, active, password_hash IS NOT NULL, \
     must_change_password, temp_password_expires_at, password_changed_at, created_at, updated_at, \
     locale";

fn from_row(row: &Row<'_>) -> Result<User, DbError> {
    user_at(row, 0)
}

/// A user read from [`COLUMNS`] starting at column `at` of `row`.
fn user_at(row: &Row<'_>, at: usize) -> Result<User, DbError> {
    Ok(User {
        id: row.get(at)?,
        username: row.get(at + 1)?,
        email: row.get(at + 2)?,
        display_name: row.get(at + 3)?,
        active: row.get(at + 4)?,
        has_password: row.get(at + 5)?,
        must_change_password: row.get(at + 6)?,
        temp_password_expires_at: row.get(at + 7)?,
        password_changed_at: row.get(at + 8)?,
        created_at: row.get(at + 9)?,
        updated_at: row.get(at + 10)?,
        locale: row.get(at + 11)?,
    })
}

/// The user columns, each qualified with the table alias `alias`, for a query that joins
/// `users` (read them back with [`joined_at`]).
pub(super) fn joined_columns(alias: &str) -> String {
    COLUMNS
        .split(", ")
        .map(|column| format!("{alias}.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The user of a `LEFT JOIN` read from [`joined_columns`] starting at column `at`; `None` when
/// the join found no user.
pub(super) fn joined_at(row: &Row<'_>, at: usize) -> Result<Option<User>, DbError> {
    if row.get::<Option<i64>>(at)?.is_none() {
        return Ok(None);
    }
    user_at(row, at).map(Some)
}

/// A user to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Email, if any.
    pub email: Option<String>,
    /// Display name, if any.
    pub display_name: Option<String>,
    /// Whether the user starts active.
    pub active: bool,
    /// Language tag in canonical form (see [`crate::user::locale`]), if any.
    pub locale: Option<String>,
}

/// Which users a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Status {
    /// Active users only.
    Active,
    /// Inactive users only.
    Inactive,
    /// Everyone (the default).
    #[default]
    All,
}

/// Filter for [`for_each`] and [`for_each_listed`].
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Active, inactive or all.
    pub status: Status,
    /// Substring of username, email or display name (case-insensitive).
    pub search: Option<String>,
    /// At most this many rows.
    pub limit: Option<u64>,
}

/// Lock user `id`'s row until the transaction ends (PostgreSQL; an SQLite write transaction
/// already excludes every other writer). Sent with the transaction's next statement.
pub fn lock(conn: &Conn, id: i64) -> Result<(), DbError> {
    lock_many(conn, &[id])
}

/// [`lock`] for several users, in id order (so that two transactions locking overlapping sets
/// cannot deadlock).
pub fn lock_many(conn: &Conn, ids: &[i64]) -> Result<(), DbError> {
    // SQLite has no FOR UPDATE and needs none: one writer at a time.
    if ids.is_empty() || !conn.is_postgres() {
        return Ok(());
    }
    let sql = format!(
        "SELECT id FROM users WHERE id IN ({}) ORDER BY id FOR UPDATE",
        list(1, ids.len())
    );
    conn.defer(&sql, &ints(ids))
}

/// Lock every user's row until the transaction ends (PostgreSQL only, as [`lock`]): for the
/// rare writes that concern every user (`tokens revoke --all`).
pub fn lock_all(conn: &Conn) -> Result<(), DbError> {
    if !conn.is_postgres() {
        return Ok(());
    }
    conn.defer("SELECT id FROM users FOR UPDATE", &vals![])
}

/// The user with this id.
pub fn by_id(conn: &Conn, id: i64) -> Result<Option<User>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = ?1");
    conn.query_opt(&sql, &vals![id], from_row)
}

/// The users with these ids (those that still exist), in no particular order.
pub fn by_ids(conn: &Conn, ids: &[i64]) -> Result<Vec<User>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM users WHERE id IN ({})",
        list(1, ids.len())
    );
    conn.query_vec(&sql, &ints(ids), from_row)
}

/// Users whose email or username equals `key`, ignoring case (at most two).
pub fn matching(conn: &Conn, key: &str) -> Result<Vec<User>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM users WHERE {} OR {} ORDER BY id",
        conn.equals_ignoring_case("email", "?1"),
        conn.equals_ignoring_case("username", "?1"),
    );
    conn.query_vec(&sql, &vals![key], from_row)
}

/// The user with this email, ignoring case.
pub fn by_email(conn: &Conn, email: &str) -> Result<Option<User>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM users WHERE {}",
        conn.equals_ignoring_case("email", "?1")
    );
    conn.query_opt(&sql, &vals![email], from_row)
}

/// The user with this username, ignoring case.
pub fn by_username(conn: &Conn, username: &str) -> Result<Option<User>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM users WHERE {}",
        conn.equals_ignoring_case("username", "?1")
    );
    conn.query_opt(&sql, &vals![username], from_row)
}

/// Insert a user; returns its id.
pub fn insert(conn: &Conn, user: &NewUser, now: i64) -> Result<i64, DbError> {
    conn.insert_returning_id(
        "INSERT INTO users (username, email, display_name, active, locale, created_at, \
         updated_at) VALUES (?1, ?2, ?3, ?4, ?6, ?5, ?5) RETURNING id",
        &vals![
            user.username,
            user.email,
            user.display_name,
            user.active,
            now,
            user.locale
        ],
    )
}

/// Set the active flag; returns whether the row changed.
pub fn set_active(conn: &Conn, id: i64, active: bool, now: i64) -> Result<bool, DbError> {
    let changed = conn.execute(
        "UPDATE users SET active = ?2, updated_at = ?3 WHERE id = ?1 AND active <> ?2",
        &vals![id, active, now],
    )?;
    Ok(changed == 1)
}

/// The columns `users edit` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile<'a> {
    /// Login name.
    pub username: &'a str,
    /// Email, if any.
    pub email: Option<&'a str>,
    /// Display name, if any.
    pub display_name: Option<&'a str>,
    /// Language tag (canonical), if any.
    pub locale: Option<&'a str>,
}

/// Set a user's username, email, display name and language (the store's trigger revokes their
/// links when the email changes); returns whether the user exists.
pub fn set_profile(conn: &Conn, id: i64, profile: Profile<'_>, now: i64) -> Result<bool, DbError> {
    let changed = conn.execute(
        "UPDATE users SET username = ?2, email = ?3, display_name = ?4, updated_at = ?5, \
         locale = ?6 WHERE id = ?1",
        &vals![
            id,
            profile.username,
            profile.email,
            profile.display_name,
            now,
            profile.locale
        ],
    )?;
    Ok(changed == 1)
}

/// What a password change writes.
#[derive(Debug, Clone, Copy)]
pub struct PasswordChange<'a> {
    /// The argon2id PHC string.
    pub hash: &'a str,
    /// Whether the user must choose a new password at next login.
    pub must_change: bool,
    /// When a temporary password stops working.
    pub temp_expires_at: Option<i64>,
}

/// Store a new password hash and stamp `password_changed_at`; returns whether the user exists.
pub fn set_password(
    conn: &Conn,
    id: i64,
    change: &PasswordChange<'_>,
    now: i64,
) -> Result<bool, DbError> {
    let changed = conn.execute(
        "UPDATE users SET password_hash = ?2, must_change_password = ?3, \
         temp_password_expires_at = ?4, password_changed_at = ?5, updated_at = ?5 WHERE id = ?1",
        &vals![
            id,
            change.hash,
            change.must_change,
            change.temp_expires_at,
            now
        ],
    )?;
    Ok(changed == 1)
}

/// The stored password hash of a user (for verification only; never printed).
pub fn password_hash(conn: &Conn, id: i64) -> Result<Option<String>, DbError> {
    conn.query_opt(
        "SELECT password_hash FROM users WHERE id = ?1",
        &vals![id],
        |r| r.get(0),
    )
    .map(Option::flatten)
}

/// A user as `users list` shows them: only the columns it prints, so that a listing of many
/// users reads (and the server sends) nothing more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Primary key.
    pub id: i64,
    /// Unique login name.
    pub username: String,
    /// Email address, if any.
    pub email: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// Whether the user may log in and receive mail.
    pub active: bool,
    /// Whether the application must make the user change password at next login.
    pub must_change_password: bool,
    /// Last password change (Unix seconds).
    pub password_changed_at: Option<i64>,
    /// The user's language tag; `None` means `mail.default_locale`.
    pub locale: Option<String>,
}

const LISTED_COLUMNS: &str =
    "id, username, email, display_name, active, must_change_password, password_changed_at, locale";

fn listed_from(row: &Row<'_>) -> Result<Listed, DbError> {
    Ok(Listed {
        id: row.get(0)?,
        username: row.get(1)?,
        email: row.get(2)?,
        display_name: row.get(3)?,
        active: row.get(4)?,
        must_change_password: row.get(5)?,
        password_changed_at: row.get(6)?,
        locale: row.get(7)?,
    })
}

/// Call `f` for each matching user in id order, streaming rows.
pub fn for_each<E>(
    conn: &Conn,
    filter: &Filter,
    mut f: impl FnMut(User) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<DbError>,
{
    each_matching(conn, COLUMNS, filter, |row| f(from_row(row)?))
}

/// [`for_each`] with only the columns a listing shows ([`Listed`]).
pub fn for_each_listed<E>(
    conn: &Conn,
    filter: &Filter,
    mut f: impl FnMut(Listed) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<DbError>,
{
    each_matching(conn, LISTED_COLUMNS, filter, |row| f(listed_from(row)?))
}

/// Each row of `columns` of the users `filter` matches, in id order, streamed.
fn each_matching<E>(
    conn: &Conn,
    columns: &str,
    filter: &Filter,
    f: impl FnMut(&Row<'_>) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<DbError>,
{
    let status = match filter.status {
        Status::Active => "active = 1",
        Status::Inactive => "active = 0",
        Status::All => "TRUE",
    };
    let like = |column| conn.like_ignoring_case(column, "?1");
    let sql = format!(
        "SELECT {columns} FROM users WHERE {status} AND (CAST(?1 AS TEXT) IS NULL OR {} OR {} \
         OR {}) ORDER BY id {}",
        like("username"),
        like("email"),
        like("display_name"),
        conn.limit_or_all("?2"),
    );
    let pattern = filter.search.as_deref().map(like_pattern);
    let limit = filter.limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    conn.query_each(&sql, &vals![pattern, limit], f)
}

/// A LIKE pattern matching `text` anywhere, with `%`, `_` and `\` taken literally.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests;
