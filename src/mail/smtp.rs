//! The `smtp` transport: lettre's SMTP client on a socket of our own with `TCP_NODELAY`.
//!
//! lettre's blocking client leaves Nagle's algorithm on, and every message then waits ~40 ms
//! for a delayed ACK (MEASURED.md: 22 vs 950 messages/s). Its async client accepts a stream we
//! open ourselves, so it runs here on a single-threaded tokio runtime. One connection is kept
//! open and reused across messages. TLS is never opportunistic: STARTTLS is required when
//! configured, certificates are always verified, and AUTH is only ever sent over TLS
//! (plain mode without credentials is enforced at config load).

use std::time::{Duration, SystemTime};

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::net::TcpStream;

use super::{Delivered, MailError, Mailer, Outgoing, Pipelined, build};
use crate::config::TlsMode;
use crate::secret::Secret;

/// One step of `smtp test` that succeeded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    /// `connect`, `greeting`, `tls`, `auth` or `send`.
    pub step: &'static str,
    /// What happened, e.g. the server's name and extensions.
    pub detail: String,
}

impl Step {
    fn new(step: &'static str, detail: String) -> Self {
        Step { step, detail }
    }
}

/// Everything needed to reach one SMTP server.
#[derive(Debug)]
pub struct SmtpSettings {
    /// Host name (also the name certificates are checked against).
    pub host: String,
    /// Port.
    pub port: u16,
    /// TLS mode.
    pub tls: TlsMode,
    /// User name and password for AUTH.
    pub credentials: Option<(String, Secret)>,
    /// Extra CA certificate (PEM) to trust.
    pub extra_ca: Option<Vec<u8>>,
    /// Connect and command timeout.
    pub timeout: Duration,
}

/// Sends over one reused SMTP connection.
pub struct SmtpMailer {
    settings: SmtpSettings,
    tls: Option<TlsParameters>,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    now: SystemTime,
    runtime: tokio::runtime::Runtime,
    idle: Vec<AsyncSmtpConnection>,
    in_flight: std::collections::VecDeque<InFlight>,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SmtpMailer({})", self.server())
    }
}

impl SmtpMailer {
    /// Prepare a mailer; nothing is connected until the first message.
    pub fn new(
        settings: SmtpSettings,
        from: Mailbox,
        reply_to: Option<Mailbox>,
        now: SystemTime,
    ) -> Result<Self, MailError> {
        let tls = match settings.tls {
            TlsMode::None => None,
            TlsMode::Implicit | TlsMode::Starttls => Some(tls_parameters(&settings)?),
        };
        // One worker thread, so a submitted message travels while the caller prepares the next.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| MailError::Local(format!("cannot start the SMTP client: {e}")))?;
        Ok(SmtpMailer {
            settings,
            tls,
            from,
            reply_to,
            now,
            runtime,
            idle: Vec::new(),
            in_flight: std::collections::VecDeque::new(),
        })
    }

    /// `host:port`, for messages.
    pub fn server(&self) -> String {
        format!("{}:{}", self.settings.host, self.settings.port)
    }

    fn connection_error(&self, detail: impl std::fmt::Display) -> MailError {
        MailError::Connection {
            server: self.server(),
            detail: detail.to_string(),
        }
    }

    fn reply_error(&self, err: &lettre::transport::smtp::Error) -> MailError {
        if err.is_permanent() || err.is_transient() {
            MailError::Refused {
                server: self.server(),
                reply: err.to_string(),
                transient: err.is_transient(),
            }
        } else if err.is_tls() {
            self.connection_error(format!("TLS failed: {err}"))
        } else {
            self.connection_error(err)
        }
    }

    async fn open(&self) -> Result<AsyncSmtpConnection, MailError> {
        self.open_reporting(&mut |_| {}).await
    }

