//! The per-client failure count (WEB-5): failed token and code attempts per client key over a
//! fixed window, in tables of bounded size that cannot be made to block a newcomer from
//! elsewhere, nor to forget a client that used up its failures.
//!
//! When the table is full, the key whose last failure is the oldest among those not blocked is
//! forgotten to make room: an address that is not in the table has no failures, so a
//! first-time visitor is not refused however many addresses an attacker fails from, and a
//! blocked client stays blocked for its window. When every tracked key is blocked, a new
//! key's failures count under its network instead (IPv4 /24, IPv6 /48) in a second table of the
//! same size, so an attacker who owns more than [`MAX_TRACKED`] prefixes (one IPv6 /48 holds
//! 65,536 /64s) gets at most the limit again per network, never an unlimited count: cycling
//! through prefixes to have its own blocked entries forgotten no longer works. That second
//! table, once full of blocked networks too, forgets its oldest. A visitor carrying a live
//! link or a right code is let through whatever the tables say (`handlers::link`,
//! `handlers::code`). Memory: at most 2 x [`MAX_TRACKED`] keys, each in a hash map and an
//! ordered index: under 4 MB.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window failures are counted over.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// The most keys tracked; past that, the least recently failing one is forgotten.
const MAX_TRACKED: usize = 10_000;

/// One key's failures: since when they are counted, how many, and the latest.
#[derive(Debug, Clone, Copy)]
struct Count {
    start: Instant,
    n: u32,
    last: Instant,
}

/// The counts, and their keys in two indexes: those not blocked by latest failure (the oldest
/// first), and the blocked ones by the end of their window, so that making room never scans.
#[derive(Debug, Default)]
struct Table {
    counts: HashMap<IpAddr, Count>,
    by_last: BTreeSet<(Instant, IpAddr)>,
    blocked_until: BTreeSet<(Instant, IpAddr)>,
}

impl Table {
    /// Count a failure of `key` at `now`; when the table is full and `key` is new, forget the
    /// least recently failing key that is not blocked (under `max`) first, and when every key
    /// is blocked, count nothing and return false.
    fn fail(&mut self, key: IpAddr, now: Instant, max: u32) -> bool {
        let old = self.counts.get(&key).copied();
        if old.is_none() && self.counts.len() >= MAX_TRACKED && !self.forget_unblocked(now) {
            return false;
        }
        if let Some(old) = old {
            self.unindex(key, old, max);
        }
        let count = match old {
            Some(count) if now.saturating_duration_since(count.start) < WINDOW => Count {
                n: count.n.saturating_add(1),
                last: now.max(count.last),
                ..count
            },
            _ => Count {
                start: now,
                n: 1,
                last: now,
            },
        };
        if count.n >= max {
            self.blocked_until.insert((count.start + WINDOW, key));
        } else {
            self.by_last.insert((count.last, key));
        }
        self.counts.insert(key, count);
        true
    }

    /// Take `key`, counted as `count`, out of whichever index holds it.
    fn unindex(&mut self, key: IpAddr, count: Count, max: u32) {
        if count.n >= max {
            self.blocked_until.remove(&(count.start + WINDOW, key));
        } else {
            self.by_last.remove(&(count.last, key));
        }
    }

    /// Forget the keys whose block ended, else the least recently failing key that is not
    /// blocked; false when every key is blocked.
    fn forget_unblocked(&mut self, now: Instant) -> bool {
        while let Some(&(until, key)) = self.blocked_until.first() {
            if until > now {
                break;
            }
            self.blocked_until.pop_first();
            self.counts.remove(&key);
        }
        if self.counts.len() < MAX_TRACKED {
            return true;
        }
        self.by_last.pop_first().is_some_and(|(_, key)| {
            self.counts.remove(&key);
            true
        })
    }

    /// Forget the least recently failing key not blocked, else the blocked one whose window
    /// ends first.
    fn forget_oldest(&mut self) {
        let oldest = self.by_last.pop_first();
        if let Some((_, key)) = oldest.or_else(|| self.blocked_until.pop_first()) {
            self.counts.remove(&key);
        }
    }

    /// Whether `key` has `max` failures in its current window.
    fn blocked(&self, key: IpAddr, now: Instant, max: u32) -> bool {
        self.counts.get(&key).is_some_and(|count| {
            now.saturating_duration_since(count.start) < WINDOW && count.n >= max
        })
    }

