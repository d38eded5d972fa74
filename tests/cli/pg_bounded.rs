//! DB-4: every wait on a PostgreSQL store is bounded. A server that accepts and never answers
//! (a tarpit, a hung pooler), one that answers the TLS request and then goes silent, one that
//! logs in and never says it is ready, and a statement stuck behind another session's lock:
//! each ends the command with exit 8 and a one-line hint, within its bound.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use crate::pg_support::{PgTestDb, pg_env};
use crate::support::{TestEnv, assert_fails, code, stderr};

/// How a fake server treats a client before it goes silent for good.
#[derive(Debug, Clone, Copy)]
enum Tarpit {
    /// Accepts and never sends a byte.
    Silent,
    /// Answers the TLS request with "yes" (`S`) and then never handshakes.
    AfterTlsYes,
    /// Reads the startup message, says "authenticated" and never says it is ready.
    AfterLogin,
}

/// A listener on 127.0.0.1 that treats every client as `mode` says and keeps its socket open
/// (the thread, and the sockets, end with the test process).
fn tarpit(mode: Tarpit) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut first = [0_u8; 8];
            match mode {
                Tarpit::Silent => {}
                Tarpit::AfterTlsYes => {
                    let _ = stream.read_exact(&mut first);
                    let _ = stream.write_all(b"S");
                }
                Tarpit::AfterLogin => {
                    let _ = read_message(&mut stream);
                    // AuthenticationOk, then nothing: no ReadyForQuery ever comes.
                    let _ = stream.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 0]);
                }
            }
            held.push(stream);
        }
    });
    port
}

/// Read one untyped message (the startup message): its length, then the rest.
fn read_message(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut len = [0_u8; 4];
    stream.read_exact(&mut len)?;
    let rest = usize::try_from(u32::from_be_bytes(len))
        .unwrap_or(4)
        .saturating_sub(4);
    let mut body = vec![0_u8; rest];
    stream.read_exact(&mut body)
}

#[test]
fn a_server_that_accepts_and_never_answers_is_exit_8_within_the_connect_timeout() {
    let cases = [
        (Tarpit::Silent, "disable"),
        (Tarpit::Silent, "require"),
        (Tarpit::AfterTlsYes, "require"),
        (Tarpit::AfterLogin, "disable"),
    ];
    let env = TestEnv::initialised();
    for (mode, sslmode) in cases {
        let port = tarpit(mode);
        let url =
            format!("postgres://pwreset@127.0.0.1:{port}/x?connect_timeout=2&sslmode={sslmode}");
        let out = env.run(&["--db", &url, "users", "list"]);
        assert_fails(&out, 8, &format!("127.0.0.1:{port}/x"));
        let err = stderr(&out);
        assert_eq!(
            err.matches("error: ").count(),
            1,
            "{mode:?} {sslmode}: {err}"
        );
        assert!(err.contains("hint: "), "{mode:?} {sslmode}: {err}");
        assert!(err.contains("connect_timeout"), "{mode:?} {sslmode}: {err}");
    }
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn a_statement_stuck_behind_another_sessions_lock_is_exit_8_after_the_busy_timeout() {
    let db = PgTestDb::new();
    let env = pg_env(&db, &db.url());
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    env.write(
        "pwreset.toml",
        &config.replacen("[store]\n", "[store]\nbusy_timeout_ms = 500\n", 1),
    );
    env.ok(&["users", "add", "alice@example.com"]);
    let mut holder = db.client();
    holder
        .batch_execute("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .expect("hold the lock");
    let out = env.run(&["users", "list"]);
    holder.batch_execute("ROLLBACK").expect("release");
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.matches("error: ").count(), 1, "{err}");
    assert!(err.contains("hint: "), "{err}");
    env.ok(&["users", "list"]);
}
