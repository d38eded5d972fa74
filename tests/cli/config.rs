//! `pwreset config show|check`, and `security.strict_permissions`.

use std::os::unix::fs::PermissionsExt;

use crate::support::{TestEnv, assert_fails, code, stderr, stdout};

fn settings(env: &TestEnv, args: &[&str], vars: &[(&str, &str)]) -> serde_json::Value {
    let mut cmd = env.cmd();
    cmd.args(["config", "show", "--format", "json"]).args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("json")
}

fn row<'a>(rows: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    rows.as_array()
        .expect("array")
        .iter()
        .find(|r| r["key"] == key)
        .unwrap_or_else(|| panic!("no {key}"))
}

#[test]
fn show_says_where_every_value_came_from() {
    let env = TestEnv::with_samples();
    let rows = settings(&env, &[], &[]);
    assert_eq!(row(&rows, "links.base_url")["source"], "file");
    assert_eq!(row(&rows, "links.cooldown")["value"], "1m");
    assert_eq!(row(&rows, "links.cooldown")["source"], "default");
    assert_eq!(row(&rows, "config")["source"], "search path");
    assert_eq!(row(&rows, "store.path")["source"], "file");
    let rows = settings(
        &env,
        &["--db", "/tmp/other.db"],
        &[("PWRESET_FORMAT", "csv")],
    );
    assert_eq!(row(&rows, "store.path")["value"], "/tmp/other.db");
    assert_eq!(row(&rows, "store.path")["source"], "flag");
    let rows = settings(&env, &[], &[("PWRESET_DB", "/tmp/env.db")]);
    assert_eq!(row(&rows, "store.path")["source"], "environment");
    let table = env.ok(&["config", "show"]);
    assert!(table.contains("SETTING") && table.contains("mail.transport"));
}

#[test]
fn show_never_prints_the_smtp_password() {
    let env = TestEnv::with_samples();
    let secret = "hunter2-correct-horse";
    let rows = settings(&env, &[], &[("PWRESET_SMTP_PASSWORD", secret)]);
    let text = rows.to_string();
    assert!(!text.contains(secret), "{text}");
    assert_eq!(
        row(&rows, "mail.smtp.password")["value"],
        "(redacted; set in $PWRESET_SMTP_PASSWORD)"
    );
}

#[test]
fn check_passes_a_fresh_setup_and_lists_every_problem() {
    let env = TestEnv::with_samples();
    let out = env.run(&["config", "check"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("is ready"));
    std::fs::set_permissions(
        env.path("pwreset.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    let broken = config
        .replace("base_url = \"http://localhost:8080/reset-password\"\n", "")
        .replace(
            "app_name = \"Example App\"",
            "app_name = \"Example App\"\ndir = \"tpl\"",
        )
        .replace("transport = \"file\"", "transport = \"smtp\"")
        + "\n[mail.smtp]\nhost = \"smtp.example.com\"\nusername = \"u\"\n";
    env.write("pwreset.toml", &broken);
    std::fs::create_dir_all(env.path("tpl")).expect("mkdir");
    env.write("tpl/access-info.txt", "{{ nope }}");
    let out = env.run(&["config", "check"]);
    assert_fails(&out, 8, "4 problems in the configuration");
    let err = stderr(&out);
    for needle in [
        "store pwreset.db is readable by others",
        "links.base_url is not set",
        "access-info.txt",
        "neither $PWRESET_SMTP_PASSWORD nor password_file",
    ] {
        assert!(err.contains(needle), "missing {needle:?}:\n{err}");
    }
    assert!(stdout(&out).is_empty());
}

#[test]
fn strict_permissions_refuses_instead_of_warning() {
    let env = TestEnv::with_samples();
    std::fs::set_permissions(
        env.path("pwreset.db"),
        std::fs::Permissions::from_mode(0o640),
    )
    .expect("chmod");
    let out = env.run(&["users", "list"]);
    assert_eq!(code(&out), 0);
    assert!(stderr(&out).contains("warning: store"));
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    env.write(
        "pwreset.toml",
        &format!("{config}\n[security]\nstrict_permissions = true\n"),
    );
    let out = env.run(&["users", "list"]);
    assert_fails(&out, 8, "store pwreset.db is readable by others (mode 640)");
    assert!(stderr(&out).contains("chmod 600"));
    assert!(stdout(&out).is_empty());
}

/// `config check` makes the checks a real run makes before it opens the store or builds a
/// mailer, and lists every failure: an untrusted template, a missing audit key.
#[test]
fn check_reports_untrusted_files_and_a_missing_audit_key() {
    let env = TestEnv::with_samples();
    crate::templates::with_template_dir(&env);
    env.write("tpl/access-info.txt", "Hello {{ user.name }}");
    std::os::unix::fs::chown(env.path("tpl/access-info.txt"), Some(65534), None)
        .expect("chown to nobody");
    std::fs::remove_file(env.path("audit.key")).expect("remove the key");
    let out = env.run(&["config", "check"]);
    assert_fails(&out, 8, "2 problems in the configuration");
    let err = stderr(&out);
    for needle in ["template file", "is owned by another user", "audit key"] {
        assert!(err.contains(needle), "missing {needle:?}:\n{err}");
    }
}
