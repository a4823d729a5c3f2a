//! TLS for the HTTP edge (rustls): a certificate chain and key from PEM
//! files, read again on SIGHUP so a renewed certificate takes effect
//! without a restart (a bad new pair is refused and the old one kept).

use rustls::crypto::CryptoProvider;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// The cryptography behind every TLS connection, ours and the outbox's.
/// *ring*: it builds with the C compiler alone (aws-lc-rs, rustls's
/// default, would add minutes to every clean build on two cores). rustls
/// 0.23.48 marks it deprecated because it has no post-quantum key
/// exchange; see docs/security.md.
pub fn provider() -> Arc<CryptoProvider> {
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Where the certificate chain and its private key are (PEM).
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The server's certificate, replaceable while serving.
pub struct Certs {
    files: TlsFiles,
    current: RwLock<Arc<ServerConfig>>,
}

fn config(files: &TlsFiles) -> Result<ServerConfig, String> {
    let shown = |p: &PathBuf| p.display().to_string();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| format!("--tls-cert {}: {e}", shown(&files.cert)))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("--tls-cert {}: {e}", shown(&files.cert)))?;
    if chain.is_empty() {
        return Err(format!(
            "--tls-cert {}: no certificate in it (PEM, BEGIN CERTIFICATE)",
            shown(&files.cert)
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| format!("--tls-key {}: no private key read: {e}", shown(&files.key)))?;
    let mut c = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            format!(
                "--tls-cert {} with --tls-key {}: {e}",
                shown(&files.cert),
                shown(&files.key)
            )
        })?;
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(c)
}

impl Certs {
    pub fn load(files: TlsFiles) -> Result<Certs, String> {
        let c = config(&files)?;
        Ok(Certs {
            files,
            current: RwLock::new(Arc::new(c)),
        })
    }

    /// Reads the files again; on an error the certificate in use stays.
    pub fn reload(&self) -> Result<(), String> {
        let c = config(&self.files)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(c);
        Ok(())
    }

    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}
