//! The web UI over `[dashboards.tls]` in a real Chromium: the test's certificate is trusted by
//! its public key (`--ignore-certificate-errors-spki-list`: that one certificate, not every
//! error), the login page logs in over https, and the session cookie the browser keeps is
//! `Secure` (read through WebDriver's cookie store, not from the answer's header).

use super::browser::Browser;
use crate::admin::add_user;
use crate::dashboards_tls::tls_site;
use base64::Engine as _;
use sha2::Digest as _;

const PW: &str = "correct-horse-battery";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_logs_in_over_https_and_keeps_a_secure_session_cookie() {
    let (site, tls, ca) = tls_site("ui_tls_login");
    site.migrate().await;
    add_user(&site, "u-admin", "admin", PW);
    let _dash = site.start("dashboards").await;
    let spki = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&ca.spki_der));
    let b = Browser::start_with(
        format!("https://localhost:{}", tls.port()),
        &[format!("--ignore-certificate-errors-spki-list={spki}")],
    )
    .await;
    b.log_in("u-admin", PW).await;
    b.wait_text("#user-name", "u-admin").await;
    b.wait_js("the page is on https", "location.protocol === 'https:'")
        .await;
    let cookies = b.client.get_all_cookies().await.unwrap();
    assert!(!cookies.is_empty(), "no cookie after the login");
    for c in &cookies {
        assert_eq!(c.secure(), Some(true), "{c:?}");
        assert_eq!(c.http_only(), Some(true), "{c:?}");
    }
    // The session holds: the API answers with the cookie over https.
    let (status, me) = b.fetch("GET", "/api/v1/me").await;
    assert_eq!(status, 200, "{me}");
    b.screenshot("tls-login").await;
    b.close().await;
}
