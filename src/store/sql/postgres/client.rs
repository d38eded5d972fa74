//! A synchronous PostgreSQL client: `tokio-postgres` driven on a current-thread runtime of its
//! own, as the `postgres` crate drives it, plus the one thing that crate cannot do: send
//! several statements before reading any answer. Statements whose answers are not needed yet
//! ([`Deferred`]) travel with the next one that is, so a transaction's trailing writes and its
//! `COMMIT` cost one round trip, not one each.
//!
//! Like the `postgres` crate, it must not be used from inside a tokio runtime (`connect`
//! refuses there); `serve` calls it from blocking threads.
//!
//! Every wait is bounded (DB-4): a request the server has not answered within the client's
//! wait bound fails as a timeout, and the connection is then given up (its protocol state is
//! unknown), so that nobody sends on it again.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Duration;

use futures_util::future::{join, join_all};
use tokio::runtime::Runtime;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Error, Row, RowStream, Statement};

/// Parameters bound to the types a prepared statement expects.
pub type Bound = Vec<Box<dyn ToSql + Sync + Send>>;

/// A statement queued to be sent with the next one whose answer is needed.
pub enum Deferred {
    /// Statements without parameters (simple query protocol), e.g. `BEGIN; ...`.
    Batch(String),
    /// A prepared statement and its parameters; its row count is not wanted.
    Execute(Statement, Bound),
}

/// The connection's own task: reads the server's answers and writes the queued requests.
type Driver = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

/// One connection, with the runtime that drives it.
pub struct PgClient {
    runtime: Runtime,
    client: Client,
    /// `None` once the connection has ended; requests then fail as closed.
    driver: Option<Driver>,
    /// The longest any one wait for the server lasts (DB-4).
    wait_bound: Duration,
}

impl PgClient {
    /// Wrap a client and its connection task, both made on `runtime`; no wait for the server
    /// lasts longer than `wait_bound`.
    pub fn new<F>(runtime: Runtime, client: Client, connection: F, wait_bound: Duration) -> PgClient
    where
        F: Future<Output = Result<(), Error>> + Send + 'static,
    {
        PgClient {
            runtime,
            client,
            driver: Some(Box::pin(connection)),
            wait_bound,
        }
    }

    /// Whether the connection still stands, without a round trip: what the server sent while
    /// the connection sat idle (a `FATAL` from `pg_terminate_backend`, the end of the stream)
    /// is read first, so a connection the server ended is seen as ended (DB-4).
    pub fn is_alive(&mut self) -> bool {
        if self.driver.is_none() || self.client.is_closed() {
            return false;
        }
        // Two yields: the runtime polls the socket between them, and the connection task
        // reads whatever has arrived. Its error, if any, is the connection's end: not reported.
        let _ = drive(&self.runtime, &mut self.driver, self.wait_bound, async {
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
            Ok::<(), Error>(())
        });
        self.driver.is_some() && !self.client.is_closed()
    }

    /// Send `queue`, then prepare `sql`.
    pub fn prepare_after(&mut self, queue: Vec<Deferred>, sql: &str) -> Result<Statement, Error> {
        self.run(queue, |c| c.prepare(sql))
    }

    /// Send `queue`, then run `stmt`; how many rows it changed.
    pub fn execute_after(
        &mut self,
        queue: Vec<Deferred>,
        stmt: &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error> {
        self.run(queue, |c| c.execute(stmt, params))
    }

    /// Send `queue`, then run `stmt`; all its rows.
    pub fn query_after(
        &mut self,
        queue: Vec<Deferred>,
        stmt: &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        self.run(queue, |c| c.query(stmt, params))
    }

    /// Send `queue`, then start `stmt`; its rows come through [`PgClient::next_rows`].
    pub fn query_raw_after(
        &mut self,
        queue: Vec<Deferred>,
        stmt: &Statement,
        params: Vec<&(dyn ToSql + Sync)>,
    ) -> Result<Pin<Box<RowStream>>, Error> {
        self.run(queue, |c| async move {
            c.query_raw(stmt, params).await.map(Box::pin)
        })
    }

    /// The next rows of `rows`: those already arrived, at most `max` (at least one unless the
    /// rows have ended), and whether more may follow. A stream that has ended must not be
    /// asked again.
    pub fn next_rows(
        &mut self,
        rows: &mut Pin<Box<RowStream>>,
        max: usize,
    ) -> Result<(Vec<Row>, bool), Error> {
        let mut batch = Vec::new();
        let more = drive(
            &self.runtime,
            &mut self.driver,
            self.wait_bound,
            poll_fn(|cx| {
                while batch.len() < max {
                    match futures_util::Stream::poll_next(rows.as_mut(), cx) {
                        Poll::Ready(Some(Ok(row))) => batch.push(row),
                        Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                        Poll::Ready(None) => return Poll::Ready(Ok(false)),
                        Poll::Pending if batch.is_empty() => return Poll::Pending,
                        Poll::Pending => break,
                    }
                }
                Poll::Ready(Ok(true))
            }),
        )?;
        Ok((batch, more))
    }

    /// Send `queue`, then run `sql` (statements without parameters).
    pub fn batch_after(&mut self, queue: Vec<Deferred>, sql: &str) -> Result<(), Error> {
        self.run(queue, |c| c.batch_execute(sql))
    }

    /// Send `queue`, then the request `op` makes of the client, before reading any answer.
    fn run<'s, T, F>(
        &'s mut self,
        queue: Vec<Deferred>,
        op: impl FnOnce(&'s Client) -> F,
    ) -> Result<T, Error>
    where
        F: Future<Output = Result<T, Error>> + 's,
    {
        let Self {
            runtime,
            client,
            driver,
            wait_bound,
        } = self;
        let client: &'s Client = client;
        drive(runtime, driver, *wait_bound, async move {
            after(client, &queue, op(client)).await
        })
    }

    /// Run `sql` (statements without parameters).
    pub fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        self.batch_after(Vec::new(), sql)
    }

