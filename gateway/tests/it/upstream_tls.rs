//! `https://` upstreams: a TLS server in the test (hyper on tokio-rustls) with certificates
//! made here by rcgen under a private CA; the gateway trusts it through `upstream_tls`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatewatch_gateway::{GatewayConfig, RouteConfig};
use gatewatch_model::api::UpstreamTls;
use gatewatch_model::ApiSpec;
use http::{Response, StatusCode};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::support::*;

/// A private CA and, signed by it, a server certificate for `localhost` and 127.0.0.1 and a
/// client certificate; all as PEM files in `dir`.
struct Pki {
    ca: PathBuf,
    server_cert: String,
    server_key: String,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn pki(dir: &Path) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client = CertificateParams::new(vec!["gateway.test".to_string()])
        .unwrap()
        .signed_by(&client_key, &ca)
        .unwrap();
    let write = |name: &str, pem: String| {
        let p = dir.join(name);
        std::fs::write(&p, pem).unwrap();
        p
    };
    Pki {
        ca: write("ca.pem", ca.pem()),
        server_cert: server.pem(),
        server_key: key.serialize_pem(),
        client_cert: write("client.pem", client.pem()),
        client_key: write("client.key", client_key.serialize_pem()),
    }
}

/// A TLS upstream answering 200 `tls ok` (and whether the client presented a certificate);
/// counts accepted TCP connections and completed handshakes.
struct TlsUpstream {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    handshakes: Arc<AtomicUsize>,
    /// Handshakes that resumed an earlier session.
    resumed: Arc<AtomicUsize>,
}

async fn tls_upstream(pki: &Pki, require_client_cert: bool) -> TlsUpstream {
    tls_upstream_closing(pki, require_client_cert, false).await
}

