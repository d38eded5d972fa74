//! A real SMTP server inside the test process, for tests that send mail.
//!
//! It is `mailin-embedded` listening on `127.0.0.1` on a port the OS picks. It keeps every
//! message it accepts (the message is stored before the server answers 250, so once the client
//! has its answer the message is in [`SmtpServer::messages`]) and can be told to misbehave with
//! [`Fault`]s. With [`SmtpServerBuilder::starttls`] it offers STARTTLS with a leaf certificate for
//! `localhost` and `127.0.0.1`, signed by a test CA made at start-up ([`SmtpServer::ca_pem_path`]);
//! with [`SmtpServerBuilder::auth`] it also requires AUTH PLAIN or LOGIN; with
//! [`SmtpServerBuilder::implicit_tls`] it speaks TLS from the first byte (a shim in front of
//! mailin: `implicit_tls`). The faults mailin cannot produce (stalls, a 421 greeting, a drop
//! in the middle of DATA, 552 to the message) are served by a hand-written server instead
//! (`scripted`).
//!
//! mailin has no shutdown: the serving thread runs until the test process exits.
//!
//! ```ignore
//! let server = SmtpServer::builder().auth("mailer", "s3cret").start();
//! // ... point pwreset at 127.0.0.1:server.port(), trusting server.ca_pem_path() ...
//! assert_eq!(server.messages().len(), 1);
//! ```

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use mailin_embedded::{Action, AuthMechanism, Handler, Response, Server, SslConfig, response};

mod implicit_tls;
mod scripted;

/// The most SMTP sessions served at once (mailin's thread pool size; more connections wait).
const MAX_SESSIONS: u32 = 16;

/// One message the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The envelope sender (MAIL FROM), without angle brackets.
    pub from: String,
    /// The accepted envelope recipients (RCPT TO), in order, without angle brackets.
    pub to: Vec<String>,
    /// The message as received: RFC 5322 headers and body, CRLF line ends, dot-unstuffed.
    pub data: Vec<u8>,
    /// The user name the session authenticated as, if it used AUTH.
    pub auth_user: Option<String>,
}

impl Received {
    /// The message as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    /// The first header called `name` (case-insensitive), unfolded and trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        let text = self.text();
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(value) = value.as_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
                continue;
            }
            if value.is_some() {
                break;
            }
            if let Some((field, rest)) = line.split_once(':') {
                if field.eq_ignore_ascii_case(name) {
                    value = Some(rest.trim().to_owned());
                }
            }
        }
        value
    }

    /// The body: everything after the blank line that ends the headers, as text.
    pub fn body(&self) -> String {
        let text = self.text();
        text.split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default()
    }
}

/// A way for the server to misbehave. Counts are 1-based and run over the server's lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The `nth` RCPT TO the server sees gets `code` (e.g. 550 or 451).
    RejectRcpt { nth: usize, code: u16 },
    /// Every RCPT TO `address` (compared case-insensitively) gets `code`.
    RejectRcptTo { address: String, code: u16 },
    /// The `nth` message to reach the end of DATA gets `code` (e.g. 451, 421 or 554) instead of
    /// 250, is not stored, and the server then closes the connection.
    TempFailData { nth: usize, code: u16 },
    /// Every RCPT TO gets `code` (e.g. 451).
    AlwaysTempFail { code: u16 },
    /// Every connection gets a 220 greeting, the server reads one line and then closes the
    /// socket without answering. This replaces the SMTP server: other settings are ignored.
    DropAfterGreeting,

    // The faults below replace mailin with the hand-written server (no TLS, no AUTH), except
    // the two TLS handshake faults, which need `implicit_tls`. Connections are counted from 1 in the
    // order the server accepts them.
    /// The `connection`th connection is never greeted (nor answered).
    StallAtGreeting { connection: usize },
    /// The `connection`th connection is greeted with 421 and closed.
    RefuseAtGreeting { connection: usize },
    /// RCPT TO `to` gets 250, and then nothing more is answered on that connection.
    StallAfterRcpt { to: String },
    /// Mail to `to`: DATA gets 354, and the server hangs up after the first line of the text.
    DropDuringData { to: String },
    /// Mail to `to` is received whole and stored (it may count as delivered), but its final
    /// reply never comes.
    StallAfterDataEnd { to: String },
    /// Mail to `to` is received whole, then refused with `code` (e.g. 552); the session goes on.
    RejectAfterData { to: String, code: u16 },
    /// QUIT is never answered (everything before it is).
    StallAtQuit,
    /// With `implicit_tls`: the `connection`th connection is answered in plain text instead of
    /// a TLS handshake.
    TlsHandshakeFailure { connection: usize },
    /// With `implicit_tls`: the `connection`th connection's TLS handshake is never answered.
    StallTlsHandshake { connection: usize },
}

