//! Implicit TLS (port 465 style) for the test server: mailin has none, so a small shim accepts
//! TLS from the first byte with the test CA's leaf certificate and relays the plain SMTP to the
//! mailin server behind it. [`Fault::TlsHandshakeFailure`] makes the shim answer one connection
//! in plain text instead, so the client's handshake fails; [`Fault::StallTlsHandshake`] makes it
//! never answer.
//!
//! The shim runs on a thread of its own with a single-threaded tokio runtime, until the test
//! process exits (like mailin). Each session is bounded by [`SESSION_LIMIT`].

use std::net::{Ipv4Addr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::AsyncWriteExt;
use tokio_rustls::TlsAcceptor;

use super::{Fault, TestPki};

/// The longest a relayed session may last.
const SESSION_LIMIT: Duration = Duration::from_secs(60);

/// Relay implicit-TLS connections on `listener` to the plain SMTP server on `backend`.
pub(super) fn spawn(listener: TcpListener, backend: u16, pki: &TestPki, faults: Vec<Fault>) {
    let acceptor = TlsAcceptor::from(server_config(pki));
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    let faults = Arc::new(faults);
    thread::Builder::new()
        .name("smtp-implicit-tls".to_owned())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime for the TLS shim");
            runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                let connections = AtomicUsize::new(0);
                while let Ok((stream, _)) = listener.accept().await {
                    let nth = connections.fetch_add(1, Ordering::SeqCst) + 1;
                    let session =
                        relay(stream, acceptor.clone(), backend, nth, Arc::clone(&faults));
                    tokio::spawn(tokio::time::timeout(SESSION_LIMIT, session));
                }
            });
        })
        .expect("spawn the TLS shim thread");
}

/// One connection: the handshake (or the injected failure), then bytes both ways.
async fn relay(
    mut stream: tokio::net::TcpStream,
    acceptor: TlsAcceptor,
    backend: u16,
    connection: usize,
    faults: Arc<Vec<Fault>>,
) {
    if faults.contains(&Fault::TlsHandshakeFailure { connection }) {
        let _ = stream
            .write_all(b"220 localhost ESMTP without TLS (injected fault)\r\n")
            .await;
        return;
    }
    if faults.contains(&Fault::StallTlsHandshake { connection }) {
        // Read and drop the client's hello until it hangs up (or the session limit ends it).
        let _ = tokio::io::copy(&mut stream, &mut tokio::io::sink()).await;
        return;
    }
    let Ok(mut tls) = acceptor.accept(stream).await else {
        return;
    };
    let Ok(mut plain) = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, backend)).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
}

/// The leaf certificate and key of the test PKI, for rustls.
fn server_config(pki: &TestPki) -> Arc<rustls::ServerConfig> {
    let certs = CertificateDer::pem_file_iter(&pki.leaf_cert)
        .expect("read the leaf certificate")
        .collect::<Result<Vec<_>, _>>()
        .expect("parse the leaf certificate");
    let key = PrivateKeyDer::from_pem_file(&pki.leaf_key).expect("read the leaf key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("a TLS server config");
    Arc::new(config)
}
