//! A real headless Chromium driven through `chromedriver` (`WebDriver`, via `fantoccini`), behind
//! a blocking API for the tests. It owns the driver process, the browser profile, the bounded
//! waits and the screenshots under `target/browser-artifacts/`; it knows nothing of pwreset.
//!
//! Every call is bounded by [`STEP`]; the driver is started per test and its whole process
//! group (chromedriver and Chromium) is killed when the [`Browser`] drops. Under `CI=true` a
//! missing browser fails the test; without `CI` the test prints a loud note and returns.

use std::future::Future;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element, wd::TimeoutConfiguration};

use crate::support::DEADLINE;

/// Debian's Chromium.
const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver, from the same source package as [`CHROMIUM`].
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The longest any single browser step (a navigation, a click, a lookup) may take.
pub const STEP: Duration = Duration::from_secs(30);

/// A window size in CSS pixels.
#[derive(Clone, Copy)]
pub struct Size(pub u32, pub u32);

/// A phone in portrait.
pub const PHONE: Size = Size(390, 844);
/// Chromium's narrowest headless window; narrower sizes are emulated phones.
const NARROWEST_WINDOW: u32 = 500;
/// A laptop screen.
pub const DESKTOP: Size = Size(1280, 900);

/// One browser at a time: two cores cannot run several Chromiums and pwreset's argon2 at once
/// without every wait turning into a guess.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Whether the browser can run here: true when both binaries exist. Under `CI=true` a missing
/// one fails the test (CI installs them); otherwise a loud note, and the caller returns.
pub fn available() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        !in_ci(),
        "browser test under CI=true but {} missing (.ci/run installs chromium chromium-driver)",
        missing.join(" and ")
    );
    eprintln!(
        "\n*** NOTE: browser test NOT RUN: {} missing; `apt-get install -y chromium \
         chromium-driver` to run it (under CI=true this fails) ***\n",
        missing.join(" and ")
    );
    false
}

#[expect(
    clippy::disallowed_methods,
    reason = "the test harness decides fail-or-note on CI, like CI itself"
)]
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The directory the screenshots go to: `target/browser-artifacts/`.
pub fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts");
    std::fs::create_dir_all(&dir).expect("create target/browser-artifacts");
    dir
}

/// chromedriver and the Chromium it starts, as one process group killed on drop.
struct Driver {
    child: Child,
}

