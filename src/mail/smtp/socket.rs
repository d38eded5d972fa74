//! The socket under lettre's SMTP client: a TCP connection pwreset opens itself, so that it has
//! `TCP_NODELAY` (MEASURED.md: lettre's own connector leaves Nagle's algorithm on, and every
//! message then waits ~40 ms for a delayed ACK), optionally wrapped in implicit TLS (port 465)
//! before the first byte of SMTP.
//!
//! It also notes whether anything was written yet, so a silent server can be told apart at
//! the greeting (nothing written) from at EHLO (lettre has written it), and tells a refused
//! server certificate from other TLS failures. Nothing here waits without a bound of its
//! caller's choosing, and nothing here knows about SMTP commands.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use lettre::transport::smtp::client::AsyncTokioStream;
use rustls::ClientConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The connection lettre talks over: plain TCP, or TLS from the first byte.
#[derive(Debug)]
pub(super) struct Socket {
    inner: Inner,
    /// Set by the first write (lettre's EHLO follows the greeting).
    wrote: Arc<AtomicBool>,
}

#[derive(Debug)]
enum Inner {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Socket {
    /// A TCP connection to `host:port` with `TCP_NODELAY` set. Unbounded: the caller bounds it.
    pub(super) async fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
        let stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// Plain SMTP over `stream`.
    pub(super) fn plain(stream: TcpStream) -> Self {
        Self::new(Inner::Plain(stream))
    }

    /// The TLS handshake on `stream` for implicit TLS, the certificate checked against `host`
    /// by `config`. Unbounded: the caller bounds it.
    pub(super) async fn implicit_tls(
        stream: TcpStream,
        config: Arc<ClientConfig>,
        host: &str,
    ) -> io::Result<Self> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let tls = TlsConnector::from(config).connect(name, stream).await?;
        Ok(Self::new(Inner::Tls(Box::new(tls))))
    }

    fn new(inner: Inner) -> Self {
        Socket {
            inner,
            wrote: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Tells, later, whether anything was written on this socket.
    pub(super) fn wrote(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.wrote)
    }

    fn tcp(&self) -> &TcpStream {
        match &self.inner {
            Inner::Plain(tcp) => tcp,
            Inner::Tls(tls) => tls.get_ref().0,
        }
    }
}

/// The TLS client settings for implicit TLS: the platform's verifier (the same one lettre uses
/// for STARTTLS) with `extra_ca` trusted as well. Certificates and host names are always
/// checked; "dangerous" is only rustls's name for plugging in a verifier.
pub(super) fn client_config(extra_ca: Option<&[u8]>) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let extra: Vec<CertificateDer<'static>> = match extra_ca {
        Some(pem) => CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("mail.smtp.ca_file: {e}"))?,
        None => Vec::new(),
    };
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, Arc::clone(&provider))
            .map_err(|e| format!("TLS setup: {e}"))?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

impl AsyncTokioStream for Socket {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().peer_addr()
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Inner::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.wrote.store(true, Ordering::Relaxed);
        match &mut this.inner {
            Inner::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Inner::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Inner::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Inner::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Whether rustls refused the server's certificate (unknown issuer, wrong name, expired, none
/// sent) somewhere in `err`'s chain. An `io::Error` hides the error it wraps from `source`, so
/// this looks inside it too.
pub(super) fn refuses_certificate(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return matches!(
                tls,
                rustls::Error::InvalidCertificate(_)
                    | rustls::Error::InvalidCertRevocationList(_)
                    | rustls::Error::NoCertificatesPresented
            );
        }
        let wrapped = err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref);
        next = match wrapped {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_has_tcp_nodelay_and_notes_the_first_write() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let port = listener.local_addr().expect("address").port();
            let stream = Socket::connect("127.0.0.1", port).await.expect("connect");
            assert!(stream.nodelay().expect("nodelay"), "TCP_NODELAY is set");
            let mut socket = Socket::plain(stream);
            let wrote = socket.wrote();
            assert!(!wrote.load(Ordering::Relaxed));
            tokio::io::AsyncWriteExt::write_all(&mut socket, b"EHLO x\r\n")
                .await
                .expect("write");
            assert!(wrote.load(Ordering::Relaxed));
        });
    }

    #[test]
    fn a_ca_file_that_is_not_pem_is_a_config_error() {
        let err = client_config(Some(
            b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        ))
        .expect_err("not a certificate");
        assert!(err.starts_with("mail.smtp.ca_file"), "{err}");
        assert!(client_config(None).is_ok());
    }

    #[test]
    fn a_refused_certificate_is_found_inside_an_io_error() {
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = io::Error::new(io::ErrorKind::InvalidData, refused);
        assert!(refuses_certificate(&io));
        let other = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::HandshakeNotComplete,
        );
        assert!(!refuses_certificate(&other));
        assert!(!refuses_certificate(&io::Error::other("certificate")));
    }
}
