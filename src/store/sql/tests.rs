//! Unit tests of the layer on real SQLite files: parameters, rows, errors, the `?N` rewrite
//! and transactions. SQLite only by design: `pg_tests.rs` holds the same checks for the
//! PostgreSQL backend, where the types, errors and locks differ.

use super::*;
use crate::vals;

fn open(dir: &tempfile::TempDir) -> Conn {
    let conn = rusqlite::Connection::open(dir.path().join("t.db")).expect("open");
    conn.busy_timeout(std::time::Duration::ZERO)
        .expect("timeout");
    Conn::from_sqlite(conn)
}

fn table(dir: &tempfile::TempDir) -> Conn {
    let conn = open(dir);
    conn.batch("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, s TEXT UNIQUE)")
        .expect("ddl");
    conn
}

/// Rows in table `t` (both backends' tests).
pub(super) fn count(conn: &Conn) -> i64 {
    conn.query_one("SELECT count(*) FROM t", &vals![], |r| r.get(0))
        .expect("count")
}

#[test]
fn every_parameter_type_binds_as_integer_text_or_null() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conn = open(&dir);
    let text = String::from("owned");
    let none: Option<i64> = None;
    let row = conn
        .query_one(
            "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11",
            &vals![
                7_i64,
                -3_i32,
                4_u32,
                5_u64,
                6_usize,
                true,
                false,
                "s",
                text,
                none,
                Some("x")
            ],
            |r| {
                Ok((
                    (r.get::<i64>(0)?, r.get::<i64>(1)?, r.get::<i64>(2)?),
                    (r.get::<i64>(3)?, r.get::<i64>(4)?),
                    (r.get::<i64>(5)?, r.get::<i64>(6)?),
                    (r.get::<String>(7)?, r.get::<String>(8)?),
                    (r.get::<Option<i64>>(9)?, r.get::<Option<String>>(10)?),
                ))
            },
        )
        .expect("select");
    assert_eq!(row.0, (7, -3, 4));
    assert_eq!(row.1, (5, 6));
    assert_eq!(row.2, (1, 0), "booleans are 0/1 integers");
    assert_eq!(row.3, ("s".to_string(), "owned".to_string()));
    assert_eq!(row.4, (None, Some("x".to_string())));
}

#[test]
fn a_u64_too_large_is_an_error_at_bind_time_not_a_wrapped_number() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conn = table(&dir);
    let err = conn
        .execute("INSERT INTO t (n) VALUES (?1)", &vals![u64::MAX])
        .expect_err("out of range");
    assert_eq!(err.kind(), ErrorKind::Other);
    assert!(err.to_string().contains("u64"), "{err}");
    assert_eq!(count(&conn), 0);
}

#[test]
fn a_wrong_parameter_count_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conn = table(&dir);
    let err = conn
        .execute("INSERT INTO t (n, s) VALUES (?1, ?2)", &vals![1_i64])
        .expect_err("one short");
    assert!(err.to_string().contains("expected 2, given 1"), "{err}");
}

#[test]
fn columns_convert_checked_and_errors_name_types_not_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conn = open(&dir);
    let read = |sql: &str| {
        conn.query_one(sql, &vals![], |r| {
            Ok((
                r.get::<bool>(0)?,
                r.get::<Option<bool>>(1)?,
                r.get::<u32>(2)?,
            ))
        })
    };
    assert_eq!(read("SELECT 1, NULL, 42").expect("ok"), (true, None, 42));
    assert_eq!(read("SELECT 0, 2, 0").expect("ok"), (false, Some(true), 0));
    let negative = read("SELECT 1, 1, -1").expect_err("negative u32");
    assert!(negative.to_string().contains("u32"), "{negative}");
    let secret = "s3cret-digest";
    let err = conn
        .query_one("SELECT ?1", &vals![secret], |r| r.get::<i64>(0))
        .expect_err("text is no integer");
    assert_eq!(
        err.to_string(),
        "wrong column type: expected integer, found text"
    );
    let null = conn
        .query_one("SELECT NULL", &vals![], |r| r.get::<String>(0))
        .expect_err("null is no string");
    assert!(null.to_string().contains("found null"), "{null}");
    let value = conn
        .query_one("SELECT 'a'", &vals![], |r| r.get::<Value>(0))
        .expect("value");
    assert_eq!(value, Value::Text("a".into()));
}

