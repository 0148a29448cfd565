//! Client certificates (mTLS) in the running binary: `[gateway.tls] client_ca_file` makes the
//! TLS listener ask for a certificate; an API with `auth = ["mtls"]` needs one that a client
//! lists in `certificates` (SHA-256 of the DER). Everything is set up through the admin API, as
//! an admin would: accepted calls are recorded with the fingerprint and the client; each
//! refusal has its code; a certificate of another CA, or an expired one, fails the handshake;
//! `["mtls", "api_key"]` needs both, of one client; malformed and shared fingerprints are
//! refused 422 naming the field; removing a fingerprint stops new calls; a bad CA file exits 2
//! naming `gateway.tls.client_ca_file`.

use crate::admin::{add_user, Api};
use crate::helpers::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{json, Value};
use sha2::Digest;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

const PW: &str = "a long test password";

/// A CA made by the test.
struct Ca {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} CA"));
        let issuer =
            rcgen::CertifiedIssuer::self_signed(p, rcgen::KeyPair::generate().unwrap()).unwrap();
        Ca { issuer }
    }

    fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf for `names` (a server certificate when `names` is not empty).
    fn leaf(&self, cn: &str, names: &[&str], expired: bool) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let server = !names.is_empty();
        let mut p = rcgen::CertificateParams::new(names).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        p.extended_key_usages = vec![if server {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        }];
        if expired {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            der: cert.der().clone(),
            pem: cert.pem(),
            key_der: key.serialize_der(),
            key_pem: key.serialize_pem(),
        }
    }
}

struct Leaf {
    der: CertificateDer<'static>,
    pem: String,
    key_der: Vec<u8>,
    key_pem: String,
}

