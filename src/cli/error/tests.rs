//! Unit tests of the one mapping from errors to exit codes and hints.

use super::map::BUSY;
use super::*;
use crate::links::LinkFailure;
use crate::mail::ConnectionKind;
use crate::settings::Problem;

fn class_of(err: impl std::error::Error + Send + Sync + 'static) -> Class {
    classify(&anyhow::Error::new(err))
}

fn store_busy() -> StoreError {
    StoreError::Db(crate::store::sql::DbError::busy_for_tests())
}

fn refused_mail(transient: bool) -> MailError {
    MailError::Refused {
        server: "s".into(),
        reply: "r".into(),
        transient,
    }
}

#[test]
fn failure_keeps_its_code_and_hint_through_context() {
    let err = anyhow::Error::new(Failure::new(Exit::Refused, "no").hint("try this"))
        .context("while doing a thing");
    assert_eq!(
        classify(&err),
        Class {
            exit: Exit::Refused,
            hint: Some("try this".into())
        }
    );
}

#[test]
fn unknown_errors_are_exit_1() {
    assert_eq!(
        classify(&anyhow::anyhow!("something odd")).exit,
        Exit::Failure
    );
}

#[test]
fn the_outermost_classified_cause_wins() {
    // An import that failed in the store gives no store hint: the import error is outermost.
    let err = anyhow::Error::new(ImportError::Store(StoreError::Missing {
        path: "/none.db".into(),
    }));
    assert_eq!(classify(&err), Class::new(Exit::Config));
}

#[test]
fn message_does_not_repeat_a_quoted_cause() {
    let io = std::io::Error::other("disk full");
    let err = anyhow::Error::new(ConfigError::Unreadable {
        path: "/x".into(),
        source: io,
    })
    .context("loading settings");
    assert_eq!(
        message(&err),
        "loading settings: cannot read config /x: disk full"
    );
}

#[test]
fn broken_pipe_is_recognised_under_context() {
    let io = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "pipe");
    let err = anyhow::Error::new(io).context("writing rows");
    assert!(is_broken_pipe(&err));
    assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    let io = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "pipe");
    assert!(is_broken_pipe(&anyhow::Error::new(csv::Error::from(io))));
}

#[test]
fn config_errors_are_exit_8_with_advice() {
    let missing = class_of(ConfigError::NotFound {
        searched: "x".into(),
    });
    assert_eq!(missing.exit, Exit::Config);
    assert!(missing.hint.is_some_and(|h| h.contains("pwreset init")));
    let bad = class_of(ConfigError::BadValue {
        path: "/c".into(),
        key: "mail.from".into(),
        message: "not an address".into(),
    });
    assert_eq!(bad.exit, Exit::Config);
    assert!(bad.hint.is_some_and(|h| h.contains("config.example.toml")));
    let chmod = class_of(ConfigError::ReadableByOthers {
        path: "/c".into(),
        key: "k".into(),
        message: "run chmod 600 on it".into(),
    });
    assert_eq!(chmod, Class::new(Exit::Config));
}

#[test]
fn store_errors_say_whether_the_store_or_the_database_failed() {
    let missing = class_of(StoreError::Missing {
        path: "/none.db".into(),
    });
    assert_eq!(missing.exit, Exit::Config);
    assert!(missing.hint.is_some_and(|h| h.contains("PWRESET_DB")));
    let busy = class_of(store_busy());
    assert_eq!(busy.exit, Exit::Config);
    assert!(busy.hint.is_some_and(|h| h.contains("busy_timeout_ms")));
    let newer = class_of(StoreError::NewerSchema {
        path: "/s.db".into(),
        found: 9,
        supported: 2,
    });
    assert_eq!(newer.exit, Exit::Config);
}

#[test]
fn user_errors() {
    assert_eq!(class_of(UserError::Unknown("x".into())).exit, Exit::Refused);
    let ambiguous = UserError::Ambiguous {
        key: "bob@example.com".into(),
        candidates: "#1, #2".into(),
    };
    assert_eq!(class_of(ambiguous).exit, Exit::Usage);
    assert_eq!(class_of(UserError::Invalid("x".into())).exit, Exit::Usage);
    assert_eq!(
        class_of(UserError::UsernameTaken("x".into())).exit,
        Exit::Failure
    );
    let nested = class_of(UserError::Store(store_busy()));
    assert!(nested.hint.is_some_and(|h| h.contains("busy_timeout_ms")));
}

#[test]
fn token_errors() {
    assert_eq!(class_of(TokenError::Invalid).exit, Exit::TokenInvalid);
    assert_eq!(class_of(TokenError::Expired).exit, Exit::TokenInvalid);
    assert_eq!(
        class_of(TokenError::Throttled { until: 0 }).exit,
        Exit::Refused
    );
    assert_eq!(
        class_of(TokenError::Policy(crate::password::PolicyError::TooShort)).exit,
        Exit::Usage
    );
}

