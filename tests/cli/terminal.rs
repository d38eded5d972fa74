//! Control characters never reach a terminal (LOC-4): CSV and JSON listings, template previews
//! and warnings quote user data neutralised on a terminal, and exact in a pipe.

use crate::support::{TestEnv, on_terminal_unprompted, stderr, stdout};

/// Erase the screen, a C1 CSI, a bidirectional override.
const EVIL: &str = "Alice\u{1b}[2J\u{9b}31m\u{202e}gpj.exe";

fn env_with_evil_name() -> TestEnv {
    let env = TestEnv::with_samples();
    env.db()
        .execute(
            "UPDATE users SET display_name = ?1 WHERE username = 'alice'",
            [EVIL],
        )
        .expect("plant the name");
    env
}

/// The screen holds no raw control character that acts on a terminal (the pty's own CR and
/// LF aside).
fn assert_neutral(screen: &str) {
    let raw: Vec<char> = screen
        .chars()
        .filter(|c| {
            !matches!(c, '\r' | '\n')
                && (c.is_control()
                    || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
        })
        .collect();
    assert!(
        raw.is_empty(),
        "raw controls {raw:?} on the terminal:\n{screen}"
    );
}

#[test]
fn csv_and_json_are_neutralised_on_a_terminal_and_exact_in_a_pipe() {
    let env = env_with_evil_name();
    let (code, screen) = on_terminal_unprompted(&env, &["users", "list", "--format", "csv"]);
    assert_eq!(code, 0, "{screen}");
    assert_neutral(&screen);
    assert!(
        screen.contains(r"Alice\u{1b}[2J\u{9b}31m\u{202e}gpj.exe"),
        "{screen}"
    );
    let piped = env.ok(&["users", "list", "--format", "csv"]);
    assert!(
        piped.contains(EVIL),
        "a pipe gets the data exactly:\n{piped}"
    );

    let (code, screen) = on_terminal_unprompted(&env, &["users", "list", "--format", "json"]);
    assert_eq!(code, 0, "{screen}");
    assert_neutral(&screen);
    let piped = env.ok(&["users", "list", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&piped).expect("json");
    assert!(
        rows.as_array()
            .expect("an array")
            .iter()
            .any(|row| row.to_string().contains(r"\u001b[2J")),
        "{piped}"
    );
    assert!(
        piped.contains(r"\u009b31m\u202egpj.exe"),
        "JSON escapes C1 and bidi controls: {piped}"
    );
}

#[test]
fn a_preview_of_a_users_mail_is_neutralised_on_a_terminal() {
    let env = env_with_evil_name();
    let args = ["templates", "preview", "access-info", "--user", "alice"];
    let (code, screen) = on_terminal_unprompted(&env, &args);
    assert_eq!(code, 0, "{screen}");
    assert_neutral(&screen);
    assert!(screen.contains(r"Hello Alice\u{1b}[2J"), "{screen}");
    assert!(env.ok(&args).contains(&format!("Hello {EVIL}")));
}

#[test]
fn warnings_neutralise_what_they_quote() {
    let env = TestEnv::initialised();
    let file = "staff\u{1b}]0;owned\u{7}.csv";
    env.write(file, "email\nnope\n");
    let (code, screen) =
        on_terminal_unprompted(&env, &["--color", "never", "users", "import", file]);
    assert_eq!(code, 3, "{screen}");
    assert_neutral(&screen);
    assert!(
        screen.contains(r"staff\u{1b}]0;owned\u{7}.csv:2:"),
        "{screen}"
    );
    let out = env.run(&["users", "import", file]);
    assert!(
        !stderr(&out).contains('\u{1b}'),
        "stderr is neutralised in a pipe too: {}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "");
}