impl Leaf {
    /// `sha256:<hex of the DER>`, as `openssl x509 -outform der | sha256sum` prints it.
    fn fingerprint(&self) -> String {
        let d = sha2::Sha256::digest(self.der.as_ref());
        let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;
type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

/// A TLS connection trusting `server_ca`, presenting `client` when given.
async fn connect(
    addr: SocketAddr,
    server_ca: &CertificateDer<'static>,
    client: Option<&Leaf>,
) -> std::io::Result<Tls> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server_ca.clone()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match client {
        Some(c) => builder
            .with_client_auth_cert(
                vec![c.der.clone()],
                PrivateKeyDer::Pkcs8(c.key_der.clone().into()),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let tcp = TcpStream::connect(addr).await?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

async fn http1(stream: Tls) -> Sender {
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

/// One GET with optional headers: status and the error code of the body (or an error text).
async fn get(
    sender: &mut Sender,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(u16, String), String> {
    sender.ready().await.map_err(|e| e.to_string())?;
    let mut req = hyper::Request::get(path).header("host", "localhost");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = sender
        .send_request(req.body(Empty::new()).unwrap())
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let body = r.into_body().collect().await.map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_slice(&body.to_bytes()).unwrap_or(Value::Null);
    Ok((
        status,
        v["error"]["code"].as_str().unwrap_or("").to_string(),
    ))
}

/// One GET on a new connection presenting `client`.
async fn call(
    addr: SocketAddr,
    server_ca: &CertificateDer<'static>,
    client: Option<&Leaf>,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(u16, String), String> {
    let s = connect(addr, server_ca, client)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    get(&mut http1(s).await, path, headers).await
}

/// One GET on the plain listener.
async fn plain(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<Bytes>>();
    let mut req = hyper::Request::get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = client
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (
        status,
        v["error"]["code"].as_str().unwrap_or("").to_string(),
    )
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A site with `[gateway.tls]` (a server certificate of `server_ca`) asking for client
/// certificates of `client_ca_file`.
fn mtls_site(name: &str, server_ca: &Ca, client_ca: &Ca) -> (Site, SocketAddr) {
    let site = Site::new(name, &gatewatch_migrations::testing::clickhouse_url(), "");
    let tls_dir = site.dir.path().join("tls");
    let server = server_ca.leaf("gateway", &["localhost", "127.0.0.1"], false);
    write(&tls_dir.join("cert.pem"), &server.pem);
    write(&tls_dir.join("key.pem"), &server.key_pem);
    write(&tls_dir.join("clients-ca.pem"), &client_ca.pem());
    let tls: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut cfg = std::fs::read_to_string(site.config_path()).unwrap();
    cfg.push_str(&format!(
        "\n[gateway.tls]\nlisten = \"{tls}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\nclient_ca_file = \"{}\"\n",
        tls_dir.join("cert.pem").display(),
        tls_dir.join("key.pem").display(),
        tls_dir.join("clients-ca.pem").display(),
    ));
    std::fs::write(site.config_path(), cfg).unwrap();
    // A kept-alive connection waits through the configuration's polls (revocation).
    site.tune("gateway", "header_read_timeout_ms = 120000");
    (site, tls)
}

/// Calls until the answer is `want` (the gateway reads the configuration log every second).
async fn until(
    addr: SocketAddr,
    server_ca: &CertificateDer<'static>,
    client: Option<&Leaf>,
    path: &str,
    headers: &[(&str, &str)],
    want: (u16, &str),
) {
    let t0 = Instant::now();
    loop {
        let got = call(addr, server_ca, client, path, headers).await;
        if got == Ok((want.0, want.1.to_string())) {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{path} still answers {got:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_are_required_matched_recorded_and_revoked() {
    let up = upstream().await;
    let (server_ca, client_ca, rogue_ca) =
        (Ca::new("server"), Ca::new("clients"), Ca::new("rogue"));
    let (site, tls) = mtls_site("gateway_mtls", &server_ca, &client_ca);
    let store = site.migrate().await;
    add_user(&site, "root", "admin", PW);
    let _col = site.start("collector").await;
    let _gw = site.start("gateway").await;
    let _dash = site.start("dashboards").await;
    let admin = Api::login(site.dashboards, "root", PW).await;
    let server = server_ca.der();

    let acme = client_ca.leaf("acme-1", &[], false);
    let beta = client_ca.leaf("beta-1", &[], false);
    let upper = client_ca.leaf("upper-1", &[], false);
    let lonely = client_ca.leaf("lonely-1", &[], false);
    let stray = client_ca.leaf("stray-1", &[], false);
    let expired = client_ca.leaf("acme-old", &[], true);
    let rogue = rogue_ca.leaf("acme-1", &[], false);

    let ok = |a: crate::admin::Answer, what: &str| {
        assert!(a.status < 300, "{what}: {} {}", a.status, a.text);
        a
    };
    let upstream = format!("http://{up}");
    for (id, prefix, auth) in [
        ("certs", "/m", json!(["mtls"])),
        ("both", "/mk", json!(["mtls", "api_key"])),
        ("keyed", "/k", json!(["api_key"])),
    ] {
        ok(
            admin
                .post(
                    "/api/v1/apis",
                    json!({"id": id, "name": id, "prefix": prefix, "upstreams": [upstream],
                        "strip_prefix": true, "auth": auth}),
                )
                .await,
            id,
        );
    }
    ok(
        admin
            .post(
                "/api/v1/groups",
                json!({"id": "std", "name": "Standard", "apis": ["certs", "both", "keyed"]}),
            )
            .await,
        "group",
    );
    // The upper-case fingerprint is taken and kept in lower case.
    let shouted = format!("sha256:{}", upper.fingerprint()[7..].to_uppercase());
    for (id, certs, groups) in [
        ("acme", json!([acme.fingerprint()]), json!(["std"])),
        ("beta", json!([beta.fingerprint()]), json!(["std"])),
        ("upper", json!([shouted]), json!(["std"])),
        ("lonely", json!([lonely.fingerprint()]), json!([])),
    ] {
        let a = ok(
            admin
                .post(
                    "/api/v1/clients",
                    json!({"id": id, "name": id, "groups": groups, "certificates": certs}),
                )
                .await,
            id,
        );
        assert_eq!(
            a.body["body"]["certificates"][0],
            json!(certs[0].as_str().unwrap().to_lowercase()),
            "{id}"
        );
    }
    let key = |client: &'static str| {
        let admin = admin.clone();
        async move {
            let a = admin
                .post(&format!("/api/v1/clients/{client}/keys"), json!({}))
                .await;
            assert_eq!(a.status, 201, "{}", a.text);
            a.body["secret"].as_str().unwrap().to_string()
        }
    };
    let (acme_key, beta_key) = (key("acme").await, key("beta").await);

    // Malformed fingerprints: 422 naming the entry; a fingerprint of another client, in any case,
    // names that client; more than 32 are refused.
    let fp = acme.fingerprint();
    for (certs, field, says) in [
        (json!(["sha256:xyz"]), "certificates[0]", ""),
        (
            json!([beta.fingerprint(), fp[..70].to_string()]),
            "certificates[1]",
            "",
        ),
        (json!([format!("sha1:{}", &fp[7..])]), "certificates[0]", ""),
        (json!([format!("{fp}0")]), "certificates[0]", ""),
        (json!([format!(" {fp}")]), "certificates[0]", ""),
        (
            json!([format!("SHA256:{}", &fp[7..])]),
            "certificates[0]",
            "",
        ),
        (json!([7]), "certificates[0]", ""),
        (json!(fp), "certificates", ""),
        (
            json!([
                stray.fingerprint(),
                fp.to_uppercase().replacen("SHA256", "sha256", 1)
            ]),
            "certificates[1]",
            "acme",
        ),
        (json!(vec![stray.fingerprint(); 33]), "certificates", "32"),
    ] {
        let a = admin
            .post(
                "/api/v1/clients",
                json!({"id": "bad", "name": "Bad", "certificates": certs}),
            )
            .await;
        assert_eq!(a.status, 422, "{certs}: {}", a.text);
        assert_eq!(a.body["error"]["field"], field, "{certs}: {}", a.text);
        assert!(a.text.contains(says), "{certs}: {}", a.text);
    }
    // The admin API refused them all: no client "bad".
    assert_eq!(
        admin
            .call("GET", "/api/v1/clients/bad", None, &[])
            .await
            .status,
        404
    );

    // Accepted: each on a new connection, and more on one kept-alive connection.
    until(tls, &server, Some(&acme), "/m/ok", &[], (200, "")).await;
    until(tls, &server, Some(&upper), "/m/ok", &[], (200, "")).await;
    // The keys reach the gateway with a later poll than the clients, perhaps.
    for k in [&acme_key, &beta_key] {
        until(tls, &server, None, "/k/ok", &[("x-api-key", k)], (200, "")).await;
    }
    let n: u64 = 6;
    let mut kept = http1(connect(tls, &server, Some(&acme)).await.unwrap()).await;
    for i in 0..n {
        assert_eq!(
            get(&mut kept, "/m/ok", &[]).await,
            Ok((200, String::new())),
            "call {i}"
        );
    }
    // A certificate is not needed on an API without "mtls" (and is not recorded there).
    assert_eq!(
        get(&mut kept, "/k/ok", &[("x-api-key", &acme_key)]).await,
        Ok((200, String::new()))
    );

    // Refusals: no certificate (TLS, plain), not listed, listed by a client without the grant.
    let no_cert = (401, "client_certificate_required".to_string());
    assert_eq!(
        call(tls, &server, None, "/m/ok", &[]).await,
        Ok(no_cert.clone())
    );
    assert_eq!(plain(&site.url("/m/ok"), &[]).await, no_cert);
    assert_eq!(
        plain(&site.url("/mk/ok"), &[("x-api-key", &acme_key)]).await,
        no_cert
    );
    assert_eq!(
        call(tls, &server, Some(&stray), "/m/ok", &[]).await,
        Ok((401, "unknown_certificate".into()))
    );
    assert_eq!(
        call(tls, &server, Some(&lonely), "/m/ok", &[]).await,
        Ok((403, "api_not_granted".into()))
    );
    // Another CA's certificate, and an expired one of the right CA: the handshake fails (the
    // server's alert arrives by the first request at the latest, in TLS 1.3).
    for (what, leaf) in [("rogue", &rogue), ("expired", &expired)] {
        let got = call(tls, &server, Some(leaf), "/m/ok", &[]).await;
        assert!(got.is_err(), "{what}: {got:?}");
    }

    // mtls + api_key: both, and of one client.
    for (cert, key_of, want) in [
        (Some(&acme), None, (401, "auth_required")),
        (Some(&acme), Some(&acme_key), (200, "")),
        (Some(&acme), Some(&beta_key), (401, "certificate_mismatch")),
        (Some(&beta), Some(&acme_key), (401, "certificate_mismatch")),
        (
            Some(&acme),
            Some(&"gwk_not_a_key".to_string()),
            (401, "invalid_credentials"),
        ),
        (None, Some(&acme_key), (401, "client_certificate_required")),
    ] {
        let headers: Vec<(&str, &str)> = key_of
            .map(|k| ("x-api-key", k.as_str()))
            .into_iter()
            .collect();
        assert_eq!(
            call(tls, &server, cert, "/mk/ok", &headers).await,
            Ok((want.0, want.1.to_string())),
            "{:?} {key_of:?}",
            cert.map(|c| c.fingerprint())
        );
    }

    // The records: the accepted calls with the fingerprint and the client, exactly.
    eventually(
        &store,
        &format!(
            "SELECT count() FROM api_calls WHERE api_id = 'certs' AND status = 200 \
             AND client_id = 'acme' AND client_cert = '{}'",
            acme.fingerprint()
        ),
        n + 1,
        30,
    )
    .await;
    eventually(
        &store,
        &format!(
            "SELECT count() FROM api_calls WHERE api_id = 'certs' AND status = 200 \
             AND client_id = 'upper' AND client_cert = '{}'",
            upper.fingerprint()
        ),
        1,
        30,
    )
    .await;
    eventually(
        &store,
        &format!(
            "SELECT count() FROM api_calls WHERE api_id = 'both' AND status = 200 \
             AND client_id = 'acme' AND client_cert = '{}' AND api_key_id != ''",
            acme.fingerprint()
        ),
        1,
        30,
    )
    .await;
    // Not an mtls API: no fingerprint in the record (acme called it once with its certificate,
    // once without; beta once).
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE api_id = 'keyed' AND status = 200 AND client_cert = ''",
        3,
        30,
    )
    .await;
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE api_id = 'keyed' AND client_id = 'acme'",
        2,
        30,
    )
    .await;
    // An unknown certificate: no client, no matched fingerprint; the error names the one seen.
    eventually(
        &store,
        &format!(
            "SELECT count() FROM api_calls WHERE api_id = 'certs' AND status = 401 \
             AND client_id = '' AND client_cert = '' AND position(error, 'unknown_certificate') = 1 \
             AND position(error, '{}') > 0",
            stray.fingerprint()
        ),
        1,
        30,
    )
    .await;
    // A mismatch names both clients in the record (the answer names none).
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE api_id = 'both' AND status = 401 \
         AND position(error, 'certificate_mismatch') = 1 AND position(error, 'beta') > 0 \
         AND position(error, 'acme') > 0",
        2,
        30,
    )
    .await;

    // Revoked: acme's fingerprint removed; new calls are refused, even on an open connection.
    let a = admin.call("GET", "/api/v1/clients/acme", None, &[]).await;
    let version = a.headers["etag"].to_str().unwrap().to_string();
    let r = admin
        .call(
            "PUT",
            "/api/v1/clients/acme",
            Some(&json!({"name": "acme", "groups": ["std"]}).to_string()),
            &[("if-match", &version)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    until(
        tls,
        &server,
        Some(&acme),
        "/m/ok",
        &[],
        (401, "unknown_certificate"),
    )
    .await;
    assert_eq!(
        get(&mut kept, "/m/ok", &[]).await,
        Ok((401, "unknown_certificate".into()))
    );
    // Now free, the fingerprint may be given to another client.
    let a = admin
        .post(
            "/api/v1/clients",
            json!({"id": "acme2", "name": "Acme 2", "groups": ["std"], "certificates": [acme.fingerprint()]}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    until(tls, &server, Some(&acme), "/m/ok", &[], (200, "")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_client_ca_file_exits_2_naming_the_key() {
    let (server_ca, client_ca) = (Ca::new("server"), Ca::new("clients"));
    let (site, _tls) = mtls_site("gateway_mtls_bad", &server_ca, &client_ca);
    let check = || {
        let out = gatewatch(
            &["config", "check", site.config_path().to_str().unwrap()],
            &site.config_path(),
        )
        .output()
        .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = check();
    assert_eq!(code, Some(0), "{err}");
    let ca_file = site.dir.path().join("tls/clients-ca.pem");
    let key_pem = client_ca.leaf("x", &[], false).key_pem;
    for (what, text) in [
        ("not PEM", Some("not a certificate")),
        ("no certificate", Some("")),
        ("a key, not a certificate", Some(key_pem.as_str())),
        ("missing", None),
    ] {
        match text {
            Some(t) => std::fs::write(&ca_file, t).unwrap(),
            None => {
                let _ = std::fs::remove_file(&ca_file);
            }
        }
        let (code, err) = check();
        assert_eq!(code, Some(2), "{what}: {err}");
        assert!(err.contains("gateway.tls.client_ca_file"), "{what}: {err}");
    }
}
