//! `https://` upstreams registered in the configuration log, through the real binary, counted
//! in ClickHouse: a private CA trusted via `upstream_tls.ca_file`, the same upstream untrusted
//! (502 `upstream_unreachable`, `tls:` reason, every call recorded), `verify = false` (200 and
//! the warning in the gateway's log), and one TLS connection for many calls.

use crate::helpers::*;
use gatewatch_model::EntityKind;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A TLS upstream with a certificate for 127.0.0.1 signed by a CA made now (its PEM returned);
/// counts accepted connections.
async fn tls_upstream() -> (SocketAddr, String, Arc<AtomicUsize>) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from_pem_slice(cert.pem().as_bytes()).unwrap()],
        PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            count.fetch_add(1, SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new(http_body_util::Full::new(
                        bytes::Bytes::from_static(b"{\"tls\":true}"),
                    )))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (addr, ca.pem(), accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstreams_trusted_untrusted_and_unverified_are_answered_and_recorded() {
    let (up, ca_pem, accepted) = tls_upstream().await;
    let site = Site::new(
        "upstream_tls",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let ca_file = site.dir.path().join("upstream-ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let store = site.migrate().await;
    let url = format!("https://{up}");
    for (id, tls) in [
        (
            "trusted",
            serde_json::json!({"ca_file": ca_file.to_string_lossy()}),
        ),
        ("untrusted", serde_json::Value::Null),
        ("unverified", serde_json::json!({"verify": false})),
    ] {
        let mut body = serde_json::json!({"name": id, "prefix": format!("/{id}"),
            "upstreams": [url], "strip_prefix": true});
        if !tls.is_null() {
            body["upstream_tls"] = tls;
        }
        put_entity(&store, EntityKind::Api, id, &body).await;
    }
    let _collector = site.start("collector").await;
    let gateway = site.start("gateway").await;

    let n = 20;
    let trusted = drive(&site.url(""), &["/trusted/x"], n, 1, Duration::ZERO).await;
    assert_eq!(trusted.get(&200), Some(&n), "{trusted:?}");
    // One at a time over kept-alive TLS: one connection for all of them.
    assert_eq!(accepted.load(SeqCst), 1);
    let untrusted = drive(&site.url(""), &["/untrusted/x"], n, 4, Duration::ZERO).await;
    assert_eq!(untrusted.get(&502), Some(&n), "{untrusted:?}");
    let unverified = drive(&site.url(""), &["/unverified/x"], n, 1, Duration::ZERO).await;
    assert_eq!(unverified.get(&200), Some(&n), "{unverified:?}");

    let n = n as u64;
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE api_id = 'trusted' AND status = 200 AND outcome = 'ok'",
        n,
        30,
    )
    .await;
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE api_id = 'untrusted' AND status = 502 AND outcome = 'upstream_unreachable' AND position(error, 'tls: invalid peer certificate: UnknownIssuer') > 0",
        n,
        30,
    )
    .await;
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE api_id = 'unverified' AND status = 200",
        n,
        30,
    )
    .await;
    // Sent 3n, found 3n: nothing more.
    assert_eq!(
        store
            .fetch_u64("SELECT count() FROM api_calls")
            .await
            .unwrap(),
        3 * n
    );
    let log = gateway.log_text();
    assert!(
        log.contains("upstream_tls.verify = false") && log.contains("unverified"),
        "{log}"
    );
}

/// The admin API checks the form of `upstream_tls` (the files are the gateway's to read):
/// each bad field is a 422 naming it, nothing stored; a good one is stored and read back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_names_bad_upstream_tls_fields_and_stores_good_ones() {
    use crate::admin::{add_user, Api};
    let site = Site::new(
        "upstream_tls_admin",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    add_user(&site, "root", "admin", "a long test password");
    let _dash = site.start("dashboards").await;
    let admin = Api::login(site.dashboards, "root", "a long test password").await;
    let api = |tls: serde_json::Value| {
        serde_json::json!({"id": "pay", "name": "pay", "prefix": "/pay",
            "upstreams": ["https://pay.example:8443"], "upstream_tls": tls})
    };
    for (tls, field) in [
        (
            serde_json::json!({"cert_file": "/c.pem"}),
            "upstream_tls.key_file",
        ),
        (
            serde_json::json!({"key_file": "/k.pem"}),
            "upstream_tls.cert_file",
        ),
        (serde_json::json!({"ca_file": ""}), "upstream_tls.ca_file"),
        (
            serde_json::json!({"server_name": "a b"}),
            "upstream_tls.server_name",
        ),
        (
            serde_json::json!({"server_name": "x/../y"}),
            "upstream_tls.server_name",
        ),
        (serde_json::json!({"verify": "no"}), "upstream_tls"),
        (serde_json::json!({"ca_fle": "/x"}), "upstream_tls"),
        (serde_json::json!("yes"), "upstream_tls"),
    ] {
        let r = admin.post("/api/v1/apis", api(tls.clone())).await;
        assert_eq!(r.status, 422, "{tls}: {}", r.text);
        let named = r.body["error"]["field"].as_str().unwrap_or_default();
        assert!(named.starts_with(field), "{tls}: {}", r.text);
    }
    assert_eq!(
        store
            .fetch_u64("SELECT count() FROM config_log WHERE id = 'pay'")
            .await
            .unwrap(),
        0,
        "nothing stored"
    );
    let good = serde_json::json!({"ca_file": "/etc/gatewatch/pay-ca.pem",
        "server_name": "pay.internal", "verify": false});
    let r = admin.post("/api/v1/apis", api(good.clone())).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = admin.call("GET", "/api/v1/apis/pay", None, &[]).await;
    assert_eq!(r.body["body"]["upstream_tls"], good, "{}", r.text);
}
