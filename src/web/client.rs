//! Who the client is and how many failures it has had (WEB-5): the client address, believing
//! `X-Forwarded-For` only from `serve.trusted_proxies`, and (in [`limiter`]) a bounded
//! in-memory count of failed token and code attempts per address over a fixed 15-minute window.

mod limiter;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::http::HeaderMap;

use crate::config::Cidr;

pub use limiter::{RateLimiter, WINDOW};

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

/// Whether a request looks forwarded by a proxy on this host that is not trusted: the peer is
/// a loopback address outside `trusted`, and the request carries `X-Forwarded-For` or
/// `Forwarded`. Then every visitor counts as that one address (WEB-5), which is worth a
/// warning: see [`proxy_warning`].
pub fn untrusted_local_proxy(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[Cidr]) -> bool {
    let Some(peer) = peer else {
        return false;
    };
    let forwarded = headers.contains_key("x-forwarded-for") || headers.contains_key("forwarded");
    forwarded && peer.is_loopback() && !trusted.iter().any(|net| net.contains(peer))
}

/// The one-line warning for [`untrusted_local_proxy`]: what is likely and what to set.
pub fn proxy_warning(peer: IpAddr) -> String {
    format!(
        "warning: requests from {peer} carry X-Forwarded-For or Forwarded, but \
         serve.trusted_proxies does not list {peer}: every visitor behind that proxy counts as \
         one client for serve.max_failures_per_client; set serve.trusted_proxies = [\"{peer}\"]"
    )
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
}
