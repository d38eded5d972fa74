//! One SMTP conversation, each wait bounded: connect, the TLS handshake (implicit TLS), the
//! greeting, EHLO, STARTTLS, AUTH, MAIL FROM, RCPT TO, DATA and the end of DATA, and QUIT each
//! get at most `mail.smtp.timeout`, and a failure names the server and the step.
//!
//! lettre's `send` runs MAIL, RCPT and DATA as one call and, on any error, sends QUIT and waits
//! for its answer without a bound; the steps are therefore issued here one by one, and a
//! connection that failed is never asked anything again: the caller drops it.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use lettre::Address;
use lettre::address::Envelope;
use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;
use rustls::ClientConfig;

use super::socket::{Socket, refuses_certificate};
use crate::mail::{ConnectionKind, MailError};
use crate::secret::Secret;

/// Why AUTH was not tried: the server offers neither PLAIN nor LOGIN on this connection.
const NO_AUTH_MECHANISM: &str =
    "the server offers no AUTH mechanism pwreset can use over this connection (does it need TLS?)";

/// One wait of an SMTP conversation, as errors name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    Connect,
    TlsHandshake,
    Greeting,
    Ehlo,
    Starttls,
    Auth,
    MailFrom,
    RcptTo,
    Data,
    EndOfData,
    Quit,
}

impl std::fmt::Display for Wait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Wait::Connect => "connect",
            Wait::TlsHandshake => "the TLS handshake",
            Wait::Greeting => "the greeting",
            Wait::Ehlo => "EHLO",
            Wait::Starttls => "STARTTLS",
            Wait::Auth => "AUTH",
            Wait::MailFrom => "MAIL FROM",
            Wait::RcptTo => "RCPT TO",
            Wait::Data => "DATA",
            Wait::EndOfData => "the end of DATA",
            Wait::Quit => "QUIT",
        })
    }
}

/// How the connection is secured, with what each mode needs.
#[derive(Clone)]
pub(super) enum Security {
    /// Plain SMTP (loopback only, without credentials: enforced at config load).
    None,
    /// STARTTLS, required.
    Starttls(TlsParameters),
    /// TLS from the first byte.
    Implicit(Arc<ClientConfig>),
}

/// Where to talk and how long any one wait may take; cheap to clone into a sending task.
#[derive(Clone)]
pub(super) struct Dialog {
    /// Host name (also the name certificates are checked against).
    pub host: String,
    /// Port.
    pub port: u16,
    /// The bound on every wait.
    pub timeout: Duration,
}

