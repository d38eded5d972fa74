//! `pwreset users import`

use crate::support::{TestEnv, assert_fails, code, stderr, stdout};

#[test]
fn import_reports_bad_rows_by_line_and_exits_3() {
    let env = TestEnv::initialised();
    env.write(
        "staff.csv",
        "email,username,name,active\nalice@example.com,alice,Alice,true\n\nbroken,,,\nALICE@example.com,al,,\nbob@example.com,bob,Bob,false\n",
    );
    let out = env.run(&["users", "import", "staff.csv"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("staff.csv:4: malformed email"), "{err}");
    assert!(
        err.contains("staff.csv:5: duplicate email, first seen on line 2"),
        "{err}"
    );
    assert!(
        err.contains("Imported 2 users; 0 already present; 2 rows rejected"),
        "{err}"
    );
    assert_eq!(env.count("SELECT count(*) FROM users"), 2);
    assert_eq!(
        env.count("SELECT active FROM users WHERE username = 'bob'"),
        0
    );
}

#[test]
fn reimport_is_harmless() {
    let env = TestEnv::initialised();
    env.write("u.csv", "email,name\na@example.com,A\nb@example.com,B\n");
    env.ok(&["users", "import", "u.csv"]);
    let out = env.run(&["users", "import", "u.csv"]);
    assert_eq!(code(&out), 0);
    assert!(stderr(&out).contains("Imported 0 users; 2 already present"));
    assert_eq!(env.count("SELECT count(*) FROM users"), 2);
}

#[test]
fn import_from_stdin_with_json_report() {
    let env = TestEnv::initialised();
    let input = b"email\nz@example.com\nnope\n\xff@example.com\n".to_vec();
    let out = env
        .cmd()
        .args(["users", "import", "-", "--format", "json"])
        .write_stdin(input)
        .output()
        .expect("run");
    assert_eq!(code(&out), 3);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(
        report,
        serde_json::json!({"imported": 1, "already_present": 0, "rejected": [
            {"line": 3, "reason": "malformed email \"nope\""},
            {"line": 4, "reason": "invalid UTF-8"}
        ]})
    );
}

#[test]
fn import_rejects_control_characters_and_crlf_in_fields() {
    let env = TestEnv::initialised();
    env.write("x.csv", "email,name\r\nok@example.com,Ok\r\nbad@example.com,\"Bad\r\nBcc: evil@example.com\"\r\ntab@example.com,a\u{1b}b\r\n");
    let out = env.run(&["users", "import", "x.csv"]);
    assert_eq!(code(&out), 3);
    assert!(
        stderr(&out).contains("x.csv:3: contains CR/LF or control characters"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("x.csv:5: contains CR/LF"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.count("SELECT count(*) FROM users"), 1);
}

#[test]
fn a_bad_header_or_missing_file_changes_nothing() {
    let env = TestEnv::initialised();
    env.write("h.csv", "mail,name\na@example.com,A\n");
    assert_fails(
        &env.run(&["users", "import", "h.csv"]),
        2,
        "bad CSV header: unknown column \"mail\"",
    );
    assert_fails(
        &env.run(&["users", "import", "missing.csv"]),
        8,
        "cannot read missing.csv",
    );
    assert_eq!(env.count("SELECT count(*) FROM users"), 0);
}