/// Like [`tls_upstream`]; with `close`, every answer closes its connection.
async fn tls_upstream_closing(pki: &Pki, require_client_cert: bool, close: bool) -> TlsUpstream {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = vec![CertificateDer::from_pem_slice(pki.server_cert.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(pki.server_key.as_bytes()).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&pki.ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder.with_single_cert(chain, key).unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let handshakes = Arc::new(AtomicUsize::new(0));
    let resumed = Arc::new(AtomicUsize::new(0));
    let (a, h, res) = (accepted.clone(), handshakes.clone(), resumed.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            a.fetch_add(1, SeqCst);
            let (acceptor, h, res) = (acceptor.clone(), h.clone(), res.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                h.fetch_add(1, SeqCst);
                let conn = tls.get_ref().1;
                if conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                    res.fetch_add(1, SeqCst);
                }
                let with_cert = conn.peer_certificates().is_some();
                let service = service_fn(move |_req| async move {
                    let body = format!("tls ok; client certificate: {with_cert}");
                    let mut r = Response::new(full(body));
                    if close {
                        r.headers_mut()
                            .insert(http::header::CONNECTION, "close".parse().unwrap());
                    }
                    Ok::<_, Infallible>(r)
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    TlsUpstream {
        addr,
        accepted,
        handshakes,
        resumed,
    }
}

/// A collector, and a gateway routing `/s` to `url` with `tls` and spooling under `dir`.
async fn gateway_to(
    dir: &Path,
    url: &str,
    tls: Option<UpstreamTls>,
) -> (Server, Arc<CollectorState>, Gateway) {
    let (c, state) = collector().await;
    let gw = Gateway::start(route(c.addr, &dir.join("spool"), url, tls)).await;
    (c, state, gw)
}

/// A gateway config routing `/s` to `upstream` with `tls`.
fn route(
    collector: SocketAddr,
    spool: &Path,
    upstream: &str,
    tls: Option<UpstreamTls>,
) -> GatewayConfig {
    let mut c = config(collector, spool);
    let mut spec = ApiSpec::prefixed("secure", "/s", &[upstream]);
    spec.upstream_tls = tls.map(Box::new);
    let mut r = RouteConfig::new("/s", [upstream]);
    r.api_id = "secure".into();
    r.spec = Some(Arc::new(spec));
    c.routes = vec![r];
    c
}

fn tls(ca: Option<&Path>) -> UpstreamTls {
    UpstreamTls {
        ca_file: ca.map(|p| p.to_string_lossy().into_owned()),
        server_name: None,
        cert_file: None,
        key_file: None,
        verify: true,
    }
}

/// Waits for `n` records at the collector, then checks that no more come.
async fn records(state: &CollectorState, n: usize) -> Vec<gatewatch_model::CallRecord> {
    eventually(10, "records shipped", || state.records().len() >= n).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = state.records();
    assert_eq!(r.len(), n, "sent {n} calls, found {} records", r.len());
    r
}

#[tokio::test]
async fn private_ca_via_ca_file_gives_200_and_reuses_one_tls_connection() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let up = tls_upstream(&pki, false).await;
    let url = format!("https://127.0.0.1:{}", up.addr.port());
    let (_c, state, gw) = gateway_to(dir.path(), &url, Some(tls(Some(&pki.ca)))).await;
    let n = 5;
    for _ in 0..n {
        let r = gw.get("/s/x").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(&r.body[..], b"tls ok; client certificate: false");
    }
    // Several calls, one connection and one handshake: the TLS session is kept alive.
    assert_eq!(up.accepted.load(SeqCst), 1);
    assert_eq!(up.handshakes.load(SeqCst), 1);
    let series = format!(
        "gatewatch_gateway_upstream_connections_opened_total{{api=\"secure\",upstream=\"{url}\"}}"
    );
    assert_eq!(gw.metric(&series).await, 1);
    let recs = records(&state, n).await;
    for r in &recs {
        assert_eq!(r.status, 200);
        assert_eq!(r.upstream, url);
        assert_eq!(r.error, "");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn untrusted_upstream_certificate_is_502_upstream_unreachable_with_a_tls_reason() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let up = tls_upstream(&pki, false).await;
    let url = format!("https://127.0.0.1:{}", up.addr.port());
    // No `upstream_tls`: the system's roots only, which do not hold the test's CA.
    let (_c, state, gw) = gateway_to(dir.path(), &url, None).await;
    let n = 3;
    for _ in 0..n {
        let r = tokio::time::timeout(Duration::from_secs(10), gw.get("/s/x"))
            .await
            .expect("an answer, not a hang");
        assert_eq!(r.status, StatusCode::BAD_GATEWAY);
        assert_eq!(r.json()["error"]["code"], "upstream_unreachable");
    }
    assert_eq!(up.handshakes.load(SeqCst), 0);
    let recs = records(&state, n).await;
    for r in &recs {
        assert_eq!(r.status, 502);
        assert_eq!(r.outcome.as_str(), "upstream_unreachable");
        assert!(r.error.contains("tls: "), "{}", r.error);
        assert!(r.error.contains("UnknownIssuer"), "{}", r.error);
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn a_wrong_server_name_is_502_with_a_tls_reason() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let up = tls_upstream(&pki, false).await;
    let (c, state) = collector().await;
    let url = format!("https://127.0.0.1:{}", up.addr.port());
    let mut t = tls(Some(&pki.ca));
    t.server_name = Some("other.example".into());
    let gw = Gateway::start(route(c.addr, &dir.path().join("spool"), &url, Some(t))).await;
    let r = gw.get("/s/x").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    let recs = records(&state, 1).await;
    assert_eq!(recs[0].outcome.as_str(), "upstream_unreachable");
    assert!(recs[0].error.contains("tls: "), "{}", recs[0].error);
    assert!(
        recs[0]
            .error
            .contains("not valid for name \"other.example\""),
        "{}",
        recs[0].error
    );
    gw.shutdown().await;

    // The name the certificate has, sent as SNI instead of the URL's host: 200.
    let (c, _state) = collector().await;
    let mut t = tls(Some(&pki.ca));
    t.server_name = Some("localhost".into());
    let gw = Gateway::start(route(c.addr, &dir.path().join("spool2"), &url, Some(t))).await;
    assert_eq!(gw.get("/s/x").await.status, StatusCode::OK);
    gw.shutdown().await;
}

/// Log lines written while the guard lives (this thread: the test's runtime is
/// current-thread, and the gateway loads its configuration on it).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn verify_false_gives_200_and_warns_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let up = tls_upstream(&pki, false).await;
    let (c, state) = collector().await;
    let url = format!("https://127.0.0.1:{}", up.addr.port());
    let mut t = tls(None);
    t.verify = false;
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::WARN)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let gw = Gateway::start(route(c.addr, &dir.path().join("spool"), &url, Some(t))).await;
    drop(guard);
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("WARN") && text.contains("upstream_tls.verify = false"),
        "{text}"
    );
    assert!(text.contains("secure"), "the warning names the API: {text}");
    let r = gw.get("/s/x").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(records(&state, 1).await[0].status, 200);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_client_certificate_from_cert_file_reaches_an_upstream_that_requires_one() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let up = tls_upstream(&pki, true).await;
    let url = format!("https://127.0.0.1:{}", up.addr.port());

    // Without one the upstream refuses the handshake: 502 with a tls reason.
    let (c, state) = collector().await;
    let gw = Gateway::start(route(
        c.addr,
        &dir.path().join("spool"),
        &url,
        Some(tls(Some(&pki.ca))),
    ))
    .await;
    let r = gw.get("/s/x").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    let recs = records(&state, 1).await;
    // TLS 1.3: the upstream's refusal arrives after the client's side of the handshake.
    assert_eq!(recs[0].outcome.as_str(), "upstream_unreachable");
    assert!(recs[0].error.contains("tls: "), "{}", recs[0].error);
    assert!(
        recs[0].error.contains("CertificateRequired"),
        "{}",
        recs[0].error
    );
    gw.shutdown().await;

    let (c, state) = collector().await;
    let mut t = tls(Some(&pki.ca));
    t.cert_file = Some(pki.client_cert.to_string_lossy().into_owned());
    t.key_file = Some(pki.client_key.to_string_lossy().into_owned());
    let gw = Gateway::start(route(c.addr, &dir.path().join("spool2"), &url, Some(t))).await;
    let r = gw.get("/s/x").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], b"tls ok; client certificate: true");
    assert_eq!(records(&state, 1).await[0].status, 200);
    gw.shutdown().await;
}

#[tokio::test]
async fn site_wide_upstream_ca_files_are_trusted_by_every_api() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let up = tls_upstream(&pki, false).await;
    let (c, _state) = collector().await;
    let url = format!("https://localhost:{}", up.addr.port());
    let mut config = route(c.addr, &dir.path().join("spool"), &url, None);
    config.upstream_ca_files = vec![pki.ca.clone()];
    let gw = Gateway::start(config).await;
    assert_eq!(gw.get("/s/x").await.status, StatusCode::OK);
    gw.shutdown().await;
}

