//! The link flow in a real browser: open the mailed link, refuse a short password with the
//! reason next to the field, accept a good one, then the link is dead; an expired link; mail
//! scanners' prefetches leaving the link usable. Keyed on the HTML contract, not on wording.

use argon2::password_hash::PasswordVerifier;

use crate::support::{TestEnv, json};

use super::harness::{Browser, DESKTOP};
use super::scene::Scene;
use super::serve::{PATH, Serving, Site, scanner_request};

/// A password the policy accepts.
pub const GOOD_PASSWORD: &str = "correct-horse-battery-staple-42";

/// Type `password` twice on the form and submit it.
pub fn submit_password(browser: &Browser, password: &str) {
    browser.fill("#password", password);
    browser.fill("#confirm", password);
    browser.click_and_wait("#submit");
}

/// Set a good password on the form and check the done page and the store.
pub fn set_good_password(browser: &Browser, env: &TestEnv, user: &str) {
    assert_eq!(browser.page(), "form");
    submit_password(browser, GOOD_PASSWORD);
    assert_eq!(
        browser.page(),
        "done",
        "a good password leads to the done page"
    );
    assert!(
        password_verifies(env, user, GOOD_PASSWORD),
        "the stored hash verifies the new password"
    );
}

/// Whether the user's stored argon2 hash verifies `password` (argon2 itself, not pwreset).
pub fn password_verifies(env: &TestEnv, user: &str, password: &str) -> bool {
    let hash: Option<String> = env.db().query_one(
        "SELECT password_hash FROM users WHERE username = ?1",
        &pwreset::vals![user],
        |r| r.get(0),
    );
    hash.is_some_and(|phc| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), phc.as_str())
            .is_ok()
    })
}

/// How many of the user's links were used.
pub fn used_links(env: &TestEnv) -> i64 {
    env.count("SELECT count(*) FROM reset_tokens WHERE used_at IS NOT NULL")
}

/// The address bar holds the bare page, without the token.
fn assert_token_gone_from_url(browser: &Browser, site: &Site) {
    let url = browser.url();
    assert!(
        !url.contains("token="),
        "the token left the address bar: {url}"
    );
    assert_eq!(url, site.url(""), "redirected to the bare path");
}

/// The form's fields as the contract names them (password managers and assistive tech key on
/// these).
fn assert_form_contract(browser: &Browser, user: &str) {
    assert_eq!(
        browser
            .attr("input[name=username]", "autocomplete")
            .as_deref(),
        Some("username")
    );
    assert_eq!(
        browser.attr("input[name=username]", "value").as_deref(),
        Some(user)
    );
    for id in ["#password", "#confirm"] {
        assert_eq!(browser.attr(id, "type").as_deref(), Some("password"));
        assert_eq!(
            browser.attr(id, "autocomplete").as_deref(),
            Some("new-password")
        );
    }
    assert!(browser.visible("#policy"), "the policy is shown");
    assert!(
        !browser.visible("input[name=username]"),
        "the username field is hidden"
    );
    assert!(browser.visible("#password"), "the password field is shown");
    assert_eq!(browser.count("h1#title"), 1);
    assert_eq!(
        browser.attr("form[method=post]", "action").as_deref(),
        Some(PATH)
    );
}

/// A too-short password: the form again, the reason next to the field, nothing consumed.
fn assert_short_password_refused(browser: &Browser, env: &TestEnv) {
    submit_password(browser, "short");
    assert_eq!(
        browser.page(),
        "form",
        "a refused password re-renders the form"
    );
    assert!(browser.visible("#password-error"), "the reason is shown");
    assert_eq!(
        browser.attr("#password-error", "role").as_deref(),
        Some("alert")
    );
    let described = browser
        .attr("#password", "aria-describedby")
        .unwrap_or_default();
    assert!(
        described.contains("password-error"),
        "the field names its error: {described}"
    );
    assert_eq!(used_links(env), 0, "a refused password consumes nothing");
}

/// SIGTERM stops serve with exit 0; its access log shows the requests but never the token
/// nor the password.
fn assert_stopped_with_a_clean_log(serving: Serving, link: &str) {
    let (status, stderr) = serving.stop();
    assert_eq!(
        status.code(),
        Some(0),
        "serve stops cleanly on SIGTERM:\n{stderr}"
    );
    let token = &link[link.find("token=").expect("a token") + 6..];
    assert!(
        !stderr.contains(token),
        "the token is not in the access log"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("POST") && l.contains(PATH) && l.contains("422")),
        "the refused POST has its access-log line:\n{stderr}"
    );
    assert!(
        !stderr.contains(GOOD_PASSWORD),
        "the password is not in the log"
    );
}

#[test]
fn the_link_opens_the_form_refuses_a_short_password_accepts_a_good_one_then_is_dead() {
    let Some(scene) = Scene::start(DESKTOP) else {
        return;
    };
    let Scene {
        browser,
        serving,
        mail,
        site,
    } = scene;
    let browser = &browser;

    browser.goto(&mail.link);
    assert_token_gone_from_url(browser, &site);
    assert_eq!(browser.page(), "form");
    assert_form_contract(browser, "alice");

    assert_short_password_refused(browser, &site.env);
    browser.screenshot("error");

    set_good_password(browser, &site.env, "alice");
    browser.screenshot("done");
    assert_eq!(used_links(&site.env), 1, "the link is used");
    assert_eq!(
        site.env
            .count("SELECT count(*) FROM audit_log WHERE action = 'token.redeem'"),
        1
    );

    browser.goto(&mail.link);
    assert_eq!(browser.page(), "gone", "a used link opens the gone page");

    assert_stopped_with_a_clean_log(serving, &mail.link);
}

#[test]
fn an_expired_link_opens_the_gone_page() {
    let Some(scene) = Scene::start_at(DESKTOP, "2026-11-22T12:00:00Z") else {
        return;
    };
    let (browser, mail) = (&scene.browser, &scene.mail);
    browser.goto(&mail.link);
    assert_eq!(browser.page(), "gone", "a link past its hour is gone");
    assert_eq!(browser.count("form[method=post]"), 0, "no form to fill");
    browser.screenshot("expired");
}

#[test]
fn scanner_prefetches_and_a_page_load_that_submits_nothing_leave_the_link_usable() {
    let Some(scene) = Scene::start(DESKTOP) else {
        return;
    };
    let (browser, mail, site) = (&scene.browser, &scene.mail, &scene.site);
    let path_and_query = &mail.link[mail.link.find(PATH).expect("the page's path")..];
    assert_eq!(scanner_request(site.port(), "GET", path_and_query), 303);
    assert_eq!(scanner_request(site.port(), "HEAD", path_and_query), 303);

    // A scanner that runs the page's JavaScript: it loads the form and submits nothing.
    browser.goto(&mail.link);
    assert_eq!(browser.page(), "form");
    browser.clear_cookies();
    assert_eq!(used_links(&site.env), 0, "no open consumed the link");

    let listed = json(&site.env.ok(&["tokens", "list", "--format", "json"]));
    let opens = listed[0]["opens"]
        .as_i64()
        .expect("tokens list shows opens");
    assert!(
        opens >= 3,
        "GET, HEAD and the page load are counted: {listed}"
    );

    // The user, later, in a browser of their own.
    browser.goto(&mail.link);
    set_good_password(browser, &site.env, "alice");
    assert_eq!(used_links(&site.env), 1);
}