    /// Connect, greet, upgrade to TLS and authenticate, telling `report` about each step.
    async fn open_reporting(
        &self,
        report: &mut (dyn FnMut(Step) + Send),
    ) -> Result<AsyncSmtpConnection, MailError> {
        let hello = ClientId::default();
        let address = (self.settings.host.as_str(), self.settings.port);
        let mut connection = if self.settings.tls == TlsMode::Implicit {
            // lettre opens this socket itself: TLS from the first byte needs its connector.
            let connection = AsyncSmtpConnection::connect_tokio1(
                address,
                Some(self.settings.timeout),
                &hello,
                self.tls.clone(),
                None,
            )
            .await
            .map_err(|e| self.reply_error(&e))?;
            report(Step::new(
                "connect",
                format!(
                    "{} over implicit TLS, certificate verified for {}",
                    self.server(),
                    self.settings.host
                ),
            ));
            connection
        } else {
            let stream = TcpStream::connect(address)
                .await
                .map_err(|e| self.connection_error(e))?;
            stream
                .set_nodelay(true)
                .map_err(|e| self.connection_error(e))?;
            let peer = stream
                .peer_addr()
                .map_or_else(|_| self.server(), |a| a.to_string());
            report(Step::new("connect", format!("TCP connection to {peer}")));
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello)
                .await
                .map_err(|e| self.reply_error(&e))?
        };
        report(Step::new("greeting", connection.server_info().to_string()));
        if let (TlsMode::Starttls, Some(tls)) = (self.settings.tls, &self.tls) {
            if !connection.can_starttls() {
                return Err(self.connection_error("the server does not offer STARTTLS, which mail.smtp.tls = \"starttls\" requires"));
            }
            connection
                .starttls(tls.clone(), &hello)
                .await
                .map_err(|e| self.reply_error(&e))?;
            report(Step::new(
                "tls",
                format!(
                    "STARTTLS established, certificate verified for {}",
                    self.settings.host
                ),
            ));
        }
        if let Some((user, password)) = &self.settings.credentials {
            let credentials = Credentials::new(user.clone(), password.expose().to_string());
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await
                .map_err(|e| self.auth_error(&e))?;
            report(Step::new("auth", format!("accepted for {user}")));
        }
        Ok(connection)
    }

    /// Check the server step by step on a fresh connection, and send `message` if given.
    /// Returns the steps that succeeded, and the first failure if any.
    pub fn probe(&mut self, message: Option<&Outgoing>) -> (Vec<Step>, Result<(), MailError>) {
        let steps = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let timeout = self.settings.timeout;
        let sink = std::sync::Arc::clone(&steps);
        let opened = self.runtime.block_on(async {
            let mut report = |step: Step| {
                if let Ok(mut steps) = sink.lock() {
                    steps.push(step);
                }
            };
            tokio::time::timeout(timeout, self.open_reporting(&mut report)).await
        });
        let mut outcome = match opened {
            Ok(Ok(connection)) => {
                self.idle.push(connection);
                Ok(())
            }
            Ok(Err(err)) => Err(err),
            Err(_) => {
                Err(self.connection_error(format!("no answer within {}s", timeout.as_secs())))
            }
        };
        if let (Ok(()), Some(message)) = (&outcome, message) {
            match self.send(message) {
                Ok(delivered) => {
                    if let Ok(mut steps) = steps.lock() {
                        steps.push(Step::new("send", format!("accepted: {}", delivered.detail)));
                    }
                }
                Err(err) => outcome = Err(err),
            }
        }
        let steps = steps.lock().map(|s| s.clone()).unwrap_or_default();
        (steps, outcome)
    }

    fn auth_error(&self, err: &lettre::transport::smtp::Error) -> MailError {
        let text = err.to_string();
        if text.contains("No compatible authentication mechanism") {
            return self.connection_error("the server offers no AUTH mechanism pwreset can use over this connection (does it need TLS?)");
        }
        MailError::Refused {
            server: self.server(),
            reply: format!("authentication failed: {text}"),
            transient: err.is_transient(),
        }
    }

    fn connected(&mut self) -> Result<AsyncSmtpConnection, MailError> {
        while let Some(connection) = self.idle.pop() {
            if !connection.has_broken() {
                return Ok(connection);
            }
        }
        let timeout = self.settings.timeout;
        self.runtime
            .block_on(async { tokio::time::timeout(timeout, self.open()).await })
            .map_err(|_| {
                self.connection_error(format!("no answer within {}s", timeout.as_secs()))
            })?
    }
}