/// A step of opening a connection that succeeded, for `smtp test`.
pub(super) type Report<'r> = &'r mut (dyn FnMut(&'static str, String) + Send);

impl Dialog {
    /// `host:port`, for messages.
    pub(super) fn server(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// A connection failure at `wait`.
    pub(super) fn connection_error(&self, wait: Wait, detail: impl std::fmt::Display) -> MailError {
        self.failed(wait, detail, ConnectionKind::Other)
    }

    /// A connection failure at `wait` caused by `err`: a certificate failure if rustls refused
    /// the server's certificate anywhere in `err`'s chain.
    fn tls_error(
        &self,
        wait: Wait,
        detail: impl std::fmt::Display,
        err: &(dyn std::error::Error + 'static),
    ) -> MailError {
        let kind = if refuses_certificate(err) {
            ConnectionKind::Certificate
        } else {
            ConnectionKind::Other
        };
        self.failed(wait, detail, kind)
    }

    fn failed(
        &self,
        wait: Wait,
        detail: impl std::fmt::Display,
        kind: ConnectionKind,
    ) -> MailError {
        MailError::Connection {
            server: self.server(),
            detail: format!("{wait}: {detail}"),
            kind,
        }
    }

    fn timed_out(&self, wait: Wait) -> MailError {
        let within = humantime::format_duration(self.timeout);
        let detail = match wait {
            Wait::Connect => format!("no connection within {within}"),
            Wait::EndOfData => format!(
                "no answer to the end of DATA within {within} (the server may have taken the message)"
            ),
            wait => format!("no answer to {wait} within {within}"),
        };
        MailError::Connection {
            server: self.server(),
            detail,
            kind: ConnectionKind::TimedOut,
        }
    }

    /// What lettre's error at `wait` means for the caller.
    fn smtp_error(&self, wait: Wait, err: &SmtpError) -> MailError {
        if wait == Wait::Auth {
            return self.auth_error(err);
        }
        if err.is_permanent() || err.is_transient() {
            MailError::Refused {
                server: self.server(),
                reply: format!("{wait}: {err}"),
                transient: err.is_transient(),
            }
        } else if err.is_tls() {
            self.tls_error(wait, format!("TLS failed: {err}"), err)
        } else {
            self.tls_error(wait, err, err)
        }
    }

    fn auth_error(&self, err: &SmtpError) -> MailError {
        MailError::Refused {
            server: self.server(),
            reply: format!("authentication failed: {err}"),
            transient: err.is_transient(),
        }
    }

    /// `work`, given at most the timeout.
    async fn bounded<F: Future>(&self, wait: Wait, work: F) -> Result<F::Output, MailError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| self.timed_out(wait))
    }

    /// An SMTP exchange, given at most the timeout, its failure named after `wait`.
    async fn exchange<T>(
        &self,
        wait: Wait,
        work: impl Future<Output = Result<T, SmtpError>>,
    ) -> Result<T, MailError> {
        self.bounded(wait, work)
            .await?
            .map_err(|e| self.smtp_error(wait, &e))
    }

    /// Connect, greet, secure and authenticate, telling `report` about each step.
    pub(super) async fn open(
        &self,
        security: &Security,
        credentials: Option<&(String, Secret)>,
        report: Report<'_>,
    ) -> Result<AsyncSmtpConnection, MailError> {
        let tcp = self
            .bounded(Wait::Connect, Socket::connect(&self.host, self.port))
            .await?
            .map_err(|e| self.connection_error(Wait::Connect, e))?;
        let peer = tcp
            .peer_addr()
            .map_or_else(|_| self.server(), |a| a.to_string());
        let socket = if let Security::Implicit(config) = security {
            let handshake = Socket::implicit_tls(tcp, Arc::clone(config), &self.host);
            let socket = self
                .bounded(Wait::TlsHandshake, handshake)
                .await?
                .map_err(|e| self.tls_error(Wait::TlsHandshake, &e, &e))?;
            let verified = format!(
                "{peer} over implicit TLS, certificate verified for {}",
                self.host
            );
            report("connect", verified);
            socket
        } else {
            report("connect", format!("TCP connection to {peer}"));
            Socket::plain(tcp)
        };
        let mut connection = self.greet(socket).await?;
        report("greeting", connection.server_info().to_string());
        if let Security::Starttls(tls) = security {
            self.starttls(&mut connection, tls).await?;
            let verified = format!(
                "STARTTLS established, certificate verified for {}",
                self.host
            );
            report("tls", verified);
        }
        if let Some((user, password)) = credentials {
            self.authenticate(&mut connection, user, password).await?;
            report("auth", format!("accepted for {user}"));
        }
        Ok(connection)
    }

    /// AUTH PLAIN or LOGIN, whichever the server offers first; an error without a word sent
    /// when it offers neither.
    async fn authenticate(
        &self,
        connection: &mut AsyncSmtpConnection,
        user: &str,
        password: &Secret,
    ) -> Result<(), MailError> {
        let mechanisms = [Mechanism::Plain, Mechanism::Login];
        if connection
            .server_info()
            .get_auth_mechanism(&mechanisms)
            .is_none()
        {
            return Err(self.connection_error(Wait::Auth, NO_AUTH_MECHANISM));
        }
        let credentials = Credentials::new(user.to_string(), password.expose().to_string());
        let auth = connection.auth(&mechanisms, &credentials);
        self.exchange(Wait::Auth, auth).await?;
        Ok(())
    }

    /// Read the greeting and send EHLO (lettre does both in one call; whether it has written
    /// anything tells which of the two the server left unanswered).
    async fn greet(&self, socket: Socket) -> Result<AsyncSmtpConnection, MailError> {
        let wrote = socket.wrote();
        let hello = ClientId::default();
        let greeting = AsyncSmtpConnection::connect_with_transport(Box::new(socket), &hello);
        let outcome = tokio::time::timeout(self.timeout, greeting).await;
        let wait = if wrote.load(Ordering::Relaxed) {
            Wait::Ehlo
        } else {
            Wait::Greeting
        };
        match outcome {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(err)) => Err(self.smtp_error(wait, &err)),
            Err(_) => Err(self.timed_out(wait)),
        }
    }

    async fn starttls(
        &self,
        connection: &mut AsyncSmtpConnection,
        tls: &TlsParameters,
    ) -> Result<(), MailError> {
        if !connection.can_starttls() {
            return Err(self.connection_error(
                Wait::Starttls,
                "the server does not offer STARTTLS, which mail.smtp.tls = \"starttls\" requires",
            ));
        }
        let hello = ClientId::default();
        let upgrade = connection.starttls(tls.clone(), &hello);
        self.exchange(Wait::Starttls, upgrade).await
    }

    /// MAIL FROM, RCPT TO, DATA and the message, each bounded; the server's final answer.
    pub(super) async fn send(
        &self,
        connection: &mut AsyncSmtpConnection,
        envelope: &Envelope,
        email: &[u8],
    ) -> Result<Response, MailError> {
        let options = self.mail_options(connection, envelope, email)?;
        let mail = connection.command(Mail::new(envelope.from().cloned(), options));
        self.exchange(Wait::MailFrom, mail).await?;
        for to in envelope.to() {
            let rcpt = connection.command(Rcpt::new(to.clone(), Vec::new()));
            self.exchange(Wait::RcptTo, rcpt).await?;
        }
        self.exchange(Wait::Data, connection.command(Data)).await?;
        // After the message went out, a lost answer may hide a delivered mail.
        self.exchange(Wait::EndOfData, connection.message(email))
            .await
            .map_err(unconfirmed)
    }

    /// SMTPUTF8 and 8BITMIME when the message needs them (as lettre's own `send` decides).
    fn mail_options(
        &self,
        connection: &AsyncSmtpConnection,
        envelope: &Envelope,
        email: &[u8],
    ) -> Result<Vec<MailParameter>, MailError> {
        let server = connection.server_info();
        let mut options = Vec::new();
        let addresses = envelope.from().into_iter().chain(envelope.to());
        if addresses.map(Address::as_ref).any(|a: &str| !a.is_ascii()) {
            if !server.supports_feature(Extension::SmtpUtfEight) {
                return Err(self.connection_error(
                    Wait::MailFrom,
                    "the address is not ASCII and the server does not offer SMTPUTF8",
                ));
            }
            options.push(MailParameter::SmtpUtfEight);
        }
        if !email.is_ascii() {
            if !server.supports_feature(Extension::EightBitMime) {
                return Err(self.connection_error(
                    Wait::MailFrom,
                    "the message is not ASCII and the server does not offer 8BITMIME",
                ));
            }
            options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        Ok(options)
    }

    /// Say goodbye on each connection, all of them together given at most the timeout.
    pub(super) async fn quit_all(&self, connections: Vec<AsyncSmtpConnection>) {
        let goodbyes = async {
            for mut connection in connections {
                let _ = connection.quit().await;
            }
        };
        let _ = self.bounded(Wait::Quit, goodbyes).await;
    }
}

/// A connection that failed while a message was on its way may have delivered it: say so (a
/// reply from the server, accepted or refused, is an answer and stays as it is).
fn unconfirmed(err: MailError) -> MailError {
    match err {
        MailError::Connection { server, detail, .. } => MailError::Unconfirmed { server, detail },
        other => other,
    }
}
