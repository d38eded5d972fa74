//! Mail addresses given on the command line, and the rule for where a user's mail goes.
//!
//! Owns the [`Address`] newtype (an address that passed [`crate::users::check_email`], so a bad
//! `--to` is refused while the flags are parsed, before anything is written) and [`recipient`].
//! It knows nothing of terminals, flags or exit codes.

use std::fmt;
use std::str::FromStr;

/// A mail address that passed [`crate::users::check_email`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address(String);

impl Address {
    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Address {
    type Err = String;

    /// Check `text` with [`crate::users::check_email`]; the error says why it is not an address.
    fn from_str(text: &str) -> Result<Self, String> {
        crate::users::check_email(text)?;
        Ok(Address(text.to_string()))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a user's mail goes: the override every mail of the command goes to (`--to`, or
/// `mail.admin_email` with `deliver_to = "admin"`, resolved by
/// [`crate::settings::deliver_to`]), else the user's own address; `None` when there is neither.
pub fn recipient<'a>(deliver_to: Option<&'a str>, user_email: Option<&'a str>) -> Option<&'a str> {
    deliver_to.or(user_email)
}
