//! The email-changed notice: mailed to a user's old address after `users edit --email`, saying
//! that the address changed (the new one masked) and whom to contact. It carries no secret.
//! Rendering and sending only: whether to send, and to whom, is the caller's.

use crate::mail::{self, Delivered, MailError, Recipient};
use crate::notice::Notice;
use crate::templates::Vars;
use crate::user::User;

/// The template of the notice.
pub const TEMPLATE: &str = "email-changed";

/// The template variables of the notice to `user` (as they were before the edit, old address
/// included) about their new address `new_email`, which the notice shows masked only.
pub fn vars(notice: &Notice, user: &User, new_email: &str) -> Vars {
    let mut vars = notice.vars(user);
    vars.by_admin = true;
    vars.new_email = Some(mail::mask(new_email));
    vars
}

/// Send the notice about `user` (before the edit) to `to`, as [`crate::notice::send`] does.
pub fn send<S>(
    courier: &mut crate::delivery::Courier<'_, S>,
    notice: &Notice,
    user: &User,
    new_email: &str,
    to: &Recipient,
) -> Result<Delivered, MailError> {
    let vars = vars(notice, user, new_email);
    crate::notice::send_template(courier, TEMPLATE, &vars, user, to)
}
