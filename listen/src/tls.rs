//! The TLS side of a listener (feature `tls`): rustls on the `ring` provider, TLS 1.2 and 1.3
//! only, certificates picked by SNI and reloaded from their files while connections stay open.
//!
//! - [`Tls::load`] reads every certificate chain and key (PEM) once and checks that each key
//!   belongs to its certificate; a failure names the file ([`TlsError`]).
//! - The first pair is the default: a client without SNI, or with a name no other pair lists,
//!   gets it. Other pairs answer for their `server_names` (exact, or `*.example.com` for one
//!   label), compared without regard to case.
//! - [`Tls::reload`] re-reads the files; a pair whose files changed and parse is swapped in for
//!   new handshakes (open connections keep theirs); a bad new file keeps the old pair and is
//!   logged once, naming the file. [`Tls::watch`] calls it every few seconds.
//! - Client certificates ([`Tls::load_with_client_ca`]): with a CA file, the listener asks
//!   each client for a certificate; a client may send none, but one that does not chain to
//!   those CAs (or is expired) fails the handshake. The accepted end-entity certificate reaches
//!   the service in [`crate::TlsInfo::client_cert`]; what it may call is the service's business.
//!   The CA file is reloaded like the pairs.
//! - ALPN: `h2` and `http/1.1` ([`ALPN`]); the connection is served by the protocol agreed
//!   (see `serve_tls`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use tracing::{error, info};

/// Protocols offered by ALPN, in order of preference: HTTP/2 first. A client offering ALPN
/// with neither is refused in the handshake (`no_application_protocol`); a client without
/// ALPN speaks HTTP/1.1.
pub const ALPN: &[&[u8]] = &[b"h2", b"http/1.1"];

/// Default time between two looks at the certificate files.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// One certificate chain and its key, and the names it answers for (empty for the default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// SNI names this pair answers for; the default pair (the first) has none of its own.
    pub server_names: Vec<String>,
    /// PEM: the server's certificate first, then the intermediates.
    pub cert_file: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// Which file of a pair a [`TlsError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The certificate chain file.
    Cert,
    /// The key file.
    Key,
    /// The client CA file (`index` is 0).
    ClientCa,
}

/// A certificate pair that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct TlsError {
    /// Index of the pair in the list given to [`Tls::load`] (0: the default).
    pub index: usize,
    /// The file at fault (a key that does not match its certificate: the certificate).
    pub which: Which,
    /// Its path.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

/// The ring provider: the one the tree uses (reqwest, lettre), no aws-lc.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The bytes of a pair's two files, as last read.
#[derive(Clone, PartialEq, Eq)]
struct Contents {
    cert: Vec<u8>,
    key: Vec<u8>,
}

fn read(index: usize, which: Which, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError {
        index,
        which,
        path: path.to_path_buf(),
        message: format!("cannot read: {e}"),
    })
}

fn read_pair(index: usize, files: &CertFiles) -> Result<Contents, TlsError> {
    Ok(Contents {
        cert: read(index, Which::Cert, &files.cert_file)?,
        key: read(index, Which::Key, &files.key_file)?,
    })
}