/// How to start an [`SmtpServer`]; see [`SmtpServer::builder`].
#[derive(Debug, Default)]
pub struct SmtpServerBuilder {
    starttls: bool,
    implicit_tls: bool,
    credentials: Option<(String, String)>,
    faults: Vec<Fault>,
}

impl SmtpServerBuilder {
    /// Offer STARTTLS (on the plain port) with a certificate signed by the test CA. Plain
    /// sessions that do not upgrade are still served. (mailin has no implicit TLS.)
    pub fn starttls(mut self) -> Self {
        self.starttls = true;
        self
    }

    /// Require AUTH PLAIN or LOGIN as `user` with `password`; other credentials get 535 and
    /// MAIL before AUTH gets 503. Implies [`Self::starttls`]: mailin offers AUTH only after it.
    pub fn auth(mut self, user: &str, password: &str) -> Self {
        self.starttls = true;
        self.credentials = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Speak TLS from the first byte (as on port 465), with a certificate signed by the test
    /// CA: a TLS shim on [`SmtpServer::port`] relays to a plain mailin server (so no AUTH).
    pub fn implicit_tls(mut self) -> Self {
        self.implicit_tls = true;
        self
    }

    /// Add a fault.
    pub fn fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// Start serving on `127.0.0.1`, on a port the OS picks.
    pub fn start(self) -> SmtpServer {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let shared = Arc::new(Shared {
            faults: self.faults,
            credentials: self.credentials,
            rcpt_seen: AtomicUsize::new(0),
            data_ends_seen: AtomicUsize::new(0),
            messages: Mutex::new(Vec::new()),
            arrived: Condvar::new(),
        });

        if shared.faults.contains(&Fault::DropAfterGreeting) {
            spawn_dropper(listener);
            return SmtpServer {
                port,
                shared,
                tls: None,
            };
        }
        if shared.faults.iter().any(scripted::needs_script) {
            scripted::spawn(listener, Arc::clone(&shared));
            return SmtpServer {
                port,
                shared,
                tls: None,
            };
        }

        let tls = (self.starttls || self.implicit_tls).then(TestPki::create);
        let listener = match &tls {
            Some(pki) if self.implicit_tls => {
                let backend =
                    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
                let backend_port = backend.local_addr().expect("local address").port();
                implicit_tls::spawn(listener, backend_port, pki, shared.faults.clone());
                backend
            }
            _ => listener,
        };
        let mut server = Server::new(Session::new(Arc::clone(&shared)));
        server
            .with_name("localhost")
            .with_num_threads(MAX_SESSIONS)
            .with_tcp_listener(listener);
        if let (Some(tls), true) = (&tls, self.starttls) {
            // "SelfSigned" only means mailin serves the leaf alone, without a chain; the leaf is
            // signed by the test CA, which the client trusts as a root.
            server
                .with_ssl(SslConfig::SelfSigned {
                    cert_path: path_string(&tls.leaf_cert),
                    key_path: path_string(&tls.leaf_key),
                })
                .expect("load the test certificate into mailin");
        }
        if shared.credentials.is_some() {
            server
                .with_auth(AuthMechanism::Plain)
                .with_auth(AuthMechanism::Login);
        }
        thread::Builder::new()
            .name(format!("smtp-server-{port}"))
            .spawn(move || {
                if let Err(err) = server.serve() {
                    eprintln!("test SMTP server on port {port} stopped: {err}");
                }
            })
            .expect("spawn the SMTP server thread");

        SmtpServer { port, shared, tls }
    }
}

/// A running in-process SMTP server. Dropping it deletes its certificate files; the listening
/// thread stays until the process exits.
pub struct SmtpServer {
    port: u16,
    shared: Arc<Shared>,
    tls: Option<TestPki>,
}

impl SmtpServer {
    /// A builder, for STARTTLS, AUTH and faults.
    pub fn builder() -> SmtpServerBuilder {
        SmtpServerBuilder::default()
    }

