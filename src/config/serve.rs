//! `[serve]`: the settings of `pwreset serve` (listening address, proxies, limits, branding)
//! and their checks at load. Pure parsing; it never binds a socket or reads the environment.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use super::Duration;

/// `[serve]`
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Address and port to listen on (`--bind` overrides). Default `127.0.0.1:8080`.
    pub bind: String,
    /// Reverse proxies whose `X-Forwarded-For` is believed: IPs or CIDRs. Default none.
    pub trusted_proxies: Vec<String>,
    /// One line per request on stderr (never a query string, cookie or form field). Default on.
    pub access_log: bool,
    /// Largest request body accepted, in bytes. Default 16384.
    pub max_body_bytes: usize,
    /// Longest a request may take once its headers are in. Default 30s.
    pub request_timeout: Duration,
    /// Longest a client may take to send its request headers. Default 10s.
    pub header_timeout: Duration,
    /// Failed token or code attempts allowed per client address per 15 minutes. Default 20.
    pub max_failures_per_client: u32,
    /// Connections served at once; further ones wait (unaccepted, in the listen backlog) for
    /// one to close. Default 512.
    pub max_connections: usize,
    /// Store connections `serve` keeps open at most (each request's store work waits, at most
    /// 10s, for one). Default: 2 per core, at least 4.
    pub store_connections: Option<usize>,
    /// An https URL of a logo shown on the pages (its origin is allowed by the CSP).
    pub logo_url: Option<String>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            bind: "127.0.0.1:8080".to_string(),
            trusted_proxies: Vec::new(),
            access_log: true,
            max_body_bytes: 16 * 1024,
            request_timeout: Duration::of(30),
            header_timeout: Duration::of(10),
            max_failures_per_client: 20,
            max_connections: 512,
            store_connections: None,
            logo_url: None,
        }
    }
}

/// An address range: an IP and a prefix length (a bare IP is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parse `10.0.0.0/8`, `::1` or `192.0.2.7`.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let bad = || {
            format!(
                "{} is not an IP address or CIDR range",
                crate::input::quoted(text)
            )
        };
        let (ip, prefix) = match text.split_once('/') {
            Some((ip, prefix)) => (ip, Some(prefix.parse::<u8>().map_err(|_| bad())?)),
            None => (text, None),
        };
        let net: IpAddr = ip.trim().parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr { net, prefix })
    }

    /// Whether `ip` lies in the range (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let bits = usize::from(prefix);
    let (whole, rest) = (bits / 8, bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xff_u8 << (8 - rest);
    a[whole] & mask == b[whole] & mask
}

/// `[serve]` in its parsed types.
#[derive(Debug, Clone)]
pub struct ParsedServe {
    /// `serve.bind`.
    pub bind: SocketAddr,
    /// `serve.trusted_proxies`.
    pub trusted_proxies: Vec<Cidr>,
    /// `serve.logo_url`.
    pub logo_url: Option<url::Url>,
}

impl ParsedServe {
    /// Whether the page looks published through a reverse proxy on this host whose
    /// `X-Forwarded-For` is not believed (WEB-5): `serve.bind` is a loopback address, no
    /// `serve.trusted_proxies` are set, and `links.base_url` names a host other than this one.
    /// Every visitor would then count as one client for the failure limit.
    pub fn untrusted_local_proxy_likely(&self, base_url: Option<&url::Url>) -> bool {
        let published = base_url
            .and_then(url::Url::host)
            .is_some_and(|host| match host {
                url::Host::Domain(name) => !name.eq_ignore_ascii_case("localhost"),
                url::Host::Ipv4(ip) => !ip.is_loopback(),
                url::Host::Ipv6(ip) => !ip.is_loopback(),
            });
        published && self.bind.ip().is_loopback() && self.trusted_proxies.is_empty()
    }
}

