//! The dashboards over TLS (`[dashboards.tls]`) beside the plain listener, in the running
//! binary with a CA made by the test (reqwest trusting it): a login over https works and its
//! cookies (session and logout) are `Secure`, the same login over plain HTTP is not; the
//! session works over https; the peer address still reaches the audit rows; plain HTTP to the
//! TLS port gets no HTTP answer; a client that does not trust the CA is refused; new
//! certificate files are taken without a restart; a bad certificate file is a configuration
//! error naming the key.

use crate::admin::add_user;
use crate::helpers::*;
use crate::hop_certs::{config_check, plain_http_gets_no_answer, toml_path, TestCa};
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;

const PW: &str = "a long test password";

/// A site whose dashboards also listen over TLS (certificate in `dir/certs`); the TLS address.
pub fn tls_site(name: &str) -> (Site, SocketAddr, TestCa) {
    let site = Site::new(name, &gatewatch_migrations::testing::clickhouse_url(), "");
    let ca = TestCa::new(&site.dir.path().join("certs"), "dash");
    let tls: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut cfg = std::fs::read_to_string(site.config_path()).unwrap();
    cfg.push_str(&format!(
        "\n[dashboards.tls]\nlisten = \"{tls}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\nreload_interval_ms = 200\n",
        toml_path(&ca.cert),
        toml_path(&ca.key)
    ));
    std::fs::write(site.config_path(), cfg).unwrap();
    (site, tls, ca)
}

/// The `Set-Cookie` values of an answer.
fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn is_secure(set_cookie: &str) -> bool {
    set_cookie
        .split(';')
        .skip(1)
        .any(|a| a.trim().eq_ignore_ascii_case("secure"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_over_tls_log_in_with_secure_cookies_beside_the_plain_listener() {
    let (site, tls, ca) = tls_site("dashboards_tls");
    let https = format!("https://localhost:{}", tls.port());

    // A key that is not the certificate's: exit 2 naming the key.
    let good = std::fs::read_to_string(site.config_path()).unwrap();
    let other = TestCa::new(&site.dir.path().join("certs"), "other");
    std::fs::write(
        site.config_path(),
        good.replace(&toml_path(&ca.key), &toml_path(&other.key)),
    )
    .unwrap();
    let (code, text) = config_check(&site.config_path());
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("dashboards.tls.cert_file"), "{text}");
    std::fs::write(site.config_path(), good).unwrap();

    let store = site.migrate().await;
    add_user(&site, "root", "admin", PW);
    let mut dash = site.start("dashboards").await;
    let client = ca.reqwest();
    let login = json!({"user": "root", "password": PW});

    // Over https: logged in, and every cookie is Secure (the site's secure_cookies is false).
    let r = client
        .post(format!("{https}/api/v1/login"))
        .json(&login)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookies = set_cookies(&r);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(is_secure(&cookies[0]), "{cookies:?}");
    assert!(cookies[0].contains("HttpOnly"), "{cookies:?}");
    let body: serde_json::Value = r.json().await.unwrap();
    let session = cookies[0].split(';').next().unwrap().to_string();
    let csrf = body["csrf_token"].as_str().unwrap().to_string();
    // The session works over https.
    let me = client
        .get(format!("{https}/api/v1/me"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    // The peer address reached the handler: the login's audit row has it.
    eventually(
        &store,
        "SELECT count() FROM audit_log WHERE action = 'login' AND actor = 'root' AND client_ip = '127.0.0.1'",
        1,
        30,
    )
    .await;
    // Logging out clears the cookie, Secure too.
    let out = client
        .post(format!("{https}/api/v1/logout"))
        .header("cookie", &session)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let cleared = set_cookies(&out);
    assert!(cleared.len() == 1 && is_secure(&cleared[0]), "{cleared:?}");

    // The plain listener keeps serving, with cookies as configured (not Secure here).
    let r = reqwest::Client::new()
        .post(format!("http://{}/api/v1/login", site.dashboards))
        .json(&login)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let plain = set_cookies(&r);
    assert!(plain.len() == 1 && !is_secure(&plain[0]), "{plain:?}");
    // The web UI itself over https.
    let page = client.get(format!("{https}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);

    // A client that does not trust the CA is refused in the handshake.
    assert!(other
        .reqwest()
        .get(format!("{https}/healthz"))
        .send()
        .await
        .is_err());

    // Plain HTTP to the TLS port: no HTTP answer, the connection is closed.
    plain_http_gets_no_answer(
        tls,
        b"POST /api/v1/login HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}",
    )
    .await;
    // Both listeners still serve after that.
    let r = client.get(format!("{https}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = reqwest::Client::new()
        .get(format!("http://{}/healthz", site.dashboards))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // New certificate files are taken without a restart (as the gateway's).
    std::fs::copy(&other.cert, &ca.cert).unwrap();
    std::fs::copy(&other.key, &ca.key).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        // A new client each time: no kept-alive connection from before the change.
        if let Ok(r) = other.reqwest().get(format!("{https}/healthz")).send().await {
            assert_eq!(r.status(), 200);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new certificate was not loaded: {}",
            dash.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ca
        .reqwest()
        .get(format!("{https}/healthz"))
        .send()
        .await
        .is_err());
    // Both listeners stop on SIGTERM, and the process exits cleanly.
    dash.terminate();
}