/// Messages that may be on their way at once, each on its own connection (a small pool keeps
/// the server busy while pwreset waits for an answer).
const PIPELINE_DEPTH: usize = 2;

/// A message on its way: the connection travels with it and comes back with the answer.
type InFlight = tokio::task::JoinHandle<(
    AsyncSmtpConnection,
    Result<
        Result<lettre::transport::smtp::response::Response, lettre::transport::smtp::Error>,
        tokio::time::error::Elapsed,
    >,
)>;

impl Mailer for SmtpMailer {
    fn send(&mut self, message: &Outgoing) -> Result<Delivered, MailError> {
        self.submit(message)?;
        self.collect()
    }

    fn pipelined(&mut self) -> Option<&mut dyn Pipelined> {
        Some(self)
    }
}

impl Pipelined for SmtpMailer {
    fn depth(&self) -> usize {
        PIPELINE_DEPTH
    }

    fn submit(&mut self, message: &Outgoing) -> Result<(), MailError> {
        if self.in_flight.len() >= PIPELINE_DEPTH {
            return Err(MailError::Local("too many messages on their way".into()));
        }
        let email = build(&self.from, self.reply_to.as_ref(), message, self.now)?;
        let mut connection = self.connected()?;
        let timeout = self.settings.timeout;
        let (envelope, bytes) = (email.envelope().clone(), email.formatted());
        self.in_flight.push_back(self.runtime.spawn(async move {
            let outcome = tokio::time::timeout(timeout, connection.send(&envelope, &bytes)).await;
            (connection, outcome)
        }));
        Ok(())
    }

    fn collect(&mut self) -> Result<Delivered, MailError> {
        let handle = self
            .in_flight
            .pop_front()
            .ok_or_else(|| MailError::Local("no message was submitted".into()))?;
        let (mut connection, outcome) = self
            .runtime
            .block_on(handle)
            .map_err(|e| self.connection_error(format!("the SMTP task failed: {e}")))?;
        match outcome {
            Ok(Ok(response)) => {
                self.idle.push(connection);
                let reply = response.message().next().unwrap_or_default().to_string();
                Ok(Delivered {
                    detail: format!("{} {}", response.code(), reply).trim().to_string(),
                })
            }
            Ok(Err(err)) => {
                self.runtime.block_on(connection.abort());
                Err(unconfirmed(self.reply_error(&err)))
            }
            Err(_) => {
                self.runtime.block_on(connection.abort());
                Err(unconfirmed(self.connection_error(format!(
                    "no answer within {}s",
                    self.settings.timeout.as_secs()
                ))))
            }
        }
    }
}

impl Drop for SmtpMailer {
    fn drop(&mut self) {
        let timeout = self.settings.timeout;
        for mut connection in std::mem::take(&mut self.idle) {
            let _ = self
                .runtime
                .block_on(async { tokio::time::timeout(timeout, connection.quit()).await });
        }
    }
}

/// A connection that failed while a message was on its way may have delivered it: say so (a
/// reply from the server, accepted or refused, is an answer and stays as it is).
fn unconfirmed(err: MailError) -> MailError {
    match err {
        MailError::Connection { server, detail } => MailError::Unconfirmed { server, detail },
        other => other,
    }
}

fn tls_parameters(settings: &SmtpSettings) -> Result<TlsParameters, MailError> {
    let mut builder = TlsParameters::builder(settings.host.clone());
    if let Some(pem) = &settings.extra_ca {
        let certificate = Certificate::from_pem(pem)
            .map_err(|e| MailError::Config(format!("mail.smtp.ca_file: {e}")))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder
        .build_rustls()
        .map_err(|e| MailError::Config(format!("TLS setup for {}: {e}", settings.host)))
}
