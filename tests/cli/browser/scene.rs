//! The starting point of every flow test: alice's link mailed, `pwreset serve` running and a
//! browser open. It only assembles the parts; the tests do the clicking.

use crate::support::NOW;

use super::harness::{Browser, Size};
use super::serve::{LinkMail, Serving, Site};

/// Alice's link mail, the server and a browser (dropped in that order: browser first).
pub struct Scene {
    /// The headless Chromium.
    pub browser: Browser,
    /// The running `pwreset serve`.
    pub serving: Serving,
    /// What alice's link mail carries.
    pub mail: LinkMail,
    /// The temp dir and its port.
    pub site: Site,
}

impl Scene {
    /// The scene on the tests' fixed clock, with a window of `size`; `None` when the browser
    /// is not installed outside CI.
    pub fn start(size: Size) -> Option<Self> {
        Self::start_at(size, NOW)
    }

    /// The scene with `pwreset serve`'s clock at `now`.
    pub fn start_at(size: Size, now: &str) -> Option<Self> {
        Self::start_in(size, now, None)
    }

    /// The scene with `pwreset serve`'s clock at `now` and the browser's languages `language`.
    pub fn start_in(size: Size, now: &str, language: Option<&str>) -> Option<Self> {
        let site = Site::new();
        let mail = site.send_link("alice");
        let serving = site.serve_at(now);
        let browser = Browser::launch_in(size, language)?;
        Some(Scene {
            browser,
            serving,
            mail,
            site,
        })
    }
}
