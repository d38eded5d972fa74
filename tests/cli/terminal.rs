//! Control characters never reach a terminal (LOC-4): CSV and JSON listings, template previews
//! and warnings quote user data neutralised on a terminal, and exact in a pipe.

use crate::support::{TestEnv, on_terminal_unprompted, stderr, stdout};

/// Erase the screen, a C1 CSI, a bidirectional override.
const EVIL: &str = "Alice\u{1b}[2J\u{9b}31m\u{202e}gpj.exe";

fn env_with_evil_name() -> TestEnv {
    let env = TestEnv::with_samples();
    env.db().execute(
        "UPDATE users SET display_name = ?1 WHERE username = 'alice'",
        &pwreset::vals![EVIL],
    );
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

/// A loopback SMTP server whose replies carry terminal escapes: the greeting, the reply to the
/// end of DATA, and a refusal of RCPT TO `refused@example.com`. Serves until the test ends.
fn hostile_smtp_server() -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut out = stream.try_clone().expect("clone");
            let mut lines = BufReader::new(stream).lines();
            let mut reply = |text: &str| out.write_all(format!("{text}\r\n").as_bytes());
            let _ = reply("220 mx.example.com \u{1b}[2J ready");
            while let Some(Ok(line)) = lines.next() {
                let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                let sent = match verb.as_str() {
                    "EHLO" => reply("250-mx.example.com\r\n250 8BITMIME"),
                    "RCPT" if line.contains("refused@") => {
                        reply("550 5.1.1 no \u{1b}]0;owned\u{7}such \u{9b}31m user")
                    }
                    "DATA" => {
                        let _ = reply("354 go on");
                        while lines.next().is_some_and(|l| l.is_ok_and(|l| l != ".")) {}
                        reply("250 2.0.0 queued \u{1b}[31mred\u{202e}")
                    }
                    "QUIT" => {
                        let _ = reply("221 bye");
                        break;
                    }
                    _ => reply("250 OK"),
                };
                if sent.is_err() {
                    break;
                }
            }
        }
    });
    port
}

#[test]
fn smtp_server_replies_are_neutralised_in_status_lines_reports_and_errors() {
    let env = TestEnv::with_samples();
    let port = hostile_smtp_server();
    env.write(
        "pwreset.toml",
        &format!(
            "{}\n\
             [mail]\ntransport = \"smtp\"\nfrom = \"Example <no-reply@example.com>\"\n\n\
             [mail.smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\ntimeout = \"2s\"\n\n\
             [links]\nbase_url = \"https://app.example.com/reset\"\n",
            env.store_config()
        ),
    );
    let raw = |text: &str| {
        text.chars()
            .any(|c| c == '\u{1b}' || c == '\u{9b}' || c == '\u{7}')
    };

    let out = env.run(&["send-link", "alice"]);
    assert_eq!(crate::support::code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!raw(&err), "{err:?}");
    assert!(err.contains(r"queued \u{1b}[31mred\u{202e}"), "{err}");

    let out = env.run(&["smtp", "test", "--send-to", "ops@example.com"]);
    assert_eq!(crate::support::code(&out), 0, "{}", stderr(&out));
    assert!(!raw(&stdout(&out)) && !raw(&stderr(&out)), "{out:?}");
    assert!(
        stdout(&out).contains(r"accepted: 250 2.0.0 queued \u{1b}[31mred"),
        "{}",
        stdout(&out)
    );

    let out = env.run(&["smtp", "test", "--send-to", "refused@example.com"]);
    assert_ne!(crate::support::code(&out), 0);
    let err = stderr(&out);
    assert!(err.starts_with("error: ") && !raw(&err), "{err:?}");
    assert!(err.contains(r"\u{1b}]0;owned\u{7}such"), "{err}");
}