    /// Keys tracked, checking that the indexes hold each exactly once.
    #[cfg(test)]
    fn len(&self) -> usize {
        let indexed = self.by_last.len() + self.blocked_until.len();
        assert_eq!(self.counts.len(), indexed, "the indexes match");
        self.counts.len()
    }
}

/// Failed attempts per client key in the current window.
#[derive(Debug)]
pub struct RateLimiter {
    max: u32,
    tables: Mutex<Tables>,
}

/// Clients by key, and by network for those that found the first table full of blocked keys.
#[derive(Debug, Default)]
struct Tables {
    clients: Table,
    networks: Table,
}

impl RateLimiter {
    /// A limiter allowing `max` failures per key per [`WINDOW`].
    pub fn new(max: u32) -> Self {
        RateLimiter {
            max,
            tables: Mutex::new(Tables::default()),
        }
    }

    /// Whether the address has used up its failures (an unknown client counts as one address;
    /// an address not in the table has none).
    pub fn blocked(&self, ip: Option<IpAddr>, now: Instant) -> bool {
        let tables = self.lock();
        tables.clients.blocked(key_of(ip), now, self.max)
            || tables.networks.blocked(network_of(ip), now, self.max)
    }

    /// Count a failure for the address (under its network when the clients' table is full of
    /// blocked keys).
    pub fn fail(&self, ip: Option<IpAddr>, now: Instant) {
        let tables = &mut *self.lock();
        if tables.clients.fail(key_of(ip), now, self.max) {
            return;
        }
        let network = network_of(ip);
        if !tables.networks.fail(network, now, self.max) {
            tables.networks.forget_oldest();
            tables.networks.fail(network, now, self.max);
        }
    }

    /// How many keys are tracked.
    #[cfg(test)]
    fn len(&self) -> usize {
        let tables = self.lock();
        tables.networks.len();
        tables.clients.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The key an address is counted under: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by its /64
/// (one subscriber's prefix, which hands out addresses freely), an unknown client as
/// `0.0.0.0`.
fn key_of(ip: Option<IpAddr>) -> IpAddr {
    match ip {
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Some(IpAddr::V4(v4)) => IpAddr::V4(v4),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

/// The network an address is counted under when the clients' table is full of blocked keys:
/// IPv4 by its /24, IPv6 by its /48 (one site's prefix), an unknown client as `0.0.0.0`.
fn network_of(ip: Option<IpAddr>) -> IpAddr {
    match key_of(ip) {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & 0xffff_ff00)),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 80) - 1))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn limiter_blocks_after_max_failures_in_the_window() {
        let limiter = RateLimiter::new(2);
        let (a, b) = (Some(ip("192.0.2.1")), Some(ip("192.0.2.2")));
        let now = Instant::now();
        limiter.fail(a, now);
        assert!(!limiter.blocked(a, now));
        limiter.fail(a, now);
        assert!(limiter.blocked(a, now));
        assert!(!limiter.blocked(b, now), "per address");
        assert!(!limiter.blocked(a, now + WINDOW), "the window passes");
    }

