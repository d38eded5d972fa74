//! Snapshots (insta) of what people read: every command's help, each template rendered for a
//! sample user, `config show` with the password redacted, and `templates check` errors.
//! Review changes with `cargo insta review` (or accept with `INSTA_UPDATE=always`).

use crate::support::{TestEnv, stderr};

/// Every command path, for the help snapshots.
const COMMANDS: &[&[&str]] = &[
    &[],
    &["init"],
    &["send-link"],
    &["reset", "send-link"],
    &["reset", "generate"],
    &["reset", "bulk"],
    &["tokens", "list"],
    &["tokens", "verify"],
    &["tokens", "redeem"],
    &["tokens", "revoke"],
    &["tokens", "purge"],
    &["users", "list"],
    &["users", "show"],
    &["users", "add"],
    &["users", "edit"],
    &["users", "import"],
    &["users", "activate"],
    &["users", "deactivate"],
    &["audit"],
    &["audit", "verify"],
    &["config", "show"],
    &["config", "check"],
    &["templates", "list"],
    &["templates", "show"],
    &["templates", "preview"],
    &["templates", "check"],
    &["smtp", "test"],
    &["completions"],
    &["man"],
];

#[test]
fn help_of_every_command() {
    let env = TestEnv::empty();
    for path in COMMANDS {
        let mut args = path.to_vec();
        args.push("--help");
        let help = env.ok(&args);
        assert!(
            help.contains("Examples:")
                || path.is_empty()
                || path.len() == 1 && matches!(path[0], "reset" | "tokens" | "users"),
            "{path:?}"
        );
        let name = if path.is_empty() {
            "pwreset".to_string()
        } else {
            format!("pwreset {}", path.join(" "))
        };
        insta::assert_snapshot!(
            format!("help {}", path.join(" ")).trim().replace(' ', "_"),
            help,
            &name
        );
    }
}

/// Each mail in each built-in language, for the sample user with placeholder secrets, so that
/// a change of wording shows in review.
#[test]
fn templates_rendered_for_a_sample_user() {
    let env = TestEnv::with_samples();
    for name in [
        "password-change-link",
        "access-info",
        "password-changed",
        "email-changed",
    ] {
        let preview = env.ok(&["templates", "preview", name]);
        insta::assert_snapshot!(format!("template_{name}"), preview);
        for locale in ["id", "pl"] {
            let preview = env.ok(&["templates", "preview", name, "--locale", locale]);
            insta::assert_snapshot!(format!("template_{name}_{locale}"), preview);
        }
    }
}

#[test]
fn config_show_with_the_password_redacted() {
    let env = TestEnv::with_samples();
    let out = env
        .cmd()
        .args(["config", "show"])
        .env("PWRESET_SMTP_PASSWORD", "hunter2-secret")
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!text.contains("hunter2-secret"));
    insta::assert_snapshot!("config_show", text);
}

#[test]
fn templates_check_errors() {
    let env = TestEnv::with_samples();
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    env.write(
        "pwreset.toml",
        &config.replace(
            "app_name = \"Example App\"",
            "app_name = \"Example App\"\ndir = \"tpl\"",
        ),
    );
    std::fs::create_dir_all(env.path("tpl")).expect("mkdir");
    env.write("tpl/access-info.txt", "Hello {{ user.nmae }}\n");
    env.write("tpl/password-change-link.html", "<p>{% for %}</p>");
    let out = env.run(&["templates", "check"]);
    insta::assert_snapshot!("templates_check_errors", stderr(&out));
}
