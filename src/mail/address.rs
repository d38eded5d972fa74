//! Mail addresses, and the rule for where a user's mail goes.
//!
//! Owns [`Address`] (an address that passed [`crate::user::check_email`], so a bad `--to` is
//! refused while the flags are parsed, before anything is written), [`Recipient`] (where one
//! mail goes; never empty) and [`RecipientRule`] (each user, or one address instead). It knows
//! nothing of terminals, flags or exit codes.

use std::fmt;
use std::str::FromStr;

/// A mail address that passed [`crate::user::check_email`].
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

    /// Check `text` with [`crate::user::check_email`]; the error says why it is not an address.
    fn from_str(text: &str) -> Result<Self, String> {
        crate::user::check_email(text)?;
        Ok(Address(text.to_string()))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where one mail goes: an address that is not empty. It is the user's stored address as it is
/// (an invalid one is refused by the eligibility rules, and still named in the audit row), or an
/// [`Address`] given to override it. "No address" is `Option::None`, never an empty string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient(String);

impl Recipient {
    /// `text` as a recipient, or `None` when it is empty.
    pub fn new(text: &str) -> Option<Recipient> {
        (!text.is_empty()).then(|| Recipient(text.to_string()))
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<Address> for Recipient {
    fn from(address: Address) -> Self {
        Recipient(address.0)
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who receives a command's mails: each user at their own address, or one address instead of
/// all of them (`--to`, or `mail.admin_email` with `deliver_to = "admin"`; resolved by
/// [`crate::settings::recipient_rule`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RecipientRule {
    /// Each user at their own address.
    #[default]
    User,
    /// Every mail to this address instead.
    Override(Recipient),
}

impl RecipientRule {
    /// The rule stored with a bulk run: its override address, if any.
    pub fn from_stored(deliver_to: Option<&str>) -> Self {
        match deliver_to.and_then(Recipient::new) {
            Some(to) => RecipientRule::Override(to),
            None => RecipientRule::User,
        }
    }

    /// The override address, to store with a bulk run.
    pub fn stored(&self) -> Option<&str> {
        match self {
            RecipientRule::User => None,
            RecipientRule::Override(to) => Some(to.as_str()),
        }
    }

    /// Where mail for a user with `user_email` goes: the override, else that address; `None`
    /// when there is neither.
    pub fn for_user(&self, user_email: Option<&str>) -> Option<Recipient> {
        match self {
            RecipientRule::Override(to) => Some(to.clone()),
            RecipientRule::User => user_email.and_then(Recipient::new),
        }
    }
}
