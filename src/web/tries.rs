//! Wrong codes per typed login, in memory (WEB-6): so that a login that names nobody, or a user
//! without a live link with a code, gets the same answers as a real user's link, whose tries
//! the store counts: "wrong" for the first tries, then "too many wrong codes" from the
//! [`MAX_TRIES`]th on. Keyed by the login as typed, trimmed and lower-cased; bounded in size and
//! kept for [`KEEP`] (the longest a link lives). Never holds a code.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::tokens::codes::MAX_TRIES;

/// How long a login's wrong tries are remembered: the longest a link can live (24 h).
pub const KEEP: Duration = Duration::from_secs(24 * 3600);
/// The most logins remembered; past that the oldest is forgotten.
const MAX_LOGINS: usize = 10_000;

/// Wrong code tries per normalised login.
#[derive(Debug, Default)]
pub struct CodeTries(Mutex<HashMap<String, (Instant, u32)>>);

impl CodeTries {
    /// Count a wrong try for `login`; returns whether it has now had [`MAX_TRIES`] or more.
    pub fn wrong(&self, login: &str, now: Instant) -> bool {
        let mut tries = self.lock();
        let key = normalize(login);
        if tries.len() >= MAX_LOGINS && !tries.contains_key(&key) {
            tries.retain(|_, (start, _)| now.duration_since(*start) < KEEP);
            if tries.len() >= MAX_LOGINS {
                let oldest = tries.iter().min_by_key(|(_, (start, _))| *start);
                if let Some(oldest) = oldest.map(|(login, _)| login.clone()) {
                    tries.remove(&oldest);
                }
            }
        }
        let entry = tries.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= KEEP {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1 >= MAX_TRIES
    }

    /// Forget `login`'s tries (a right code was typed).
    pub fn forget(&self, login: &str) {
        self.lock().remove(&normalize(login));
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, (Instant, u32)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The key of a login: trimmed and lower-cased.
fn normalize(login: &str) -> String {
    login.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fifth_wrong_try_and_later_are_too_many_per_login() {
        let tries = CodeTries::default();
        let now = Instant::now();
        let answers: Vec<bool> = (0..7).map(|_| tries.wrong(" Bob ", now)).collect();
        assert_eq!(answers, [false, false, false, false, true, true, true]);
        assert!(!tries.wrong("carol", now), "per login");
        assert!(tries.wrong("BOB", now), "trimmed and lower-cased");
        tries.forget("bob");
        assert!(!tries.wrong("bob", now), "forgotten after a right code");
        assert!(!tries.wrong("carol", now + KEEP), "kept for KEEP only");
    }

    #[test]
    fn the_table_stays_bounded() {
        let tries = CodeTries::default();
        let now = Instant::now();
        for n in 0..=MAX_LOGINS {
            tries.wrong(&format!("user{n}"), now + Duration::from_millis(n as u64));
        }
        assert_eq!(tries.lock().len(), MAX_LOGINS);
        assert!(!tries.lock().contains_key("user0"), "the oldest went");
    }
}
