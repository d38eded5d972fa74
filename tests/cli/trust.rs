//! Files pwreset runs or reads its instructions from must be trusted: owned by root or the
//! running user and writable by nobody else (the suite runs as root, so "another user" is uid
//! 65534). Each planted or loose file is refused with exit 8 and one line naming the file, its
//! owner and its mode, and nothing is sent or written.

use std::os::unix::fs::{PermissionsExt, chown};
use std::path::Path;

use crate::support::*;

const NOBODY: u32 = 65534;

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

pub(crate) fn give_away(path: &Path) {
    chown(path, Some(NOBODY), None).expect("chown to nobody");
}

fn edit_config(env: &TestEnv, from: &str, to: &str) {
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    assert!(config.contains(from), "{from:?} is in the config");
    env.write("pwreset.toml", &config.replacen(from, to, 1));
}

/// Refused with exit 8, an error line holding every `needle` and a hint holding `hint`; no
/// mail and no token row.
fn assert_refused(env: &TestEnv, out: &std::process::Output, needles: &[&str], hint: &str) {
    assert_eq!(code(out), 8, "{}", stderr(out));
    let err = stderr(out);
    let line = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("an error line in {err}"));
    for needle in needles {
        assert!(line.contains(needle), "{needle:?} in {line:?}");
    }
    assert!(
        err.lines()
            .any(|l| l.starts_with("hint: ") && l.contains(hint)),
        "hint {hint:?} in {err}"
    );
    assert!(env.outbox().is_empty(), "nothing was mailed");
    assert!(!env.path("sendmail.msg").exists(), "sendmail never ran");
    assert_eq!(env.count("SELECT count(*) FROM reset_tokens"), 0);
    assert_eq!(env.count("SELECT count(*) FROM mail_intents"), 0);
}

#[test]
fn a_config_owned_by_another_user_is_refused_not_skipped() {
    let env = TestEnv::with_samples();
    let config = env.path("pwreset.toml");
    set_mode(&config, 0o644);
    give_away(&config);
    let out = env.run(&["send-link", "alice"]);
    assert_refused(
        &env,
        &out,
        &[
            "config file (found on the search path) pwreset.toml is owned by another user",
            "uid 65534",
            "mode 644",
        ],
        "chown root",
    );
    let named = env.run(&["--config", "pwreset.toml", "send-link", "alice"]);
    assert_refused(
        &env,
        &named,
        &["config file pwreset.toml is owned by another user"],
        "chown",
    );
}

#[test]
fn a_group_writable_config_is_refused() {
    let env = TestEnv::with_samples();
    set_mode(&env.path("pwreset.toml"), 0o620);
    let out = env.run(&["send-link", "alice"]);
    assert_refused(
        &env,
        &out,
        &["pwreset.toml is writable by its group (owner root, mode 620)"],
        "chmod go-w pwreset.toml",
    );
}

/// A fake sendmail in `bin/` that would record the message.
fn use_sendmail(env: &TestEnv) -> std::path::PathBuf {
    let bin = env.path("bin");
    std::fs::create_dir(&bin).expect("mkdir bin");
    let program = bin.join("sendmail");
    std::fs::write(
        &program,
        format!(
            "#!/bin/sh\ncat > '{}'\n",
            env.path("sendmail.msg").display()
        ),
    )
    .expect("write sendmail");
    set_mode(&program, 0o755);
    edit_config(
        env,
        "transport = \"file\"",
        &format!(
            "transport = \"sendmail\"\nsendmail = {{ path = \"{}\" }}",
            program.display()
        ),
    );
    program
}

#[test]
fn a_sendmail_program_writable_by_others_is_refused() {
    let env = TestEnv::with_samples();
    let program = use_sendmail(&env);
    env.ok(&["send-link", "alice"]);
    assert!(env.path("sendmail.msg").exists(), "the trusted setup sends");
    std::fs::remove_file(env.path("sendmail.msg")).expect("rm");
    env.db()
        .batch("DELETE FROM reset_tokens; DELETE FROM mail_intents;");

    set_mode(&program, 0o757);
    let out = env.run(&["send-link", "bob"]);
    let shown = format!(
        "sendmail program {} is writable by others",
        program.display()
    );
    assert_refused(&env, &out, &[&shown, "owner root, mode 757"], "chmod go-w");
}

