//! pwreset's password hashes (`pwreset::hashfmt`) against the applications' own checkers
//! (issue 22, "Proof"): Django 5.2's `check_password`, PHP's `password_verify` (Laravel's
//! bcrypt) and passlib with Odoo's `CryptContext`. Each direction: the application accepts the
//! right password and refuses a wrong one for a hash pwreset wrote, without wanting to re-hash
//! it; and pwreset verifies a hash the application made. The checkers are the scripts under
//! `tests/cli/apps/`, run as processes with the password on stdin, never on argv.
//!
//! They need `python3` with Django 5.2 and passlib (or the interpreter `PWRESET_TEST_PYTHON`
//! names, as `.ci/run` sets for its venv) and `php`. Without `cfg(pwreset_apps)` (`build.rs`:
//! `PWRESET_TEST_APPS=1` or `CI=true`) they are listed as ignored, with that reason; with it, a
//! missing tool fails them with what to install.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use pwreset::hashfmt::{self, Format, HashSettings, Profile, Stored};
use pwreset::secret::Secret;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse ☃ battery staple";
const WRONG: &str = "correct horse ☃ battery stapler";
const INSTALL: &str = "install the applications' checkers: apt-get install php-cli; \
    python3 -m pip install 'Django>=5.2,<5.3' passlib (or set PWRESET_TEST_PYTHON to a venv's \
    python that has them); see docs/development.md";

/// One of the applications' checkers.
#[derive(Clone, Copy)]
enum App {
    Django,
    Laravel,
    Odoo,
}

#[expect(
    clippy::disallowed_methods,
    reason = "the test harness reads which python .ci/run installed the checkers for"
)]
pub fn python() -> String {
    std::env::var("PWRESET_TEST_PYTHON")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "python3".to_string())
}

/// Ask `app`'s checker one question; its JSON answer.
fn ask(app: App, request: &Value) -> Value {
    let (program, script) = match app {
        App::Django => (python(), "django/check.py"),
        App::Odoo => (python(), "odoo/check.py"),
        App::Laravel => ("php".to_string(), "laravel/check.php"),
    };
    run_script(&program, script, request)
}

/// Run `program` on the script `tests/cli/apps/<script>` with `request` on stdin (so that no
/// password is ever on argv); its JSON answer. A missing tool fails with what to install.
pub fn run_script(program: &str, script: &str, request: &Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cli/apps")
        .join(script);
    let mut child = Command::new(program)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}; {INSTALL}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("write the request");
    let out = child.wait_with_output().expect("wait for the checker");
    assert!(
        out.status.success(),
        "{program} {} failed: {}\n{INSTALL}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the checker's JSON")
}

fn check(app: App, password: &str, encoded: &str) -> Value {
    ask(
        app,
        &json!({"op": "check", "password": password, "encoded": encoded}),
    )
}

/// A hash of [`PASSWORD`] made by pwreset in `format`'s default settings.
#[expect(
    clippy::disallowed_methods,
    reason = "a test stands in for the CLI edge, which creates the RNG"
)]
fn pwreset_hash(format: Format) -> String {
    let encoded = HashSettings::default_for(format)
        .hash(&Secret::new(PASSWORD.into()), &mut rand::rng())
        .expect("hash");
    encoded.as_str().to_string()
}

/// A hash of [`PASSWORD`] made by `app` itself, which pwreset must verify.
fn assert_pwreset_verifies_what(app: App, format: Format) {
    let made = ask(app, &json!({"op": "make", "password": PASSWORD}));
    let encoded = made["encoded"].as_str().expect("encoded");
    assert_eq!(hashfmt::recognise(Some(encoded)), Stored::Writable(format));
    let verify = |password: &str| hashfmt::verify(&Secret::new(password.into()), encoded);
    assert_eq!(verify(PASSWORD), Ok(true), "{encoded}");
    assert_eq!(verify(WRONG), Ok(false), "{encoded}");
}

#[test]
#[cfg_attr(
    not(pwreset_apps),
    ignore = "needs Django 5.2: PWRESET_TEST_APPS=1, docs/development.md"
)]
fn django_accepts_pwresets_pbkdf2_sha256_and_would_not_rehash_it() {
    let encoded = pwreset_hash(Format::Pbkdf2Sha256Django);
    let right = check(App::Django, PASSWORD, &encoded);
    assert_eq!(
        right["version"].as_str().map(|v| &v[..3]),
        Some("5.2"),
        "{right}"
    );
    assert_eq!(right["ok"], true, "{right}");
    assert_eq!(right["algorithm"], "pbkdf2_sha256", "{right}");
    assert_eq!(right["must_update"], false, "{right}");
    assert_eq!(check(App::Django, WRONG, &encoded)["ok"], false);
}

