//! Global behaviour: help, config lookup and errors, exit codes, stdout/stderr, pipes, color.

use std::io::Read;
use std::process::Stdio;

use crate::support::{TestEnv, assert_fails, code, stderr, stdout};

#[test]
fn clap_definition_is_consistent() {
    pwreset::cli::command().debug_assert();
}

#[test]
fn help_lists_every_exit_code() {
    let env = TestEnv::empty();
    let help = env.ok(&["--help"]);
    for line in [
        "0  success",
        "1  other failure",
        "2  usage error",
        "3  partial failure",
        "4  refused",
        "5  aborted",
        "6  mail not delivered",
        "7  token invalid",
        "8  configuration or store error",
    ] {
        assert!(help.contains(line), "help lacks {line:?}:\n{help}");
    }
    assert!(
        help.contains("PWRESET_CONFIG") && help.contains("PWRESET_DB") && help.contains("NO_COLOR")
    );
}

#[test]
fn every_subcommand_has_examples_in_its_help() {
    let env = TestEnv::empty();
    for args in [
        &["init", "--help"][..],
        &["users", "list", "--help"],
        &["users", "show", "--help"],
        &["users", "add", "--help"],
        &["users", "import", "--help"],
        &["users", "activate", "--help"],
        &["users", "deactivate", "--help"],
        &["audit", "--help"],
        &["audit", "verify", "--help"],
        &["send-link", "--help"],
        &["reset", "send-link", "--help"],
        &["tokens", "list", "--help"],
        &["tokens", "verify", "--help"],
        &["tokens", "redeem", "--help"],
        &["tokens", "revoke", "--help"],
        &["tokens", "purge", "--help"],
    ] {
        let help = env.ok(args);
        assert!(
            help.contains("Examples:"),
            "{args:?} has no examples:\n{help}"
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    let env = TestEnv::with_samples();
    assert_fails(&env.run(&["users", "frobnicate"]), 2, "error:");
    assert_fails(&env.run(&["users", "list", "--format", "xml"]), 2, "xml");
    let out = env
        .cmd()
        .args(["users", "list"])
        .env("PWRESET_FORMAT", "yaml")
        .output()
        .expect("run");
    assert_fails(&out, 2, "PWRESET_FORMAT");
}

#[test]
fn missing_config_says_to_run_init() {
    let env = TestEnv::empty();
    let out = env.run(&["users", "list"]);
    assert_fails(&out, 8, "no configuration file found");
    assert!(stderr(&out).contains("pwreset init"), "{}", stderr(&out));
    assert_eq!(
        stderr(&out)
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count(),
        1
    );
}

#[test]
fn bad_config_names_path_line_and_column() {
    let env = TestEnv::with_samples();
    env.write(
        "pwreset.toml",
        "[store]\npath = \"pwreset.db\"\n\n[mail]\ntransprot = \"file\"\n",
    );
    let out = env.run(&["users", "list"]);
    assert_fails(&out, 8, "pwreset.toml:5:1: unknown field `transprot`");
    let config = env.write("bad-type.toml", "[store]\nbusy_timeout_ms = -1\n");
    let out = env.run(&["-c", config.to_str().expect("utf8"), "users", "list"]);
    assert_fails(&out, 8, "bad-type.toml:2:19:");
}

#[test]
fn config_is_found_via_flag_env_and_xdg() {
    let env = TestEnv::empty();
    env.ok(&["init", "--dir", "conf", "--sample-users"]);
    let elsewhere = env.path("conf/pwreset.toml");
    let elsewhere = elsewhere.to_str().expect("utf8");
    assert!(
        env.ok(&["-c", elsewhere, "users", "list"])
            .contains("alice")
    );
    let out = env
        .cmd()
        .args(["users", "list"])
        .env("PWRESET_CONFIG", elsewhere)
        .output()
        .expect("run");
    assert!(stdout(&out).contains("alice"), "{}", stderr(&out));
    std::fs::create_dir_all(env.path("xdg/pwreset")).expect("mkdir");
    let xdg_config = format!(
        "[store]\npath = \"{}\"\n[audit]\nkey_file = \"{}\"\n",
        env.path("conf/pwreset.db").display(),
        env.path("conf/audit.key").display()
    );
    std::fs::write(env.path("xdg/pwreset/config.toml"), xdg_config).expect("write");
    let out = env
        .cmd()
        .args(["users", "list"])
        .env("XDG_CONFIG_HOME", env.path("xdg"))
        .output()
        .expect("run");
    assert!(stdout(&out).contains("alice"), "{}", stderr(&out));
    let out = env
        .cmd()
        .args(["users", "list"])
        .env("HOME", env.path("nohome"))
        .output()
        .expect("run");
    assert_fails(&out, 8, "nohome/.config/pwreset/config.toml");
}

#[test]
fn db_flag_and_env_override_the_config() {
    let env = TestEnv::with_samples();
    env.ok(&["init", "--dir", "other"]);
    let other_db = env.path("other/pwreset.db");
    let other_db = other_db.to_str().expect("utf8");
    assert!(
        !env.ok(&["--db", other_db, "users", "list", "--format", "csv"])
            .contains("alice")
    );
    let out = env
        .cmd()
        .args(["users", "list", "--format", "csv"])
        .env("PWRESET_DB", other_db)
        .output()
        .expect("run");
    assert!(!stdout(&out).contains("alice"));
    assert!(
        env.ok(&["users", "list", "--format", "csv"])
            .contains("alice")
    );
    assert_fails(
        &env.run(&["--db", "nowhere.db", "users", "list"]),
        8,
        "does not exist",
    );
    assert!(!env.path("nowhere.db").exists());
}

#[test]
fn a_store_with_a_newer_schema_is_refused() {
    let env = TestEnv::with_samples();
    // SQLite's `user_version`; `pg_schema` tests a newer PostgreSQL schema.
    let conn = env.sqlite("the schema version is SQLite's user_version");
    conn.pragma_update(None, "user_version", 999)
        .expect("bump version");
    let out = env.run(&["users", "list"]);
    assert_fails(&out, 8, "schema version 999");
    assert!(stdout(&out).is_empty());
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let env = TestEnv::initialised();
    let csv: String = std::iter::once("email".to_string())
        .chain((0..3000).map(|i| format!("user{i}@example.com")))
        .collect::<Vec<_>>()
        .join("\n");
    env.write("many.csv", &csv);
    env.ok(&["users", "import", "many.csv"]);
    for format in ["table", "json", "csv"] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("pwreset"))
            .env_clear()
            .current_dir(env.dir())
            .args(["users", "list", "--format", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut first = [0_u8; 16];
        child
            .stdout
            .take()
            .expect("stdout")
            .read_exact(&mut first)
            .expect("read a little");
        // The reader goes away, like `| head -c 16`.
        let out = child.wait_with_output().expect("wait");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn data_goes_to_stdout_and_messages_to_stderr() {
    let env = TestEnv::with_samples();
    let out = env.run(&["users", "add", "erin@example.com", "--format", "json"]);
    assert_eq!(code(&out), 0);
    let parsed: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is only JSON");
    assert_eq!(parsed["username"], "erin");
    assert!(stderr(&out).contains("Added erin"));
    let out = env.run(&["users", "add", "fay@example.com"]);
    assert!(out.stdout.is_empty());
    let out = env.run(&["-q", "users", "add", "gus@example.com"]);
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
}

#[test]
fn color_only_when_asked_and_no_color_wins_over_auto() {
    let env = TestEnv::empty();
    let plain = env.run(&["users", "list"]);
    assert!(!stderr(&plain).contains('\u{1b}'));
    let forced = env.run(&["--color", "always", "users", "list"]);
    assert!(stderr(&forced).contains("\u{1b}[1;31merror:"));
    let out = env
        .cmd()
        .args(["--color", "never", "users", "list"])
        .env("NO_COLOR", "1")
        .output()
        .expect("run");
    assert!(!stderr(&out).contains('\u{1b}'));
}

#[test]
fn verbose_names_the_config_and_store_in_use() {
    let env = TestEnv::with_samples();
    let out = env.run(&["-v", "users", "list"]);
    assert!(
        stderr(&out).contains("config: pwreset.toml"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("store: pwreset.db"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&env.run(&["users", "list"])).contains("config:"));
}

#[test]
fn a_closed_pipe_after_json_is_not_an_error() {
    let env = TestEnv::with_samples();
    for args in [
        &["users", "show", "alice", "--format", "json"][..],
        &["tokens", "purge", "--format", "json"],
    ] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("pwreset"))
            .env_clear()
            .current_dir(env.dir())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        drop(child.stdout.take()); // the reader is gone before pwreset writes
        let out = child.wait_with_output().expect("wait");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn an_oversized_secret_on_stdin_is_refused() {
    let env = TestEnv::with_samples();
    let out = env.run_stdin(&["tokens", "verify"], &"A".repeat(10_000));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("longer than 4096 bytes"));
}
