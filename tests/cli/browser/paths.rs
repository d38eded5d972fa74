//! The other ways through the page in a real browser: the one-time code instead of the link,
//! "this wasn't me", a cross-site POST from another site refused, and the form on a phone.
//! Keyed on the HTML contract (`data-page`, ids), not on wording.

use super::flows::{set_good_password, used_links};
use super::harness::{DESKTOP, PHONE};
use super::scene::Scene;
use super::serve::Site;
use super::site::StaticSite;

#[test]
fn the_code_from_the_mail_opens_the_form_on_the_bare_page() {
    let Some(scene) = Scene::start(DESKTOP) else {
        return;
    };
    let (browser, site) = (&scene.browser, &scene.site);
    let code = scene
        .mail
        .code
        .as_deref()
        .expect("the link mail carries a code");
    browser.goto(&site.url(""));
    assert_eq!(browser.page(), "code", "the bare path asks for a code");
    assert_eq!(focused(browser), "login", "focus starts on the first field");
    assert_eq!(
        browser.attr("#code", "autocomplete").as_deref(),
        Some("one-time-code")
    );
    assert_eq!(
        browser.attr("#login", "autocomplete").as_deref(),
        Some("username")
    );
    browser.fill("#login", "alice@example.com");
    browser.fill("#code", &code.to_lowercase());
    browser.click_and_wait("#submit");
    set_good_password(browser, &site.env, "alice");
    assert_eq!(used_links(&site.env), 1, "the code's link is used");
}

#[test]
fn this_wasnt_me_cancels_the_link_with_one_post_and_audits_it() {
    let Some(scene) = Scene::start(DESKTOP) else {
        return;
    };
    let (browser, mail, site) = (&scene.browser, &scene.mail, &scene.site);
    browser.goto(&mail.cancel);
    assert!(
        !browser.url().contains("token="),
        "the token left the address bar"
    );
    assert_eq!(browser.page(), "cancel");
    assert_eq!(
        site.env
            .count("SELECT count(*) FROM reset_tokens WHERE revoked_at IS NULL"),
        1,
        "opening the cancel link cancels nothing"
    );
    browser.click_and_wait("#cancel");
    assert_eq!(browser.page(), "cancelled");
    assert_eq!(
        site.env
            .count("SELECT count(*) FROM audit_log WHERE action = 'token.cancel'"),
        1
    );
    browser.goto(&mail.link);
    assert_eq!(browser.page(), "gone", "the cancelled link no longer works");
    assert_eq!(used_links(&site.env), 0);
}

/// An attacker's page: a form that posts a password of its choosing to the reset page.
fn attacker_page(target: &str) -> String {
    format!(
        "<!doctype html><html><body data-page=\"attacker\"><main>\
         <form method=\"post\" action=\"{target}\">\
         <input type=\"hidden\" name=\"password\" value=\"attacker-chose-this-1\">\
         <input type=\"hidden\" name=\"confirm\" value=\"attacker-chose-this-1\">\
         <input type=\"hidden\" name=\"csrf\" value=\"0000\">\
         <button type=\"submit\" id=\"attack\">Win a prize</button></form></main></body></html>"
    )
}

#[test]
fn a_post_from_another_site_is_forbidden_and_consumes_nothing() {
    let Some(scene) = Scene::start(DESKTOP) else {
        return;
    };
    let (browser, mail, site) = (&scene.browser, &scene.mail, &scene.site);
    let attacker = StaticSite::serve(&attacker_page(&site.url("")));
    // The victim opened the link: this browser holds the page's cookie.
    browser.goto(&mail.link);
    assert_eq!(browser.page(), "form");
    let hash_before = alice_hash(site);

    // `localhost` is another site than `127.0.0.1`: the browser says `cross-site`.
    browser.goto(&format!("http://localhost:{}/", attacker.port()));
    assert_eq!(browser.page(), "attacker");
    browser.click_and_wait("#attack");
    assert_eq!(browser.page(), "forbidden");
    assert_eq!(used_links(&site.env), 0, "nothing consumed");
    assert_eq!(
        site.env
            .count("SELECT count(*) FROM reset_tokens WHERE revoked_at IS NULL"),
        1,
        "the link is still live"
    );
    assert_eq!(alice_hash(site), hash_before, "the password is unchanged");
}

fn alice_hash(site: &Site) -> Option<String> {
    site.env.db().query_one(
        "SELECT password_hash FROM users WHERE username = 'alice'",
        &[],
        |r| r.get(0),
    )
}

#[test]
fn the_form_fits_a_phone_screen() {
    let Some(scene) = Scene::start(PHONE) else {
        return;
    };
    let (browser, mail) = (&scene.browser, &scene.mail);
    browser.goto(&mail.link);
    assert_eq!(browser.page(), "form");
    assert!(browser.fits_width(), "no sideways scrolling on a phone");
    assert_eq!(
        browser.bounded(
            "read the viewport width",
            browser
                .client()
                .execute("return window.innerWidth", Vec::new())
        ),
        390,
        "a phone's width"
    );
    for id in ["#password", "#confirm", "#submit"] {
        assert!(browser.visible(id), "{id} is shown");
    }
    assert_eq!(
        focused(browser),
        "password",
        "focus starts on the first field"
    );
    browser.screenshot("form");
}

/// The id of the element that has the keyboard focus.
fn focused(browser: &super::harness::Browser) -> String {
    let id = browser.bounded(
        "read the focused element",
        browser.client().execute(
            "return document.activeElement && document.activeElement.id",
            Vec::new(),
        ),
    );
    id.as_str().unwrap_or_default().to_string()
}
