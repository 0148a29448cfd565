//! ClickHouse over `https://` (`[clickhouse] ca_file`): the HTTP client the `clickhouse` crate is
//! given, rustls on ring (no aws-lc, no native-tls), TLS 1.2 and 1.3, HTTP/1.1.
//!
//! - The server's certificate is checked against the system's roots plus the CA certificates
//!   of [`CaPem`] (read once when the configuration is checked, see [`CaPem::parse`]).
//! - `http://` URLs go through the same client, in the clear, as before.
//! - A refused certificate is a connect error whose chain names it (`invalid peer
//!   certificate: UnknownIssuer`).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// As the crate's own default client: TCP keep-alive, and pooled connections dropped before
/// ClickHouse's own keep-alive timeout (3 s by default) closes them.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// CA certificates (PEM) trusted for an `https://` ClickHouse beside the system's roots.
#[derive(Clone, PartialEq, Eq)]
pub struct CaPem(Arc<[u8]>);

impl std::fmt::Debug for CaPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CaPem({} bytes)", self.0.len())
    }
}

impl CaPem {
    /// Checks that `pem` holds at least one CA certificate rustls accepts as a root.
    pub fn parse(pem: Vec<u8>) -> Result<CaPem, String> {
        add_cas(&mut RootCertStore::empty(), &pem)?;
        Ok(CaPem(pem.into()))
    }
}

fn add_cas(roots: &mut RootCertStore, pem: &[u8]) -> Result<(), String> {
    let mut n = 0;
    for c in CertificateDer::pem_slice_iter(pem) {
        let c = c.map_err(|e| format!("not PEM certificates: {e}"))?;
        roots
            .add(c)
            .map_err(|e| format!("not a CA certificate: {e}"))?;
        n += 1;
    }
    if n == 0 {
        return Err("holds no PEM certificate".into());
    }
    Ok(())
}

/// The system's roots, read once per process (rustls-native-certs: the OS store, or
/// `SSL_CERT_FILE`/`SSL_CERT_DIR`).
fn system_roots() -> RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::debug!(error = %e, "a system CA certificate could not be read");
            }
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(found.certs);
            roots
        })
        .clone()
}

/// The rustls client configuration of a store: built once per [`crate::Store`]. For an
/// `http://` URL (`https` false) it trusts nothing and the system's roots are not read.
pub(crate) fn client_config(https: bool, ca: Option<&CaPem>) -> Arc<ClientConfig> {
    let mut roots = if https {
        system_roots()
    } else {
        RootCertStore::empty()
    };
    if let Some(ca) = ca {
        // Checked by `CaPem::parse`: cannot fail here.
        let _ = add_cas(&mut roots, &ca.0);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder =
        match ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions() {
            Ok(b) => b,
            // The ring provider offers both versions; kept as a fallback rather than a panic.
            Err(_) => ClientConfig::builder(),
        };
    // ALPN (http/1.1) is set by hyper-rustls, which refuses a configuration that has it.
    Arc::new(builder.with_root_certificates(roots).with_no_client_auth())
}

/// A new `clickhouse` client (its own connection pool) for `http://` and `https://` URLs.
pub(crate) fn new_client(tls: &Arc<ClientConfig>) -> clickhouse::Client {
    let mut http = HttpConnector::new();
    http.set_keepalive(Some(TCP_KEEPALIVE));
    // The TLS layer takes `https://`; the TCP connector must let it through.
    http.enforce_http(false);
    let https: HttpsConnector<HttpConnector> = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((**tls).clone())
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    clickhouse::Client::with_http_client(
        Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(https),
    )
}
