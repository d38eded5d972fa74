//! Wrong codes in memory (WEB-6), those the store counts against a live link too: so that a
//! login that names nobody, or a user without a live link with a code (a user whose link
//! expired included), gets the same answers as a real user's link, whose tries the store
//! counts: "wrong" for the first tries, then "too many wrong codes" from the [`MAX_TRIES`]th
//! on. A known user is counted by user, whichever spelling of the login was typed (username,
//! email, any case); a login that names nobody by the login as typed, trimmed and lower-cased
//! (kept as its SHA-256, so a long login costs no more memory). These counts are only answers:
//! they never revoke a link, and the page does not consult them while the user has a live link
//! (the store's count answers then). Bounded in size and kept for [`KEEP`] (the longest a link
//! lives). Never holds a code.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::tokens::codes::MAX_TRIES;

/// How long a login's wrong tries are remembered: the longest a link can live (24 h).
pub const KEEP: Duration = Duration::from_secs(24 * 3600);
/// The most logins remembered; past that the oldest is forgotten.
const MAX_LOGINS: usize = 10_000;

/// Whose wrong tries are counted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// A known user, by id.
    User(i64),
    /// A login that names nobody: the SHA-256 of it trimmed and lower-cased, so an entry costs
    /// the same however long the typed login (up to the request's body limit) was.
    Login([u8; 32]),
}

impl Key {
    /// The key of a typed login that names nobody.
    pub fn login(typed: &str) -> Key {
        Key::Login(Sha256::digest(normalize(typed).as_bytes()).into())
    }
}

/// Wrong code tries per user or normalised login.
#[derive(Debug, Default)]
pub struct CodeTries(Mutex<HashMap<Key, (Instant, u32)>>);

impl CodeTries {
    /// Count a wrong try for `key`; returns whether it has now had [`MAX_TRIES`] or more.
    pub fn wrong(&self, key: Key, now: Instant) -> bool {
        self.add(key, now, 1) >= MAX_TRIES
    }

    /// Count `key` as having used up its tries (the store revoked the user's link).
    pub fn exhaust(&self, key: Key, now: Instant) {
        self.add(key, now, MAX_TRIES);
    }

    /// Add `n` tries for `key`; returns its count.
    fn add(&self, key: Key, now: Instant, n: u32) -> u32 {
        let mut tries = self.lock();
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
        entry.1 = entry.1.saturating_add(n);
        entry.1
    }

    /// Forget `key`'s tries (a right code was typed).
    pub fn forget(&self, key: &Key) {
        self.lock().remove(key);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, (Instant, u32)>> {
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
        let answers: Vec<bool> = (0..7)
            .map(|_| tries.wrong(Key::login(" Bob "), now))
            .collect();
        assert_eq!(answers, [false, false, false, false, true, true, true]);
        assert!(!tries.wrong(Key::login("carol"), now), "per login");
        assert!(
            tries.wrong(Key::login("BOB"), now),
            "trimmed and lower-cased"
        );
        tries.forget(&Key::login("bob"));
        assert!(
            !tries.wrong(Key::login("bob"), now),
            "forgotten after a right code"
        );
        assert!(
            !tries.wrong(Key::login("carol"), now + KEEP),
            "kept for KEEP only"
        );
        assert!(!tries.wrong(Key::User(7), now), "users apart from logins");
        tries.exhaust(Key::User(7), now);
        assert!(tries.wrong(Key::User(7), now), "used up with its link");
    }

    #[test]
    fn the_table_stays_bounded() {
        let tries = CodeTries::default();
        let now = Instant::now();
        for n in 0..=MAX_LOGINS {
            let key = Key::login(&format!("user{n}"));
            tries.wrong(key, now + Duration::from_millis(n as u64));
        }
        assert_eq!(tries.lock().len(), MAX_LOGINS);
        let oldest = Key::login("user0");
        assert!(!tries.lock().contains_key(&oldest), "the oldest went");
    }

    #[test]
    fn a_long_login_costs_an_entry_of_fixed_size() {
        let long = "x".repeat(16 * 1024);
        assert_eq!(
            Key::login(&long),
            Key::login(&format!(" {} ", long.to_uppercase()))
        );
        assert_ne!(Key::login(&long), Key::login(&long[1..]));
        assert_eq!(std::mem::size_of::<Key>(), std::mem::size_of::<[u8; 40]>());
    }
}