impl Driver {
    fn start(port: u16, log: &Path) -> Self {
        let log = std::fs::File::create(log).expect("create the chromedriver log");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let driver = Driver { child };
        let until = Instant::now() + DEADLINE;
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            assert!(
                Instant::now() < until,
                "chromedriver did not listen within {DEADLINE:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(-i32::try_from(self.child.id()).unwrap_or(0));
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// A headless Chromium session, one per test.
pub struct Browser {
    client: Option<Client>,
    rt: tokio::runtime::Runtime,
    _driver: Driver,
    profile: tempfile::TempDir,
    _turn: MutexGuard<'static, ()>,
}

impl Browser {
    /// Start chromedriver and a headless Chromium with a window of `size`; `None` (after a loud
    /// note) when the browser is not installed and `CI` is not `true`.
    pub fn launch(size: Size) -> Option<Self> {
        Self::launch_in(size, None)
    }

    /// [`Browser::launch`], the browser's languages (its `Accept-Language`) set to `language`
    /// when given, as a user's browser settings would.
    pub fn launch_in(size: Size, language: Option<&str>) -> Option<Self> {
        if !available() {
            return None;
        }
        let turn = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let profile = tempfile::tempdir().expect("profile dir");
        let port = free_port();
        let driver = Driver::start(port, &profile.path().join("chromedriver.log"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let mut browser = Browser {
            client: None,
            rt,
            _driver: driver,
            profile,
            _turn: turn,
        };
        let caps = capabilities(size, &browser.profile.path().join("chromium"), language);
        let client = browser.bounded("open a session", async {
            ClientBuilder::native()
                .capabilities(caps)
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
        });
        let timeouts = TimeoutConfiguration::new(Some(STEP), Some(STEP), Some(Duration::ZERO));
        browser.bounded("set timeouts", client.update_timeouts(timeouts));
        browser.client = Some(client);
        Some(browser)
    }

    /// Run one `WebDriver` step, failing the test (naming `what`) on error or after [`STEP`].
    pub fn bounded<T, E: std::fmt::Debug>(
        &self,
        what: &str,
        step: impl Future<Output = Result<T, E>>,
    ) -> T {
        match self.within(step) {
            Some(Ok(value)) => value,
            Some(Err(e)) => panic!("browser: {what}: {e:?}"),
            None => panic!("browser: {what}: no answer within {STEP:?}"),
        }
    }

    /// Run `future` on this browser's runtime; `None` when it takes longer than [`STEP`].
    fn within<F: Future>(&self, future: F) -> Option<F::Output> {
        self.rt
            .block_on(async { tokio::time::timeout(STEP, future).await })
            .ok()
    }

    /// The `WebDriver` client.
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("a session")
    }

    /// Navigate to `url` and wait for the load.
    pub fn goto(&self, url: &str) {
        self.bounded("navigate", self.client().goto(url));
    }

    /// The address bar.
    pub fn url(&self) -> String {
        self.bounded("read the URL", self.client().current_url())
            .to_string()
    }

    /// The element matching the CSS selector (it must exist now).
    pub fn find(&self, css: &str) -> Element {
        self.bounded(
            &format!("find {css}"),
            self.client().find(Locator::Css(css)),
        )
    }

    /// How many elements match the CSS selector now.
    pub fn count(&self, css: &str) -> usize {
        self.bounded(
            &format!("find all {css}"),
            self.client().find_all(Locator::Css(css)),
        )
        .len()
    }

    /// The `data-page` of `<body>`: which page this is, by the HTML contract.
    pub fn page(&self) -> String {
        self.attr("body", "data-page")
            .unwrap_or_else(|| panic!("<body> without data-page at {}", self.url()))
    }

    /// An attribute of the element matching `css`.
    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        let element = self.find(css);
        self.bounded(&format!("read {css}[{name}]"), element.attr(name))
    }

    /// The rendered text of the element matching `css`.
    pub fn text(&self, css: &str) -> String {
        let element = self.find(css);
        self.bounded(&format!("read the text of {css}"), element.text())
    }

    /// Whether the element matching `css` is shown.
    pub fn visible(&self, css: &str) -> bool {
        let element = self.find(css);
        self.bounded(&format!("is {css} shown"), element.is_displayed())
    }

    /// Type `text` into the (cleared) field matching `css`.
    pub fn fill(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.bounded(&format!("clear {css}"), element.clear());
        self.bounded(&format!("type into {css}"), element.send_keys(text));
    }

    /// Click the element matching `css` and wait until the page it leads to has loaded (the old
    /// document gone, the new one complete).
    pub fn click_and_wait(&self, css: &str) {
        let old_body = self.find("body");
        let button = self.find(css);
        self.bounded(&format!("click {css}"), button.click());
        let until = Instant::now() + STEP;
        while matches!(self.within(old_body.tag_name()), Some(Ok(_))) {
            assert!(
                Instant::now() < until,
                "clicking {css} loaded no new page within {STEP:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.wait_loaded();
    }

    /// Wait until the current document has loaded.
    pub fn wait_loaded(&self) {
        let until = Instant::now() + STEP;
        loop {
            let state = self.within(
                self.client()
                    .execute("return document.readyState", Vec::new()),
            );
            if matches!(state, Some(Ok(ref s)) if s == "complete") {
                return;
            }
            assert!(
                Instant::now() < until,
                "the page did not load within {STEP:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the page fits the window's width (nothing to scroll sideways).
    pub fn fits_width(&self) -> bool {
        let script = "return document.documentElement.scrollWidth <= window.innerWidth";
        self.bounded(
            "measure the page",
            self.client().execute(script, Vec::new()),
        ) == true
    }

    /// Forget every cookie of the current site, as a fresh browser would be.
    pub fn clear_cookies(&self) {
        self.bounded("delete cookies", self.client().delete_all_cookies());
    }

    /// Save a PNG of the viewport as `target/browser-artifacts/NAME.png`; returns its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.bounded("take a screenshot", self.client().screenshot());
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        let path = artifacts_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if std::thread::panicking() && self.client.is_some() {
            let name = std::thread::current()
                .name()
                .unwrap_or("browser")
                .replace("::", "-");
            let shot = self.client().screenshot();
            if let Some(Ok(png)) = self.within(shot) {
                let _ = std::fs::write(artifacts_dir().join(format!("failed-{name}.png")), png);
            }
        }
        if let Some(client) = self.client.take() {
            let _ = self.within(client.close());
        }
    }
}

/// The session's capabilities: headless Chromium at `size` with its profile in `profile`, its
/// languages `language` (else the default).
fn capabilities(
    size: Size,
    profile: &Path,
    language: Option<&str>,
) -> serde_json::Map<String, serde_json::Value> {
    let Size(width, height) = size;
    let mut args = vec![
        "--headless=new".to_string(),
        "--no-sandbox".to_string(),
        "--disable-gpu".to_string(),
        "--disable-dev-shm-usage".to_string(),
        "--no-first-run".to_string(),
        "--disable-background-networking".to_string(),
        "--disable-component-update".to_string(),
        "--disable-sync".to_string(),
        format!("--window-size={width},{height}"),
        format!("--user-data-dir={}", profile.display()),
    ];
    if let Some(language) = language {
        args.push(format!("--lang={language}"));
    }
    let mut options = serde_json::json!({ "binary": CHROMIUM, "args": args });
    if let Some(language) = language {
        options["prefs"] = serde_json::json!({ "intl.accept_languages": language });
    }
    if width < NARROWEST_WINDOW {
        // A headless window is never narrower than 500 px: a phone is emulated instead.
        options["mobileEmulation"] = serde_json::json!({
            "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0 },
        });
    }
    let caps = serde_json::json!({
        "browserName": "chrome",
        "pageLoadStrategy": "normal",
        "goog:chromeOptions": options,
    });
    match caps {
        serde_json::Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}
