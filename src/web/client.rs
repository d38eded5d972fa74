//! Who the client is and how many failures it has had (WEB-5): the client address, believing
//! `X-Forwarded-For` only from `serve.trusted_proxies`, and a bounded in-memory count of failed
//! token and code attempts per address over a fixed 15-minute window.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

use crate::config::Cidr;

/// The window failures are counted over.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// The most addresses tracked; past that, new addresses share one count.
const MAX_TRACKED: usize = 10_000;
/// The key new addresses share once [`MAX_TRACKED`] addresses are tracked.
const OVERFLOW: IpAddr = IpAddr::V4(Ipv4Addr::BROADCAST);

/// The client's address: the peer, or, when the peer is a trusted proxy, the address found by
/// walking `X-Forwarded-For` from the right past trusted proxies: the first untrusted one.
/// An entry that does not parse ends the walk (what lies left of it is not believed): the
/// last good address walked is used then, or the peer if there was none.
pub fn address(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[Cidr]) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let lines: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|value| value.to_str().unwrap_or(""))
        .collect();
    let mut client = peer;
    for part in lines.iter().rev().flat_map(|line| line.rsplit(',')) {
        let Some(ip) = forwarded_ip(part) else {
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    Some(client)
}

/// One `X-Forwarded-For` entry: `ip`, `ipv4:port`, `[ipv6]` or `[ipv6]:port`.
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
        .or_else(|| {
            let inner = entry.strip_prefix('[')?.strip_suffix(']')?;
            inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
        })
}

/// Failed attempts per client address in the current window.
#[derive(Debug)]
pub struct RateLimiter {
    max: u32,
    counts: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl RateLimiter {
    /// A limiter allowing `max` failures per address per [`WINDOW`].
    pub fn new(max: u32) -> Self {
        RateLimiter {
            max,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the address has used up its failures (an unknown client counts as one address).
    /// An address that is not tracked while the table is full is judged by the shared
    /// overflow count, where [`RateLimiter::fail`] counted it.
    pub fn blocked(&self, ip: Option<IpAddr>, now: Instant) -> bool {
        let key = key_of(ip);
        let counts = self.lock();
        let entry = match counts.get(&key) {
            Some(entry) => Some(entry),
            None if counts.len() >= MAX_TRACKED => counts.get(&OVERFLOW),
            None => None,
        };
        entry.is_some_and(|(start, n)| now.duration_since(*start) < WINDOW && *n >= self.max)
    }

    /// Count a failure for the address (or, when the table is full of live counts, for the
    /// shared overflow count).
    pub fn fail(&self, ip: Option<IpAddr>, now: Instant) {
        let mut key = key_of(ip);
        let mut counts = self.lock();
        if counts.len() >= MAX_TRACKED && !counts.contains_key(&key) {
            counts.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
            if counts.len() >= MAX_TRACKED {
                key = OVERFLOW;
            }
        }
        let entry = counts.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, (Instant, u32)>> {
        self.counts
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    fn xff(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().expect("header"));
        headers
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = [Cidr::parse("10.0.0.0/8").expect("cidr")];
        let headers = xff("203.0.113.9, 198.51.100.4, 10.0.0.2");
        assert_eq!(
            address(Some(ip("10.0.0.1")), &headers, &trusted),
            Some(ip("198.51.100.4")),
            "the right-most untrusted address"
        );
        assert_eq!(
            address(Some(ip("192.0.2.1")), &headers, &trusted),
            Some(ip("192.0.2.1")),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(
            address(Some(ip("10.0.0.1")), &xff("junk"), &trusted),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(
            address(Some(ip("10.0.0.1")), &HeaderMap::new(), &trusted),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn forwarded_for_stops_at_the_first_bad_entry_from_the_right() {
        let trusted = [Cidr::parse("10.0.0.0/8").expect("cidr")];
        let proxy = Some(ip("10.0.0.1"));
        assert_eq!(
            address(proxy, &xff("junk, 198.51.100.4, 10.0.0.2"), &trusted),
            Some(ip("198.51.100.4")),
            "junk on the left is never reached"
        );
        assert_eq!(
            address(proxy, &xff("198.51.100.4, junk, 10.0.0.2"), &trusted),
            Some(ip("10.0.0.2")),
            "the last good address before the junk"
        );
        assert_eq!(
            address(proxy, &xff("198.51.100.4, 10.0.0.2, junk"), &trusted),
            proxy,
            "junk at once: the peer"
        );
        assert_eq!(
            address(proxy, &xff("10.0.0.3, 10.0.0.2"), &trusted),
            Some(ip("10.0.0.3")),
            "all trusted: the left-most"
        );
    }

    #[test]
    fn forwarded_for_accepts_ports_and_brackets() {
        let trusted = [Cidr::parse("10.0.0.0/8").expect("cidr")];
        let proxy = Some(ip("10.0.0.1"));
        for (entry, want) in [
            ("198.51.100.4:5123", "198.51.100.4"),
            ("[2001:db8::7]:443", "2001:db8::7"),
            ("[2001:db8::8]", "2001:db8::8"),
            ("2001:db8::9", "2001:db8::9"),
        ] {
            let headers = xff(&format!("{entry}, 10.0.0.2:80"));
            assert_eq!(
                address(proxy, &headers, &trusted),
                Some(ip(want)),
                "{entry}"
            );
        }
        let mut two = xff("198.51.100.1");
        two.append("x-forwarded-for", "198.51.100.2".parse().expect("header"));
        assert_eq!(
            address(proxy, &two, &trusted),
            Some(ip("198.51.100.2")),
            "the last header line is the right-most"
        );
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
            "counted under the overflow key"
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
}