#[test]
fn a_sendmail_program_in_a_directory_writable_by_others_is_refused() {
    let env = TestEnv::with_samples();
    let program = use_sendmail(&env);
    let bin = env.path("bin");
    set_mode(&bin, 0o777);
    let out = env.run(&["send-link", "alice"]);
    let shown = format!(
        "sendmail program {}: directory {} is writable by others (owner root, mode 777)",
        program.display(),
        bin.display()
    );
    assert_refused(
        &env,
        &out,
        &[&shown],
        &format!("chmod go-w {}", bin.display()),
    );
    set_mode(&bin, 0o1777);
    env.ok(&["send-link", "alice"]);
    assert!(
        env.path("sendmail.msg").exists(),
        "a sticky directory is fine"
    );
}

#[test]
fn a_templates_folder_or_template_owned_by_another_user_is_refused() {
    let env = TestEnv::with_samples();
    let dir = env.path("templates");
    std::fs::create_dir(&dir).expect("mkdir templates");
    edit_config(&env, "[templates]\n", "[templates]\ndir = \"templates\"\n");
    let file = dir.join("reset-link.txt");
    std::fs::write(&file, "Reset: {{ link }}\n").expect("write template");
    give_away(&file);
    let out = env.run(&["send-link", "alice"]);
    assert_refused(
        &env,
        &out,
        &[
            "template file",
            "reset-link.txt is owned by another user",
            "uid 65534",
        ],
        "chown root",
    );
    chown(&file, Some(0), None).expect("chown back");
    give_away(&dir);
    let out = env.run(&["reset", "generate", "alice", "--email", "--yes"]);
    assert_refused(
        &env,
        &out,
        &["templates folder", "templates is owned by another user"],
        "chown root",
    );
}

#[test]
fn a_store_or_mail_folder_owned_by_another_user_is_refused() {
    let env = TestEnv::with_samples();
    give_away(&env.path("outbox"));
    let out = env.run(&["send-link", "alice"]);
    assert_refused(
        &env,
        &out,
        &["mail folder", "outbox is owned by another user"],
        "chown root",
    );
}

#[test]
fn an_smtp_password_or_ca_file_owned_by_another_user_is_refused() {
    let env = TestEnv::with_samples();
    let secret = env.write("smtp.pass", "hunter2-but-longer\n");
    set_mode(&secret, 0o600);
    give_away(&secret);
    let ca = env.write("ca.pem", "not read\n");
    edit_config(
        &env,
        "transport = \"file\"",
        "transport = \"smtp\"\nsmtp = { host = \"localhost\", port = 1, tls = \"starttls\", username = \"u\", password_file = \"smtp.pass\", ca_file = \"ca.pem\", timeout = \"2s\" }",
    );
    let out = env.run(&["send-link", "alice"]);
    assert_refused(
        &env,
        &out,
        &["SMTP password file", "smtp.pass is owned by another user"],
        "chown root",
    );
    assert!(!stderr(&out).contains("hunter2"));
    chown(&secret, Some(0), None).expect("chown back");
    set_mode(&ca, 0o666);
    let out = env.run(&["send-link", "alice"]);
    assert_refused(
        &env,
        &out,
        &["SMTP CA file ca.pem is writable by others"],
        "chmod go-w ca.pem",
    );
}

/// The audit key decides what the log proves: a key file another user could have swapped is
/// refused like a planted config, before anything is sent.
#[test]
fn an_audit_key_owned_by_another_user_is_refused() {
    let env = TestEnv::with_samples();
    let key = env.path("audit.key");
    assert!(key.exists(), "init wrote the key beside the config");
    give_away(&key);
    let out = env.run(&["send-link", "alice"]);
    assert_refused(
        &env,
        &out,
        &["audit key file", "owned by another user"],
        "chown root",
    );
}

/// A file is only as safe as the directories above it: a config in a group-writable directory
/// could be swapped between pwreset's check and its use, so it is refused like a loose config.
#[test]
fn a_config_in_a_group_writable_directory_is_refused() {
    let env = TestEnv::with_samples();
    let shared = env.path("shared");
    std::fs::create_dir(&shared).expect("mkdir");
    set_mode(&shared, 0o775);
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    std::fs::write(shared.join("pwreset.toml"), config).expect("write");
    set_mode(&shared.join("pwreset.toml"), 0o600);
    let path = shared.join("pwreset.toml");
    let out = env.run(&[
        "--config",
        path.to_str().expect("UTF-8"),
        "send-link",
        "alice",
    ]);
    assert_refused(
        &env,
        &out,
        &["config file", "directory", "writable"],
        "chmod go-w",
    );
}
