//! A corpus of hostile input: invalid UTF-8, CR/LF and NUL in names and addresses, a 10 MB
//! line, byte-order marks, mixed line endings, SQL metacharacters and terminal escapes, in
//! bulk selections, `users import`, `users add`, secrets on stdin and template files. Each
//! gets its documented exit code and message; where pwreset refuses, the store is unchanged.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::{Output, Stdio};

use crate::support::{TestEnv, code, finish, json, run_bounded, stderr, stdout, users_snapshot};

const SQL: &str = "'; DROP TABLE users; --";

/// Write raw bytes into the temp dir; returns the path as text.
fn write_bytes(env: &TestEnv, name: &str, bytes: &[u8]) -> String {
    let path = env.path(name);
    std::fs::write(&path, bytes).expect("write file");
    path.display().to_string()
}

/// What the store holds that a refused command must leave alone.
fn store_state(env: &TestEnv) -> (Vec<String>, i64, i64) {
    (
        users_snapshot(env),
        env.count("SELECT count(*) FROM bulk_runs"),
        env.count("SELECT count(*) FROM audit_log"),
    )
}

/// The exit code, and stderr after checking it holds no escape or NUL byte.
fn refusal(out: &Output) -> (i32, String) {
    assert!(
        !out.stderr.iter().any(|b| matches!(b, 0 | 0x1b)),
        "raw control bytes on stderr: {:?}",
        stderr(out)
    );
    (code(out), stderr(out))
}

/// `reset bulk --link --dry-run --format json --file FILE`, bounded in time.
fn dry_run(env: &TestEnv, file: &str) -> Output {
    let args = [
        "reset",
        "bulk",
        "--link",
        "--dry-run",
        "--format",
        "json",
        "--file",
        file,
    ];
    run_bounded(env, &args)
}

/// Each planned row as (entry, user, reason).
fn plan_rows(out: &Output) -> Vec<(String, Option<String>, Option<String>)> {
    assert_eq!(code(out), 0, "{}", stderr(out));
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    json(&stdout(out))
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|r| {
            let entry = text(&r["entry"]).expect("entry");
            (entry, text(&r["user"]), text(&r["reason"]))
        })
        .collect()
}

fn row(
    entry: &str,
    user: Option<&str>,
    reason: Option<&str>,
) -> (String, Option<String>, Option<String>) {
    (
        entry.to_owned(),
        user.map(str::to_owned),
        reason.map(str::to_owned),
    )
}

// Bulk selection files

#[test]
fn selection_with_a_bom_hash_ids_comments_and_mixed_line_endings() {
    let env = TestEnv::with_samples();
    let file = write_bytes(
        &env,
        "list.txt",
        b"\xef\xbb\xbf#1\r\n# a comment\r\n  #\n#\tanother\nbob\r#2\n\n",
    );
    assert_eq!(
        plan_rows(&dry_run(&env, &file)),
        vec![
            row("#1", Some("alice"), None),
            row("bob", Some("bob"), None),
            row("#2", Some("bob"), Some("duplicate")),
        ]
    );
}

#[test]
fn selection_csv_saved_by_excel_resolves_every_row() {
    let env = TestEnv::with_samples();
    let file = write_bytes(
        &env,
        "list.csv",
        b"\xef\xbb\xbfemail,name\r\nalice@example.com,Alice\r\nbob@example.com,Bob\r\n",
    );
    assert_eq!(
        plan_rows(&dry_run(&env, &file)),
        vec![
            row("alice@example.com", Some("alice"), None),
            row("bob@example.com", Some("bob"), None),
        ]
    );
}

#[test]
fn selection_with_sql_metacharacters_names_nobody_and_changes_nothing() {
    let env = TestEnv::with_samples();
    let before = store_state(&env);
    let file = write_bytes(&env, "list.txt", format!("{SQL}\nalice\n").as_bytes());
    assert_eq!(
        plan_rows(&dry_run(&env, &file)),
        vec![
            row(SQL, None, Some("unknown")),
            row("alice", Some("alice"), None)
        ]
    );
    assert_eq!(store_state(&env), before);
}

#[test]
fn selections_past_a_limit_end_with_exit_2_in_bounded_time() {
    let env = TestEnv::with_samples();
    let before = store_state(&env);
    let long_line = write_bytes(
        &env,
        "long.txt",
        &[b"alice\n".as_slice(), &vec![b'x'; 10 << 20]].concat(),
    );
    let many_lines = write_bytes(&env, "lines.txt", &vec![b'\n'; 1_000_001]);
    let mut large = Vec::new();
    while large.len() <= 16 << 20 {
        large.extend_from_slice(b"someone-with-a-longish-name@example.com\n");
    }
    let large = write_bytes(&env, "large.txt", &large);
    for (file, message) in [
        ("/dev/zero", "line 1 is longer than 64 KiB"),
        (long_line.as_str(), "line 2 is longer than 64 KiB"),
        (many_lines.as_str(), "the input has more than 1000000 lines"),
        (large.as_str(), "the input is larger than 16 MiB"),
    ] {
        let (exit, err) = refusal(&dry_run(&env, file));
        assert_eq!(exit, 2, "{file}: {err}");
        let first = err.lines().next().unwrap_or_default();
        assert_eq!(first, format!("error: cannot read {file}: {message}"));
        assert!(err.contains("hint: split the input"), "{err}");
    }
    assert_eq!(store_state(&env), before);
}