/// Check `[serve]`, returning its parsed values or the key at fault and why.
pub(super) fn check(serve: &ServeConfig) -> Result<ParsedServe, (&'static str, String)> {
    let bind = parse_bind(&serve.bind).map_err(|e| ("serve.bind", e))?;
    let trusted_proxies = serve
        .trusted_proxies
        .iter()
        .map(|text| Cidr::parse(text))
        .collect::<Result<_, _>>()
        .map_err(|e| ("serve.trusted_proxies", e))?;
    let logo_url = match &serve.logo_url {
        Some(text) => Some(check_logo(text).map_err(|e| ("serve.logo_url", e))?),
        None => None,
    };
    if !(1024..=1024 * 1024).contains(&serve.max_body_bytes) {
        return Err((
            "serve.max_body_bytes",
            "must be between 1024 and 1048576".into(),
        ));
    }
    for (key, value) in [
        ("serve.request_timeout", serve.request_timeout),
        ("serve.header_timeout", serve.header_timeout),
    ] {
        if value.secs() == 0 || value.secs() > 300 {
            return Err((key, "must be between 1s and 5m".into()));
        }
    }
    if serve.max_failures_per_client == 0 {
        return Err(("serve.max_failures_per_client", "must be at least 1".into()));
    }
    if !(1..=MAX_CONNECTIONS).contains(&serve.max_connections) {
        return Err((
            "serve.max_connections",
            format!("must be between 1 and {MAX_CONNECTIONS}"),
        ));
    }
    if serve
        .store_connections
        .is_some_and(|n| !(1..=MAX_STORE_CONNECTIONS).contains(&n))
    {
        return Err((
            "serve.store_connections",
            format!("must be between 1 and {MAX_STORE_CONNECTIONS}"),
        ));
    }
    Ok(ParsedServe {
        bind,
        trusted_proxies,
        logo_url,
    })
}

/// The highest `serve.max_connections` (each connection holds a file descriptor).
pub const MAX_CONNECTIONS: usize = 65_536;

/// The highest `serve.store_connections` (each is a database session, or an SQLite handle).
pub const MAX_STORE_CONNECTIONS: usize = 1024;

/// An address to listen on, like `127.0.0.1:8080` or `[::1]:8080`.
pub fn parse_bind(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!(
            "{} is not an address and port like 127.0.0.1:8080",
            crate::input::quoted(text)
        )
    })
}

/// The logo: an https URL without a user part.
fn check_logo(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if url.scheme() != "https" || url.host_str().is_none() {
        return Err(format!("{text:?} must be an https URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{text:?} must not contain a user name or password"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_matches_its_range_only() {
        let net = Cidr::parse("10.1.0.0/16").expect("cidr");
        assert!(net.contains("10.1.200.3".parse().expect("ip")));
        assert!(!net.contains("10.2.0.1".parse().expect("ip")));
        assert!(net.contains("::ffff:10.1.0.9".parse().expect("ip")));
        let one = Cidr::parse("::1").expect("ip");
        assert!(one.contains("::1".parse().expect("ip")));
        assert!(!one.contains("127.0.0.1".parse().expect("ip")));
        let odd = Cidr::parse("192.168.0.128/25").expect("cidr");
        assert!(odd.contains("192.168.0.200".parse().expect("ip")));
        assert!(!odd.contains("192.168.0.100".parse().expect("ip")));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("proxy.local").is_err());
    }

    #[test]
    fn serve_keys_are_checked() {
        let ok = ServeConfig::default();
        assert!(check(&ok).is_ok());
        let bad = |f: fn(&mut ServeConfig)| {
            let mut config = ServeConfig::default();
            f(&mut config);
            check(&config).expect_err("refused").0
        };
        assert_eq!(bad(|c| c.bind = "localhost".into()), "serve.bind");
        assert_eq!(
            bad(|c| c.trusted_proxies = vec!["x".into()]),
            "serve.trusted_proxies"
        );
        assert_eq!(
            bad(|c| c.logo_url = Some("http://a.example/l.png".into())),
            "serve.logo_url"
        );
        assert_eq!(bad(|c| c.max_body_bytes = 10), "serve.max_body_bytes");
        assert_eq!(
            bad(|c| c.header_timeout = Duration::of(0)),
            "serve.header_timeout"
        );
        assert_eq!(
            bad(|c| c.max_failures_per_client = 0),
            "serve.max_failures_per_client"
        );
        assert_eq!(bad(|c| c.max_connections = 0), "serve.max_connections");
        assert_eq!(
            bad(|c| c.store_connections = Some(0)),
            "serve.store_connections"
        );
        assert_eq!(
            bad(|c| c.max_connections = MAX_CONNECTIONS + 1),
            "serve.max_connections"
        );
    }
}
