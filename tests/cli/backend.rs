//! How a [`TestEnv`] reaches its store on its test's backend ([`current`]): the `[store]` lines
//! of its config, the [`TestDb`] handle tests read and edit the store with, raw SQLite for the
//! tests of SQLite's own mechanics, and, on PostgreSQL, moving the store `pwreset init` made
//! into the test's own database.
//!
//! `main.rs` compiles the backend-neutral modules twice, the second copy under `postgres::`;
//! only this file and [`TestDb::open`] tell the two apart.

use pwreset::store::sql::{Value, ValueRef};

use crate::support::TestEnv;
use crate::testdb::{Backend, StoreAt, TestDb};

/// The backend of the running test: PostgreSQL for the copy of a module that
/// `on_both_backends!` (in `main.rs`) compiles under `postgres::`, SQLite for everything else.
/// The test harness names each test's thread after the test's path, so a [`TestEnv`] must be
/// made on that thread: anywhere else this fails rather than guess.
pub fn current() -> Backend {
    let thread = std::thread::current();
    let test = thread
        .name()
        .expect("make a TestEnv on its test's own thread: the test's name picks the backend");
    if test.starts_with("postgres::") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}

impl TestEnv {
    /// Which backend this test's store is on.
    pub fn backend(&self) -> Backend {
        match self.pg() {
            Some(_) => Backend::Postgres,
            None => Backend::Sqlite,
        }
    }

    /// Open the store directly, through pwreset's own SQL layer.
    pub fn db(&self) -> TestDb {
        TestDb::open(&self.store_at())
    }

    /// A single integer from SQL (no parameters).
    pub fn count(&self, sql: &str) -> i64 {
        self.db().count(sql)
    }

    /// The store as a raw SQLite connection, for a test of SQLite's own mechanics (PRAGMAs, the
    /// WAL, file modes, a forged old schema). On any other backend it panics, naming `why` the
    /// test is SQLite's alone: such a test belongs in a module that runs once, on SQLite, never
    /// in one that runs on both stores (where it would say `ok` without having run).
    pub fn sqlite(&self, why: &str) -> rusqlite::Connection {
        match self.backend() {
            Backend::Sqlite => {
                rusqlite::Connection::open(self.path("pwreset.db")).expect("open store")
            }
            Backend::Postgres => {
                let test = std::thread::current().name().unwrap_or("?").to_string();
                panic!(
                    "{test} is SQLite's alone ({why}) but runs on {:?}: move it to a module \
                     that runs once, on SQLite (tests/cli/main.rs)",
                    self.backend()
                )
            }
        }
    }

    /// On SQLite, a connection that has read the store with automatic checkpoints off: while it
    /// is open, what pwreset writes stays in the WAL file, for a test that scans the files for
    /// secrets. `None` on other backends, where the store is no file of the test's.
    ///
    /// Open no [`TestDb`] until pwreset has run: pwreset's `Store::open` opens and closes the
    /// store's files, and closing a file drops every POSIX lock this process holds on it, this
    /// connection's included, so pwreset would then checkpoint and delete the WAL.
    pub fn hold_wal(&self) -> Option<rusqlite::Connection> {
        if self.backend() != Backend::Sqlite {
            return None;
        }
        let conn = rusqlite::Connection::open(self.path("pwreset.db")).expect("open store");
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0; SELECT count(*) FROM users;")
            .expect("hold the WAL open");
        Some(conn)
    }

    /// Everything the store holds, raw, for a test that scans it for secrets: on SQLite each
    /// file (database, WAL, shared memory) as it is on disk; elsewhere every table dumped.
    pub fn store_contents(&self) -> Vec<(String, Vec<u8>)> {
        if self.backend() == Backend::Sqlite {
            let db = self.path("pwreset.db");
            return std::iter::once(db.clone())
                .chain(pwreset::store::companion_paths(&db))
                .map(|file| {
                    let bytes = std::fs::read(&file).unwrap_or_default();
                    (file.display().to_string(), bytes)
                })
                .collect();
        }
        let db = self.db();
        db.tables()
            .into_iter()
            .map(|table| {
                let rows = db.dump_as_text(&table).join("\n").into_bytes();
                (table, rows)
            })
            .collect()
    }

    /// The `[store]` section of a config pointing at this test's store.
    pub fn store_config(&self) -> String {
        match self.pg() {
            None => "[store]\npath = \"pwreset.db\"\n".to_string(),
            Some(db) => format!(
                "[store]\nurl = \"{}\"\npassword_file = \"{}\"\n",
                db.url(),
                db.server.password_file.display()
            ),
        }
    }

    /// Run `pwreset init` with `args`; on PostgreSQL, then move what it created into the test's
    /// database and point the config there.
    pub(crate) fn init(&self, args: &[&str]) {
        self.ok(args);
        if self.pg().is_some() {
            self.move_store_to_pg();
        }
    }

    fn store_at(&self) -> StoreAt<'_> {
        match self.pg() {
            Some(db) => StoreAt::Postgres(db),
            None => StoreAt::Sqlite(self.path("pwreset.db")),
        }
    }

    /// Copy the rows `init` wrote, in every table it wrote to (same ids, so the audit chain
    /// verifies as it is) into the
    /// test's PostgreSQL database, point `pwreset.toml` at it, and remove the SQLite file, so a
    /// command that still used it would fail rather than pass.
    fn move_store_to_pg(&self) {
        let from = TestDb::open(&StoreAt::Sqlite(self.path("pwreset.db")));
        let to = self.db();
        for table in from.tables() {
            if from.count(&format!("SELECT count(*) FROM {table}")) > 0 {
                copy_rows(&from, &to, &table);
            }
        }
        to.batch(
            "SELECT setval(pg_get_serial_sequence('users', 'id'), \
             (SELECT coalesce(max(id), 0) + 1 FROM users), false)",
        );
        drop(from);
        let path = self.path("pwreset.toml");
        let config = std::fs::read_to_string(&path).expect("read the config");
        let sqlite = "[store]\n# The SQLite store, relative to this file.\npath = \"pwreset.db\"\n";
        assert!(config.contains(sqlite), "init's [store] section:\n{config}");
        self.write(
            "pwreset.toml",
            &config.replace(sqlite, &self.store_config()),
        );
        for file in std::iter::once(self.path("pwreset.db"))
            .chain(pwreset::store::companion_paths(&self.path("pwreset.db")))
        {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// Copy every row of `table` from one store to the other, ids included, in id order.
fn copy_rows(from: &TestDb, to: &TestDb, table: &str) {
    let columns = from.columns(table);
    let rows: Vec<Vec<Value>> = from.query_vec(
        &format!("SELECT {} FROM {table} ORDER BY id", columns.join(", ")),
        &[],
        |row| {
            (0..columns.len())
                .map(|i| row.value(i).map(owned))
                .collect()
        },
    );
    let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let insert = format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        columns.join(", "),
        marks.join(", ")
    );
    for row in &rows {
        let params: Vec<&dyn pwreset::store::sql::ToValue> = row.iter().map(|v| v as _).collect();
        to.execute(&insert, &params);
    }
}

fn owned(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Int(n) => Value::Int(n),
        ValueRef::Text(text) => Value::Text(text.to_string()),
    }
}