#[test]
fn selections_with_bad_bytes_are_refused_naming_the_line() {
    let env = TestEnv::with_samples();
    let before = store_state(&env);
    for (bytes, message) in [
        (&b"alice\n\xff\xfebob\n"[..], "line 2 is not valid UTF-8"),
        (b"alice\nb\x00ob\n", "line 2 contains control characters"),
        (
            b"\x1b]0;pwned\x07alice\n",
            "line 1 contains control characters",
        ),
        (
            b"email\r\nalice@example.com\r\n\"\x1b[2Jbob\"\r\n",
            "line 3 contains control characters",
        ),
    ] {
        let file = write_bytes(&env, "bad.txt", bytes);
        let out = dry_run(&env, &file);
        let (exit, err) = refusal(&out);
        assert_eq!(exit, 2, "{err}");
        assert_eq!(
            stdout(&out),
            "",
            "the file is checked before any row is printed"
        );
        assert_eq!(
            err.trim_end(),
            format!("error: cannot read the selection: {message}")
        );
        let out = run_bounded(&env, &["reset", "bulk", "--link", "--yes", "--file", &file]);
        assert_eq!(
            refusal(&out).0,
            2,
            "a real run is refused before planning too"
        );
    }
    assert_eq!(store_state(&env), before);
}

// users import

#[test]
fn import_rejects_each_hostile_row_by_line_and_keeps_sql_text_verbatim() {
    let env = TestEnv::initialised();
    let sql_name = "';DROP/**/TABLE/**/users;--";
    let csv = [
        b"\xef\xbb\xbfemail,username,name\r\n".as_slice(),
        b"ok@example.com,ok,Ok\r\n",
        b"crlf@example.com,crlf,\"two\r\nlines\"\n",
        b"nul@exa\x00mple.com,nul,\n",
        b"esc@example.com,esc,\x1b[31mRed\n",
        b"bad@example.com,bad,\xff\xfe\r\n",
        b"sql@example.com,",
        sql_name.as_bytes(),
        b",\"Robert'); DROP TABLE users;--\"\n",
        format!("space@example.com,{SQL},\n").as_bytes(),
    ]
    .concat();
    let file = write_bytes(&env, "staff.csv", &csv);
    let (exit, err) = refusal(&run_bounded(&env, &["users", "import", &file]));
    assert_eq!(exit, 3, "{err}");
    for (line, reason) in [
        (3, "contains CR/LF or control characters"),
        (5, "contains CR/LF or control characters"),
        (6, "contains CR/LF or control characters"),
        (7, "invalid UTF-8"),
        (9, "username contains whitespace or control characters"),
    ] {
        assert!(
            err.contains(&format!("staff.csv:{line}: {reason}")),
            "line {line}: {err}"
        );
    }
    assert!(
        err.contains("Imported 2 users; 0 already present; 5 rows rejected"),
        "{err}"
    );
    let db = env.db();
    let name: String = db.query_one(
        "SELECT display_name FROM users WHERE username = ?1",
        &pwreset::vals![sql_name],
        |r| r.get(0),
    );
    assert_eq!(name, "Robert'); DROP TABLE users;--");
}

#[test]
fn import_of_a_10_mb_line_is_refused_before_any_row() {
    let env = TestEnv::with_samples();
    let before = store_state(&env);
    let csv = [
        b"email\nzoe@example.com\n".as_slice(),
        &vec![b'a'; 10 << 20],
    ]
    .concat();
    let file = write_bytes(&env, "big.csv", &csv);
    let (exit, err) = refusal(&run_bounded(&env, &["users", "import", &file]));
    assert_eq!(exit, 2, "{err}");
    assert!(
        err.starts_with(&format!(
            "error: cannot read {file}: line 3 is longer than 64 KiB\n"
        )),
        "{err}"
    );
    assert_eq!(store_state(&env), before);
}

