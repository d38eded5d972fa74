//! The `smtp` transport: lettre's SMTP client on a socket of our own with `TCP_NODELAY`.
//!
//! lettre's blocking client leaves Nagle's algorithm on, and every message then waits ~40 ms
//! for a delayed ACK (MEASURED.md: 22 vs 950 messages/s). Its async client accepts a stream we
//! open ourselves (for implicit TLS too: `socket`), so it runs here on a one-worker tokio
//! runtime. Connections are kept open and reused across messages; one that failed or timed
//! out is dropped, never asked anything again, and the next message opens a new one. Every
//! wait is bounded by `mail.smtp.timeout` (`dialog`). TLS is never opportunistic: STARTTLS is
//! required when configured, certificates are always verified, and AUTH is only ever sent
//! over TLS (plain mode without credentials is enforced at config load).

mod dialog;
mod socket;

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use lettre::message::Mailbox;
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::response::Response;

use super::{Delivered, MailError, Mailer, Outgoing, Pipelined, build};
use crate::config::TlsMode;
use crate::secret::Secret;
use dialog::{Dialog, Security};

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

/// Sends over reused SMTP connections.
pub struct SmtpMailer {
    dialog: Dialog,
    security: Security,
    credentials: Option<(String, Secret)>,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    now: SystemTime,
    /// Always `Some` until dropped (taken then, to shut it down without waiting).
    runtime: Option<tokio::runtime::Runtime>,
    idle: Vec<AsyncSmtpConnection>,
    in_flight: VecDeque<InFlight>,
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
        let security = match settings.tls {
            TlsMode::None => Security::None,
            TlsMode::Starttls => Security::Starttls(tls_parameters(&settings)?),
            TlsMode::Implicit => Security::Implicit(
                socket::client_config(settings.extra_ca.as_deref()).map_err(MailError::Config)?,
            ),
        };
        // One worker thread, so a submitted message travels while the caller prepares the next.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| MailError::Local(format!("cannot start the SMTP client: {e}")))?;
        Ok(SmtpMailer {
            dialog: Dialog {
                host: settings.host,
                port: settings.port,
                timeout: settings.timeout,
            },
            security,
            credentials: settings.credentials,
            from,
            reply_to,
            now,
            runtime: Some(runtime),
            idle: Vec::new(),
            in_flight: VecDeque::new(),
        })
    }

    /// `host:port`, for messages.
    pub fn server(&self) -> String {
        self.dialog.server()
    }

    fn block_on<F: std::future::Future>(&self, work: F) -> Result<F::Output, MailError> {
        match &self.runtime {
            Some(runtime) => Ok(runtime.block_on(work)),
            None => Err(MailError::Local("the SMTP client was shut down".into())),
        }
    }

    /// Open a new connection, telling `report` about each step that succeeded.
    fn open(&self, report: dialog::Report<'_>) -> Result<AsyncSmtpConnection, MailError> {
        let credentials = self.credentials.as_ref();
        self.block_on(self.dialog.open(&self.security, credentials, report))?
    }

    /// Check the server step by step on a fresh connection, and send `message` if given.
    /// Returns the steps that succeeded, and the first failure if any.
    pub fn probe(&mut self, message: Option<&Outgoing>) -> (Vec<Step>, Result<(), MailError>) {
        let mut steps = Vec::new();
        let opened = self.open(&mut |step, detail| steps.push(Step::new(step, detail)));
        let mut outcome = opened.map(|connection| self.idle.push(connection));
        if let (Ok(()), Some(message)) = (&outcome, message) {
            match self.send(message) {
                Ok(delivered) => {
                    steps.push(Step::new("send", format!("accepted: {}", delivered.detail)));
                }
                Err(err) => outcome = Err(err),
            }
        }
        (steps, outcome)
    }

    /// An idle connection, or a new one.
    fn connected(&mut self) -> Result<AsyncSmtpConnection, MailError> {
        match self.idle.pop() {
            Some(connection) => Ok(connection),
            None => self.open(&mut |_, _| {}),
        }
    }
}

/// Messages that may be on their way at once, each on its own connection (a small pool keeps
/// the server busy while pwreset waits for an answer).
const PIPELINE_DEPTH: usize = 2;

/// A message on its way: the connection travels with it and comes back with the answer, unless
/// the exchange failed (then it is dropped: a connection that failed is never reused).
type InFlight = tokio::task::JoinHandle<(Option<AsyncSmtpConnection>, Result<Response, MailError>)>;

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
        let dialog = self.dialog.clone();
        let (envelope, bytes) = (email.envelope().clone(), email.formatted());
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| MailError::Local("the SMTP client was shut down".into()))?;
        self.in_flight.push_back(runtime.spawn(async move {
            match dialog.send(&mut connection, &envelope, &bytes).await {
                Ok(response) => (Some(connection), Ok(response)),
                Err(err) => (None, Err(err)),
            }
        }));
        Ok(())
    }

    fn collect(&mut self) -> Result<Delivered, MailError> {
        let handle = self
            .in_flight
            .pop_front()
            .ok_or_else(|| MailError::Local("no message was submitted".into()))?;
        let (connection, outcome) = self.block_on(handle)?.map_err(|e| {
            self.dialog.connection_error(
                dialog::Wait::EndOfData,
                format!("the SMTP task failed: {e}"),
            )
        })?;
        self.idle.extend(connection);
        let response = outcome?;
        let reply = response.message().next().unwrap_or_default().to_string();
        Ok(Delivered {
            detail: format!("{} {}", response.code(), reply).trim().to_string(),
        })
    }
}

impl Drop for SmtpMailer {
    /// QUIT on the idle connections, bounded; messages still on their way are abandoned (their
    /// connections closed) and the runtime is shut down without waiting for anything.
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.idle);
        let _ = self.block_on(self.dialog.quit_all(idle));
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
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
