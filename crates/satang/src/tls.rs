//! Built-in HTTPS for deployments without a reverse proxy: the certificate chain and key of
//! `SATANG_TLS_CERT` and `SATANG_TLS_KEY` (PEM), served with rustls on the same `ring` crypto
//! provider sqlx, reqwest and lettre already use. Files that cannot be used stop the start with
//! a message naming them.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::Config;

/// `Strict-Transport-Security` of every HTTPS response: browsers use https only for a year.
pub const HSTS: &str = "max-age=31536000";

/// The acceptor for `config`'s certificate and key; `None` when Satang serves plain HTTP.
pub fn acceptor(config: &Config) -> anyhow::Result<Option<TlsAcceptor>> {
    let (cert, key) = match (&config.tls_cert, &config.tls_key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        (Some(_), None) => anyhow::bail!("SATANG_TLS_CERT is set but SATANG_TLS_KEY is not"),
        (None, Some(_)) => anyhow::bail!("SATANG_TLS_KEY is set but SATANG_TLS_CERT is not"),
    };
    Ok(Some(TlsAcceptor::from(Arc::new(server_config(cert, key)?))))
}

fn server_config(cert: &Path, key: &Path) -> anyhow::Result<ServerConfig> {
    let chain = certificates(cert)?;
    let key = private_key(key)?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .context("rustls has no safe protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("SATANG_TLS_KEY does not fit SATANG_TLS_CERT (or neither is usable)")?;
    // The accept loop speaks HTTP/1.1 only (connections.rs).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let read = || format!("cannot read SATANG_TLS_CERT {}", path.display());
    std::fs::metadata(path).with_context(read)?;
    let chain = CertificateDer::pem_file_iter(path)
        .with_context(read)?
        .collect::<Result<Vec<_>, _>>()
        .with_context(read)?;
    anyhow::ensure!(
        !chain.is_empty(),
        "SATANG_TLS_CERT {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        path.display()
    );
    Ok(chain)
}

fn private_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let read = || format!("cannot read SATANG_TLS_KEY {}", path.display());
    std::fs::metadata(path).with_context(read)?;
    PrivateKeyDer::from_pem_file(path).with_context(|| {
        format!(
            "SATANG_TLS_KEY {} holds no PEM private key (-----BEGIN PRIVATE KEY-----)",
            path.display()
        )
    })
}