#[test]
#[cfg_attr(
    not(pwreset_apps),
    ignore = "needs Django 5.2: PWRESET_TEST_APPS=1, docs/development.md"
)]
fn pwreset_verifies_djangos_own_hashes() {
    assert_pwreset_verifies_what(App::Django, Format::Pbkdf2Sha256Django);
}

#[test]
#[cfg_attr(
    not(pwreset_apps),
    ignore = "needs PHP (php-cli): PWRESET_TEST_APPS=1, docs/development.md"
)]
fn php_accepts_pwresets_laravel_bcrypt_and_would_not_rehash_it() {
    let encoded = pwreset_hash(Format::Bcrypt);
    let right = check(App::Laravel, PASSWORD, &encoded);
    assert_eq!(right["ok"], true, "{right}");
    assert_eq!(right["needs_rehash"], false, "{right}");
    assert_eq!(check(App::Laravel, WRONG, &encoded)["ok"], false);
}

#[test]
#[cfg_attr(
    not(pwreset_apps),
    ignore = "needs PHP (php-cli): PWRESET_TEST_APPS=1, docs/development.md"
)]
fn pwreset_verifies_phps_own_bcrypt_hashes() {
    assert_pwreset_verifies_what(App::Laravel, Format::Bcrypt);
}

#[test]
#[cfg_attr(
    not(pwreset_apps),
    ignore = "needs passlib: PWRESET_TEST_APPS=1, docs/development.md"
)]
fn odoos_passlib_accepts_pwresets_pbkdf2_sha512_as_a_hash_without_rehash() {
    let encoded = pwreset_hash(Format::Pbkdf2Sha512Passlib);
    let right = check(App::Odoo, PASSWORD, &encoded);
    assert_eq!(right["identified"], "pbkdf2_sha512", "{right}");
    assert_eq!(right["ok"], true, "{right}");
    assert_eq!(right["plain_verify"], true, "{right}");
    assert_eq!(right["rehash"], false, "{right}");
    let wrong = check(App::Odoo, WRONG, &encoded);
    assert_eq!(
        (&wrong["ok"], &wrong["plain_verify"]),
        (&json!(false), &json!(false))
    );
}

#[test]
#[cfg_attr(
    not(pwreset_apps),
    ignore = "needs passlib: PWRESET_TEST_APPS=1, docs/development.md"
)]
fn pwreset_verifies_odoos_own_passlib_hashes() {
    assert_pwreset_verifies_what(App::Odoo, Format::Pbkdf2Sha512Passlib);
}

/// The guard `is_hashed_for(Odoo)` never passes a value Odoo's context would take as
/// plaintext, and what it passes Odoo reads as a `pbkdf2_sha512` hash. (It is stricter than
/// Odoo: a value with the prefix that passlib cannot read is refused too.)
#[test]
#[cfg_attr(
    not(pwreset_apps),
    ignore = "needs passlib: PWRESET_TEST_APPS=1, docs/development.md"
)]
fn pwresets_plaintext_guard_never_passes_what_odoo_takes_as_plaintext() {
    let good = pwreset_hash(Format::Pbkdf2Sha512Passlib);
    let values = [
        (good.clone(), true),
        (good[..good.len() - 2].to_string(), false),
        (pwreset_hash(Format::Pbkdf2Sha256Django), false),
        ("$pbkdf2-sha512$600000$onlysalt".to_string(), false),
        (PASSWORD.to_string(), false),
    ];
    for (value, hashed) in values {
        let answer = check(App::Odoo, PASSWORD, &value);
        assert_eq!(
            hashfmt::is_hashed_for(&value, Profile::Odoo),
            hashed,
            "{value}"
        );
        if hashed {
            assert_eq!(answer["identified"], "pbkdf2_sha512", "{value}: {answer}");
            assert_eq!(answer["ok"], true, "{value}: {answer}");
        }
        if answer["identified"] == "plaintext" {
            assert!(!hashed, "{value}: {answer}");
        }
    }
    let plain = check(App::Odoo, PASSWORD, PASSWORD);
    assert_eq!(
        (&plain["identified"], &plain["ok"]),
        (&json!("plaintext"), &json!(true)),
        "Odoo takes a bare password as plaintext: the reason for the guard"
    );
}