#[test]
fn refusals_are_exit_4_with_what_to_do() {
    let inactive = class_of(Refusal::Inactive("alice".into()));
    assert_eq!(inactive.exit, Exit::Refused);
    assert_eq!(
        inactive.hint.as_deref(),
        Some("activate the user first: pwreset users activate alice")
    );
    let cooldown = class_of(LinkError::Refused(Refusal::Cooldown {
        user: "alice".into(),
        until: 0,
    }));
    assert_eq!(cooldown.exit, Exit::Refused);
    assert!(cooldown.hint.is_some_and(|h| h.contains("--force")));
    assert_eq!(
        class_of(LinkError::Own(LinkFailure::RevokedMeanwhile)).exit,
        Exit::Refused
    );
}

#[test]
fn mail_errors_are_exit_6_unless_the_settings_are_wrong() {
    assert_eq!(class_of(refused_mail(false)).exit, Exit::MailNotDelivered);
    let unconfirmed = class_of(MailError::Unconfirmed {
        server: "s".into(),
        detail: "d".into(),
    });
    assert_eq!(unconfirmed.exit, Exit::MailNotDelivered);
    assert!(
        unconfirmed.hint.is_some_and(|h| h.contains("not resent")),
        "says it is not resent"
    );
    assert_eq!(class_of(MailError::Config("x".into())).exit, Exit::Config);
    assert!(class_of(refused_mail(true)).hint.is_some());
    assert_eq!(
        class_of(LinkError::Mail(refused_mail(false))).exit,
        Exit::MailNotDelivered
    );
    assert_eq!(
        class_of(GenerateError::Mail(refused_mail(false))).exit,
        Exit::MailNotDelivered
    );
}

#[test]
fn smtp_timeouts_and_certificates_get_their_own_hints() {
    let connection = |detail: &str, kind| MailError::Connection {
        server: "smtp.example.com:587".into(),
        detail: detail.into(),
        kind,
    };
    for detail in [
        "no answer to DATA within 3s",
        "no connection within 3s",
        "no answer to the end of DATA within 3s (the server may have taken the message)",
    ] {
        let class = class_of(connection(detail, ConnectionKind::TimedOut));
        assert_eq!(class.exit, Exit::MailNotDelivered);
        assert!(
            class.hint.is_some_and(|h| h.contains("mail.smtp.timeout")),
            "{detail}"
        );
    }
    let untrusted = class_of(connection(
        "the TLS handshake: invalid peer certificate: UnknownIssuer",
        ConnectionKind::Certificate,
    ));
    assert!(
        untrusted
            .hint
            .is_some_and(|h| h.contains("mail.smtp.ca_file"))
    );
    let refused = class_of(connection(
        "connect: Connection refused (os error 111)",
        ConnectionKind::Other,
    ));
    assert!(refused.hint.is_some_and(|h| h.contains("mail.smtp.host")));
}

#[test]
fn template_and_bulk_errors() {
    let template = TemplateError {
        file: "access-info.txt".into(),
        message: "boom".into(),
    };
    assert_eq!(class_of(template).exit, Exit::Config);
    assert_eq!(class_of(BulkError::Run("x".into())).exit, Exit::Usage);
    let broken = AuditError::Broken {
        id: 2,
        why: "x".into(),
    };
    assert_eq!(class_of(broken).exit, Exit::Failure);
}

#[test]
fn settings_errors_are_usage_errors() {
    let format = class_of(SettingsError::Format("xml".into()));
    assert_eq!(format.exit, Exit::Usage);
    assert_eq!(format.hint.as_deref(), Some("use table, json or csv"));
    let actor = class_of(SettingsError::ControlCharacters("--actor"));
    assert_eq!(actor, Class::new(Exit::Usage));
    assert_eq!(
        class_of(SettingsError::TestCrashAt("later".into())).exit,
        Exit::Usage
    );
    assert_eq!(
        class_of(SettingsError::TestNow("soon".into())),
        Class::new(Exit::Usage)
    );
}

#[test]
fn command_errors_keep_the_class_of_what_raised_them() {
    assert_eq!(
        CommandError::from(TokenError::Expired).class().exit,
        Exit::TokenInvalid
    );
    let wrapped = anyhow::Error::new(Failure::usage("x")).context("while y");
    assert_eq!(CommandError::from(wrapped).class().exit, Exit::Usage);
    let io = CommandError::from(std::io::Error::other("disk full"));
    assert_eq!(io.class(), &Class::new(Exit::Failure));
    assert_eq!(message(io.error()), "disk full");
}

