use super::*;
use crate::secret::Secret;

fn outgoing(subject: &str) -> Outgoing {
    Outgoing {
        to: "alice@example.com".into(),
        body: Rendered {
            subject: subject.into(),
            text: Secret::new("plain body".into()),
            html: Secret::new("<p>html body</p>".into()),
        },
    }
}

#[test]
fn builds_multipart_alternative_with_typed_headers() {
    let from: Mailbox = "Example <no-reply@example.com>".parse().expect("from");
    let reply: Mailbox = "help@example.com".parse().expect("reply");
    let message = build(
        &from,
        Some(&reply),
        &outgoing("Reset your password"),
        SystemTime::UNIX_EPOCH,
    )
    .expect("build");
    let text = String::from_utf8(message.formatted()).expect("utf8");
    assert!(
        text.contains("From: Example <no-reply@example.com>\r\n"),
        "{text}"
    );
    assert!(text.contains("To: alice@example.com\r\n"));
    assert!(text.contains("Reply-To: help@example.com\r\n"));
    assert!(text.contains("Subject: Reset your password\r\n"));
    assert!(text.contains("Content-Type: multipart/alternative;"));
    assert!(text.contains("Content-Type: text/plain; charset=utf-8"));
    assert!(text.contains("Content-Type: text/html; charset=utf-8"));
}

#[test]
fn header_injection_is_refused_before_sending() {
    let from: Mailbox = "x@example.com".parse().expect("from");
    assert!(
        build(
            &from,
            None,
            &outgoing("Hi\r\nBcc: evil@example.com"),
            SystemTime::UNIX_EPOCH
        )
        .is_err()
    );
    let mut bad_to = outgoing("Hi");
    bad_to.to = "alice@example.com\r\nBcc: evil@example.com".into();
    assert!(build(&from, None, &bad_to, SystemTime::UNIX_EPOCH).is_err());
}

#[test]
fn masking_keeps_the_first_letter_and_domain() {
    assert_eq!(mask("alice@example.com"), "a***@example.com");
    assert_eq!(mask("x@y.org"), "x***@y.org");
    assert_eq!(mask("nonsense"), "***");
}

#[test]
fn only_4xx_and_dropped_connections_are_worth_retrying() {
    let refused = |transient| MailError::Refused {
        server: "s".into(),
        reply: "r".into(),
        transient,
    };
    assert!(refused(true).is_transient());
    assert!(!refused(false).is_transient());
    assert!(
        MailError::Connection {
            server: "s".into(),
            detail: "d".into(),
            kind: super::ConnectionKind::Other,
        }
        .is_transient()
    );
}

#[test]
fn a_recipient_is_never_empty() {
    assert_eq!(Recipient::new(""), None);
    assert_eq!(
        Recipient::new("a@example.com").map(|r| r.to_string()),
        Some("a@example.com".to_string())
    );
}

#[test]
fn the_recipient_rule_picks_the_override_else_the_users_address() {
    let desk = RecipientRule::Override(Recipient::new("desk@example.com").expect("an address"));
    let to = |rule: &RecipientRule, email| rule.for_user(email).map(|r| r.to_string());
    assert_eq!(
        to(&desk, Some("alice@example.com")).as_deref(),
        Some("desk@example.com")
    );
    assert_eq!(to(&desk, None).as_deref(), Some("desk@example.com"));
    assert_eq!(
        to(&RecipientRule::User, Some("alice@example.com")).as_deref(),
        Some("alice@example.com")
    );
    assert_eq!(to(&RecipientRule::User, Some("")), None);
    assert_eq!(to(&RecipientRule::User, None), None);
}

#[test]
fn the_recipient_rule_round_trips_through_a_bulk_run() {
    let desk = RecipientRule::Override(Recipient::new("desk@example.com").expect("an address"));
    assert_eq!(RecipientRule::from_stored(desk.stored()), desk);
    assert_eq!(RecipientRule::User.stored(), None);
    assert_eq!(RecipientRule::from_stored(None), RecipientRule::User);
    assert_eq!(RecipientRule::from_stored(Some("")), RecipientRule::User);
}
