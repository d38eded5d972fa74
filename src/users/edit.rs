//! Changing a user (`users edit`): their email, username or display name, checked with the same
//! rules as `users add` and `users import`, every field before anything is written, and written
//! in one transaction with its audit row, which holds the old and new values in full.
//!
//! An email change revokes the user's outstanding links: pwreset revokes them first, to count
//! them for the audit row, and the store's trigger (schema 6) revokes whatever else is left.
//! Nothing here prompts, prints or mails: [`notice`] renders and sends the email-changed notice
//! to the old address, and the caller decides whether to.

pub mod notice;

use jiff::Timestamp;

use super::{UserError, check_email_free, check_name, check_username, check_username_free};
use crate::audit::{self, Actor, Event, Outcome};
use crate::store::sql::Conn;
use crate::store::users::{self as sql, Profile};
use crate::store::{Store, tokens};
use crate::user::User;

/// The audit action.
pub const ACTION: &str = "user.edit";

/// The `revoked_reason` of the links an email change revokes (the trigger's too).
pub const EMAIL_CHANGED: &str = "email changed";

/// What the operator asked to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// The new email.
    pub email: Option<String>,
    /// The new username.
    pub username: Option<String>,
    /// The new display name; an empty one removes it.
    pub name: Option<String>,
    /// The new language tag (any case; stored canonical); an empty one removes it.
    pub locale: Option<String>,
}

/// A field `users edit` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The email address.
    Email,
    /// The login name.
    Username,
    /// The display name.
    Name,
    /// The language tag.
    Locale,
}

impl Field {
    /// `email`, `username`, `name` or `locale`.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Email => "email",
            Field::Username => "username",
            Field::Name => "name",
            Field::Locale => "locale",
        }
    }
}

/// One field that changes, with its old and new value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// Which field.
    pub field: Field,
    /// Its value before.
    pub old: Option<String>,
    /// Its value after.
    pub new: Option<String>,
}

/// A checked edit of one user: the user as they are, and the fields that really change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The user before the edit.
    pub user: User,
    /// The changing fields, in the order email, username, name, locale; empty when nothing
    /// changes.
    pub changes: Vec<FieldChange>,
}

impl Plan {
    /// The email change, if the email changes.
    pub fn email_change(&self) -> Option<&FieldChange> {
        self.changes.iter().find(|c| c.field == Field::Email)
    }

    /// The value of `field` after the edit.
    fn after(&self, field: Field) -> Option<&str> {
        match self.changes.iter().find(|c| c.field == field) {
            Some(change) => change.new.as_deref(),
            None => match field {
                Field::Email => self.user.email.as_deref(),
                Field::Username => Some(&self.user.username),
                Field::Name => self.user.display_name.as_deref(),
                Field::Locale => self.user.locale.as_deref(),
            },
        }
    }

    /// The audit detail: every change with its full old and new value, and the links revoked.
    fn detail(&self, links_revoked: usize) -> String {
        let shown =
            |value: &Option<String>| value.as_ref().map_or("none".into(), |v| format!("{v:?}"));
        let mut parts: Vec<String> = self
            .changes
            .iter()
            .map(|c| {
                format!(
                    "{} {} -> {}",
                    c.field.as_str(),
                    shown(&c.old),
                    shown(&c.new)
                )
            })
            .collect();
        if self.email_change().is_some() {
            parts.push(format!("revoked {links_revoked} links"));
        }
        parts.join(", ")
    }
}

/// The result of an edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    /// What changed (nothing, when the values were already these).
    pub plan: Plan,
    /// The user after the edit.
    pub user: User,
    /// Outstanding links revoked by an email change.
    pub links_revoked: usize,
}

/// Check `changes` to `user` against the rules and the store, every given field (even one that
/// does not change), without writing anything. A duplicate email or username (ignoring case)
/// belonging to another user is refused.
pub fn plan(conn: &Conn, user: User, changes: &Changes) -> Result<Plan, UserError> {
    let mut fields = Vec::new();
    if let Some(email) = &changes.email {
        check_email_free(conn, email, Some(user.id))?;
        fields.push(change(Field::Email, user.email.as_deref(), Some(email)));
    }
    if let Some(username) = &changes.username {
        check_username(username).map_err(UserError::Invalid)?;
        check_username_free(conn, username, Some(user.id))?;
        fields.push(change(
            Field::Username,
            Some(&user.username),
            Some(username),
        ));
    }
    if let Some(name) = &changes.name {
        check_name(name).map_err(UserError::Invalid)?;
        let name = Some(name.as_str()).filter(|n| !n.is_empty());
        fields.push(change(Field::Name, user.display_name.as_deref(), name));
    }
    if let Some(tag) = &changes.locale {
        let tag = match tag.as_str() {
            "" => None,
            tag => Some(super::canonical_locale(tag)?),
        };
        fields.push(change(
            Field::Locale,
            user.locale.as_deref(),
            tag.as_deref(),
        ));
    }
    Ok(Plan {
        user,
        changes: fields.into_iter().flatten().collect(),
    })
}

/// The change of `field` from `old` to `new`, if they differ (exactly: a change of case is a
/// change).
fn change(field: Field, old: Option<&str>, new: Option<&str>) -> Option<FieldChange> {
    (old != new).then(|| FieldChange {
        field,
        old: old.map(str::to_string),
        new: new.map(str::to_string),
    })
}

/// Apply `changes` to user `user_id` in one transaction with its audit row (`user.edit`), checked
/// again inside it against the user as they are then. Nothing is written, not even an audit
/// row, when every value is already what was asked.
pub fn apply(
    store: &mut Store,
    user_id: i64,
    changes: &Changes,
    actor: &Actor,
    now: Timestamp,
) -> Result<Edited, UserError> {
    let tx = store.write()?;
    let user =
        sql::by_id(&tx, user_id)?.ok_or_else(|| UserError::Unknown(format!("#{user_id}")))?;
    let plan = plan(&tx, user, changes)?;
    if plan.changes.is_empty() {
        let user = plan.user.clone();
        return Ok(Edited {
            plan,
            user,
            links_revoked: 0,
        });
    }
    let links_revoked = match plan.email_change() {
        Some(_) => tokens::revoke_outstanding(&tx, user_id, now.as_second(), EMAIL_CHANGED)?,
        None => 0,
    };
    let profile = Profile {
        username: plan.after(Field::Username).unwrap_or_default(),
        email: plan.after(Field::Email),
        display_name: plan.after(Field::Name),
        locale: plan.after(Field::Locale),
    };
    sql::set_profile(&tx, user_id, profile, now.as_second())?;
    let user =
        sql::by_id(&tx, user_id)?.ok_or_else(|| UserError::Unknown(format!("#{user_id}")))?;
    let event = Event::new(ACTION, Outcome::Ok)
        .target(&user)
        .detail(Some(plan.detail(links_revoked)));
    audit::append(&tx, actor, now, &event)?;
    tx.commit()?;
    Ok(Edited {
        plan,
        user,
        links_revoked,
    })
}

#[cfg(test)]
mod tests;
