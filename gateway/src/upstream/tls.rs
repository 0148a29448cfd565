//! TLS towards `https://` upstreams (rustls on ring).
//!
//! - [`SiteTrust`]: the system's roots (read once per process) and `[gateway]
//!   upstream_ca_files` (read once at start).
//! - [`ApiTls`]: one API's client configuration, built from its `upstream_tls` when the
//!   configuration is loaded (never per call): its `ca_file` added to the site's trust, its
//!   client certificate, its server name. One `ClientConfig` per API, so its upstreams share
//!   its session cache (TLS resumption on reconnects).
//! - [`TlsTarget`]: what a [`Pool`](super::pool::Pool) needs to wrap a TCP connection: the
//!   connector and the name sent as SNI and checked against the certificate.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use gatewatch_model::api::UpstreamTls;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_rustls::TlsConnector;
use tracing::{debug, warn};

/// The certificates every API's upstreams are checked against.
#[derive(Clone, Debug)]
pub(crate) struct SiteTrust {
    roots: Arc<RootCertStore>,
    /// Of the site's CA files' contents: a pool is kept over a reload only when its TLS
    /// material is unchanged.
    digest: u64,
}

impl Default for SiteTrust {
    fn default() -> SiteTrust {
        SiteTrust {
            roots: system_roots(),
            digest: 0,
        }
    }
}

/// The system's roots, read on first use (rustls-native-certs: the OS store, or
/// `SSL_CERT_FILE`/`SSL_CERT_DIR`). Unreadable ones are skipped with a debug line.
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                debug!(error = %e, "a system CA certificate could not be read");
            }
            let mut roots = RootCertStore::empty();
            let (added, ignored) = roots.add_parsable_certificates(found.certs);
            debug!(added, ignored, "system CA certificates for https upstreams");
            Arc::new(roots)
        })
        .clone()
}

impl SiteTrust {
    /// A client configuration trusting the site's roots (bearer: trusted issuers' JWKS).
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, String> {
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("no TLS version available: {e}"))?
                .with_root_certificates(self.roots.clone())
                .with_no_client_auth();
        Ok(Arc::new(config))
    }

    /// The system's roots plus `ca_files`; the error gives the index of the bad file.
    pub fn load(ca_files: &[PathBuf]) -> Result<SiteTrust, (usize, String)> {
        let mut site = SiteTrust::default();
        if ca_files.is_empty() {
            return Ok(site);
        }
        let mut roots = (*site.roots).clone();
        let mut h = DefaultHasher::new();
        for (i, f) in ca_files.iter().enumerate() {
            let pem = read(&f.to_string_lossy()).map_err(|m| (i, m))?;
            pem.hash(&mut h);
            add_cas(&mut roots, &pem).map_err(|m| (i, m))?;
        }
        site.roots = Arc::new(roots);
        site.digest = h.finish();
        Ok(site)
    }
}

/// One API's TLS client configuration (see the module doc).
#[derive(Clone)]
pub(crate) struct ApiTls {
    connector: TlsConnector,
    /// `upstream_tls.server_name`; else each upstream's host.
    server_name: Option<ServerName<'static>>,
    /// Of the settings and the files read: equal digests, same TLS behaviour.
    digest: u64,
}

impl std::fmt::Debug for ApiTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// A bad `upstream_tls` setting: the field under `upstream_tls` and what is wrong.
pub(crate) type FieldError = (&'static str, String);

impl ApiTls {
    /// Reads the API's files and builds its client configuration. `api` names it in the
    /// warning that `verify = false` logs at every load.
    pub fn load(
        api: &str,
        spec: Option<&UpstreamTls>,
        site: &SiteTrust,
    ) -> Result<ApiTls, FieldError> {
        let default = UpstreamTls {
            ca_file: None,
            server_name: None,
            cert_file: None,
            key_file: None,
            verify: true,
        };
        let spec = spec.unwrap_or(&default);
        let mut h = DefaultHasher::new();
        spec.hash(&mut h);
        site.digest.hash(&mut h);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ("verify", format!("no TLS version available: {e}")))?;
        let builder = if spec.verify {
            let roots = match &spec.ca_file {
                None => site.roots.clone(),
                Some(f) => {
                    let pem = read(f).map_err(|m| ("ca_file", m))?;
                    pem.hash(&mut h);
                    let mut roots = (*site.roots).clone();
                    add_cas(&mut roots, &pem).map_err(|m| ("ca_file", m))?;
                    Arc::new(roots)
                }
            };
            builder.with_root_certificates(roots)
        } else {
            warn!(api = %api, "upstream_tls.verify = false: the certificates of this API's upstreams are not checked; anyone on the path can read and change its calls");
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        };
        let mut config = match (&spec.cert_file, &spec.key_file) {
            (Some(c), Some(k)) => {
                let pem = read(c).map_err(|m| ("cert_file", m))?;
                pem.hash(&mut h);
                let chain = CertificateDer::pem_slice_iter(&pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| ("cert_file", format!("{c:?} is not PEM: {e}")))?;
                if chain.is_empty() {
                    return Err(("cert_file", format!("{c:?} holds no certificate")));
                }
                let key_pem = read(k).map_err(|m| ("key_file", m))?;
                key_pem.hash(&mut h);
                let key = PrivateKeyDer::from_pem_slice(&key_pem)
                    .map_err(|e| ("key_file", format!("{k:?} holds no private key: {e}")))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| ("key_file", format!("{k:?} does not fit cert_file: {e}")))?
            }
            _ => builder.with_no_client_auth(),
        };
        // The pool speaks HTTP/1.1.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let server_name = match &spec.server_name {
            None => None,
            Some(n) => Some(
                ServerName::try_from(n.clone())
                    .map_err(|e| ("server_name", format!("{n:?}: {e}")))?,
            ),
        };
        Ok(ApiTls {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
            digest: h.finish(),
        })
    }

    /// What a pool of the upstream at `host` (as in its URL) connects with.
    pub fn target(&self, host: &str) -> Result<TlsTarget, String> {
        let name = match &self.server_name {
            Some(n) => n.clone(),
            None => {
                let bare = host.trim_start_matches('[').trim_end_matches(']');
                ServerName::try_from(bare.to_string())
                    .map_err(|e| format!("'{host}' cannot be a TLS server name: {e}"))?
            }
        };
        Ok(TlsTarget {
            connector: self.connector.clone(),
            name,
            digest: self.digest,
        })
    }
}

/// How a pool wraps its connections in TLS.
#[derive(Clone)]
pub(crate) struct TlsTarget {
    pub connector: TlsConnector,
    pub name: ServerName<'static>,
    pub digest: u64,
}

impl std::fmt::Debug for TlsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTarget")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The shipper's TLS towards an `https://` collector (`[gateway] collector_ca_file`): the
/// system's roots plus the CA file, TLS 1.2 and 1.3, HTTP/1.1. Built once at start.
pub(crate) fn collector_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let roots = match ca_file {
        None => system_roots(),
        Some(f) => {
            SiteTrust::load(&[f.to_path_buf()])
                .map_err(|(_, m)| m)?
                .roots
        }
    };
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("no TLS version available: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    // ALPN (http/1.1) is set by hyper-rustls, which refuses a configuration that has it.
    Ok(Arc::new(config))
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {path:?}: {e}"))
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

/// `verify = false`: any certificate is accepted (the handshake's signatures are still
/// checked, so the session keys belong to whoever holds the certificate's key).
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
