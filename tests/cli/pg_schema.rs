//! The PostgreSQL schema against a real server: migrations applied once (also when two
//! processes race), a newer schema refused, the audit log append-only even for its owner, case-
//! insensitive uniqueness, and the same tables and columns as the SQLite store.

use std::collections::BTreeMap;

use pwreset::store::schema::LATEST;
use pwreset::store::schema::postgres::{self as pg, PgSchemaError};

use crate::pg_support::PgTestDb;

/// How many migrations a new PostgreSQL store applies: schema 5 in one step, then one per
/// version after it.
fn migrations() -> usize {
    usize::try_from(LATEST - 4).expect("schema 5 or later")
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn migrating_twice_is_a_no_op() {
    let db = PgTestDb::empty();
    let mut client = db.client();
    assert_eq!(pg::version(&mut client).expect("version"), 0);
    assert_eq!(pg::migrate(&mut client).expect("first"), migrations());
    assert_eq!(pg::migrate(&mut client).expect("second"), 0);
    assert_eq!(pg::version(&mut client).expect("version"), LATEST);
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn two_concurrent_migrations_apply_once() {
    let db = PgTestDb::empty();
    let applied: Vec<usize> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| s.spawn(|| pg::migrate(&mut db.client()).expect("migrate")))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("thread"))
            .collect()
    });
    assert_eq!(applied.iter().sum::<usize>(), migrations(), "{applied:?}");
    assert!(
        applied.contains(&0),
        "one of them found nothing to do: {applied:?}"
    );
    let rows: i64 = db
        .client()
        .query_one("SELECT count(*) FROM pwreset_schema_version", &[])
        .expect("count")
        .get(0);
    assert_eq!(rows, i64::try_from(migrations()).expect("a few"));
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn a_newer_schema_is_refused_and_left_alone() {
    let db = PgTestDb::empty();
    let mut client = db.client();
    client
        .batch_execute(
            "CREATE TABLE pwreset_schema_version (version BIGINT PRIMARY KEY);
             INSERT INTO pwreset_schema_version VALUES (99);",
        )
        .expect("a store from the future");
    let err = pg::migrate(&mut client).expect_err("newer");
    assert!(
        matches!(err, PgSchemaError::NewerSchema { found: 99, supported } if supported == LATEST),
        "{err}"
    );
    let users: bool = client
        .query_one("SELECT to_regclass('users') IS NOT NULL", &[])
        .expect("look")
        .get(0);
    assert!(!users, "nothing was created in a newer store");
}

fn audit_insert(
    client: &mut pwreset::store::sql::postgres::PgClient,
    sql: &str,
    id: i64,
) -> Result<u64, tokio_postgres::Error> {
    client.execute(
        &format!(
            "INSERT INTO audit_log (id, at, os_user, action, outcome, prev_hash, hash)
             VALUES ($1, 1, 'u', 'a', 'ok', '', '') {sql}"
        ),
        &[&id],
    )
}