/// Parses a pair's PEM and checks that the key is the certificate's.
fn certified(
    index: usize,
    files: &CertFiles,
    contents: &Contents,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let bad = |which: Which, message: String| {
        let path = match which {
            Which::Key => files.key_file.clone(),
            Which::Cert | Which::ClientCa => files.cert_file.clone(),
        };
        TlsError {
            index,
            which,
            path,
            message,
        }
    };
    let chain = CertificateDer::pem_slice_iter(&contents.cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(Which::Cert, format!("not a PEM certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(bad(Which::Cert, "holds no CERTIFICATE block".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(&contents.key)
        .map_err(|e| bad(Which::Key, format!("not a PEM private key: {e}")))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| bad(Which::Key, format!("unusable private key: {e}")))?;
    let pair = CertifiedKey::new(chain, signing);
    pair.keys_match().map_err(|e| {
        bad(
            Which::Cert,
            format!(
                "the key in {} does not belong to this certificate: {e}",
                files.key_file.display()
            ),
        )
    })?;
    Ok(pair)
}

/// The certificates in use: the default and the ones by name.
#[derive(Debug)]
struct Certs {
    pairs: Vec<Arc<CertifiedKey>>,
    /// Lower-cased name (or `*.suffix`) → index into `pairs`.
    by_name: HashMap<String, usize>,
}

impl Certs {
    fn pick(&self, sni: Option<&str>) -> Arc<CertifiedKey> {
        let by = |name: &str| self.by_name.get(name).map(|&i| self.pairs[i].clone());
        let found = sni.and_then(|name| {
            let name = name.to_ascii_lowercase();
            by(&name).or_else(|| {
                let (_, parent) = name.split_once('.')?;
                by(&format!("*.{parent}"))
            })
        });
        found.unwrap_or_else(|| self.pairs[0].clone())
    }
}

/// rustls asks it for the certificate of each handshake.
#[derive(Debug)]
struct SniResolver(RwLock<Arc<Certs>>);

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let certs = match self.0.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        Some(certs.pick(hello.server_name()))
    }
}

/// What the handshake of `conn` settled (see [`crate::TlsInfo`]).
pub fn info(conn: &rustls::ServerConnection) -> crate::TlsInfo {
    crate::TlsInfo {
        // Named as nginx's `$ssl_protocol` names them (rustls says `TLSv1_3`).
        version: match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "",
        },
        cipher: conn
            .negotiated_cipher_suite()
            .and_then(|s| s.suite().as_str())
            .unwrap_or(""),
        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        client_cert: conn
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|c| c.as_ref().to_vec()),
    }
}

/// Client certificates: a verifier over the CAs of `client_ca_file`, swapped whole when the
/// file changes (rustls keeps one verifier per configuration, so this one delegates to the
/// current). Clients *may* present a certificate; one that does not chain to these CAs (or is
/// expired, or not for client authentication) fails the handshake. No CA names are hinted to
/// clients (`certificate_authorities` is empty, which RFC 8446 §4.3.2 and RFC 5246 §7.4.4 read
/// as "any"): the hint list could not follow a reload, and clients send what they have.
#[derive(Debug)]
struct ClientVerifier(RwLock<Arc<dyn ClientCertVerifier>>);

impl ClientVerifier {
    fn current(&self) -> Arc<dyn ClientCertVerifier> {
        match self.0.read() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set(&self, v: Arc<dyn ClientCertVerifier>) {
        match self.0.write() {
            Ok(mut g) => *g = v,
            Err(poisoned) => *poisoned.into_inner() = v,
        }
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.current()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.current().supported_verify_schemes()
    }
}

/// The verifier of the CAs in `pem` (the contents of `path`).
fn client_verifier(
    path: &Path,
    pem: &[u8],
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let bad = |message: String| TlsError {
        index: 0,
        which: Which::ClientCa,
        path: path.to_path_buf(),
        message,
    };
    let cas = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not a PEM certificate bundle: {e}")))?;
    if cas.is_empty() {
        return Err(bad("holds no CERTIFICATE block".into()));
    }
    let mut roots = rustls::RootCertStore::empty();
    for (i, ca) in cas.into_iter().enumerate() {
        roots
            .add(ca)
            .map_err(|e| bad(format!("certificate {} is not a usable CA: {e}", i + 1)))?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| bad(format!("cannot verify client certificates with it: {e}")))
}

/// The client CA file, its verifier, and the contents in use and last refused (as for pairs).
struct ClientCa {
    path: PathBuf,
    verifier: Arc<ClientVerifier>,
    seen: Mutex<(Vec<u8>, Option<Vec<u8>>)>,
}

/// A TLS listener as a role's configuration gives it (`[gateway.tls]`, `[dashboards.tls]`,
/// `[collector.tls]`): where, which certificates, how often to look at their files.
#[derive(Debug, Clone)]
pub struct Listen {
    /// Address it listens on (port 0 picks a free port).
    pub listen: std::net::SocketAddr,
    /// The certificates, loaded and checked.
    pub tls: Arc<Tls>,
    /// How often the certificate files are looked at for a change.
    pub reload_interval: Duration,
}

/// A listener's TLS: the rustls configuration and what it needs to reload its certificates.
pub struct Tls {
    config: Arc<ServerConfig>,
    resolver: Arc<SniResolver>,
    files: Vec<CertFiles>,
    provider: Arc<CryptoProvider>,
    /// Per pair: the contents now in use, and the last contents refused (so a bad file is
    /// logged once, not at every look).
    seen: Mutex<Vec<(Contents, Option<Contents>)>>,
    client_ca: Option<ClientCa>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("files", &self.files).finish()
    }
}

