//! One lock order on PostgreSQL (issue 21, item 15): the application's redeem SQL, as
//! docs/schema-contract.md gives it, and pwreset's wrong-code path both lock the user's row
//! before the user's token rows, so running them against each other never makes PostgreSQL's
//! deadlock detector abort one.

use std::sync::Barrier;
use std::time::Duration;

use jiff::Timestamp;
use pwreset::audit::Actor;
use pwreset::keys::AuditKey;
use pwreset::keys::CodeKey;
use pwreset::store::Store;
use pwreset::tokens::{CodeError, check_code};

use crate::pg_support::PgTestDb;

/// How many times the two paths race.
const ROUNDS: usize = 12;

/// The time both paths run at; the tokens expire long after.
const NOW: i64 = 1_800_000_000;

/// The statements of the PostgreSQL redeem block in docs/schema-contract.md, between its
/// `BEGIN;` and `COMMIT;`, comments removed.
fn documented_redeem() -> Vec<String> {
    let doc = include_str!("../../docs/schema-contract.md");
    let pg = doc
        .split_once("## The schema contract in PostgreSQL's dialect")
        .expect("the PostgreSQL section")
        .1;
    let block = pg
        .split_once("BEGIN;\n")
        .and_then(|(_, rest)| rest.split_once("COMMIT;"))
        .expect("a BEGIN; ... COMMIT; block")
        .0;
    let text: String = block
        .lines()
        .map(|line| line.split_once("--").map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n");
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A statement with the documented parameters written in as literals.
fn bind(statement: &str, digest: &str, user_id: i64) -> String {
    statement
        .replace("$4", &user_id.to_string())
        .replace("$3", "'$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA'")
        .replace("$2", &NOW.to_string())
        .replace("$1", &format!("'{digest}'"))
}

/// Two live links with codes for user `id`; returns the newer one's digest.
fn two_live_links(db: &PgTestDb, id: i64, round: usize) -> String {
    let mut client = db.client();
    for n in 0..2 {
        client
            .execute(
                "INSERT INTO reset_tokens (user_id, token_sha256, created_at, expires_at, code_hmac,
                                           user_created_at)
                 SELECT $1, $2, $3::bigint, $3::bigint + 3600, 'no code matches this', created_at
                   FROM users WHERE id = $1",
                &[&id, &format!("round-{round}-link-{n}"), &NOW],
            )
            .expect("a live link");
    }
    format!("round-{round}-link-1")
}

/// The application redeems the newer link, pausing after its first statement as a busy
/// application would; returns the error, if any.
fn application_redeems(db: &PgTestDb, digest: &str, user_id: i64, start: &Barrier) -> String {
    let mut client = db.client();
    let statements = documented_redeem();
    start.wait();
    let mut run = || -> Result<(), tokio_postgres::Error> {
        client.batch_execute("BEGIN")?;
        for (n, statement) in statements.iter().enumerate() {
            client.batch_execute(&bind(statement, digest, user_id))?;
            if n == 0 {
                std::thread::sleep(Duration::from_millis(30));
            }
        }
        client.batch_execute("COMMIT")
    };
    run().err().map(|e| format!("{e:?}")).unwrap_or_default()
}

/// pwreset's wrong-code path, started just after the application's first statement.
fn pwreset_counts_a_wrong_code(store: &mut Store, actor: &Actor, start: &Barrier) -> String {
    let key = CodeKey::from_audit(&actor.key);
    start.wait();
    std::thread::sleep(Duration::from_millis(10));
    let now = Timestamp::from_second(NOW).expect("time");
    match check_code(store, &key, "alice", "ABCD-EFGH", actor, now) {
        Err(CodeError::Wrong(_) | CodeError::Exhausted { .. }) => String::new(),
        Err(other) => format!("{other:?}"),
        Ok(_) => "a wrong code was accepted".into(),
    }
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
#[expect(
    clippy::disallowed_methods,
    reason = "the audit key of the test's actor comes from the OS RNG"
)]
fn the_documented_redeem_and_a_wrong_code_never_deadlock() {
    let db = PgTestDb::new();
    let id: i64 = db
        .client()
        .query_one(
            "INSERT INTO users (username, email, created_at, updated_at)
             VALUES ('alice', 'alice@example.com', 0, 0) RETURNING id",
            &[],
        )
        .expect("alice")
        .get(0);
    let mut store =
        Store::open_pg(&db.target, Some(&db.server.password), 30_000).expect("open the store");
    let actor = Actor {
        os_user: "test".into(),
        actor: None,
        reason: None,
        key: AuditKey::generate(&mut rand::rng()),
    };
    for round in 0..ROUNDS {
        let digest = two_live_links(&db, id, round);
        let start = Barrier::new(2);
        let (app, ours) = std::thread::scope(|s| {
            let app = s.spawn(|| application_redeems(&db, &digest, id, &start));
            let ours = pwreset_counts_a_wrong_code(&mut store, &actor, &start);
            (app.join().expect("application thread"), ours)
        });
        assert!(
            app.is_empty() && ours.is_empty(),
            "round {round}: application: {app}; pwreset: {ours}"
        );
        let used: i64 = db
            .client()
            .query_one(
                "SELECT count(*) FROM reset_tokens WHERE token_sha256 = $1 AND used_at IS NOT NULL",
                &[&digest],
            )
            .expect("the link")
            .get(0);
        assert_eq!(used, 1, "round {round}: the application redeemed the link");
    }
}