fn assert_append_only(result: Result<u64, tokio_postgres::Error>, what: &str) {
    let err = result.expect_err(what);
    let message = err.as_db_error().map(|d| d.message().to_string());
    assert!(
        message
            .as_deref()
            .is_some_and(|m| m.contains("append-only")),
        "{what}: {err:?}"
    );
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn the_audit_log_refuses_update_delete_truncate_even_for_its_owner() {
    let db = PgTestDb::new();
    let mut client = db.client();
    let owner: bool = client
        .query_one(
            "SELECT tableowner = current_user FROM pg_tables WHERE tablename = 'audit_log'",
            &[],
        )
        .expect("owner")
        .get(0);
    assert!(owner, "the test role owns the table");
    audit_insert(&mut client, "", 1).expect("the first id");
    audit_insert(&mut client, "", 2).expect("the next id");
    assert_append_only(
        client.execute("UPDATE audit_log SET outcome = 'x'", &[]),
        "update",
    );
    assert_append_only(
        client.execute("DELETE FROM audit_log WHERE id = 2", &[]),
        "delete",
    );
    assert_append_only(client.execute("TRUNCATE audit_log", &[]), "truncate");
    assert_append_only(audit_insert(&mut client, "", 2), "id reuse");
    assert_append_only(audit_insert(&mut client, "", 4), "id gap");
    assert_append_only(
        audit_insert(
            &mut client,
            "ON CONFLICT (id) DO UPDATE SET outcome = 'x'",
            2,
        ),
        "an upsert of a stored row",
    );
    let unnumbered = client.execute(
        "INSERT INTO audit_log (at, os_user, action, outcome, prev_hash, hash) VALUES (1, 'u', 'a', 'ok', '', '')",
        &[],
    );
    assert!(unnumbered.is_err(), "an insert must name its id");
    let count: i64 = client
        .query_one("SELECT count(*) FROM audit_log", &[])
        .expect("count")
        .get(0);
    assert_eq!(count, 2);
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn usernames_and_emails_are_unique_ignoring_case() {
    let db = PgTestDb::new();
    let mut client = db.client();
    let insert =
        "INSERT INTO users (username, email, created_at, updated_at) VALUES ($1, $2, 0, 0)";
    client
        .execute(insert, &[&"Alice", &"Alice@Example.com"])
        .expect("first");
    let same_name = client.execute(insert, &[&"aLICE", &"other@example.com"]);
    let same_mail = client.execute(insert, &[&"bob", &"alice@example.COM"]);
    for (what, result) in [("username", same_name), ("email", same_mail)] {
        let err = result.expect_err(what);
        assert_eq!(
            err.code(),
            Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION),
            "{what}: {err:?}"
        );
    }
    client
        .execute(insert, &[&"carol", &None::<String>])
        .expect("emails may be missing");
    client
        .execute(insert, &[&"dave", &None::<String>])
        .expect("more than one missing email");
}

/// Table name -> column names, in order.
type Columns = BTreeMap<String, Vec<String>>;

fn sqlite_columns() -> Columns {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("schema.db");
    drop(pwreset::store::Store::create(&path, 5000).expect("a migrated SQLite store"));
    let conn = rusqlite::Connection::open(&path).expect("open the store file");
    let mut tables = conn
        .prepare("SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid")
        .expect("prepare");
    let rows = tables
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .expect("query");
    let mut columns = Columns::new();
    for row in rows {
        let (table, column) = row.expect("row");
        columns.entry(table).or_default().push(column);
    }
    columns
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn the_tables_and_columns_match_the_sqlite_store() {
    let db = PgTestDb::new();
    let mut columns = Columns::new();
    let rows = db
        .client()
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name <> 'pwreset_schema_version'
             ORDER BY table_name, ordinal_position",
            &[],
        )
        .expect("columns");
    for row in rows {
        columns.entry(row.get(0)).or_default().push(row.get(1));
    }
    assert_eq!(columns, sqlite_columns());
}

/// Every trigger function runs with a fixed `search_path` (issue 21, item 14): a table of the
/// same name in a schema the caller put first cannot stand in for pwreset's.
#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn the_trigger_functions_have_a_fixed_search_path() {
    let db = PgTestDb::new();
    let rows = db
        .client()
        .query(
            "SELECT p.proname::text, current_schema()::text,
                    coalesce(array_to_string(p.proconfig, ';'), '')
               FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = current_schema() AND p.prorettype = 'trigger'::regtype
              ORDER BY 1",
            &[],
        )
        .expect("functions");
    let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    for expected in [
        "audit_log_next_id",
        "audit_log_refuse_change",
        "users_revoke_links",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected}: {names:?}");
    }
    for row in rows {
        let (name, schema, config): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        assert_eq!(
            config,
            format!("search_path=pg_catalog, {schema}"),
            "{name}"
        );
    }
}