#[test]
fn a_busy_store_gets_advice_wherever_it_surfaces() {
    let direct = class_of(crate::store::sql::DbError::busy_for_tests());
    assert_eq!(direct.exit, Exit::Config);
    assert!(direct.hint.is_some_and(|h| h.contains("busy_timeout_ms")));
    let hint = Some(BUSY);
    for class in [
        class_of(TokenError::Store(store_busy())),
        class_of(TokenError::Audit(AuditError::Store(store_busy()))),
        class_of(ImportError::Store(store_busy())),
        class_of(RecordError::Store(store_busy())),
        class_of(BulkError::Audit(AuditError::Store(store_busy()))),
        class_of(crate::links::LinkError::Store(store_busy())),
        class_of(crate::links::LinkError::Own(
            crate::links::LinkFailure::Token(TokenError::Store(store_busy())),
        )),
    ] {
        assert_eq!(class.exit, Exit::Config);
        assert_eq!(class.hint.as_deref(), hint);
    }
}

#[test]
fn untrusted_files_are_exit_8_with_chown_or_chmod() {
    let untrusted = |problem| Untrusted {
        what: "config file".into(),
        path: "/srv/pwreset.toml".into(),
        owner: 65534,
        mode: 0o644,
        problem,
    };
    let owned = class_of(untrusted(Problem::OwnedByOther));
    assert_eq!(owned.exit, Exit::Config);
    assert!(
        owned
            .hint
            .is_some_and(|h| h.contains("chown root /srv/pwreset.toml"))
    );
    for problem in [Problem::WritableByGroup, Problem::WritableByOthers] {
        let loose = class_of(untrusted(problem));
        assert_eq!(loose.exit, Exit::Config);
        assert_eq!(
            loose.hint.as_deref(),
            Some("run `chmod go-w /srv/pwreset.toml`")
        );
    }
}

#[test]
fn a_bad_header_in_the_store_is_refused_with_the_user_to_fix() {
    let class = class_of(Refusal::BadHeader {
        user: "mallory".into(),
        id: 12,
        field: "display name",
    });
    assert_eq!(class.exit, Exit::Refused);
    assert!(
        class
            .hint
            .is_some_and(|h| h.contains("pwreset users show '#12'"))
    );
}

#[test]
fn audit_key_problems_are_exit_8_and_say_how_to_get_a_key() {
    use crate::keys::KeyError;
    let path = std::path::PathBuf::from("/etc/pwreset/audit.key");
    let missing = class_of(KeyError::Missing { path: path.clone() });
    assert_eq!(missing.exit, Exit::Config);
    assert!(
        missing
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("pwreset audit rekey"))
    );
    let loose = class_of(KeyError::ReadableByOthers {
        path: path.clone(),
        mode: 0o644,
    });
    assert_eq!(loose.exit, Exit::Config);
    assert_eq!(
        loose.hint.as_deref(),
        Some("run `chmod 600 /etc/pwreset/audit.key`")
    );
    assert_eq!(class_of(KeyError::Malformed { path }).exit, Exit::Config);
    let unanchored = class_of(AuditError::Unanchored { rows: 3 });
    assert_eq!(unanchored.exit, Exit::Failure);
    let head = AuditError::HeadMissing {
        head: "5:ab".into(),
        why: "x".into(),
    };
    assert_eq!(class_of(head).exit, Exit::Failure);
}

#[test]
fn input_past_a_limit_is_a_usage_error_with_advice_wherever_it_surfaces() {
    let line = LimitError::LineTooLong {
        line: 3,
        max: 65536,
    };
    let direct = class_of(line.clone());
    assert_eq!(direct.exit, Exit::Usage);
    assert!(direct.hint.as_deref().unwrap_or_default().contains("split"));
    let within = anyhow::Error::new(ImportError::Input(line)).context("cannot read staff.csv");
    assert_eq!(classify(&within), direct);
    assert_eq!(
        message(&within),
        "cannot read staff.csv: line 3 is longer than 64 KiB"
    );
}

#[test]
fn a_database_that_stopped_answering_is_exit_8_with_advice() {
    let timeout =
        || crate::store::sql::DbError::from(tokio_postgres::Error::__private_api_timeout());
    assert_eq!(timeout().kind(), crate::store::sql::ErrorKind::Timeout);
    let direct = class_of(timeout());
    assert_eq!(direct.exit, Exit::Config);
    assert_eq!(direct.hint.as_deref(), Some(super::map::TIMEOUT));
    let inside = class_of(TokenError::Store(crate::store::StoreError::Db(timeout())));
    assert_eq!(
        (inside.exit, inside.hint.as_deref()),
        (Exit::Config, Some(super::map::TIMEOUT))
    );
}
