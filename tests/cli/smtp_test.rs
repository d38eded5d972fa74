//! `pwreset smtp test` against the in-process SMTP server.

use crate::smtp_server::SmtpServer;
use crate::support::{TestEnv, assert_fails, code, stderr, stdout};

/// Point the sample setup at `server` with these `[mail.smtp]` lines.
fn configure(env: &TestEnv, smtp: &str) {
    let text = format!(
        "{}[mail]\ntransport = \"smtp\"\nfrom = \"Example <no-reply@example.com>\"\n\
         [mail.smtp]\n{smtp}\n[links]\nbase_url = \"https://app.example.com/reset\"\n",
        env.store_config()
    );
    env.write("pwreset.toml", &text);
}

fn plain(server: &SmtpServer) -> String {
    format!(
        "host = \"127.0.0.1\"\nport = {}\ntls = \"none\"",
        server.port()
    )
}

fn starttls(server: &SmtpServer, extra: &str) -> String {
    let ca = server.ca_pem_path().expect("a test CA");
    format!(
        "host = \"localhost\"\nport = {}\ntls = \"starttls\"\nca_file = \"{}\"\n{extra}",
        server.port(),
        ca.display()
    )
}

#[test]
fn a_plain_local_relay_passes_every_step_and_takes_a_test_message() {
    let server = SmtpServer::start();
    let env = TestEnv::with_samples();
    configure(&env, &plain(&server));
    let out = env.run(&["smtp", "test", "--send-to", "ops@example.com"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = stdout(&out);
    assert!(
        report.contains("ok    connect   TCP connection to 127.0.0.1:"),
        "{report}"
    );
    assert!(report.contains("ok    greeting"), "{report}");
    assert!(report.contains("ok    send      accepted: 250"), "{report}");
    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].to, vec!["ops@example.com".to_string()]);
    assert!(messages[0].text().contains("pwreset test message"));
}

#[test]
fn starttls_and_auth_are_reported_without_the_password() {
    let server = SmtpServer::builder()
        .auth("relay-user", "s3cret-relay-pass")
        .start();
    let env = TestEnv::with_samples();
    configure(&env, &starttls(&server, "username = \"relay-user\""));
    let out = env
        .cmd()
        .args(["smtp", "test", "--format", "json"])
        .env("PWRESET_SMTP_PASSWORD", "s3cret-relay-pass")
        .output()
        .expect("run");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["step"].as_str().expect("step"))
        .collect();
    assert_eq!(steps, ["connect", "greeting", "tls", "auth"]);
    assert_eq!(report["ok"], true);
    assert!(
        report
            .to_string()
            .contains("certificate verified for localhost")
    );
    assert!(!report.to_string().contains("s3cret") && !stderr(&out).contains("s3cret"));
}

#[test]
fn a_rejected_password_fails_at_auth() {
    let server = SmtpServer::builder().auth("relay-user", "right").start();
    let env = TestEnv::with_samples();
    configure(&env, &starttls(&server, "username = \"relay-user\""));
    let out = env
        .cmd()
        .args(["smtp", "test"])
        .env("PWRESET_SMTP_PASSWORD", "wrong")
        .output()
        .expect("run");
    assert_fails(&out, 6, "authentication failed");
    assert!(
        stderr(&out).contains("hint: check mail.smtp.username"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("ok    tls") && stdout(&out).contains("FAIL  auth"),
        "{}",
        stdout(&out)
    );
    assert!(!stderr(&out).contains("wrong"));
}

#[test]
fn an_untrusted_certificate_is_named() {
    let server = SmtpServer::builder().starttls().start();
    let env = TestEnv::with_samples();
    configure(
        &env,
        &format!(
            "host = \"localhost\"\nport = {}\ntls = \"starttls\"",
            server.port()
        ),
    );
    let out = env.run(&["smtp", "test"]);
    assert_fails(&out, 6, "certificate");
    assert!(
        stderr(&out).contains("mail.smtp.ca_file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn implicit_tls_against_a_plain_port_says_which_mode_to_use() {
    let server = SmtpServer::start();
    let env = TestEnv::with_samples();
    configure(
        &env,
        &format!(
            "host = \"localhost\"\nport = {}\ntls = \"implicit\"\ntimeout = \"5s\"",
            server.port()
        ),
    );
    let out = env.run(&["smtp", "test"]);
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not start with TLS: use tls = \"starttls\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn plaintext_with_credentials_is_refused_before_connecting() {
    let server = SmtpServer::start();
    let env = TestEnv::with_samples();
    configure(&env, &format!("{}\nusername = \"u\"", plain(&server)));
    let out = env
        .cmd()
        .args(["smtp", "test"])
        .env("PWRESET_SMTP_PASSWORD", "pw")
        .output()
        .expect("run");
    assert_fails(&out, 8, "cannot be used with a username");
    assert_eq!(server.rcpt_attempts(), 0);
    assert!(server.messages().is_empty());
}

#[test]
fn the_file_transport_says_where_mail_goes() {
    let env = TestEnv::with_samples();
    let out = env.run(&["smtp", "test", "--send-to", "ops@example.com"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("file transport: messages are written to outbox"),
        "{}",
        stdout(&out)
    );
    assert_eq!(env.outbox().len(), 1);
    assert_fails(
        &env.run(&["smtp", "test", "--send-to", "nope"]),
        2,
        "--send-to",
    );
}

#[test]
fn a_refused_test_message_fails_at_send_with_advice() {
    let server = crate::smtp_server::SmtpServer::with_faults(vec![
        crate::smtp_server::Fault::RejectRcptTo {
            address: "ops@example.com".into(),
            code: 550,
        },
    ]);
    let env = TestEnv::with_samples();
    configure(&env, &plain(&server));
    let out = env.run(&["smtp", "test", "--send-to", "ops@example.com"]);
    assert_fails(&out, 6, "550");
    assert!(stdout(&out).contains("FAIL  send"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("refused the test message"),
        "{}",
        stderr(&out)
    );
}