#[test]
fn query_helpers_return_first_none_all_and_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conn = table(&dir);
    let first = conn
        .insert_returning_id("INSERT INTO t (n) VALUES (?1) RETURNING id", &vals![10_i64])
        .expect("insert");
    let second = conn
        .insert_returning_id("INSERT INTO t (n) VALUES (?1) RETURNING id", &vals![20_i64])
        .expect("insert");
    assert_eq!((first, second), (1, 2));
    let all = conn
        .query_vec("SELECT n FROM t ORDER BY id", &vals![], |r| r.get::<i64>(0))
        .expect("all");
    assert_eq!(all, vec![10, 20]);
    let none = conn
        .query_opt("SELECT n FROM t WHERE id = ?1", &vals![9_i64], |r| {
            r.get::<i64>(0)
        })
        .expect("none");
    assert_eq!(none, None);
    let err = conn
        .query_one("SELECT n FROM t WHERE id = ?1", &vals![9_i64], |r| {
            r.get::<i64>(0)
        })
        .expect_err("no row");
    assert_eq!(err.kind(), ErrorKind::Other);
    let changed = conn
        .execute("UPDATE t SET n = n + 1 WHERE n > ?1", &vals![0_i64])
        .expect("update");
    assert_eq!(changed, 2);
}

/// How a streaming test's callback stops (both backends' tests).
#[derive(Debug, PartialEq)]
pub(super) enum Stop {
    Db(String),
    At(i64),
}

impl From<DbError> for Stop {
    fn from(err: DbError) -> Self {
        Stop::Db(err.to_string())
    }
}

#[test]
fn query_each_streams_until_the_callback_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conn = table(&dir);
    for n in 1..=5_i64 {
        conn.execute("INSERT INTO t (n) VALUES (?1)", &vals![n])
            .expect("insert");
    }
    let mut seen = Vec::new();
    let result = conn.query_each("SELECT n FROM t ORDER BY n", &vals![], |r| {
        let n: i64 = r.get(0)?;
        seen.push(n);
        // The connection stays usable inside the callback.
        conn.execute("UPDATE t SET s = 'seen' || ?1 WHERE n = ?1", &vals![n])?;
        if n == 3 { Err(Stop::At(n)) } else { Ok(()) }
    });
    assert_eq!(result, Err(Stop::At(3)));
    assert_eq!(seen, vec![1, 2, 3]);
}

#[test]
fn a_duplicate_is_unique_and_a_held_lock_is_busy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut first = table(&dir);
    first
        .execute("INSERT INTO t (s) VALUES (?1)", &vals!["a"])
        .expect("insert");
    let dup = first
        .execute("INSERT INTO t (s) VALUES (?1)", &vals!["a"])
        .expect_err("duplicate");
    assert_eq!(dup.kind(), ErrorKind::Unique);
    assert!(!dup.to_string().contains("'a'"), "{dup}");
    let _held = first.begin_write().expect("lock");
    let mut second = open(&dir);
    let busy = second.begin_write().expect_err("locked");
    assert_eq!(busy.kind(), ErrorKind::Busy);
    assert_eq!(DbError::busy_for_tests().kind(), ErrorKind::Busy);
}

#[test]
fn a_transaction_commits_or_rolls_back_on_drop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut conn = table(&dir);
    let tx = conn.begin_write().expect("begin");
    tx.execute("INSERT INTO t (n) VALUES (1)", &vals![])
        .expect("insert");
    tx.commit().expect("commit");
    assert_eq!(count(&conn), 1);
    {
        let tx = conn.begin_write().expect("begin");
        tx.execute("INSERT INTO t (n) VALUES (2)", &vals![])
            .expect("insert");
        assert_eq!(count(&tx), 2, "visible inside");
    }
    assert_eq!(count(&conn), 1, "dropped without commit: rolled back");
    let read = conn.begin_read().expect("read");
    assert_eq!(count(&read), 1);
    drop(read);
    let tx = conn
        .begin_write()
        .expect("a new write after the read ended");
    tx.commit().expect("commit");
}

#[test]
fn pg_sql_numbers_parameters_outside_literals_and_comments() {
    assert_eq!(
        pg_sql("SELECT a FROM t WHERE a = ?1 AND b IN (?2, ?12) -- ?3\nLIMIT ?3"),
        "SELECT a FROM t WHERE a = $1 AND b IN ($2, $12) -- ?3\nLIMIT $3"
    );
    assert_eq!(
        pg_sql("SELECT '?1', 'it''s ?2', \"?3\", ?4"),
        "SELECT '?1', 'it''s ?2', \"?3\", $4"
    );
    assert_eq!(
        pg_sql("SELECT ? , ?x"),
        "SELECT ? , ?x",
        "only numbered ones"
    );
}

#[test]
fn dialect_picks_the_statement_for_the_backend() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conn = open(&dir);
    assert_eq!(conn.backend(), Backend::Sqlite);
    assert_eq!(conn.dialect("LIMIT -1", "LIMIT ALL"), "LIMIT -1");
}