#[test]
fn import_with_mixed_line_endings_imports_every_row() {
    let env = TestEnv::initialised();
    let file = write_bytes(
        &env,
        "mixed.csv",
        b"email\r\na@example.com\nb@example.com\r\n\r\nc@example.com",
    );
    let out = run_bounded(&env, &["users", "import", &file]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(env.count("SELECT count(*) FROM users"), 3);
}

// users add

#[test]
fn users_add_refuses_control_characters_and_invalid_utf8() {
    let env = TestEnv::with_samples();
    let before = store_state(&env);
    let cases: [(&[&[u8]], &str); 4] = [
        (
            &[b"zoe@example.com\r\nBcc: all@example.com"],
            "email contains control characters",
        ),
        (
            &[b"zoe@example.com", b"--name", b"Zoe\nBcc: all@example.com"],
            "name contains control characters",
        ),
        (
            &[b"zoe@example.com", b"--name", b"\x1b[31mZoe"],
            "name contains control characters",
        ),
        (
            &[b"zoe@example.com", b"--name", b"Zo\xffe"],
            "invalid UTF-8",
        ),
    ];
    for (args, message) in cases {
        let mut cmd = env.process(&["users", "add"]);
        cmd.args(args.iter().map(|a| OsStr::from_bytes(a)));
        let out = finish(
            cmd.stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start"),
        );
        let (exit, err) = refusal(&out);
        assert_eq!(exit, 2, "{err}");
        assert!(err.contains(message), "{message}: {err}");
    }
    assert_eq!(store_state(&env), before);
}

#[test]
fn users_add_stores_sql_metacharacters_as_text() {
    let env = TestEnv::with_samples();
    env.ok(&[
        "users",
        "add",
        "sql@example.com",
        "--username",
        "x';--",
        "--name",
        SQL,
    ]);
    let name: String = env.db().query_one(
        "SELECT display_name FROM users WHERE username = 'x'';--'",
        &[],
        |r| r.get(0),
    );
    assert_eq!(name, SQL);
    assert_eq!(env.count("SELECT count(*) FROM users"), 5);
}

// Secrets on stdin

/// `tokens verify` with `bytes` on stdin (from a file, so nothing blocks on a full pipe).
fn verify_with_stdin(env: &TestEnv, bytes: &[u8]) -> Output {
    let path = write_bytes(env, "stdin.bin", bytes);
    let stdin = std::fs::File::open(path).expect("open stdin file");
    let child = env
        .process(&["tokens", "verify"])
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    finish(child)
}

#[test]
fn a_secret_on_stdin_is_one_bounded_utf8_line() {
    let env = TestEnv::with_samples();
    let before = store_state(&env);
    let (exit, err) = refusal(&verify_with_stdin(&env, &vec![b'A'; 10 << 20]));
    assert_eq!(exit, 2, "{err}");
    assert!(
        err.starts_with("error: the reset token on stdin is longer than 4096 bytes\n"),
        "{err}"
    );
    let (exit, err) = refusal(&verify_with_stdin(&env, b"\xff\xfe-not-a-token\n"));
    assert_eq!(
        (exit, err.trim_end()),
        (2, "error: the reset token on stdin is not valid UTF-8")
    );
    // A BOM, a CRLF and a second line are not part of the token: it is simply not valid.
    let (exit, err) = refusal(&verify_with_stdin(
        &env,
        b"\xef\xbb\xbfnot-a-token\r\nmore\n",
    ));
    assert_eq!(exit, 7, "{err}");
    assert_eq!(store_state(&env).0, before.0);
}

// Template files

#[test]
fn a_template_file_past_256_kib_is_exit_8_naming_it() {
    let env = TestEnv::with_samples();
    crate::templates::with_template_dir(&env);
    env.write("tpl/access-info.txt", &"x".repeat(256 * 1024));
    let out = run_bounded(&env, &["templates", "check"]);
    assert_eq!(
        code(&out),
        0,
        "exactly 256 KiB is accepted: {}",
        stderr(&out)
    );
    env.write("tpl/access-info.txt", &"x".repeat(256 * 1024 + 1));
    let (exit, err) = refusal(&run_bounded(&env, &["templates", "check"]));
    assert_eq!(exit, 8, "{err}");
    let first = err.lines().next().unwrap_or_default();
    assert!(
        first.contains("tpl/access-info.txt") && first.ends_with("larger than 256 KiB"),
        "{err}"
    );
    let (exit, err) = refusal(&run_bounded(
        &env,
        &["reset", "generate", "alice", "--email", "--yes"],
    ));
    assert_eq!(exit, 8, "{err}");
    assert!(err.contains("access-info.txt"), "{err}");
}

#[test]
fn an_endless_selection_on_stdin_ends_with_exit_2() {
    let env = TestEnv::with_samples();
    let before = store_state(&env);
    let child = env
        .process(&["reset", "bulk", "--link", "--yes", "--file", "-"])
        .stdin(std::fs::File::open("/dev/zero").expect("open /dev/zero"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    let (exit, err) = refusal(&finish(child));
    assert_eq!(exit, 2, "{err}");
    assert!(
        err.starts_with("error: cannot read -: line 1 is longer than 64 KiB\n"),
        "{err}"
    );
    assert_eq!(store_state(&env), before);
}
