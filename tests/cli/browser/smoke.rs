//! The harness proven on its own: a page the test serves, opened in the real browser, read by
//! id, and photographed. It must not depend on pwreset.

use super::harness::{Browser, DESKTOP};
use super::site::StaticSite;

const PAGE: &str = "<!doctype html><html><head><title>smoke</title></head>\
    <body data-page=\"smoke\"><main><h1 id=\"title\">Harness works</h1>\
    <form method=\"get\" action=\"/next\"><input id=\"field\" name=\"field\">\
    <button type=\"submit\" id=\"go\">Go</button></form></main></body></html>";

#[test]
fn the_browser_opens_a_page_reads_it_types_clicks_and_takes_a_screenshot() {
    let site = StaticSite::serve(PAGE);
    let Some(browser) = Browser::launch(DESKTOP) else {
        return;
    };
    browser.goto(&format!("http://127.0.0.1:{}/", site.port()));
    assert_eq!(browser.page(), "smoke");
    assert_eq!(browser.text("#title"), "Harness works");
    assert!(browser.visible("#field"));
    assert_eq!(browser.count("input"), 1);
    browser.fill("#field", "typed");
    browser.click_and_wait("#go");
    assert!(
        browser.url().ends_with("/next?field=typed"),
        "the form was submitted: {}",
        browser.url()
    );
    let shot = browser.screenshot("smoke");
    assert!(
        std::fs::metadata(shot)
            .expect("the screenshot exists")
            .len()
            > 1000
    );
}