    #[test]
    fn a_full_table_still_blocks_a_new_address() {
        let limiter = RateLimiter::new(5);
        let now = Instant::now();
        for n in 0..u32::try_from(MAX_TRACKED).expect("fits") {
            limiter.fail(Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))), now);
        }
        let newcomer = Some(ip("203.0.113.1"));
        for _ in 0..1000 {
            limiter.fail(newcomer, now);
        }
        assert!(
            limiter.blocked(newcomer, now),
            "a newcomer to a full table is counted too"
        );
        assert!(
            !limiter.blocked(Some(ip("10.0.0.1")), now),
            "tracked addresses keep their own count"
        );
    }

    #[test]
    fn ipv6_addresses_count_per_64() {
        let limiter = RateLimiter::new(2);
        let now = Instant::now();
        limiter.fail(Some(ip("2001:db8:1:2::1")), now);
        limiter.fail(Some(ip("2001:db8:1:2:ffff::9")), now);
        assert!(
            limiter.blocked(Some(ip("2001:db8:1:2::77")), now),
            "same /64"
        );
        assert!(
            !limiter.blocked(Some(ip("2001:db8:1:3::1")), now),
            "another /64"
        );
        limiter.fail(Some(ip("::ffff:192.0.2.7")), now);
        limiter.fail(Some(ip("192.0.2.7")), now);
        assert!(
            limiter.blocked(Some(ip("192.0.2.7")), now),
            "mapped IPv4 is IPv4"
        );
    }

    /// The `n`th /64 of `2001:db8:1::/48`.
    fn in_one_48(n: u32) -> Option<IpAddr> {
        let base = u128::from(ip_v6("2001:db8:1::"));
        let v6 = Ipv6Addr::from(base | (u128::from(n) << 64) | 1);
        IpAddr::V6(v6).into()
    }

    fn ip_v6(text: &str) -> Ipv6Addr {
        text.parse().expect("ipv6")
    }

    #[test]
    fn one_ipv6_48_filling_the_table_never_blocks_a_first_time_visitor_from_elsewhere() {
        let limiter = RateLimiter::new(2);
        let start = Instant::now();
        let tracked = u32::try_from(MAX_TRACKED).expect("fits");
        for n in 0..2 * tracked {
            let now = start + Duration::from_micros(u64::from(n));
            limiter.fail(in_one_48(n), now);
            limiter.fail(in_one_48(n), now);
        }
        let now = start + Duration::from_secs(1);
        assert!(
            limiter.blocked(in_one_48(2 * tracked - 1), now),
            "the attacker's own /64"
        );
        for newcomer in ["203.0.113.1", "2001:db8:99::1", "198.51.100.1"] {
            assert!(
                !limiter.blocked(Some(ip(newcomer)), now),
                "{newcomer}: a first-time visitor from elsewhere is never blocked"
            );
        }
        assert!(
            limiter.blocked(Some(ip("2001:db8:1:ffff::1")), now),
            "the attacker's /48, counted as one network once the table is full of it"
        );
        let first_real_failure = Some(ip("203.0.113.1"));
        limiter.fail(first_real_failure, now);
        assert!(
            !limiter.blocked(first_real_failure, now),
            "one failure is not two"
        );
    }

    #[test]
    fn cycling_through_more_prefixes_than_the_table_holds_never_unblocks_a_client() {
        let limiter = RateLimiter::new(2);
        let start = Instant::now();
        let tracked = u32::try_from(MAX_TRACKED).expect("fits");
        for n in 0..=tracked {
            let now = start + Duration::from_micros(u64::from(n));
            limiter.fail(in_one_48(n), now);
            limiter.fail(in_one_48(n), now);
        }
        let now = start + Duration::from_secs(1);
        assert!(
            limiter.blocked(in_one_48(0), now),
            "the first /64 is still blocked after 10,001 others failed"
        );
        let mut allowed = 0;
        for round in 0..5 {
            for n in 0..=tracked {
                let at = now + Duration::from_micros(u64::from(round * (tracked + 1) + n));
                if !limiter.blocked(in_one_48(n), at) {
                    allowed += 1;
                }
                limiter.fail(in_one_48(n), at);
            }
        }
        assert_eq!(
            allowed, 0,
            "no guess gets past the limit by cycling prefixes"
        );
        assert_eq!(limiter.len(), MAX_TRACKED, "and the table stays bounded");
    }

    #[test]
    fn the_table_holds_at_most_max_tracked_keys() {
        let limiter = RateLimiter::new(3);
        let now = Instant::now();
        for n in 0..u32::try_from(MAX_TRACKED).expect("fits") + 5_000 {
            limiter.fail(Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))), now);
        }
        assert_eq!(limiter.len(), MAX_TRACKED);
    }

    #[test]
    fn a_client_that_keeps_failing_stays_blocked_while_others_churn_the_table() {
        let limiter = RateLimiter::new(3);
        let start = Instant::now();
        let guesser = Some(ip("198.51.100.7"));
        for n in 0..3 * u32::try_from(MAX_TRACKED).expect("fits") {
            let now = start + Duration::from_micros(u64::from(n));
            limiter.fail(Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))), now);
            if n % 1000 == 0 {
                limiter.fail(guesser, now);
            }
        }
        assert!(limiter.blocked(guesser, start + Duration::from_secs(1)));
    }
}