impl Tls {
    /// Reads and checks every pair; `files[0]` is the default (its `server_names` are
    /// ignored). At least one pair. No client certificate is asked for.
    pub fn load(files: Vec<CertFiles>) -> Result<Tls, TlsError> {
        Tls::load_with_client_ca(files, None)
    }

    /// [`Tls::load`], and with `client_ca` (a PEM file of CA certificates) clients may
    /// present a certificate signed by one of them (see the module doc).
    pub fn load_with_client_ca(
        files: Vec<CertFiles>,
        client_ca: Option<PathBuf>,
    ) -> Result<Tls, TlsError> {
        let provider = provider();
        let mut pairs = Vec::with_capacity(files.len());
        let mut seen = Vec::with_capacity(files.len());
        for (i, f) in files.iter().enumerate() {
            let contents = read_pair(i, f)?;
            pairs.push(Arc::new(certified(i, f, &contents, &provider)?));
            seen.push((contents, None));
        }
        if pairs.is_empty() {
            return Err(TlsError {
                index: 0,
                which: Which::Cert,
                path: PathBuf::new(),
                message: "no certificate given".into(),
            });
        }
        let mut by_name = HashMap::new();
        for (i, f) in files.iter().enumerate().skip(1) {
            for name in &f.server_names {
                by_name.entry(name.to_ascii_lowercase()).or_insert(i);
            }
        }
        let client_ca = match client_ca {
            None => None,
            Some(path) => {
                let pem = std::fs::read(&path).map_err(|e| TlsError {
                    index: 0,
                    which: Which::ClientCa,
                    path: path.clone(),
                    message: format!("cannot read: {e}"),
                })?;
                let verifier = client_verifier(&path, &pem, &provider)?;
                Some(ClientCa {
                    path,
                    verifier: Arc::new(ClientVerifier(RwLock::new(verifier))),
                    seen: Mutex::new((pem, None)),
                })
            }
        };
        let resolver = Arc::new(SniResolver(RwLock::new(Arc::new(Certs { pairs, by_name }))));
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| TlsError {
                index: 0,
                which: Which::Cert,
                path: PathBuf::new(),
                message: e.to_string(),
            })?;
        let builder = match &client_ca {
            Some(ca) => builder.with_client_cert_verifier(ca.verifier.clone()),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_cert_resolver(resolver.clone());
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(Tls {
            config: Arc::new(config),
            resolver,
            files,
            provider,
            seen: Mutex::new(seen),
            client_ca,
        })
    }

