//! The mail's "this wasn't me" link carries a value of its own, accepted only on `P/cancel`:
//! with `/cancel` dropped it opens no password form, and the reset token does not cancel.

use nix::sys::signal::Signal;

use super::http::{Reply, Server, form};
use crate::support::{TestEnv, code, stderr, text_part};

/// The path and query of the mail's cancel link, e.g. `/reset-password/cancel?...`.
fn mailed_cancel_link(env: &TestEnv) -> String {
    env.link_for("alice");
    let text = text_part(env.outbox().last().expect("a mail"));
    let at = text.find("/reset-password/cancel?").expect("a cancel link");
    let end = text[at..]
        .find(char::is_whitespace)
        .map_or(text.len(), |n| at + n);
    text[at..end].to_string()
}

#[test]
fn a_mailed_cancel_link_without_cancel_opens_no_password_form() {
    let env = TestEnv::with_samples();
    let cancel = mailed_cancel_link(&env);
    let token = crate::support::token_in(env.outbox().last().expect("a mail"));
    assert!(!cancel.contains(&token), "the cancel link carries the token: {cancel}");
    let mut server = Server::start(&env, &[]);
    let stripped = cancel.replacen("/cancel", "", 1);
    let reply = server.get(&stripped, "");
    assert_ne!(reply.status, 303, "no session from a cancel link: {}", reply.body);
    assert!(!reply.body.contains("data-page=\"form\""), "{}", reply.body);
    let as_token = format!("/reset-password?token={}", &cancel[cancel.find('=').expect("=") + 1..]);
    let reply = server.get(&as_token, "");
    assert_eq!(reply.status, 410, "the cancel value is no token: {}", reply.body);
    let out = server.stop(Signal::SIGTERM);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        env.count("SELECT count(*) FROM reset_tokens WHERE used_at IS NULL AND revoked_at IS NULL"),
        1,
        "the link is still live"
    );
}

#[test]
fn the_mailed_cancel_link_cancels_and_the_reset_token_in_its_place_does_not() {
    let env = TestEnv::with_samples();
    let cancel = mailed_cancel_link(&env);
    let token = crate::support::token_in(env.outbox().last().expect("a mail"));
    let mut server = Server::start(&env, &[]);
    let query = &cancel[cancel.find('?').expect("a query")..];
    let name = &query[1..query.find('=').expect("=")];
    let forged = server.get(&format!("/reset-password/cancel?{name}={token}"), "");
    assert_eq!(forged.status, 410, "the token is no cancel value: {}", forged.body);
    let arrived = server.get(&cancel, "");
    assert_eq!(arrived.status, 303, "{}", arrived.body);
    assert_eq!(arrived.header("location"), Some("/reset-password/cancel"));
    let jar = arrived.cookie("pwreset_cancel");
    let page = server.get("/reset-password/cancel", &jar);
    assert!(page.body.contains("data-page=\"cancel\""), "{}", page.body);
    let body = form(&[("csrf", &page.csrf())]);
    let raw = format!("{}{body}", Server::post_head("/reset-password/cancel", &jar, &body, false));
    let done = Reply::parse(&server.request(&raw));
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("data-page=\"cancelled\""), "{}", done.body);
    let out = server.stop(Signal::SIGTERM);
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    assert!(!err.contains(&token), "{err}");
    assert_eq!(
        env.count("SELECT count(*) FROM reset_tokens WHERE revoked_reason = 'cancelled by the user'"),
        1
    );
}
