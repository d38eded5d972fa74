//! Turns the PostgreSQL tests on: `cfg(pwreset_pg)` when `PWRESET_TEST_PG_TESTS=1` (which
//! `eval "$(.ci/pg-server start)"` exports) or `CI=true`. Without it every test that needs a
//! PostgreSQL server is compiled `#[ignore]`d with the reason, so `cargo test` lists it as
//! ignored instead of saying `ok` for a test that did not run; with it, such a test fails when
//! the server is missing. Nothing outside tests reads the cfg: it changes no shipped code.
//!
//! The same for the tests against the applications' own password checkers
//! (`tests/cli/app_hashes.rs`: Django, PHP, passlib): `cfg(pwreset_apps)` when
//! `PWRESET_TEST_APPS=1` or `CI=true`.
//!
//! It keys on a variable of fixed value, not on `PWRESET_TEST_PG` itself: that URL holds a new
//! port at every server start, and a changed value would rebuild the crate each time.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(pwreset_pg)");
    println!("cargo::rustc-check-cfg=cfg(pwreset_apps)");
    println!("cargo::rerun-if-env-changed=PWRESET_TEST_APPS");
    println!("cargo::rerun-if-env-changed=PWRESET_TEST_PG_TESTS");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-changed=build.rs");
    if is("PWRESET_TEST_PG_TESTS", "1") || is("CI", "true") {
        println!("cargo::rustc-cfg=pwreset_pg");
    }
    if is("PWRESET_TEST_APPS", "1") || is("CI", "true") {
        println!("cargo::rustc-cfg=pwreset_apps");
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "a build script reads the environment cargo gives it"
)]
fn is(name: &str, value: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == value)
}
