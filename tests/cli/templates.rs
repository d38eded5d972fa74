//! `pwreset templates list|show|preview|check`

use crate::support::{TestEnv, assert_fails, code, stderr, stdout};

pub fn with_template_dir(env: &TestEnv) {
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    env.write(
        "pwreset.toml",
        &config.replace(
            "app_name = \"Example App\"",
            "app_name = \"Example App\"\ndir = \"tpl\"",
        ),
    );
    std::fs::create_dir_all(env.path("tpl")).expect("mkdir");
}

#[test]
fn list_shows_where_each_part_comes_from() {
    let env = TestEnv::with_samples();
    with_template_dir(&env);
    env.write(
        "tpl/access-info.subject.txt",
        "Your access to {{ app_name }}",
    );
    let rows: serde_json::Value =
        serde_json::from_str(&env.ok(&["templates", "list", "--format", "json"])).expect("json");
    let rows = rows.as_array().expect("array");
    assert_eq!(
        rows.len(),
        3 * (12 + 11) + 1,
        "in 3 languages: 4 templates x 3 parts, and the page's 11 HTML files; one stylesheet"
    );
    let source = |part: &str| {
        rows.iter().find(|r| r["part"] == part).expect("part")["source"]
            .as_str()
            .expect("source")
            .to_string()
    };
    assert!(source("access-info.subject.txt").ends_with("tpl/access-info.subject.txt"));
    assert_eq!(source("access-info.txt"), "built-in");
    env.write("tpl/page-form.html", "{% extends \"page.html\" %}");
    let rows: serde_json::Value =
        serde_json::from_str(&env.ok(&["templates", "list", "--format", "json"])).expect("json");
    let row = |part: &str| {
        rows.as_array()
            .expect("array")
            .iter()
            .find(|r| r["part"] == part)
            .unwrap_or_else(|| panic!("no {part}"))
            .clone()
    };
    assert!(
        row("page-form.html")["source"]
            .as_str()
            .expect("source")
            .ends_with("tpl/page-form.html")
    );
    assert_eq!(row("page-form.html")["template"], "page");
    assert_eq!(row("page.css")["source"], "built-in");
}

#[test]
fn show_prints_the_builtin_source_and_the_variables() {
    let env = TestEnv::empty();
    let text = env.ok(&["templates", "show", "access-info"]);
    assert!(text.contains("==> access-info.subject.txt <=="));
    assert!(
        text.contains("Temporary password: {{ password }}"),
        "the raw source: {text}"
    );
    assert!(text.contains("support_contact") && text.contains("expires_in"));
    assert_fails(
        &env.run(&["templates", "show", "welcome"]),
        2,
        "no template",
    );
}

#[test]
fn show_prints_a_builtin_translation_to_start_from() {
    let env = TestEnv::empty();
    let polish = env.ok(&["templates", "show", "email-changed", "--locale", "pl"]);
    assert!(polish.contains("==> email-changed.pl.txt <=="), "{polish}");
    assert!(polish.contains("Dzień dobry {{ user.name }}"), "{polish}");
    let english = env.ok(&["templates", "show", "email-changed", "--locale", "EN"]);
    assert!(english.contains("==> email-changed.txt <=="), "{english}");
    assert_fails(
        &env.run(&["templates", "show", "email-changed", "--locale", "de"]),
        2,
        "no built-in de translation",
    );
}

#[test]
fn preview_renders_with_sample_or_real_data_and_sends_nothing() {
    let env = TestEnv::with_samples();
    let out = env.ok(&["templates", "preview", "password-change-link"]);
    assert!(out.contains("Subject: Reset your Example App password"));
    assert!(out.contains("Hello Alice Andersen,"));
    assert!(
        out.contains("http://localhost:8080/reset-password?token=PREVIEW-ONLY-NOT-A-REAL-TOKEN")
    );
    let out = env.ok(&["templates", "preview", "access-info", "--user", "bob"]);
    assert!(
        out.contains("Hello Bob Brown,")
            && out.contains("Temporary password: PREVIEW-ONLY-PASSWORD")
    );
    assert!(
        out.contains("stops working in 24 hours"),
        "access-info uses password.temp_ttl: {out}"
    );
    assert!(env.outbox().is_empty(), "nothing sent");
    assert_eq!(env.count("SELECT count(*) FROM reset_tokens"), 0);
    assert_fails(
        &env.run(&["templates", "preview", "access-info", "--user", "zed"]),
        4,
        "no user matches",
    );
}

#[test]
fn html_is_escaped_for_a_user_named_script_and_text_is_not() {
    let env = TestEnv::with_samples();
    env.db().execute(
        "UPDATE users SET display_name = '<script>alert(1)</script>' WHERE username = 'bob'",
        &[],
    );
    let out = env.ok(&[
        "templates",
        "preview",
        "password-change-link",
        "--user",
        "bob",
    ]);
    let (text, html) = out.split_once("==> text/html <==").expect("both parts");
    assert!(text.contains("Hello <script>alert(1)</script>,"), "{text}");
    assert!(
        html.contains("Hello &lt;script&gt;alert(1)&lt;/script&gt;,"),
        "{html}"
    );
    assert!(!html.contains("<script>"));
}

#[test]
fn check_reports_every_problem_with_file_line_and_variable() {
    let env = TestEnv::with_samples();
    let out = env.run(&["templates", "check"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "All 4 templates render, and the 10 pages of `pwreset serve`, in en, id, pl."
        )
    );
    with_template_dir(&env);
    env.write("tpl/access-info.txt", "Hi\n{{ user.nmae }}\n");
    env.write("tpl/password-changed.html", "{% if %}");
    env.write(
        "tpl/page-gone.html",
        "{% extends \"page.html\" %}{% block content %}{{ reason }}{% endblock %}",
    );
    let out = env.run(&["templates", "check"]);
    assert_eq!(code(&out), 8);
    let err = stderr(&out);
    assert!(
        err.contains("tpl/access-info.txt: line 2: undefined value") && err.contains("user.nmae"),
        "{err}"
    );
    assert!(
        err.contains("tpl/password-changed.html: line 1: syntax error"),
        "{err}"
    );
    assert!(
        err.contains("tpl/page-gone.html: line 1: undefined value") && err.contains("reason"),
        "{err}"
    );
    assert!(stdout(&out).is_empty());
    // A broken override stops a real send too, before any token is written (exit 8).
    env.write("tpl/password-change-link.txt", "{{ lnk }}");
    assert_fails(
        &env.run(&["send-link", "alice"]),
        8,
        "password-change-link.txt",
    );
    assert_eq!(
        env.count("SELECT count(*) FROM reset_tokens WHERE revoked_at IS NULL"),
        0
    );
}
