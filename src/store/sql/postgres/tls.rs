//! The rustls client settings for each `sslmode` (DB-2), because the `postgres` crate itself
//! only knows disable/prefer/require and never verifies anything.
//!
//! - `require` (and `prefer` on loopback): encrypt without checking the certificate, which is
//!   libpq's meaning; the handshake signatures are still checked.
//! - `verify-ca`: the chain must lead to a trusted root; the host name is not checked.
//! - `verify-full`: chain and host name (or IP address) checked; the default for every host
//!   that is not loopback (`crate::db_url`), so `require` there is an explicit downgrade.
//!
//! Trusted roots: only the certificates in `sslrootcert` when given (as libpq), else the
//! platform's store. "dangerous" below is only rustls's name for plugging in a verifier.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::db_url::SslMode;

/// Why the TLS settings could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The `sslrootcert` file could not be read or holds no certificate.
    #[error("cannot use sslrootcert {path}: {reason}")]
    RootCert {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// rustls refused the settings.
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The client settings for `mode`; `None` for `disable`.
pub fn client_config(
    mode: SslMode,
    root_cert: Option<&Path>,
) -> Result<Option<ClientConfig>, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        SslMode::Disable => return Ok(None),
        SslMode::Prefer | SslMode::Require => Arc::new(Lenient {
            chain: None,
            provider: Arc::clone(&provider),
        }),
        SslMode::VerifyCa => Arc::new(Lenient {
            chain: Some(chain_verifier(root_cert, &provider)?),
            provider: Arc::clone(&provider),
        }),
        SslMode::VerifyFull => chain_verifier(root_cert, &provider)?,
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Some(config))
}

/// The standard chain and name verifier, over `root_cert` or the platform's roots.
fn chain_verifier(
    root_cert: Option<&Path>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, TlsSetupError> {
    let Some(path) = root_cert else {
        let platform = rustls_platform_verifier::Verifier::new(Arc::clone(provider))?;
        return Ok(Arc::new(platform));
    };
    let bad = |reason: String| TlsSetupError::RootCert {
        path: path.display().to_string(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(bad("no certificate in it".to_string()));
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
        .build()
        .map(|v| v as Arc<dyn ServerCertVerifier>)
        .map_err(|e| bad(e.to_string()))
}

/// `require` (no chain) and `verify-ca` (a chain, any name): the certificate checks libpq
/// makes in those modes. Handshake signatures are always checked with the provider's algorithms.
#[derive(Debug)]
struct Lenient {
    chain: Option<Arc<dyn ServerCertVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
