//! The "your password was changed" notice (PW-6): its template variables and its sending (and
//! the sending of other secret-free notices, such as `users edit`'s email-changed one).
//!
//! Used after an administrator showed a temporary password (`reset generate`), after a user
//! redeemed a reset link (`tokens redeem`), and by anything else that changes a password. The
//! notice never carries a secret. This module renders and sends only: it does not decide
//! whether a notice is wanted, and it knows nothing of terminals or flags.

use jiff::Timestamp;

use crate::mail::{Delivered, MailError, Recipient};
use crate::templates::{UserVars, Vars};
use crate::user::User;

/// The template of the notice.
pub const TEMPLATE: &str = "password-changed";

/// What the notice says besides the user.
#[derive(Debug, Clone, Default)]
pub struct Notice {
    /// `app_name` and `support_contact` for this template.
    pub names: (String, Option<String>),
    /// Where users log in.
    pub login_url: Option<String>,
    /// Whether an administrator (rather than the user) changed the password.
    pub by_admin: bool,
    /// When the new (temporary) password expires, and the current time, if it does.
    pub expires: Option<(i64, Timestamp)>,
    /// A note from the administrator (`--note`), if any.
    pub note: Option<String>,
}

impl Notice {
    /// The template variables of the notice to `user`.
    pub fn vars(&self, user: &User) -> Vars {
        let (expires_at, expires_in) = self.expires.map_or((None, None), |(at, now)| {
            crate::delivery::expiry_vars(at, now)
        });
        Vars {
            user: UserVars::from(user),
            cancel_link: None,
            code: None,
            page_url: None,
            link: None,
            password: None,
            expires_at,
            expires_in,
            app_name: self.names.0.clone(),
            support_contact: self.names.1.clone(),
            login_url: self.login_url.clone(),
            by_admin: self.by_admin,
            note: self.note.clone(),
            new_email: None,
        }
    }
}

/// Send the notice about `user` to `to`. A template failure, or a name or address unfit for a
/// header ([`crate::delivery::header_safe`]), is reported as a local mail error: to the caller,
/// the notice simply was not sent.
pub fn send<S>(
    courier: &mut crate::delivery::Courier<'_, S>,
    notice: &Notice,
    user: &User,
    to: &Recipient,
) -> Result<Delivered, MailError> {
    send_template(courier, TEMPLATE, &notice.vars(user), user, to)
}

/// Send notice `template` about `user`, rendered with `vars`, to `to`, as [`send`] does.
pub fn send_template<S>(
    courier: &mut crate::delivery::Courier<'_, S>,
    template: &str,
    vars: &Vars,
    user: &User,
    to: &Recipient,
) -> Result<Delivered, MailError> {
    crate::delivery::header_safe(user).map_err(|refused| MailError::Local(refused.to_string()))?;
    let outgoing = courier
        .render(template, to, vars)
        .map_err(|err| MailError::Local(err.to_string()))?;
    courier.mailer.send(&outgoing)
}
