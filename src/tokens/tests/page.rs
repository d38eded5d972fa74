//! The reset page's token functions: opens, work by row id, cancel, codes.

use super::*;
use crate::tokens::codes::{self, CodeKey};

on_both_backends!(
    opens_are_counted_and_change_nothing_else,
    by_id_verifies_redeems_once_and_binds_the_digest,
    cancelling_revokes_the_users_links_and_is_audited,
    the_right_code_finds_the_link_by_username_or_email_in_any_case,
    five_wrong_codes_revoke_the_link_and_unknown_users_count_nothing,
    without_a_code_key_a_link_has_no_code,
    probes_without_a_link_are_audited_up_to_a_cap_per_hour,
);

/// Issue a live token with a code under the store's (test) code key.
fn live_with_code(store: &mut Store, user: &User, now: i64) -> (Secret, Secret) {
    let key = CodeKey::for_tests();
    let request = IssueRequest {
        code_key: Some(&key),
        ..request()
    };
    let pending = issue_pending(store, user, request, at(now), &mut rand::rng()).expect("issue");
    assert!(sql::activate(store.conn(), pending.id).expect("activate"));
    (pending.token, pending.code.expect("a code"))
}

fn row(store: &Store, token: &Secret) -> sql::TokenRow {
    sql::by_digest(store.conn(), &digest(token.expose()))
        .expect("query")
        .expect("row")
}

