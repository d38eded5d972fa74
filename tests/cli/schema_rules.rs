//! Rules the store keeps whatever the application writes (issue 21, item 12): a link stays
//! with the user it was issued for, and an application's deactivation kills it for good (TOK-4,
//! TOK-7). The application is played by plain SQL on the test's own connection.

use crate::support::{TestEnv, code};

fn verify(env: &TestEnv, token: &str) -> i32 {
    code(&env.run_stdin(&["tokens", "verify"], &format!("{token}\n")))
}

#[test]
fn an_applications_deactivation_kills_links_for_good() {
    let env = TestEnv::with_samples();
    let token = env.link_for("alice");
    assert_eq!(verify(&env, &token), 0, "{token}");
    let db = env.db();
    db.execute("UPDATE users SET active = 0 WHERE username = 'alice'", &[]);
    db.execute("UPDATE users SET active = 1 WHERE username = 'alice'", &[]);
    assert_eq!(verify(&env, &token), 7, "reactivating revived the link");
    assert_eq!(
        env.count(
            "SELECT count(*) FROM reset_tokens WHERE revoked_reason = 'user deactivated'"
        ),
        1
    );
}

#[test]
fn a_deleted_users_id_is_never_given_again() {
    let env = TestEnv::with_samples();
    env.ok(&["users", "add", "erin@example.com"]);
    let erin = env.count("SELECT id FROM users WHERE username = 'erin'");
    env.db()
        .execute("DELETE FROM users WHERE username = 'erin'", &[]);
    env.ok(&["users", "add", "frank@example.com"]);
    let frank = env.count("SELECT id FROM users WHERE username = 'frank'");
    assert!(frank > erin, "frank got id {frank}, erin had {erin}");
}
