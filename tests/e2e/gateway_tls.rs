//! The gateway's TLS listener (`[gateway.tls]`) in the running binary, with certificates made
//! by `gatewatch cert self-signed`: HTTPS calls to a plain upstream are recorded like plain
//! ones (the upstream gets `X-Forwarded-Proto: https`); SNI picks the certificate; TLS 1.1, a client with no protocol in common and a handshake that
//! never ends are refused; certificates are reloaded under calls without a failed call; a bad
//! certificate at start exits 2 naming its key.

use crate::helpers::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(crate) type Tls = tokio_rustls::client::TlsStream<TcpStream>;

/// `gatewatch cert self-signed --out DIR --name …` (asserting it worked).
pub(crate) fn self_signed(dir: &Path, names: &[&str], force: bool) {
    let mut args = vec!["cert", "self-signed", "--out", dir.to_str().unwrap()];
    for n in names {
        args.extend(["--name", n]);
    }
    if force {
        args.push("--force");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatewatch"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) fn ca(dir: &Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(dir.join("ca.pem")).unwrap()
}

/// A TLS connection to `addr` asking for `name`, trusting `roots`, offering `alpn`.
pub(crate) async fn connect(
    addr: SocketAddr,
    roots: &[CertificateDer<'static>],
    name: &str,
    alpn: &[&[u8]],
) -> std::io::Result<Tls> {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store.add(r.clone()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(store)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(name.to_string()).unwrap(), tcp)
        .await
}

pub(crate) type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

/// HTTP/1.1 over an established TLS connection.
pub(crate) async fn http1(stream: Tls) -> Sender {
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

/// One GET on `sender`: the status, or an error text.
pub(crate) async fn get(sender: &mut Sender, path: &str) -> Result<u16, String> {
    sender.ready().await.map_err(|e| e.to_string())?;
    let req = hyper::Request::get(path)
        .header("host", "localhost")
        .body(Empty::new())
        .unwrap();
    let r = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    r.into_body().collect().await.map_err(|e| e.to_string())?;
    Ok(status)
}

/// An upstream answering 200 to every path with the `X-Forwarded-Proto` it got.
async fn proto_upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        let proto = req
                            .headers()
                            .get("x-forwarded-proto")
                            .map(|v| Bytes::copy_from_slice(v.as_bytes()))
                            .unwrap_or_default();
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(
                            http_body_util::Full::new(proto),
                        ))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// A site with one API (`/api` → [`proto_upstream`]) and `[gateway.tls]` on a free port
/// with the certificate in `site.dir/tls`; `extra` is added to `[gateway.tls]`.
pub(crate) async fn tls_site(name: &str, extra: &str) -> (Site, SocketAddr, PathBuf) {
    tls_site_to(name, extra, proto_upstream().await)
}

/// [`tls_site`] with `/api` → `up`.
pub(crate) fn tls_site_to(name: &str, extra: &str, up: SocketAddr) -> (Site, SocketAddr, PathBuf) {
    let site = Site::new(
        name,
        &gatewatch_migrations::testing::clickhouse_url(),
        &format!(
            "[[routes]]\nprefix = \"/api\"\nupstreams = [\"http://{up}\"]\nstrip_prefix = true\n"
        ),
    );
    let certs = site.dir.path().join("tls");
    self_signed(&certs, &["localhost", "127.0.0.1"], false);
    let tls: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut cfg = std::fs::read_to_string(site.config_path()).unwrap();
    cfg.push_str(&format!(
        "\n[gateway.tls]\nlisten = \"{tls}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n{extra}\n",
        certs.join("cert.pem").display(),
        certs.join("key.pem").display(),
    ));
    std::fs::write(site.config_path(), cfg).unwrap();
    (site, tls, certs)
}

/// Reads to the server's close (`true`), or gives up after 20 s (`false`).
async fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_calls_are_recorded_and_sni_alpn_versions_and_slow_handshakes_are_enforced() {
    let (site, tls, certs) = tls_site("gateway_tls_calls", "").await;
    // A second name with its own CA, by SNI.
    let other = site.dir.path().join("other");
    self_signed(&other, &["other.test"], false);
    let mut cfg = std::fs::read_to_string(site.config_path()).unwrap();
    cfg.push_str(&format!(
        "[[gateway.tls.certs]]\nserver_names = [\"other.test\"]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        other.join("cert.pem").display(),
        other.join("key.pem").display(),
    ));
    std::fs::write(site.config_path(), cfg).unwrap();
    site.tune("gateway", "header_read_timeout_ms = 1000");
    let store = site.migrate().await;
    let _col = site.start("collector").await;
    let _gw = site.start("gateway").await;
    let main_ca = [ca(&certs)];

    // N calls over HTTPS: some kept alive on one connection, the rest on new connections,
    // by both names of the certificate.
    let n = 30;
    let mut kept = http1(
        connect(tls, &main_ca, "localhost", &[b"http/1.1"])
            .await
            .unwrap(),
    )
    .await;
    for i in 0..n {
        let status = if i % 2 == 0 {
            get(&mut kept, "/api/ok").await
        } else {
            let name = if i % 4 == 1 { "localhost" } else { "127.0.0.1" };
            let s = connect(tls, &main_ca, name, &[b"http/1.1"]).await.unwrap();
            assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
            get(&mut http1(s).await, "/api/ok").await
        };
        assert_eq!(status, Ok(200), "call {i}");
    }
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE api_id = '/api' AND status = 200 AND outcome = 'ok'",
        n,
        30,
    )
    .await;
    // Each record says how the client connected (rustls prefers TLS 1.3 and AES-256-GCM).
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE http_version = 'HTTP/1.1' AND tls_version = 'TLSv1.3' \
         AND tls_cipher = 'TLS13_AES_256_GCM_SHA384' AND client_cert = ''",
        n,
        30,
    )
    .await;

    // The upstream is told the client came over HTTPS (and over HTTP on the plain port).
    // (A new connection: the kept one idled past header_read_timeout_ms, 1 s here.)
    let mut fresh = http1(connect(tls, &main_ca, "localhost", &[]).await.unwrap()).await;
    fresh.ready().await.unwrap();
    let r = fresh
        .send_request(
            hyper::Request::get("/api/proto")
                .header("host", "localhost")
                .body(Empty::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        &r.into_body().collect().await.unwrap().to_bytes()[..],
        b"https"
    );

    // SNI: other.test gets its own certificate (trusted by its CA only).
    let mut s = http1(
        connect(tls, &[ca(&other)], "other.test", &[])
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(get(&mut s, "/api/ok").await, Ok(200));
    assert!(connect(tls, &main_ca, "other.test", &[]).await.is_err());
    assert!(connect(tls, &[ca(&other)], "localhost", &[]).await.is_err());

    // No common ALPN protocol: refused in the handshake (HTTP/2: `gateway_h2.rs`).
    assert!(connect(tls, &main_ca, "localhost", &[b"spdy/3.1"])
        .await
        .is_err());

    // A TLS 1.1 ClientHello (version 3.2, TLS 1.0/1.1 suites only): an alert, then closed.
    let mut body = vec![0x03, 0x02];
    body.extend_from_slice(&[7u8; 32]);
    body.extend_from_slice(&[0x00, 0x00, 0x04, 0xc0, 0x13, 0x00, 0x2f, 0x01, 0x00]);
    let mut hs = vec![0x01, 0x00, 0x00, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x02, 0x00, hs.len() as u8];
    record.extend_from_slice(&hs);
    let mut old = TcpStream::connect(tls).await.unwrap();
    old.write_all(&record).await.unwrap();
    let mut first = [0u8; 1];
    let got = old.read(&mut first).await.unwrap_or(0);
    assert!(
        got == 0 || first[0] == 0x15,
        "an alert or a close, not a ServerHello"
    );
    assert!(closed(&mut old).await);

    // A handshake that never ends (half a ClientHello, and silence) is closed.
    let mut slow = TcpStream::connect(tls).await.unwrap();
    slow.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .unwrap();
    let mut silent = TcpStream::connect(tls).await.unwrap();
    assert!(closed(&mut slow).await);
    assert!(closed(&mut silent).await);

    // The plain listener still serves, and the refusals above made no record.
    assert_eq!(get_plain(&site.url("/api/ok")).await, (200, "http".into()));
    eventually(&store, "SELECT count() FROM api_calls", n + 3, 30).await;
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE http_version = 'HTTP/1.1' AND tls_version = '' AND tls_cipher = ''",
        1,
        30,
    )
    .await;
}

async fn get_plain(url: &str) -> (u16, String) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<Bytes>>();
    let r = client.get(url.parse().unwrap()).await.unwrap();
    let status = r.status().as_u16();
    let body = r.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_certificate_files_are_loaded_under_calls_with_no_failed_call() {
    let (site, tls, certs) = tls_site("gateway_tls_reload", "reload_interval_ms = 200").await;
    let store = site.migrate().await;
    let _col = site.start("collector").await;
    let _gw = site.start("gateway").await;
    // The next certificate, from another CA, made aside; the client trusts both CAs.
    let next = site.dir.path().join("next");
    self_signed(&next, &["localhost", "127.0.0.1"], false);
    let (old_ca, new_ca) = (ca(&certs), ca(&next));
    let roots = [old_ca.clone(), new_ca.clone()];
    let new_leaf = CertificateDer::pem_file_iter(next.join("cert.pem"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();

    let mut kept = http1(connect(tls, &roots, "localhost", &[]).await.unwrap()).await;
    let (mut calls, mut failed, mut new_seen) = (0u64, Vec::new(), 0);
    for i in 0..2000 {
        if i == 20 {
            // Replaced in place, the certificate first: for a moment the key does not match
            // (the gateway keeps the old pair and logs it).
            std::fs::copy(next.join("cert.pem"), certs.join("cert.pem")).unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            std::fs::copy(next.join("key.pem"), certs.join("key.pem")).unwrap();
        }
        // Every call on a new connection, and one on the kept-alive connection.
        match connect(tls, &roots, "127.0.0.1", &[]).await {
            Ok(s) => {
                let leaf = s.get_ref().1.peer_certificates().unwrap()[0].clone();
                calls += 1;
                match get(&mut http1(s).await, "/api/ok").await {
                    Ok(200) => {}
                    other => failed.push(format!("call {i}: {other:?}")),
                }
                if leaf == new_leaf {
                    new_seen += 1;
                }
            }
            Err(e) => failed.push(format!("connect {i}: {e}")),
        }
        calls += 1;
        if get(&mut kept, "/api/ok").await != Ok(200) {
            failed.push(format!("kept-alive call {i}"));
        }
        if new_seen >= 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(failed.is_empty(), "{failed:?}");
    assert!(
        new_seen >= 20,
        "new connections never saw the new certificate"
    );
    // Only the new CA is needed now.
    let mut s = http1(connect(tls, &[new_ca], "localhost", &[]).await.unwrap()).await;
    assert_eq!(get(&mut s, "/api/ok").await, Ok(200));
    assert!(connect(tls, &[old_ca], "localhost", &[]).await.is_err());
    eventually(&store, "SELECT count() FROM api_calls", calls + 1, 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_certificate_at_start_exits_2_naming_the_key() {
    let (site, _tls, certs) = tls_site("gateway_tls_bad", "").await;
    let check = |args: &[&str]| {
        let out = gatewatch(args, &site.config_path()).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let path = site.config_path();
    let file = path.to_str().unwrap();
    let (code, _, err) = check(&["config", "check", file]);
    assert_eq!(code, Some(0), "{err}");
    let (code, shown, err) = check(&["config", "show"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(shown.contains("[gateway.tls]"), "{shown}");
    assert!(shown.contains("GATEWATCH_GATEWAY_TLS_CERT_FILE"), "{shown}");

    // A key of another certificate: named as the certificate's key.
    let other = site.dir.path().join("other");
    self_signed(&other, &["localhost"], false);
    std::fs::copy(other.join("key.pem"), certs.join("key.pem")).unwrap();
    for args in [&["config", "check", file][..], &["gateway"][..]] {
        let (code, _, err) = check(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains("gateway.tls.cert_file"), "{args:?}: {err}");
    }
    // Not PEM, and missing.
    std::fs::write(certs.join("cert.pem"), "not a certificate").unwrap();
    let (code, _, err) = check(&["gateway"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("gateway.tls.cert_file"), "{err}");
    std::fs::remove_file(certs.join("key.pem")).unwrap();
    self_signed(&certs, &["localhost"], true);
    std::fs::remove_file(certs.join("key.pem")).unwrap();
    let (code, _, err) = check(&["gateway"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("gateway.tls.key_file"), "{err}");
}
