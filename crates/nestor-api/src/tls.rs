//! TLS termination for `nestor serve` (rustls with the ring provider): a certificate chain and
//! its key read from PEM files, and read again when either file changes, so that a renewed
//! certificate (cert-manager, certbot) is served without a restart. A renewal that cannot be
//! read keeps the certificate being served and is logged; the next change is tried again.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::{Duration, SystemTime},
};

use rustls::{
    ServerConfig,
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// Why a certificate and key cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read or holds no usable PEM.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The key does not go with the certificate, or is of an unsupported kind.
    #[error("{cert} and {key}: {message}")]
    Pair {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        message: String,
    },
}

/// Serves the certificate most recently read from its files.
#[derive(Debug)]
struct Reloading {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        )
    }
}

/// TLS for the accept loop: hand it to [`ServeOptions::tls`](crate::ServeOptions::tls).
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
    resolver: Arc<Reloading>,
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// TLS with the certificate chain in `cert` (PEM, leaf first) and its private key in `key`
    /// (PEM: PKCS#8, PKCS#1 or SEC1). TLS 1.2 and 1.3, HTTP/1.1 by ALPN.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certified = load(cert, key, &provider)?;
        let resolver = Arc::new(Reloading {
            current: RwLock::new(Arc::new(certified)),
        });
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Pair {
                cert: cert.to_owned(),
                key: key.to_owned(),
                message: e.to_string(),
            })?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            resolver,
            cert: cert.to_owned(),
            key: key.to_owned(),
            provider,
        })
    }

    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Reads both files again and serves what they hold from the next handshake on.
    pub fn reload(&self) -> Result<(), TlsError> {
        let certified = load(&self.cert, &self.key, &self.provider)?;
        *self
            .resolver
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(certified);
        Ok(())
    }

    /// Checks the files every `every` and reloads them when either changed (modification time
    /// or size), until `stop`. Errors are logged and the served certificate is kept.
    pub async fn watch(self, every: Duration, stop: CancellationToken) {
        let mut seen = self.stamp();
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = stop.cancelled() => return,
            }
            if self.stamp() == seen {
                continue;
            }
            // A renewal writes two files: wait for both to be written before reading them.
            tokio::time::sleep(Duration::from_millis(200)).await;
            seen = self.stamp();
            match self.reload() {
                Ok(()) => tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "TLS certificate changed but cannot be used; still serving the previous one")
                }
            }
        }
    }

    fn stamp(&self) -> [Option<(SystemTime, u64)>; 2] {
        let of = |p: &Path| {
            std::fs::metadata(p)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        };
        [of(&self.cert), of(&self.key)]
    }
}

fn load(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let file_error = |path: &Path, message: String| TlsError::File {
        path: path.to_owned(),
        message,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_error(cert, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(file_error(
            cert,
            "no certificate in it (expected PEM blocks \"BEGIN CERTIFICATE\")".into(),
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        file_error(
            key,
            format!("{e} (expected a PEM private key: PKCS#8, PKCS#1 or SEC1)"),
        )
    })?;
    CertifiedKey::from_der(chain, private, provider).map_err(|e| TlsError::Pair {
        cert: cert.to_owned(),
        key: key.to_owned(),
        message: e.to_string(),
    })
}
