//! The reset page in the reader's language, in a real browser: a user without a language of
//! their own reads the pages in the browser's language (its `Accept-Language`), and a user's
//! own language wins over the browser's.

use crate::support::NOW;

use super::harness::DESKTOP;
use super::scene::Scene;

#[test]
fn the_form_follows_the_browsers_language_when_the_user_has_none() {
    let Some(scene) = Scene::start_in(DESKTOP, NOW, Some("pl")) else {
        return;
    };
    let browser = &scene.browser;
    browser.goto(&scene.mail.link);
    assert_eq!(browser.page(), "form");
    assert_eq!(browser.attr("html", "lang").as_deref(), Some("pl"));
    assert_eq!(browser.text("#submit"), "Ustaw nowe hasło");
    browser.screenshot("form-pl");
}

#[test]
fn the_users_own_language_wins_over_the_browsers() {
    let Some(scene) = Scene::start_in(DESKTOP, NOW, Some("pl")) else {
        return;
    };
    scene
        .site
        .env
        .ok(&["users", "edit", "alice", "--locale", "id"]);
    let browser = &scene.browser;
    browser.goto(&scene.mail.link);
    assert_eq!(browser.page(), "form");
    assert_eq!(browser.attr("html", "lang").as_deref(), Some("id"));
    assert_eq!(browser.text("#submit"), "Simpan kata sandi baru");
}
