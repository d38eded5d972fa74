//! Behind a reverse proxy on the same host: `X-Forwarded-For` from an untrusted loopback peer
//! is warned about once per run, and `config check` warns about a page published elsewhere but
//! served on loopback with no `serve.trusted_proxies`.

use nix::sys::signal::Signal;

use super::http::{Server, append_config};
use crate::support::{TestEnv, code, stderr};

const WARNING: &str = "serve.trusted_proxies";

#[test]
fn forwarded_for_from_an_untrusted_loopback_proxy_is_warned_about_once() {
    let env = TestEnv::with_samples();
    let mut server = Server::start(&env, &[]);
    for forwarded in ["X-Forwarded-For: 203.0.113.7", "Forwarded: for=203.0.113.8"] {
        for _ in 0..2 {
            let reply = server.request(&format!(
                "GET /reset-password HTTP/1.1\r\nHost: x\r\n{forwarded}\r\nConnection: close\r\n\r\n"
            ));
            assert!(reply.starts_with("HTTP/1.1 "), "{reply}");
        }
    }
    let out = server.stop(Signal::SIGTERM);
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains(WARNING)).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(warnings[0].starts_with("warning: "), "{err}");
    assert!(warnings[0].contains("127.0.0.1"), "names what to set: {err}");
}

#[test]
fn a_trusted_proxy_or_no_forwarding_gets_no_warning() {
    let env = TestEnv::with_samples();
    append_config(&env, "\n[serve]\ntrusted_proxies = [\"127.0.0.1\"]\n");
    let mut server = Server::start(&env, &[]);
    server.request(
        "GET /reset-password HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7\r\nConnection: close\r\n\r\n",
    );
    let out = server.stop(Signal::SIGTERM);
    assert!(!stderr(&out).contains(WARNING), "{}", stderr(&out));
}

#[test]
fn config_check_warns_when_a_published_page_is_served_on_loopback_without_trusted_proxies() {
    let env = TestEnv::with_samples();
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    let published = config.replace(
        "http://localhost:8080/reset-password",
        "https://example.com/reset-password",
    );
    assert_ne!(config, published, "the sample config names the quick start's base_url");
    env.write("pwreset.toml", &published);
    let out = crate::support::finish(env.spawn(&["config", "check"]));
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "a warning, not a problem: {err}");
    let warning = err
        .lines()
        .find(|l| l.contains(WARNING))
        .unwrap_or_else(|| panic!("no warning: {err}"));
    assert!(warning.starts_with("warning: "), "{err}");
    assert!(warning.contains("127.0.0.1"), "{err}");
    append_config(&env, "\n[serve]\ntrusted_proxies = [\"127.0.0.1\", \"::1\"]\n");
    let out = crate::support::finish(env.spawn(&["config", "check"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stderr(&out).contains(WARNING), "{}", stderr(&out));
}