#[tokio::test]
async fn unreadable_or_bad_tls_files_are_named_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let (c, _state) = collector().await;
    let spool = dir.path().join("spool");
    let url = "https://127.0.0.1:9";
    let start = |config: GatewayConfig| async move {
        match gatewatch_gateway::bind(config, std::future::pending::<()>()).await {
            Ok(_) => panic!("a bad TLS file was accepted"),
            Err(e) => e.to_string(),
        }
    };
    let missing = dir.path().join("missing.pem");
    let e = start(route(c.addr, &spool, url, Some(tls(Some(&missing))))).await;
    assert!(
        e.contains("upstream_tls.ca_file") && e.contains("cannot read"),
        "{e}"
    );
    // A key where the CA should be: not a certificate.
    let e = start(route(c.addr, &spool, url, Some(tls(Some(&pki.client_key))))).await;
    assert!(e.contains("upstream_tls.ca_file"), "{e}");
    let mut t = tls(None);
    t.cert_file = Some(pki.client_cert.to_string_lossy().into_owned());
    t.key_file = Some(pki.ca.to_string_lossy().into_owned());
    let e = start(route(c.addr, &spool, url, Some(t))).await;
    assert!(e.contains("upstream_tls.key_file"), "{e}");
    let mut config = route(c.addr, &spool, url, None);
    config.upstream_ca_files = vec![pki.ca.clone(), missing];
    let e = start(config).await;
    assert!(
        e.contains("upstream_ca_files[1]") && e.contains("cannot read"),
        "{e}"
    );
}

#[tokio::test]
async fn new_connections_resume_the_tls_session() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let up = tls_upstream_closing(&pki, false, true).await;
    let url = format!("https://127.0.0.1:{}", up.addr.port());
    let (_c, state, gw) = gateway_to(dir.path(), &url, Some(tls(Some(&pki.ca)))).await;
    let n = 4;
    for _ in 0..n {
        assert_eq!(gw.get("/s/x").await.status, StatusCode::OK);
    }
    // The upstream closes each connection: a handshake per call, all but the first resumed.
    assert_eq!(up.handshakes.load(SeqCst), n);
    assert_eq!(up.resumed.load(SeqCst), n - 1);
    records(&state, n).await;
    gw.shutdown().await;
}

#[tokio::test]
async fn an_upstream_that_never_answers_the_handshake_is_a_502_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    // Accepts TCP connections and holds them without a word.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let url = format!("https://{addr}");
    let (_c, state, gw) = gateway_to(dir.path(), &url, Some(tls(Some(&pki.ca)))).await;
    let r = tokio::time::timeout(Duration::from_secs(10), gw.get("/s/x"))
        .await
        .expect("an answer, not a hang");
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    let recs = records(&state, 1).await;
    assert_eq!(recs[0].outcome.as_str(), "upstream_unreachable");
    assert!(
        recs[0].error.contains("tls: no handshake within 1000 ms"),
        "{}",
        recs[0].error
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn health_checks_of_an_https_upstream_use_its_tls_settings() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let up = tls_upstream(&pki, false).await;
    let url = format!("https://127.0.0.1:{}", up.addr.port());
    let check = gatewatch_model::api::HealthCheck {
        path: "/health".into(),
        interval_ms: 100,
        timeout_ms: 100,
        healthy_threshold: 1,
        unhealthy_threshold: 1,
    };
    let series = format!("gatewatch_gateway_upstream_healthy{{api=\"secure\",upstream=\"{url}\"}}");
    for (ca, healthy) in [(Some(pki.ca.as_path()), 1), (None, 0)] {
        let (c, _state) = collector().await;
        let mut config = route(c.addr, &dir.path().join("spool"), &url, Some(tls(ca)));
        let mut spec = (**config.routes[0].spec.as_ref().unwrap()).clone();
        spec.health_check = Some(check.clone());
        config.routes[0].spec = Some(Arc::new(spec));
        let before = up.handshakes.load(SeqCst);
        let gw = Gateway::start(config).await;
        if healthy == 1 {
            // Checks pass: TLS connections of their own, one per check.
            eventually(10, "health checks over TLS", || {
                up.handshakes.load(SeqCst) >= before + 3
            })
            .await;
            assert_eq!(gw.metric(&series).await, 1);
        } else {
            eventually_async(10, "an untrusted upstream taken out", || async {
                gw.metric(&series).await == 0
            })
            .await;
        }
        gw.shutdown().await;
    }
}
