//! The store protects itself (schema 6): a change of a user's password hash or email written
//! with plain SQL, as an application or an admin would, revokes that user's outstanding links,
//! on both backends; since schema 10 so does a deactivation (`user deactivated`, see
//! `tests/cli/schema_rules.rs`). Every statement here is plain SQL run by the driver, not
//! pwreset's code.

use crate::store::testing::{Backend, TestStore, on_both_backends};
use crate::store::tokens;

on_both_backends!(
    a_password_change_revokes_the_users_outstanding_links_and_only_theirs,
    an_email_change_revokes_with_its_own_reason_at_the_database_clock,
    other_changes_and_unchanged_values_revoke_nothing,
    a_pending_link_revoked_by_the_trigger_never_goes_live,
);

/// When the users' row was last written by the "application".
const CHANGED_AT: i64 = 1_800_000_100;

/// alice (#1) with links #1 live, #2 pending delivery, #3 expired, #4 used, #5 revoked earlier;
/// bob (#2) with link #6 live.
fn setup(backend: Backend) -> TestStore {
    let store = TestStore::new(backend);
    run(
        &store,
        "INSERT INTO users (id, username, email, display_name, created_at, updated_at) VALUES
                 (1, 'alice', 'alice@example.com', 'Alice', 0, 0),
                 (2, 'bob', 'bob@example.com', 'Bob', 0, 0);
             INSERT INTO reset_tokens (id, user_id, token_sha256, created_at, expires_at,
                                       used_at, revoked_at, revoked_reason) VALUES
                 (1, 1, 'a1', 1800000000, 1800003600, NULL, NULL, NULL),
                 (2, 1, 'a2', 1800000000, 1800003600, NULL, 1800000000, 'pending delivery'),
                 (3, 1, 'a3', 1, 2, NULL, NULL, NULL),
                 (4, 1, 'a4', 1800000000, 1800003600, 1800000050, NULL, NULL),
                 (5, 1, 'a5', 1800000000, 1800003600, NULL, 1800000010, 'superseded'),
                 (6, 2, 'b1', 1800000000, 1800003600, NULL, NULL, NULL);",
    );
    store
}

/// Run plain SQL, as an application or an admin would.
fn run(store: &TestStore, sql: &str) {
    store
        .conn()
        .batch(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Each link as `(id, revoked_reason, revoked_at)`, by id.
fn links(store: &TestStore) -> Vec<(i64, Option<String>, Option<i64>)> {
    store
        .conn()
        .query_vec(
            "SELECT id, revoked_reason, revoked_at FROM reset_tokens ORDER BY id",
            &[],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("links")
}

fn a_password_change_revokes_the_users_outstanding_links_and_only_theirs(backend: Backend) {
    let store = setup(backend);
    let before = links(&store);
    // The application changes alice's password.
    run(
        &store,
        &format!(
            "UPDATE users SET password_hash = '$argon2id$x', updated_at = {CHANGED_AT} WHERE id = 1"
        ),
    );
    let changed = Some("password changed".to_string());
    assert_eq!(
        links(&store),
        vec![
            (1, changed.clone(), Some(CHANGED_AT)),
            (2, changed.clone(), Some(CHANGED_AT)),
            (3, changed, Some(CHANGED_AT)),
            before[3].clone(),
            before[4].clone(),
            before[5].clone(),
        ],
        "live, pending and expired links revoked at the row's updated_at; used, already \
         revoked and bob's links untouched"
    );
}

fn an_email_change_revokes_with_its_own_reason_at_the_database_clock(backend: Backend) {
    let store = setup(backend);
    // An admin changes alice's email (case only), without updated_at.
    run(
        &store,
        "UPDATE users SET email = 'ALICE@example.com' WHERE id = 1",
    );
    let after = links(&store);
    for (id, reason, at) in &after[..3] {
        assert_eq!(reason.as_deref(), Some("email changed"), "link #{id}");
        // The database's clock, whatever it is: a time after 2023, not the row's updated_at.
        assert!(
            at.is_some_and(|at| at > 1_700_000_000),
            "link #{id}: {at:?}"
        );
    }
    assert_eq!(after[5], (6, None, None), "bob's link stays live");
    // Both at once.
    run(
        &store,
        "UPDATE reset_tokens SET revoked_at = NULL, revoked_reason = NULL WHERE id = 1;
             UPDATE users SET email = 'alice@new.example', password_hash = 'h' WHERE id = 1;",
    );
    assert_eq!(
        links(&store)[0].1.as_deref(),
        Some("password changed"),
        "a change of both names the password"
    );
}

fn other_changes_and_unchanged_values_revoke_nothing(backend: Backend) {
    let store = setup(backend);
    // A first password.
    run(&store, "UPDATE users SET password_hash = 'h' WHERE id = 1");
    // A new live link.
    run(
        &store,
        "UPDATE reset_tokens SET revoked_at = NULL, revoked_reason = NULL WHERE id = 1",
    );
    let before = links(&store);
    // Other columns, and the same values again (an active user made active: no deactivation).
    run(
        &store,
        "UPDATE users SET display_name = 'Alice A', must_change_password = 1,
                              updated_at = 5 WHERE id = 1;
             UPDATE users SET active = 1 WHERE id = 1;
             UPDATE users SET password_hash = 'h', email = 'alice@example.com' WHERE id = 1;
             UPDATE users SET username = 'alice2' WHERE id = 1;",
    );
    assert_eq!(links(&store), before);
    assert_eq!(before[0], (1, None, None));
}

fn a_pending_link_revoked_by_the_trigger_never_goes_live(backend: Backend) {
    let store = setup(backend);
    // The password changes while link #2's mail is on its way.
    run(&store, "UPDATE users SET password_hash = 'h' WHERE id = 1");
    assert!(
        !tokens::activate(store.conn(), 2).expect("settle"),
        "the settle step does not make it live"
    );
    tokens::mark_undelivered(store.conn(), 2, 1_800_000_200, None).expect("undo");
    assert_eq!(
        links(&store)[1].1.as_deref(),
        Some("password changed"),
        "nor does undoing it change the reason"
    );
}
