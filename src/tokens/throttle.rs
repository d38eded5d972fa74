//! The redemption throttle (TOK-10): at most `max_failures_per_hour` failed redemptions per
//! user in the last hour. It counts only audit rows dated up to now whose MAC verifies under
//! the actor's audit key, so rows an application inserted (the audit log may be granted INSERT,
//! the key never is) or dated in the future can neither throttle a user nor move the time the
//! throttle lifts.

use jiff::Timestamp;

use super::{RedeemPolicy, TokenError};
use crate::audit::{self, Actor, Event, Outcome};
use crate::store::Store;
use crate::store::sql::Conn;
use crate::user::User;

/// The throttle window: failures are counted over the last hour.
const WINDOW_SECS: i64 = 3600;

/// The audit detail of a refused, throttled redemption.
const THROTTLED_DETAIL: &str = "throttled";

/// Refuse when `user` has had too many failed redemptions in the window, saying when the
/// oldest of the failures that hold the limit leaves it. A refusal is audited (`token.redeem`,
/// refused, "throttled") at most once per user per window, so a guessing attack shows in the
/// log without growing it without bound.
pub(super) fn throttle(
    store: &mut Store,
    user: &User,
    policy: RedeemPolicy<'_>,
    actor: &Actor,
    now: Timestamp,
) -> Result<(), TokenError> {
    let failures = recent(store.conn(), actor, user, Outcome::Failed, now)?;
    let Some(until) = lifts_at(&failures, policy.max_failures_per_hour, now.as_second()) else {
        return Ok(());
    };
    // Counted and written under the write lock: concurrent refusals add one row, not two.
    let tx = store.write()?;
    if recent(&tx, actor, user, Outcome::Refused, now)?.is_empty() {
        let event = Event::new("token.redeem", Outcome::Refused)
            .target(user)
            .detail(Some(THROTTLED_DETAIL.into()));
        audit::append(&tx, actor, now, &event)?;
    }
    tx.commit()?;
    Err(TokenError::Throttled { until })
}

/// The times of `user`'s signed `token.redeem` rows with `outcome` in the window, oldest first.
fn recent(
    conn: &Conn,
    actor: &Actor,
    user: &User,
    outcome: Outcome,
    now: Timestamp,
) -> Result<Vec<i64>, TokenError> {
    let about = Event::new("token.redeem", outcome).target(user);
    let now = now.as_second();
    Ok(audit::signed_times(
        conn,
        &actor.key,
        &about,
        now - WINDOW_SECS,
        now,
    )?)
}

/// When the throttle lifts, given the failures in the window (oldest first): `None` while they
/// are under `max`; else once all but `max - 1` of them have left the window.
fn lifts_at(failures: &[i64], max: u32, now: i64) -> Option<i64> {
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    let over = failures.len().checked_sub(max)?;
    Some(failures.get(over).map_or(now, |at| *at) + WINDOW_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throttle_lifts_when_the_oldest_failure_over_the_limit_leaves_the_window() {
        assert_eq!(lifts_at(&[10, 20], 3, 30), None);
        assert_eq!(lifts_at(&[10, 20, 25], 3, 30), Some(10 + WINDOW_SECS));
        assert_eq!(lifts_at(&[10, 20, 25, 28], 3, 30), Some(20 + WINDOW_SECS));
        assert_eq!(lifts_at(&[], 0, 30), Some(30 + WINDOW_SECS));
    }
}
