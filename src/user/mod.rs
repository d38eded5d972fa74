//! The user entity and its value types: what a user is ([`User`]), and what a valid email,
//! username, display name and language tag are. A leaf: it imports nothing of pwreset, so the
//! store, the templates, the password rules and the page can all name a user without depending
//! on the store or on one another. State changes on users are `crate::users`'.

pub mod locale;

/// A user as pwreset shows it: every column except the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Primary key.
    pub id: i64,
    /// Unique login name (case-insensitive).
    pub username: String,
    /// Email address, unique ignoring case, if the user has one.
    pub email: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// Whether the user may log in and receive mail.
    pub active: bool,
    /// Whether a password hash is stored.
    pub has_password: bool,
    /// Whether the application must make the user change password at next login.
    pub must_change_password: bool,
    /// When a temporary password stops working (Unix seconds).
    pub temp_password_expires_at: Option<i64>,
    /// Last password change (Unix seconds).
    pub password_changed_at: Option<i64>,
    /// Creation time (Unix seconds).
    pub created_at: i64,
    /// Last update time (Unix seconds).
    pub updated_at: i64,
    /// The user's language tag in canonical form (e.g. `pt-BR`); `None` means
    /// `mail.default_locale`.
    pub locale: Option<String>,
}

/// Check an email address; returns why it is not valid.
pub fn check_email(email: &str) -> Result<(), String> {
    if email.chars().any(char::is_control) {
        return Err("email contains control characters".into());
    }
    if email.len() > 254 || email.parse::<lettre::Address>().is_err() {
        return Err(format!("malformed email {email:?}"));
    }
    Ok(())
}

/// Whether the user has an email that mail can be sent to.
pub fn has_valid_email(user: &User) -> bool {
    user.email
        .as_deref()
        .is_some_and(|email| check_email(email).is_ok())
}

/// Check a username; returns why it is not valid.
pub fn check_username(username: &str) -> Result<(), String> {
    if username.is_empty() || username.chars().count() > 64 {
        return Err("username must be 1 to 64 characters".into());
    }
    if username
        .chars()
        .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err("username contains whitespace or control characters".into());
    }
    if username.contains('@') || username.starts_with('#') {
        return Err(format!(
            "username {username:?} must not contain '@' or start with '#'"
        ));
    }
    Ok(())
}

/// Check a display name; returns why it is not valid.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.chars().any(char::is_control) {
        return Err("name contains control characters".into());
    }
    if name.chars().count() > 200 {
        return Err("name is longer than 200 characters".into());
    }
    Ok(())
}

/// Check a stored locale: a tag [`locale::parse`] accepts, already in canonical form.
pub fn check_locale(tag: &str) -> Result<(), String> {
    match locale::parse(tag) {
        Ok(canonical) if canonical.as_str() == tag => Ok(()),
        Ok(canonical) => Err(format!("locale {tag:?} must be written {canonical}")),
        Err(err) => Err(format!("locale {err}")),
    }
}

/// The username derived from an email: its local part without a `+tag`, lowercased, with only
/// letters, digits, `.`, `_` and `-` kept.
pub fn username_from_email(email: &str) -> String {
    let local = email.split('@').next().unwrap_or_default();
    let local = local.split('+').next().unwrap_or_default().to_lowercase();
    let kept: String = local
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    if kept.is_empty() {
        "user".to_string()
    } else {
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_rules() {
        assert!(check_email("alice@example.com").is_ok());
        assert!(check_email("alice@example.com\r\nBcc: x@evil").is_err());
        assert!(check_email("not-an-email").is_err());
        assert!(check_email("a@@b").is_err());
        assert!(check_email(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn username_rules_and_derivation() {
        assert!(check_username("alice.b-1").is_ok());
        assert!(check_username("").is_err());
        assert!(check_username("a b").is_err());
        assert!(check_username("a@b").is_err());
        assert!(check_username("#1").is_err());
        assert_eq!(
            username_from_email("Alice.Smith+x@example.com"),
            "alice.smith"
        );
        assert_eq!(username_from_email("+++@example.com"), "user");
    }
}