    /// The acceptor for new connections (it sees reloaded certificates).
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.clone())
    }

    /// Re-reads the files; swaps in each pair (and the client CA file) that changed and is
    /// good. Returns how many were swapped in and the errors of files refused now (each also
    /// logged once).
    pub fn reload(&self) -> (usize, Vec<TlsError>) {
        let (mut n, mut errors) = self.reload_pairs();
        if let Some(ca) = &self.client_ca {
            match self.reload_client_ca(ca) {
                Ok(swapped) => n += usize::from(swapped),
                Err(e) => {
                    error!(file = %e.path.display(), error = %e.message, "client CA file not reloaded: keeping the one in use");
                    errors.push(e);
                }
            }
        }
        (n, errors)
    }

    /// The client CA file, when it changed: `Ok(true)` swapped in, `Err` refused (once per
    /// contents, like a pair's files).
    fn reload_client_ca(&self, ca: &ClientCa) -> Result<bool, TlsError> {
        let mut seen = match ca.seen.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let pem = std::fs::read(&ca.path).map_err(|e| TlsError {
            index: 0,
            which: Which::ClientCa,
            path: ca.path.clone(),
            message: format!("cannot read: {e}"),
        })?;
        let (in_use, refused) = &mut *seen;
        if pem == *in_use || refused.as_ref() == Some(&pem) {
            return Ok(false);
        }
        match client_verifier(&ca.path, &pem, &self.provider) {
            Ok(v) => {
                ca.verifier.set(v);
                info!(client_ca_file = %ca.path.display(), "client CA file reloaded");
                *in_use = pem;
                *refused = None;
                Ok(true)
            }
            Err(e) => {
                *refused = Some(pem);
                Err(e)
            }
        }
    }

    fn reload_pairs(&self) -> (usize, Vec<TlsError>) {
        let mut seen = match self.seen.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut fresh: Vec<(usize, Arc<CertifiedKey>)> = Vec::new();
        let mut errors = Vec::new();
        for (i, f) in self.files.iter().enumerate() {
            let (in_use, refused) = &mut seen[i];
            let result = read_pair(i, f).and_then(|contents| {
                if contents == *in_use || refused.as_ref() == Some(&contents) {
                    return Ok(None);
                }
                match certified(i, f, &contents, &self.provider) {
                    Ok(pair) => Ok(Some((contents, pair))),
                    Err(e) => {
                        *refused = Some(contents);
                        Err(e)
                    }
                }
            });
            match result {
                Ok(None) => {}
                Ok(Some((contents, pair))) => {
                    info!(cert_file = %f.cert_file.display(), "TLS certificate reloaded");
                    *in_use = contents;
                    *refused = None;
                    fresh.push((i, Arc::new(pair)));
                }
                Err(e) => {
                    error!(file = %e.path.display(), error = %e.message, "TLS certificate not reloaded: keeping the one in use");
                    errors.push(e);
                }
            }
        }
        if !fresh.is_empty() {
            let mut certs = match self.resolver.0.write() {
                Ok(c) => c,
                Err(poisoned) => poisoned.into_inner(),
            };
            let mut pairs = certs.pairs.clone();
            for (i, pair) in &fresh {
                pairs[*i] = pair.clone();
            }
            *certs = Arc::new(Certs {
                pairs,
                by_name: certs.by_name.clone(),
            });
        }
        (fresh.len(), errors)
    }

    /// Calls [`Tls::reload`] every `interval` until `stop` resolves.
    pub async fn watch(
        self: Arc<Self>,
        interval: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = tick.tick() => {
                    // File reads and key parsing are blocking but short.
                    let tls = self.clone();
                    let _ = tokio::task::spawn_blocking(move || tls.reload()).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(dir: &Path, stem: &str, name: &str) -> CertFiles {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let files = CertFiles {
            server_names: vec![name.to_string()],
            cert_file: dir.join(format!("{stem}.pem")),
            key_file: dir.join(format!("{stem}-key.pem")),
        };
        std::fs::write(&files.cert_file, cert.pem()).unwrap();
        std::fs::write(&files.key_file, key.serialize_pem()).unwrap();
        files
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "gatewatch-listen-tls-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_key_of_another_certificate_is_refused_naming_the_certificate() {
        let d = tmp("mismatch");
        let a = pair(&d, "a", "a.test");
        let b = pair(&d, "b", "b.test");
        let mixed = CertFiles {
            key_file: b.key_file.clone(),
            ..a.clone()
        };
        let e = Tls::load(vec![mixed]).unwrap_err();
        assert_eq!((e.which, e.path), (Which::Cert, a.cert_file));
        std::fs::write(&b.key_file, "not pem").unwrap();
        let e = Tls::load(vec![b.clone()]).unwrap_err();
        assert_eq!((e.which, &e.path), (Which::Key, &b.key_file));
        let e = Tls::load(vec![CertFiles {
            cert_file: d.join("missing.pem"),
            ..a
        }])
        .unwrap_err();
        assert!(e.message.contains("cannot read"), "{e}");
    }

    #[test]
    fn sni_picks_by_name_and_wildcard_and_falls_back_to_the_default() {
        let d = tmp("sni");
        let main = pair(&d, "main", "main.test");
        let other = pair(&d, "other", "other.test");
        let wild = CertFiles {
            server_names: vec!["*.wild.test".into()],
            ..pair(&d, "wild", "x.wild.test")
        };
        let tls = Tls::load(vec![main, other, wild]).unwrap();
        let certs = tls.resolver.0.read().unwrap().clone();
        let same = |a: &Arc<CertifiedKey>, i: usize| a.cert[0] == certs.pairs[i].cert[0];
        assert!(same(&certs.pick(None), 0));
        assert!(same(&certs.pick(Some("OTHER.test")), 1));
        assert!(same(&certs.pick(Some("a.wild.test")), 2));
        assert!(same(&certs.pick(Some("a.b.wild.test")), 0));
        assert!(same(&certs.pick(Some("unknown.test")), 0));
    }

    #[test]
    fn reload_swaps_a_good_pair_and_keeps_the_old_one_on_a_bad_file() {
        let d = tmp("reload");
        let files = pair(&d, "main", "main.test");
        let tls = Tls::load(vec![files.clone()]).unwrap();
        let first = tls.resolver.0.read().unwrap().pairs[0].cert[0].clone();
        assert_eq!(tls.reload().0, 0, "nothing changed");
        std::fs::write(&files.cert_file, "garbage").unwrap();
        let (n, errors) = tls.reload();
        assert_eq!((n, errors.len()), (0, 1));
        assert_eq!(errors[0].path, files.cert_file);
        assert_eq!(
            tls.reload().1.len(),
            0,
            "the same bad file is reported once"
        );
        assert_eq!(tls.resolver.0.read().unwrap().pairs[0].cert[0], first);
        pair(&d, "main", "main.test");
        let (n, errors) = tls.reload();
        assert_eq!((n, errors.len()), (1, 0));
        assert_ne!(tls.resolver.0.read().unwrap().pairs[0].cert[0], first);
    }

    /// A CA and a leaf for `names` signed by it, written as `stem.pem` (chain) and `stem-key.pem`.
    fn signed(dir: &Path, stem: &str, names: &[&str]) -> (CertFiles, CertificateDer<'static>) {
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = rcgen::CertifiedIssuer::self_signed(ca, ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let leaf = rcgen::CertificateParams::new(names.clone())
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let files = CertFiles {
            server_names: names,
            cert_file: dir.join(format!("{stem}.pem")),
            key_file: dir.join(format!("{stem}-key.pem")),
        };
        std::fs::write(&files.cert_file, leaf.pem() + &ca.pem()).unwrap();
        std::fs::write(&files.key_file, key.serialize_pem()).unwrap();
        (files, ca.der().clone())
    }

    async fn start(
        tls: Arc<Tls>,
        limits: crate::Limits,
    ) -> (std::net::SocketAddr, Arc<crate::Stats>) {
        use http_body_util::Full;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(crate::Stats::default());
        // Answers with what the handshake settled, as the service saw it.
        let make = |conn: crate::Conn| {
            let tls = conn.tls.unwrap_or_default();
            let text = format!("{} {}", tls.version, tls.cipher);
            hyper::service::service_fn(move |_req: http::Request<hyper::body::Incoming>| {
                let text = text.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                        bytes::Bytes::from(text),
                    )))
                }
            })
        };
        tokio::spawn(crate::serve_tls(
            "test",
            listener,
            limits,
            stats.clone(),
            tls,
            make,
            std::future::pending(),
            Duration::from_secs(1),
        ));
        (addr, stats)
    }

    fn client(ca: &CertificateDer<'static>, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone()).unwrap();
        let mut config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }

    type Stream = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

    async fn connect(
        addr: std::net::SocketAddr,
        ca: &CertificateDer<'static>,
        name: &str,
        alpn: &[&[u8]],
    ) -> std::io::Result<Stream> {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let name = rustls_pki_types::ServerName::try_from(name.to_string()).unwrap();
        client(ca, alpn).connect(name, tcp).await
    }

    async fn get(s: &mut Stream) -> bool {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        if s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .is_err()
        {
            return false;
        }
        let mut buf = [0u8; 256];
        matches!(
            tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await,
            Ok(Ok(n)) if buf[..n].starts_with(b"HTTP/1.1 200")
        )
    }

    /// The body of one `GET /` (the test service's answers are short, one read).
    async fn body(s: &mut Stream) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        text.split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_string()
    }

    /// Reads to the server's close (`true`), or gives up after 10 s (`false`).
    async fn closed(s: &mut tokio::net::TcpStream) -> bool {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 512];
        loop {
            match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    }

    fn limits() -> crate::Limits {
        crate::Limits {
            max_connections: 10,
            header_read_timeout: Duration::from_secs(30),
        }
    }

    #[tokio::test]
    async fn https_with_sni_and_alpn_and_refusals() {
        let d = tmp("serve");
        let (main, main_ca) = signed(&d, "main", &["main.test", "127.0.0.1"]);
        let (other, other_ca) = signed(&d, "other", &["other.test"]);
        let tls = Arc::new(Tls::load(vec![main, other]).unwrap());
        let (addr, _) = start(tls, limits()).await;
        for (name, ca) in [
            ("main.test", &main_ca),
            ("127.0.0.1", &main_ca),
            ("other.test", &other_ca),
        ] {
            let mut s = connect(addr, ca, name, &[b"http/1.1"]).await.unwrap();
            assert_eq!(
                s.get_ref().1.alpn_protocol(),
                Some(&b"http/1.1"[..]),
                "{name}"
            );
            assert!(get(&mut s).await, "{name}");
        }
        // Without ALPN the client still gets HTTP/1.1.
        let mut s = connect(addr, &main_ca, "main.test", &[]).await.unwrap();
        assert!(get(&mut s).await);
        // The service was told the version and suite the client saw.
        let mut s = connect(addr, &main_ca, "main.test", &[]).await.unwrap();
        let (version, suite) = {
            let c = s.get_ref().1;
            assert_eq!(c.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
            let suite = c.negotiated_cipher_suite().unwrap().suite();
            ("TLSv1.3", suite.as_str().unwrap())
        };
        assert_eq!(suite, "TLS13_AES_256_GCM_SHA384");
        assert_eq!(body(&mut s).await, format!("{version} {suite}"));
        // other.test's certificate is not trusted by main's CA: SNI really picked it.
        assert!(connect(addr, &main_ca, "other.test", &[]).await.is_err());
        // No common protocol: refused in the handshake.
        assert!(connect(addr, &main_ca, "main.test", &[b"spdy/3.1"])
            .await
            .is_err());
        // h2 is preferred, and served.
        let s = connect(addr, &main_ca, "main.test", &[b"http/1.1", b"h2"])
            .await
            .unwrap();
        assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let (mut h2, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(s),
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        let req = http::Request::get("https://main.test/")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let resp = h2.send_request(req).await.unwrap();
        assert_eq!(resp.version(), http::Version::HTTP_2);
        assert_eq!(resp.status(), 200);
    }

    #[tokio::test]
    async fn a_tls_1_1_hello_gets_an_alert_and_the_connection_closes() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let d = tmp("tls11");
        let (main, _) = signed(&d, "main", &["main.test"]);
        let (addr, _) = start(Arc::new(Tls::load(vec![main]).unwrap()), limits()).await;
        // A TLS 1.1 ClientHello: version 3.2, two TLS 1.0/1.1 suites, no extensions.
        let mut body = vec![0x03, 0x02];
        body.extend_from_slice(&[7u8; 32]);
        body.extend_from_slice(&[0x00, 0x00, 0x04, 0xc0, 0x13, 0x00, 0x2f, 0x01, 0x00]);
        let mut hs = vec![0x01, 0x00, 0x00, body.len() as u8];
        hs.extend_from_slice(&body);
        let mut record = vec![0x16, 0x03, 0x02, 0x00, hs.len() as u8];
        record.extend_from_slice(&hs);
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(&record).await.unwrap();
        let mut first = [0u8; 1];
        let n = s.read(&mut first).await.unwrap_or(0);
        assert!(
            n == 0 || first[0] == 0x15,
            "an alert or a close, not a ServerHello"
        );
        assert!(closed(&mut s).await);
    }

    #[tokio::test]
    async fn a_handshake_that_never_ends_is_closed_and_the_cap_counts_it() {
        use tokio::io::AsyncWriteExt;
        let d = tmp("slow");
        let (main, ca) = signed(&d, "main", &["main.test"]);
        let limits = crate::Limits {
            max_connections: 2,
            header_read_timeout: Duration::from_millis(300),
        };
        let (addr, stats) = start(Arc::new(Tls::load(vec![main]).unwrap()), limits).await;
        let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut half = tokio::net::TcpStream::connect(addr).await.unwrap();
        half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
            .await
            .unwrap();
        // Both hold a place while they handshake: a third is refused.
        let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert!(closed(&mut third).await);
        assert_eq!(stats.refused.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert!(closed(&mut silent).await);
        assert!(closed(&mut half).await);
        // Their places are free again.
        let mut ok = connect(addr, &ca, "main.test", &[]).await.unwrap();
        assert!(get(&mut ok).await);
    }

    #[tokio::test]
    async fn reloaded_certificate_for_new_connections_open_ones_keep_working() {
        let d = tmp("reload-serve");
        let (main, old_ca) = signed(&d, "main", &["main.test"]);
        let tls = Arc::new(Tls::load(vec![main]).unwrap());
        let (addr, _) = start(tls.clone(), limits()).await;
        let mut open = connect(addr, &old_ca, "main.test", &[]).await.unwrap();
        assert!(get(&mut open).await);
        let (_, new_ca) = signed(&d, "main", &["main.test"]);
        assert_eq!(tls.reload().0, 1);
        assert!(get(&mut open).await, "the open connection keeps working");
        assert!(connect(addr, &old_ca, "main.test", &[]).await.is_err());
        let mut fresh = connect(addr, &new_ca, "main.test", &[]).await.unwrap();
        assert!(get(&mut fresh).await);
    }

    /// A client certificate signed by `ca` (expired when asked), as rustls takes it.
    fn client_cert(
        ca: &rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
        expired: bool,
    ) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "a client");
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        if expired {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, ca).unwrap();
        (
            cert.der().clone(),
            PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
    }

    fn client_ca() -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        rcgen::CertifiedIssuer::self_signed(p, rcgen::KeyPair::generate().unwrap()).unwrap()
    }

    /// A listener whose service answers the length of the client certificate it was told of
    /// (`none` without one).
    async fn start_mtls(tls: Arc<Tls>) -> std::net::SocketAddr {
        use http_body_util::Full;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let make = |conn: crate::Conn| {
            let text = match conn.tls.and_then(|t| t.client_cert.clone()) {
                Some(der) => der.len().to_string(),
                None => "none".to_string(),
            };
            hyper::service::service_fn(move |_req: http::Request<hyper::body::Incoming>| {
                let text = text.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                        bytes::Bytes::from(text),
                    )))
                }
            })
        };
        tokio::spawn(crate::serve_tls(
            "test",
            listener,
            limits(),
            Arc::new(crate::Stats::default()),
            tls,
            make,
            std::future::pending(),
            Duration::from_secs(1),
        ));
        addr
    }

    /// `GET /` over a new connection presenting `cert`: the body, or `None` when the
    /// handshake or the exchange failed (a refused client certificate shows in TLS 1.3 only
    /// once the server's alert is read).
    async fn with_cert(
        addr: std::net::SocketAddr,
        server_ca: &CertificateDer<'static>,
        cert: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
        version: &'static rustls::SupportedProtocolVersion,
    ) -> Option<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut roots = rustls::RootCertStore::empty();
        roots.add(server_ca.clone()).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots);
        let config = match cert {
            Some((c, k)) => builder.with_client_auth_cert(vec![c], k).unwrap(),
            None => builder.with_no_client_auth(),
        };
        let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
        let name = rustls_pki_types::ServerName::try_from("main.test").unwrap();
        let mut s = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .ok()?;
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .ok()?;
        let mut buf = vec![0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .ok()?
            .ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        text.split("\r\n\r\n").nth(1).map(str::to_string)
    }

    #[tokio::test]
    async fn client_certificates_of_the_ca_are_passed_on_others_fail_and_the_ca_reloads() {
        let d = tmp("mtls");
        let (main, server_ca) = signed(&d, "main", &["main.test"]);
        let (ca, other_ca) = (client_ca(), client_ca());
        let ca_file = d.join("clients.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let tls =
            Arc::new(Tls::load_with_client_ca(vec![main.clone()], Some(ca_file.clone())).unwrap());
        let addr = start_mtls(tls.clone()).await;
        for v in [&rustls::version::TLS13, &rustls::version::TLS12] {
            let good = client_cert(&ca, false);
            let len = good.0.len().to_string();
            assert_eq!(with_cert(addr, &server_ca, Some(good), v).await, Some(len));
            // No certificate: allowed here (an API decides), and the service is told so.
            assert_eq!(
                with_cert(addr, &server_ca, None, v).await.as_deref(),
                Some("none")
            );
            let (other, expired) = (client_cert(&other_ca, false), client_cert(&ca, true));
            assert_eq!(with_cert(addr, &server_ca, Some(other), v).await, None);
            assert_eq!(with_cert(addr, &server_ca, Some(expired), v).await, None);
        }
        // Without a CA file no certificate is asked for: one is never passed on.
        let plain = start_mtls(Arc::new(Tls::load(vec![main]).unwrap())).await;
        let good = client_cert(&ca, false);
        assert_eq!(
            with_cert(plain, &server_ca, Some(good), &rustls::version::TLS13)
                .await
                .as_deref(),
            Some("none")
        );

        // The CA file replaced: the other CA's clients get in, the first CA's do not; a bad
        // file keeps the CA in use and is reported once.
        assert_eq!(tls.reload().0, 0);
        std::fs::write(&ca_file, other_ca.pem()).unwrap();
        let (n, errors) = tls.reload();
        assert_eq!((n, errors.len()), (1, 0));
        let v = &rustls::version::TLS13;
        assert!(
            with_cert(addr, &server_ca, Some(client_cert(&other_ca, false)), v)
                .await
                .is_some()
        );
        assert_eq!(
            with_cert(addr, &server_ca, Some(client_cert(&ca, false)), v).await,
            None
        );
        std::fs::write(&ca_file, "not pem").unwrap();
        let (n, errors) = tls.reload();
        assert_eq!((n, errors.len()), (0, 1));
        assert_eq!(
            (errors[0].which, &errors[0].path),
            (Which::ClientCa, &ca_file)
        );
        assert_eq!(
            tls.reload().1.len(),
            0,
            "the same bad file is reported once"
        );
        assert!(
            with_cert(addr, &server_ca, Some(client_cert(&other_ca, false)), v)
                .await
                .is_some()
        );
    }

    #[test]
    fn a_bad_client_ca_file_is_named() {
        let d = tmp("mtls-bad");
        let (main, _) = signed(&d, "main", &["main.test"]);
        let ca_file = d.join("clients.pem");
        for (what, text) in [
            ("not PEM", Some("not pem".to_string())),
            ("empty", Some(String::new())),
            (
                "a key",
                Some(rcgen::KeyPair::generate().unwrap().serialize_pem()),
            ),
            ("missing", None),
        ] {
            match &text {
                Some(t) => std::fs::write(&ca_file, t).unwrap(),
                None => {
                    let _ = std::fs::remove_file(&ca_file);
                }
            }
            let e =
                Tls::load_with_client_ca(vec![main.clone()], Some(ca_file.clone())).unwrap_err();
            assert_eq!(
                (e.which, &e.path),
                (Which::ClientCa, &ca_file),
                "{what}: {e}"
            );
        }
    }
}