    /// Plain SMTP: no TLS, no AUTH, no faults.
    pub fn start() -> SmtpServer {
        Self::builder().start()
    }

    /// Plain SMTP with these faults.
    pub fn with_faults(faults: Vec<Fault>) -> SmtpServer {
        faults
            .into_iter()
            .fold(Self::builder(), SmtpServerBuilder::fault)
            .start()
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The test CA certificate (PEM) that signed the server's certificate, when TLS is on.
    pub fn ca_pem_path(&self) -> Option<PathBuf> {
        self.tls.as_ref().map(|tls| tls.ca_cert.clone())
    }

    /// The test CA certificate as PEM text, when TLS is on.
    pub fn ca_pem(&self) -> Option<String> {
        self.tls
            .as_ref()
            .map(|tls| std::fs::read_to_string(&tls.ca_cert).expect("read the test CA certificate"))
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<Received> {
        self.shared.messages().clone()
    }

    /// How many RCPT TO commands the server has seen, accepted or not.
    pub fn rcpt_attempts(&self) -> usize {
        self.shared.rcpt_seen.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` messages were accepted or `timeout` passed, and returns all
    /// accepted so far (possibly fewer than `n`).
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        let mut messages = self.shared.messages();
        while messages.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            messages = self
                .shared
                .arrived
                .wait_timeout(messages, left)
                .expect("messages lock")
                .0;
        }
        messages.clone()
    }
}

/// What all sessions of one server share.
struct Shared {
    faults: Vec<Fault>,
    credentials: Option<(String, String)>,
    rcpt_seen: AtomicUsize,
    data_ends_seen: AtomicUsize,
    messages: Mutex<Vec<Received>>,
    arrived: Condvar,
}

impl Shared {
    fn messages(&self) -> MutexGuard<'_, Vec<Received>> {
        self.messages.lock().expect("messages lock")
    }

    /// The injected answer to this RCPT TO, if any.
    fn rcpt_fault(&self, to: &str) -> Option<u16> {
        let nth_seen = self.rcpt_seen.fetch_add(1, Ordering::SeqCst) + 1;
        self.faults.iter().find_map(|fault| match fault {
            Fault::RejectRcpt { nth, code } if *nth == nth_seen => Some(*code),
            Fault::RejectRcptTo { address, code } if address.eq_ignore_ascii_case(to) => {
                Some(*code)
            }
            Fault::AlwaysTempFail { code } => Some(*code),
            _ => None,
        })
    }

    /// The injected answer to this end of DATA, if any.
    fn data_end_fault(&self) -> Option<u16> {
        let nth_seen = self.data_ends_seen.fetch_add(1, Ordering::SeqCst) + 1;
        self.faults.iter().find_map(|fault| match fault {
            Fault::TempFailData { nth, code } if *nth == nth_seen => Some(*code),
            _ => None,
        })
    }

    fn credentials_match(&self, user: &str, password: &str) -> bool {
        self.credentials
            .as_ref()
            .is_some_and(|(u, p)| u == user && p == password)
    }
}

/// mailin's handler: cloned from a fresh one for every connection, so the fields other than
/// `shared` are per session.
#[derive(Clone)]
struct Session {
    shared: Arc<Shared>,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
    auth_user: Option<String>,
}

impl Session {
    fn new(shared: Arc<Shared>) -> Self {
        Session {
            shared,
            from: String::new(),
            to: Vec::new(),
            data: Vec::new(),
            auth_user: None,
        }
    }

    fn login(&mut self, user: &str, password: &str) -> Response {
        if self.shared.credentials_match(user, password) {
            self.auth_user = Some(user.to_owned());
            response::AUTH_OK
        } else {
            response::INVALID_CREDENTIALS
        }
    }
}

/// An injected reply with `code`.
fn fault_response(code: u16) -> Response {
    let text = if code >= 500 {
        "Rejected (injected fault)"
    } else {
        "Try again later (injected fault)"
    };
    Response::custom(code, text.to_owned())
}

impl Handler for Session {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        from.clone_into(&mut self.from);
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        self.shared
            .rcpt_fault(to)
            .map_or(response::OK, fault_response)
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let data = std::mem::take(&mut self.data);
        if let Some(code) = self.shared.data_end_fault() {
            let mut res = fault_response(code);
            // mailin stays in its DATA state after an error here, and would take the client's
            // next commands for message text: hang up instead.
            res.action = Action::Close;
            return res;
        }
        let received = Received {
            from: self.from.clone(),
            to: self.to.clone(),
            data,
            auth_user: self.auth_user.clone(),
        };
        self.shared.messages().push(received);
        self.shared.arrived.notify_all();
        response::OK
    }

    fn auth_plain(&mut self, _authz: &str, user: &str, password: &str) -> Response {
        self.login(user, password)
    }

    fn auth_login(&mut self, user: &str, password: &str) -> Response {
        self.login(user, password)
    }
}

/// [`Fault::DropAfterGreeting`]: greet, read one line, close. Not SMTP beyond that.
fn spawn_dropper(listener: TcpListener) {
    thread::Builder::new()
        .name("smtp-dropper".to_owned())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                if stream.write_all(b"220 localhost ESMTP\r\n").is_err() {
                    continue;
                }
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut line = String::new();
                let _ = BufReader::new(&stream).read_line(&mut line);
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        })
        .expect("spawn the dropping listener thread");
}

/// A test CA and a leaf certificate it signed, as PEM files in a temp dir.
struct TestPki {
    _dir: tempfile::TempDir,
    ca_cert: PathBuf,
    leaf_cert: PathBuf,
    leaf_key: PathBuf,
}

impl TestPki {
    fn create() -> TestPki {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };

        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "pwreset test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().expect("CA key");
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let ca = Issuer::new(ca_params, ca_key);

        let mut leaf_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("leaf params");
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        leaf_params.is_ca = IsCa::ExplicitNoCa;
        leaf_params.use_authority_key_identifier_extension = true;
        leaf_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf_cert = leaf_params
            .signed_by(&leaf_key, &ca)
            .expect("leaf certificate");

        let dir = tempfile::tempdir().expect("tempdir for certificates");
        let write = |name: &str, pem: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, pem).expect("write a PEM file");
            path
        };
        TestPki {
            ca_cert: write("ca.pem", &ca_cert.pem()),
            leaf_cert: write("server.pem", &leaf_cert.pem()),
            leaf_key: write("server.key", &leaf_key.serialize_pem()),
            _dir: dir,
        }
    }
}

fn path_string(path: &Path) -> String {
    path.to_str().expect("temp path is UTF-8").to_owned()
}

/// Tests of the harness itself, with lettre as the client.
#[cfg(test)]
mod tests {
    use super::{Fault, SmtpServer};
    use std::time::Duration;

    use lettre::message::Mailbox;
    use lettre::transport::smtp::authentication::{Credentials, Mechanism};
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{Message, SmtpTransport, Transport};

    fn message(to: &str, subject: &str, body: &str) -> Message {
        Message::builder()
            .from("Ops <ops@example.com>".parse::<Mailbox>().expect("from"))
            .to(to.parse::<Mailbox>().expect("to"))
            .subject(subject)
            .body(body.to_owned())
            .expect("message")
    }

    fn plain(server: &SmtpServer) -> SmtpTransport {
        SmtpTransport::builder_dangerous("127.0.0.1")
            .port(server.port())
            .timeout(Some(Duration::from_secs(10)))
            .build()
    }

    fn tls_params(server: &SmtpServer) -> TlsParameters {
        let pem = server.ca_pem().expect("TLS is on");
        TlsParameters::builder("localhost".to_owned())
            .add_root_certificate(Certificate::from_pem(pem.as_bytes()).expect("CA PEM"))
            .build()
            .expect("TLS parameters")
    }

    fn starttls(server: &SmtpServer, creds: Option<(&str, &str)>) -> SmtpTransport {
        let mut builder = SmtpTransport::builder_dangerous("127.0.0.1")
            .port(server.port())
            .timeout(Some(Duration::from_secs(10)))
            .tls(Tls::Required(tls_params(server)));
        if let Some((user, pass)) = creds {
            builder = builder.credentials(Credentials::new(user.to_owned(), pass.to_owned()));
        }
        builder.build()
    }

    #[test]
    fn plain_send_arrives_with_headers_and_body() {
        let server = SmtpServer::start();
        assert!(server.ca_pem_path().is_none());
        plain(&server)
            .send(&message(
                "Alice <alice@example.com>",
                "Hello",
                "first line\n.dotted line\n",
            ))
            .expect("send");

        let got = server.messages();
        assert_eq!(got.len(), 1);
        let m = &got[0];
        assert_eq!(m.from, "ops@example.com");
        assert_eq!(m.to, vec!["alice@example.com".to_owned()]);
        assert_eq!(m.auth_user, None);
        assert_eq!(m.header("subject").as_deref(), Some("Hello"));
        assert_eq!(m.header("To").as_deref(), Some("Alice <alice@example.com>"));
        assert_eq!(m.header("from").as_deref(), Some("Ops <ops@example.com>"));
        assert!(m.body().contains("first line\r\n.dotted line"), "{m:?}");
        assert_eq!(server.wait_for(1, Duration::from_secs(1)).len(), 1);
    }

    #[test]
    fn rejected_rcpt_is_permanent_and_stores_nothing() {
        let server = SmtpServer::with_faults(vec![Fault::RejectRcpt { nth: 1, code: 550 }]);
        let mailer = plain(&server);
        let err = mailer
            .send(&message("alice@example.com", "one", "x"))
            .expect_err("550");
        assert!(err.is_permanent(), "{err:?}");
        assert_eq!(err.status().map(|c| c.to_string()).as_deref(), Some("550"));
        assert!(server.messages().is_empty());

        // Only the first RCPT was rejected; the count runs over the server's lifetime.
        mailer
            .send(&message("alice@example.com", "two", "x"))
            .expect("second send");
        assert_eq!(server.messages().len(), 1);
        assert_eq!(server.rcpt_attempts(), 2);
    }

    #[test]
    fn rejected_address_is_matched_case_insensitively() {
        let server = SmtpServer::with_faults(vec![Fault::RejectRcptTo {
            address: "Bob@Example.com".to_owned(),
            code: 550,
        }]);
        let mailer = plain(&server);
        let err = mailer
            .send(&message("bob@example.com", "hi", "x"))
            .expect_err("550");
        assert!(err.is_permanent(), "{err:?}");
        mailer
            .send(&message("alice@example.com", "hi", "x"))
            .expect("other address");
        let got = server.messages();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].to, vec!["alice@example.com".to_owned()]);
    }

    #[test]
    fn always_temp_fail_is_transient() {
        let server = SmtpServer::with_faults(vec![Fault::AlwaysTempFail { code: 451 }]);
        let mailer = plain(&server);
        for _ in 0..2 {
            let err = mailer
                .send(&message("alice@example.com", "hi", "x"))
                .expect_err("451");
            assert!(err.is_transient(), "{err:?}");
        }
        assert!(server.messages().is_empty());
    }

    #[test]
    fn temp_fail_at_end_of_data_is_transient_then_the_next_send_works() {
        for code in [451, 421] {
            let server = SmtpServer::with_faults(vec![Fault::TempFailData { nth: 1, code }]);
            let mailer = plain(&server);
            let err = mailer
                .send(&message("alice@example.com", "first", "x"))
                .expect_err("temp fail");
            assert!(err.is_transient(), "{code}: {err:?}");
            assert!(server.messages().is_empty());

            // The same (pooled) transport reconnects and the second message goes through.
            mailer
                .send(&message("alice@example.com", "second", "x"))
                .expect("second send");
            let got = server.messages();
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].header("Subject").as_deref(), Some("second"));
        }
    }

    #[test]
    fn drop_after_greeting_is_a_connection_error() {
        let server = SmtpServer::with_faults(vec![Fault::DropAfterGreeting]);
        let err = plain(&server)
            .send(&message("alice@example.com", "hi", "x"))
            .expect_err("dropped");
        assert!(!err.is_transient() && !err.is_permanent(), "{err:?}");
        assert!(err.status().is_none(), "{err:?}");
        assert!(server.messages().is_empty());
    }

    #[test]
    fn starttls_with_the_test_ca_trusted() {
        let server = SmtpServer::builder().starttls().start();
        let ca = server.ca_pem_path().expect("CA path");
        assert!(
            std::fs::read_to_string(ca)
                .expect("CA file")
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        starttls(&server, None)
            .send(&message("alice@example.com", "secure", "x"))
            .expect("send over STARTTLS");
        assert_eq!(server.messages().len(), 1);

        // Without the test CA the certificate is not trusted.
        let untrusted = SmtpTransport::builder_dangerous("127.0.0.1")
            .port(server.port())
            .timeout(Some(Duration::from_secs(10)))
            .tls(Tls::Required(
                TlsParameters::new("localhost".to_owned()).expect("params"),
            ))
            .build();
        let err = untrusted
            .send(&message("alice@example.com", "x", "x"))
            .expect_err("untrusted certificate");
        assert!(format!("{err:?}").contains("UnknownIssuer"), "{err:?}");
        assert_eq!(server.messages().len(), 1);
    }

    #[test]
    fn auth_right_credentials_pass_and_wrong_ones_get_535() {
        let server = SmtpServer::builder().auth("mailer", "s3cret").start();
        for mechanism in [Mechanism::Plain, Mechanism::Login] {
            let mailer = SmtpTransport::builder_dangerous("127.0.0.1")
                .port(server.port())
                .timeout(Some(Duration::from_secs(10)))
                .tls(Tls::Required(tls_params(&server)))
                .credentials(Credentials::new("mailer".to_owned(), "s3cret".to_owned()))
                .authentication(vec![mechanism])
                .build();
            mailer
                .send(&message("alice@example.com", "authed", "x"))
                .expect("send with AUTH");
        }
        let got = server.messages();
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|m| m.auth_user.as_deref() == Some("mailer")));

        let err = starttls(&server, Some(("mailer", "wrong")))
            .send(&message("alice@example.com", "x", "x"))
            .expect_err("wrong password");
        assert!(err.is_permanent(), "{err:?}");
        assert_eq!(err.status().map(|c| c.to_string()).as_deref(), Some("535"));

        let err = starttls(&server, None)
            .send(&message("alice@example.com", "x", "x"))
            .expect_err("no AUTH");
        assert!(err.is_permanent(), "{err:?}");
        assert_eq!(server.messages().len(), 2);
    }

    #[test]
    fn the_scripted_server_stores_what_it_accepts_and_counts_rcpt() {
        let server = SmtpServer::with_faults(vec![Fault::RejectAfterData {
            to: "bob@example.com".to_owned(),
            code: 552,
        }]);
        let mailer = plain(&server);
        mailer
            .send(&message("alice@example.com", "hi", "one\n.two\n"))
            .expect("send");
        let err = mailer
            .send(&message("bob@example.com", "hi", "x"))
            .expect_err("552");
        assert!(err.is_permanent(), "{err:?}");
        let got = server.messages();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].to, vec!["alice@example.com".to_owned()]);
        assert!(got[0].body().contains("one\r\n.two"), "{:?}", got[0]);
        assert_eq!(server.rcpt_attempts(), 2);
    }

    #[test]
    fn implicit_tls_with_the_test_ca_trusted() {
        let server = SmtpServer::builder().implicit_tls().start();
        SmtpTransport::builder_dangerous("localhost")
            .port(server.port())
            .timeout(Some(Duration::from_secs(10)))
            .tls(Tls::Wrapper(tls_params(&server)))
            .build()
            .send(&message("alice@example.com", "wrapped", "x"))
            .expect("send over implicit TLS");
        assert_eq!(server.messages().len(), 1);
    }
}
