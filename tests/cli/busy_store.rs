//! The page while another process holds the store's write lock (issue 21, item 8): POSTs sent
//! meanwhile wait (less than `store.busy_timeout_ms`) and then either change the password or
//! say why not; a 303 always means the change is stored, whatever the timing. On SQLite the
//! lock is a `BEGIN IMMEDIATE` of another connection; on PostgreSQL another session holds
//! pwreset's advisory writer lock (the lock every redeem takes).

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::serve::http::{Reply, Server};
use crate::serve::{NEW_PASSWORD, new_password_post, open_link};
use crate::support::{TestEnv, code, stderr};
use crate::testdb::Backend;

/// How long the other process holds the lock: well under the default 5 s busy timeout.
const HELD: Duration = Duration::from_millis(500);
/// POSTs sent while the lock is held.
const POSTS: usize = 3;

/// Take the store's write lock from a connection of the test's own, as another writer would.
fn hold_write_lock(env: &TestEnv) -> crate::testdb::TestDb {
    let db = env.db();
    match env.backend() {
        Backend::Sqlite => db.batch("BEGIN IMMEDIATE"),
        Backend::Postgres => db.batch(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({})",
            pwreset::store::sql::WRITER_LOCK_KEY
        )),
    }
    db
}

#[test]
fn posts_sent_while_another_writer_holds_the_store_answer_303_only_when_stored() {
    let env = TestEnv::with_samples();
    let mut server = Server::start(&env, &[]);
    // Warm the server's pool: the connections the POSTs will reuse.
    let (session, csrf) = open_link(&env, &mut server);
    let raw = new_password_post(&session, &csrf);
    let held = hold_write_lock(&env);
    let addr = server.addr.clone();
    let posts: Vec<_> = (0..POSTS)
        .map(|_| {
            let (addr, raw) = (addr.clone(), raw.clone());
            std::thread::spawn(move || {
                let mut stream = crate::support::connect_bounded(&addr);
                std::io::Write::write_all(&mut stream, raw.as_bytes()).expect("send");
                Reply::parse(&crate::serve::http::read_all(&mut stream)).status
            })
        })
        .collect();
    // Not a timing assertion: the lock is held this long whatever happens meanwhile.
    std::thread::sleep(HELD);
    held.batch("COMMIT");
    drop(held);
    let statuses: Vec<u16> = posts
        .into_iter()
        .map(|post| post.join().expect("a POST"))
        .collect();
    // Later work on the same connections must see (and keep) what the POSTs stored.
    let health = server.get("/reset-password/healthz", "");
    assert_eq!(health.status, 200, "{}", health.body);
    let out = server.stop(Signal::SIGTERM);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let changed = statuses.iter().filter(|s| **s == 303).count();
    assert_eq!(changed, 1, "one POST changes the password: {statuses:?}");
    let used = env.count("SELECT count(*) FROM reset_tokens WHERE used_at IS NOT NULL");
    let audited = env.count(
        "SELECT count(*) FROM audit_log WHERE action = 'token.redeem' AND outcome = 'ok'",
    );
    assert_eq!(
        (used, audited),
        (1, 1),
        "a 303 means the link is used and audited: {statuses:?}\n{}",
        stderr(&out)
    );
    let hash = env
        .db()
        .text("SELECT password_hash FROM users WHERE username = 'alice'", &[]);
    assert!(pwreset::password::verify(NEW_PASSWORD, &hash), "the new hash is stored");
    env.ok(&["audit", "verify"]);
}
