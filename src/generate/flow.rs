//! The temporary password as [`delivery::settle`] drives it: nothing is written before the
//! mail; after it, the hash is set (or not), and either way one `temp_passwords` row records
//! where the password stands (sent or shown, or never set and why, with the mail server's
//! reply), in the same transaction. SQL lives in `store`; nothing here prints.

use std::fmt::Write as _;

use crate::store::sql::Conn;

use super::{GenerateError, GenerateFailure, GenerateRequest, Handover};
use crate::delivery::{self, DeliveryError, Ending, Job, Refusal, Undone};
use crate::mail::{self, Delivered, Recipient};
use crate::store::bulk::Produced;
use crate::store::temp_passwords::{self as rows, NewTempPassword};
use crate::store::tokens as tokens_sql;
use crate::store::users::{self as users_sql, PasswordChange};
use crate::timefmt;

/// The temporary password as [`delivery::settle`] drives it.
pub(super) struct GenerateFlow<'a> {
    pub(super) request: &'a GenerateRequest<'a>,
    pub(super) hash: &'a str,
    pub(super) expires_at: i64,
}

impl GenerateFlow<'_> {
    /// Record the password's row: sent (with the reply) or shown, or never set (`failure`).
    fn record(
        &self,
        tx: &Conn,
        job: &Job<'_>,
        delivered: Option<&Delivered>,
        failure: Option<(&str, Option<String>)>,
    ) -> Result<Produced, GenerateError> {
        let now = job.now.as_second();
        let (failure, failed_reply) =
            failure.map_or((None, None), |(why, reply)| (Some(why), reply));
        let handover = match self.request.handover {
            Handover::Email(_) => rows::Handover::Email,
            Handover::Show { .. } => rows::Handover::Shown,
        };
        let reply = delivered.map(|d| d.detail.clone()).or(failed_reply);
        let row = NewTempPassword {
            user_id: self.request.user.id,
            created_at: now,
            expires_at: self.expires_at,
            handover,
            recipient: self.request.handover.email_to().map(Recipient::as_str),
            run_id: job.bulk.map(|(run, _)| run),
            sent_at: delivered.map(|_| now),
            mail_reply: reply.as_deref(),
            failure,
        };
        Ok(Produced::TempPassword(rows::insert(tx, &row)?))
    }
}

impl delivery::Flow for GenerateFlow<'_> {
    type Error = GenerateFailure;
    type Staged = ();
    type Sent = Option<Delivered>;
    type Done = Option<Delivered>;

    /// Set the hash and revoke outstanding links, unless the user was deactivated (or their
    /// email changed) while the mail was on its way: then the new password is not set.
    fn commit(
        &self,
        tx: &Conn,
        job: &Job<'_>,
        (): (),
        emailed: Option<Delivered>,
        current: bool,
    ) -> Result<Ending<Option<Delivered>, GenerateFailure>, GenerateError> {
        let (request, user, now) = (self.request, self.request.user, job.now.as_second());
        if !current {
            let refusal = Refusal::Inactive(user.username.clone());
            let detail = format!(
                "not changed: {refusal} (deactivated, or the email changed, while the mail was being sent)"
            );
            let produced = self.record(tx, job, emailed.as_ref(), Some((&detail, None)))?;
            return Ok(Ending {
                reason: Some(detail.clone()),
                detail,
                expires_at: None,
                produced,
                result: Err(refusal.into()),
            });
        }
        let change = PasswordChange {
            hash: self.hash,
            must_change: request.force_change,
            temp_expires_at: Some(self.expires_at),
        };
        // Revoke before the change: the store's trigger would revoke them too, uncounted.
        let revoked =
            tokens_sql::revoke_outstanding(tx, user.id, now, "password reset by administrator")?;
        users_sql::set_password(tx, user.id, &change, now)?;
        let produced = self.record(tx, job, emailed.as_ref(), None)?;
        let mut detail = match request.handover.email_to() {
            Some(to) => format!("emailed to {}", mail::mask(to.as_str())),
            None => "shown to the operator".to_string(),
        };
        let _ = write!(
            detail,
            ", temporary until {}",
            timefmt::rfc3339(self.expires_at)
        );
        if !request.force_change {
            detail.push_str(", no forced change");
        }
        if revoked > 0 {
            let _ = write!(detail, ", revoked {revoked} reset links");
        }
        Ok(Ending {
            detail,
            reason: None,
            expires_at: Some(self.expires_at),
            produced,
            result: Ok(emailed),
        })
    }

    /// Nothing was written but the row saying the password was never set, and why.
    fn undo(
        &self,
        tx: &Conn,
        job: &Job<'_>,
        (): (),
        err: GenerateError,
    ) -> Result<Undone<GenerateFailure>, GenerateError> {
        let detail = format!("not changed: {err}");
        let reply = match &err {
            DeliveryError::Mail(mail) => Some(mail.reply()),
            _ => None,
        };
        let produced = self.record(tx, job, None, Some((&detail, reply)))?;
        Ok(Undone {
            reason: detail.clone(),
            detail,
            produced,
            err,
        })
    }
}