fn audit_rows(store: &Store, action: &str) -> Vec<(String, Option<String>)> {
    store
        .conn()
        .query_vec(
            "SELECT outcome, detail FROM audit_log WHERE action = ?1 ORDER BY id",
            &crate::vals![action],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("rows")
}

fn opens_are_counted_and_change_nothing_else(backend: Backend) {
    let (mut store, user) = setup(backend);
    let token = live(&mut store, &user, T0, 3600);
    record_open(
        &mut store,
        token.expose(),
        OpenKind::ScannerLike,
        at(T0 + 5),
    )
    .expect("open");
    let known = record_open(&mut store, token.expose(), OpenKind::Browser, at(T0 + 9));
    assert!(known.expect("open"), "a real token names a row");
    let unknown = record_open(&mut store, "not-a-token", OpenKind::Browser, at(T0 + 9));
    assert!(!unknown.expect("open"), "a guess names none");
    let row = row(&store, &token);
    assert_eq!(row.opens.count, 2);
    assert_eq!(row.opens.scanner, 1);
    assert_eq!(row.opens.first_at, Some(T0 + 5));
    assert_eq!(row.opens.last_at, Some(T0 + 9));
    assert_eq!(row.state(T0 + 10), "live");
    verify(&store, token.expose(), at(T0 + 10)).expect("still usable");
}

fn by_id_verifies_redeems_once_and_binds_the_digest(backend: Backend) {
    let (mut store, user) = setup(backend);
    let token = live(&mut store, &user, T0, 3600);
    let id = row(&store, &token).id;
    let (verified, hex) = verify_id(&store, id, at(T0 + 1)).expect("verify");
    assert_eq!(verified.user.id, user.id);
    assert_eq!(hex, digest(token.expose()));
    assert!(matches!(
        verify_id(&store, id + 100, at(T0 + 1)),
        Err(TokenError::Invalid)
    ));
    assert!(matches!(
        verify_id(&store, id, at(T0 + 3600)),
        Err(TokenError::Expired)
    ));
    let config = PasswordConfig::default();
    let (pw, act) = (new_password(), actor());
    redeem_id(
        &mut store,
        id,
        &pw,
        policy(&config),
        &act,
        at(T0 + 2),
        &mut rand::rng(),
    )
    .expect("redeem");
    let again = redeem_id(
        &mut store,
        id,
        &pw,
        policy(&config),
        &act,
        at(T0 + 3),
        &mut rand::rng(),
    );
    assert!(matches!(again, Err(TokenError::Invalid)));
    assert_eq!(audit_rows(&store, "token.redeem").len(), 2);
}

fn cancelling_revokes_the_users_links_and_is_audited(backend: Backend) {
    let (mut store, user) = setup(backend);
    let token = live(&mut store, &user, T0, 3600);
    let id = row(&store, &token).id;
    cancel_id(&mut store, id, &actor(), at(T0 + 1)).expect("cancel");
    let row = row(&store, &token);
    assert_eq!(row.revoked_reason.as_deref(), Some(CANCELLED));
    assert!(matches!(
        verify(&store, token.expose(), at(T0 + 2)),
        Err(TokenError::Invalid)
    ));
    assert!(matches!(
        cancel_id(&mut store, id, &actor(), at(T0 + 2)),
        Err(TokenError::Invalid)
    ));
    assert_eq!(audit_rows(&store, "token.cancel").len(), 1);
}

fn the_right_code_finds_the_link_by_username_or_email_in_any_case(backend: Backend) {
    let (mut store, user) = setup(backend);
    let (token, code) = live_with_code(&mut store, &user, T0);
    let key = CodeKey::for_tests();
    let typed = code.expose().to_lowercase().replace('-', " ");
    for login in ["alice", "ALICE@example.com"] {
        let verified =
            check_code(&mut store, &key, login, &typed, &actor(), at(T0 + 1)).expect("code");
        assert_eq!(verified.token_id, row(&store, &token).id);
    }
    assert_eq!(
        row(&store, &token).opens.count,
        2,
        "a code counts as an open"
    );
    let stored: Option<String> = store
        .conn()
        .query_one("SELECT code_hmac FROM reset_tokens", &crate::vals![], |r| {
            r.get(0)
        })
        .expect("query");
    let stored = stored.expect("a digest");
    assert_ne!(stored, codes::normalize(code.expose()).expect("normal"));
    assert_eq!(stored.len(), 64);
}

fn five_wrong_codes_revoke_the_link_and_unknown_users_count_nothing(backend: Backend) {
    let (mut store, user) = setup(backend);
    let (token, code) = live_with_code(&mut store, &user, T0);
    let key = CodeKey::for_tests();
    let other = CodeKey::from_audit(&crate::keys::AuditKey::generate(&mut rand::rng()));
    let wrong = |store: &mut Store, login: &str, code: &str| {
        check_code(store, &key, login, code, &actor(), at(T0 + 1)).map(|v| v.token_id)
    };
    assert!(matches!(
        wrong(&mut store, "nobody", code.expose()),
        Err(CodeError::Wrong(Counted::Nobody))
    ));
    assert!(audit_rows(&store, "token.code").is_empty());
    for _ in 1..codes::MAX_TRIES {
        assert!(matches!(
            wrong(&mut store, "alice", "0000-0000"),
            Err(CodeError::Wrong(Counted::Link(id))) if id == user.id
        ));
    }
    assert_eq!(row(&store, &token).state(T0 + 2), "live");
    // A code under another key is as wrong as any, and this is the fifth try.
    let forged = check_code(
        &mut store,
        &other,
        "alice",
        code.expose(),
        &actor(),
        at(T0 + 1),
    );
    assert!(matches!(forged, Err(CodeError::Exhausted { user_id }) if user_id == user.id));
    let row = row(&store, &token);
    assert_eq!(row.revoked_reason.as_deref(), Some(TOO_MANY_CODES));
    assert!(matches!(
        wrong(&mut store, "alice", code.expose()),
        Err(CodeError::Wrong(Counted::User(id))) if id == user.id
    ));
    let audited = audit_rows(&store, "token.code");
    assert_eq!(
        audited.len(),
        codes::MAX_TRIES as usize + 1,
        "every wrong code for a known user, the one after the link died included"
    );
    assert!(audited.iter().all(|(outcome, _)| outcome == "failed"));
}

fn without_a_code_key_a_link_has_no_code(backend: Backend) {
    let (mut store, user) = setup(backend);
    let pending =
        issue_pending(&mut store, &user, request(), at(T0), &mut rand::rng()).expect("issue");
    assert!(pending.code.is_none());
    let key = CodeKey::for_tests();
    assert!(sql::activate(store.conn(), pending.id).expect("activate"));
    let tried = check_code(&mut store, &key, "alice", "0000-0000", &actor(), at(T0 + 1));
    assert!(matches!(tried, Err(CodeError::Wrong(Counted::User(id))) if id == user.id));
    assert_eq!(
        audit_rows(&store, "token.code").len(),
        1,
        "nothing to count against, but the probe is audited"
    );
}

fn probes_without_a_link_are_audited_up_to_a_cap_per_hour(backend: Backend) {
    let (mut store, user) = setup(backend);
    let key = CodeKey::for_tests();
    let probe = |store: &mut Store, second: i64| {
        check_code(store, &key, "alice", "0000-0000", &actor(), at(T0 + second))
    };
    for second in 1..=30 {
        let tried = probe(&mut store, second);
        assert!(matches!(tried, Err(CodeError::Wrong(Counted::User(id))) if id == user.id));
    }
    assert_eq!(
        audit_rows(&store, "token.code").len(),
        PROBES_AUDITED_PER_HOUR,
        "a client cannot grow the log without bound"
    );
    probe(&mut store, 3600 + 2).expect_err("still wrong");
    assert_eq!(
        audit_rows(&store, "token.code").len(),
        PROBES_AUDITED_PER_HOUR + 1,
        "the next hour's probes are audited again"
    );
}
