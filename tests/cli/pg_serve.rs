//! `pwreset serve` as a process over a PostgreSQL store. The sync client runs a runtime of its
//! own and must never connect, query or close inside the server's: serve connects on a thread
//! of its own and works on the runtime's blocking threads. One whole flow proves it: the link
//! opened, the password changed through the page (real HTTP), the notice mailed, the audit
//! chain intact, and a clean stop.

use nix::sys::signal::Signal;

use crate::pg_support::PgTestDb;
use crate::pg_support::{pg_env, scalar};
use crate::serve::http::{Reply, Server};
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

/// The server's own connections to `db` (every session but the asking one).
fn connections(db: &PgTestDb) -> i64 {
    scalar(
        db,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
}

/// DB-4: after `pg_terminate_backend` (a restart, a failover, an idle kill) the pool drops the
/// dead connections instead of handing them out: the next requests work.
#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn after_the_backends_are_killed_the_next_requests_work() {
    let db = PgTestDb::new();
    let env = pg_env(&db, &db.url());
    env.ok(&["users", "add", "alice@example.com", "--username", "alice"]);
    let mut server = Server::start(&env, &[]);
    let (session, csrf) = open_link(&env, &mut server);
    assert!(connections(&db) > 0, "the pool keeps a connection");
    let killed = scalar(
        &db,
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()) AS t",
    );
    assert!(killed > 0);
    let until = std::time::Instant::now() + crate::support::DEADLINE;
    while connections(&db) > 0 {
        assert!(
            std::time::Instant::now() < until,
            "the backends did not end"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let page = server.get("/reset-password", &session);
    assert_eq!(page.status, 200, "the form again: {}", page.body);
    let health = server.get("/reset-password/healthz", "");
    assert_eq!(health.status, 200, "{}", health.body);
    set_new_password(&mut server, &session, &csrf);
    let out = server.stop(Signal::SIGTERM);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stderr(&out).contains(" 500 "), "{}", stderr(&out));
}

/// Issue 21, item 11: health checks use the pool, which opens at most
/// `serve.store_connections`; and an up-to-date store is opened without the migration lock, so
/// nothing ever waits on it.
#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn many_parallel_health_checks_hold_at_most_the_cap_and_never_wait_for_a_lock() {
    use std::sync::atomic::{AtomicBool, Ordering};
    const CAP: i64 = 3;
    let db = PgTestDb::new();
    let env = pg_env(&db, &db.url());
    crate::serve::http::append_config(&env, &format!("\n[serve]\nstore_connections = {CAP}\n"));
    let server = Server::start(&env, &[]);
    let addr = server.addr.clone();
    let done = AtomicBool::new(false);
    let (most, waiting, statuses) = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut client = db.client();
            let (mut most, mut waiting) = (0_i64, 0_i64);
            while !done.load(Ordering::SeqCst) {
                let row = client
                    .query_one(
                        "SELECT (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()), \
                                (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)",
                        &[],
                    )
                    .expect("sample");
                most = most.max(row.get(0));
                waiting = waiting.max(row.get(1));
            }
            (most, waiting)
        });
        let checks: Vec<_> = (0..24)
            .map(|_| {
                let addr = &addr;
                s.spawn(move || {
                    (0..5)
                        .map(|_| {
                            let raw = "GET /reset-password/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
                            let mut stream = crate::support::connect_bounded(addr);
                            std::io::Write::write_all(&mut stream, raw.as_bytes()).expect("send");
                            Reply::parse(&crate::serve::http::read_all(&mut stream)).status
                        })
                        .collect::<Vec<u16>>()
                })
            })
            .collect();
        let statuses: Vec<u16> = checks
            .into_iter()
            .flat_map(|c| c.join().expect("checks"))
            .collect();
        done.store(true, Ordering::SeqCst);
        let (most, waiting) = sampler.join().expect("sampler");
        (most, waiting, statuses)
    });
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert!(most <= CAP, "{most} connections, cap {CAP}");
    assert_eq!(waiting, 0, "sessions waited on an advisory lock");
    let out = server.stop(Signal::SIGTERM);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}
