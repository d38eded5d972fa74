//! `pwreset serve` as a process over a PostgreSQL store. The sync client runs a runtime of its
//! own and must never connect, query or close inside the server's: serve connects on a thread
//! of its own and works on the runtime's blocking threads. One whole flow proves it: the link
//! opened, the password changed through the page (real HTTP), the notice mailed, the audit
//! chain intact, and a clean stop.

use nix::sys::signal::Signal;

use crate::pg_support::PgTestDb;
use crate::pg_support::{pg_env, scalar};
use crate::serve::http::Server;
use crate::serve::{NEW_PASSWORD, open_link, set_new_password};
use crate::support::{code, stderr, text_part};

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn serve_on_postgres_changes_a_password_through_the_page_and_mails_the_notice() {
    let db = PgTestDb::new();
    let env = pg_env(&db, &db.url());
    env.ok(&["users", "add", "alice@example.com", "--username", "alice"]);
    let mut server = Server::start(&env, &[]);
    let health = server.get("/reset-password/healthz", "");
    assert_eq!(health.status, 200, "{}", health.body);
    let (session, csrf) = open_link(&env, &mut server);
    let mails = env.outbox().len();
    set_new_password(&mut server, &session, &csrf);
    let out = server.stop(Signal::SIGTERM);
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("POST /reset-password 303 "), "{err}");
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM reset_tokens WHERE used_at IS NOT NULL"
        ),
        1
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM audit_log WHERE action = 'token.redeem' AND actor = 'serve'"
        ),
        1
    );
    let outbox = env.outbox();
    assert_eq!(outbox.len(), mails + 1, "the notice");
    let notice = text_part(outbox.last().expect("a mail"));
    assert!(!notice.contains(NEW_PASSWORD));
    env.ok(&["audit", "verify"]);
    let hash: String = db
        .client()
        .query_one(
            "SELECT password_hash FROM users WHERE username = 'alice'",
            &[],
        )
        .expect("alice")
        .get(0);
    assert!(pwreset::password::verify(NEW_PASSWORD, &hash));
}
