//! Real-browser tests: a headless Chromium (Debian's `chromium` through `chromedriver`) opens
//! the pages of `pwreset serve` as a user would. This module owns the harness and the flow
//! tests; the flows key on the HTML contract (`data-page`, element ids), never on wording.
//! Screenshots go to `target/browser-artifacts/` (not committed).

mod flows;
mod harness;
mod language;
mod paths;
mod scene;
mod serve;
mod site;
mod smoke;
