//! Several password changes in one `serve` run, each leaving its "password changed" notice in
//! `outbox/` (the file transport `init` sets up): the notices of one process never collide.

use std::collections::BTreeSet;
use std::path::PathBuf;

use nix::sys::signal::Signal;

use super::http::{Reply, Server, form};
use super::NEW_PASSWORD;
use crate::support::{TestEnv, code, stderr, token_in};

/// The `.eml` files in `outbox/`.
fn outbox_files(env: &TestEnv) -> BTreeSet<PathBuf> {
    std::fs::read_dir(env.path("outbox"))
        .map(|dir| dir.map(|e| e.expect("entry").path()).collect())
        .unwrap_or_default()
}

/// Send `user` a link and read its token from the one new mail.
fn token_for(env: &TestEnv, user: &str) -> String {
    let before = outbox_files(env);
    env.ok(&["send-link", user, "--force"]);
    let new: Vec<PathBuf> = outbox_files(env).difference(&before).cloned().collect();
    assert_eq!(new.len(), 1, "one new mail: {new:?}");
    token_in(&std::fs::read(&new[0]).expect("read the mail"))
}

/// Open the link carrying `token` and set [`NEW_PASSWORD`] through its form.
pub(crate) fn change_password(server: &mut Server, token: &str) {
    let arrived = server.get(&format!("/reset-password?token={token}"), "");
    assert_eq!(arrived.status, 303, "{}", arrived.body);
    let session = arrived.cookie("pwreset_session");
    let page = server.get("/reset-password", &session);
    assert_eq!(page.status, 200, "{}", page.body);
    let body = form(&[
        ("password", NEW_PASSWORD),
        ("confirm", NEW_PASSWORD),
        ("csrf", &page.csrf()),
    ]);
    let raw = format!(
        "{}{body}",
        Server::post_head("/reset-password", &session, &body, false)
    );
    let reply = Reply::parse(&server.request(&raw));
    assert_eq!(reply.status, 303, "{}", reply.body);
}

#[test]
fn several_password_changes_in_one_serve_run_each_leave_a_notice_in_the_outbox() {
    let env = TestEnv::with_samples();
    let users = ["erin", "frank", "grace", "heidi"];
    for user in users {
        env.ok(&["users", "add", &format!("{user}@example.com"), "--username", user]);
    }
    let tokens: Vec<String> = users.iter().map(|user| token_for(&env, user)).collect();
    let before = outbox_files(&env);
    let mut server = Server::start(&env, &[]);
    for token in &tokens {
        change_password(&mut server, token);
    }
    let out = server.stop(Signal::SIGTERM);
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    assert!(!err.contains("notice was not sent"), "{err}");
    let notices = outbox_files(&env).difference(&before).count();
    assert_eq!(notices, users.len(), "one notice per change:\n{err}");
}