    /// Prepare and run `sql`; how many rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
        self.run(Vec::new(), |c| c.execute(sql, params))
    }

    /// Prepare and run `sql`; all its rows.
    pub fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error> {
        self.run(Vec::new(), |c| c.query(sql, params))
    }

    /// Prepare and run `sql`, which must return exactly one row.
    pub fn query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, Error> {
        self.run(Vec::new(), |c| c.query_one(sql, params))
    }
}

/// `op` after every statement of `queue`, all sent before any answer is read: the first
/// failure wins (after one, PostgreSQL answers the rest of the transaction with errors too).
async fn after<T>(
    client: &Client,
    queue: &[Deferred],
    op: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    if queue.is_empty() {
        return op.await;
    }
    let sent = queue.iter().map(|deferred| async move {
        match deferred {
            Deferred::Batch(sql) => client.batch_execute(sql).await,
            Deferred::Execute(stmt, bound) => {
                let params: Vec<&(dyn ToSql + Sync)> =
                    bound.iter().map(|p| p.as_ref() as _).collect();
                client.execute(stmt, &params).await.map(drop)
            }
        }
    });
    let (earlier, result) = join(join_all(sent), op).await;
    earlier.into_iter().collect::<Result<Vec<()>, Error>>()?;
    result
}

/// Run `f` to completion on `runtime`, driving the connection meanwhile. A connection that
/// fails ends the wait with its error; one that closes makes `f`'s requests fail as closed.
/// A wait longer than `bound` ends as a timeout and gives the connection up (DB-4).
fn drive<T>(
    runtime: &Runtime,
    driver: &mut Option<Driver>,
    bound: Duration,
    f: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let mut f = pin!(f);
    let until_done = poll_fn(|cx| {
        if let Some(connection) = driver.as_mut()
            && let Poll::Ready(ended) = connection.as_mut().poll(cx)
        {
            *driver = None;
            ended?;
        }
        f.as_mut().poll(cx)
    });
    // The timer is made inside the runtime: it needs the runtime's clock.
    let waited = runtime.block_on(async { tokio::time::timeout(bound, until_done).await });
    waited.unwrap_or_else(|_elapsed| {
        // Dropping the connection task closes the client: later requests fail as closed.
        *driver = None;
        Err(Error::__private_api_timeout())
    })
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::time::Duration;

    use super::PgClient;

    /// A server that logs anyone in, says it is ready, and then never answers a query.
    fn silent_after_ready() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { break };
                let mut len = [0_u8; 4];
                let _ = stream.read_exact(&mut len);
                let mut rest = vec![0_u8; (u32::from_be_bytes(len) as usize).saturating_sub(4)];
                let _ = stream.read_exact(&mut rest);
                // AuthenticationOk, ReadyForQuery (idle).
                let _ = stream.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 0, b'Z', 0, 0, 0, 5, b'I']);
                held.push(stream);
            }
        });
        port
    }

    /// DB-4: a statement the server never answers ends after the client's wait bound, as a
    /// timeout, and the connection is given up.
    #[test]
    fn a_wait_for_the_server_ends_at_the_bound_and_the_connection_is_given_up() {
        let port = silent_after_ready();
        let (done, result) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let mut config = tokio_postgres::Config::new();
            config.host("127.0.0.1").port(port).user("u").dbname("x");
            let (client, connection) = runtime
                .block_on(config.connect(tokio_postgres::NoTls))
                .expect("the fake server logs in");
            let mut client = PgClient::new(runtime, client, connection, Duration::from_millis(300));
            let err = client.batch_execute("SELECT 1").expect_err("no answer");
            let kind = crate::store::sql::DbError::from(err).kind();
            let _ = done.send((kind, client.is_alive()));
        });
        // Bounded: without the client's bound the statement would wait forever.
        let (kind, alive) = result
            .recv_timeout(Duration::from_secs(20))
            .expect("the wait ended");
        assert_eq!(kind, crate::store::sql::ErrorKind::Timeout);
        assert!(
            !alive,
            "a connection whose state is unknown is not used again"
        );
    }
}
