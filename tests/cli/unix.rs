//! Unix citizenship: completions, man pages, and the files in contrib/.

use crate::support::{TestEnv, code, stdout};

#[test]
fn completions_for_every_shell_know_the_commands() {
    let env = TestEnv::empty();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = env.ok(&["completions", shell]);
        assert!(
            script.contains("send-link") && script.contains("purge"),
            "{shell}"
        );
    }
    assert_eq!(code(&env.run(&["completions", "tcsh"])), 2);
}

#[test]
fn man_pages_print_or_go_into_a_folder() {
    let env = TestEnv::empty();
    let page = env.ok(&["man"]);
    assert!(page.contains(".TH pwreset 1"), "{page}");
    env.ok(&["man", "--dir", env.dir().to_str().expect("utf8")]);
    for name in [
        "pwreset.1",
        "pwreset-send-link.1",
        "pwreset-reset-bulk.1",
        "pwreset-tokens-purge.1",
    ] {
        let text =
            std::fs::read_to_string(env.path(name)).unwrap_or_else(|_| panic!("{name} written"));
        assert!(text.contains(".TH"), "{name}");
    }
}

#[test]
fn contrib_runs_the_purge_the_readme_describes() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib");
    let cron = std::fs::read_to_string(root.join("pwreset.cron")).expect("cron file");
    let service =
        std::fs::read_to_string(root.join("systemd/pwreset-purge.service")).expect("service");
    let timer = std::fs::read_to_string(root.join("systemd/pwreset-purge.timer")).expect("timer");
    assert!(cron.contains("pwreset tokens purge"));
    assert!(service.contains("ExecStart=/usr/local/bin/pwreset tokens purge"));
    assert!(timer.contains("OnCalendar=hourly"));
    // The command they run works and is silent on success.
    let env = TestEnv::with_samples();
    let out = env.run(&["tokens", "purge"]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).is_empty() && out.stderr.is_empty());
}
