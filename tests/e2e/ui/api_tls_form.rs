//! The API editor's TLS fields (`upstream_tls`) in a real browser: an API with an https
//! upstream created through the form (a server name that is no host name and a client
//! certificate without its key refused first, each message beside its field; verification off
//! shows a warning), read back through the admin API with exactly the fields set; an edit of
//! another field keeps `upstream_tls` whole, and turning verification back on drops `verify`
//! from the stored body. Screenshot: `target/screenshots/admin-api-tls-new.png`.

use super::browser::{Browser, LAPTOP};
use crate::admin::add_user;
use crate::helpers::*;
use serde_json::{json, Value};
use std::time::Duration;

const PW: &str = "correct-horse-battery-tls";
const TALL: (u32, u32) = (1366, 2600);

/// `GET /api/v1/apis/<id>` from the page: the stored entity.
async fn stored(b: &Browser, id: &str) -> Value {
    let (status, body) = b.fetch("GET", &format!("/api/v1/apis/{id}")).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

async fn checked(b: &Browser, css: &str) -> bool {
    b.find(css).await;
    b.client
        .execute(
            "return document.querySelector(arguments[0]).checked;",
            vec![json!(css)],
        )
        .await
        .unwrap()
        .as_bool()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_with_upstream_tls_is_created_in_the_form_and_kept_by_edits() {
    let site = Site::new(
        "ui_api_tls",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    site.migrate().await;
    add_user(&site, "u-admin", "admin", PW);
    let _up = site.start("up").await;
    let anon = crate::admin::Api::anonymous(site.dashboards);
    for _ in 0..300 {
        if anon.call("GET", "/readyz", None, &[]).await.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let b = Browser::start(site.dashboards).await;
    b.log_in("u-admin", PW).await;
    b.open("config").await;
    b.click("#api-new").await;
    b.find("#api-form").await;
    b.fill("#f-api-id", "partner").await;
    b.fill("#f-api-name", "Partner").await;
    b.fill("#f-api-match", "/partner").await;
    b.fill("#f-up-url-0", "https://partner.example:8443").await;
    // On by default, no warning.
    assert!(checked(&b, "#api-tls-verify").await);
    assert!(b.body_text().await.find("Verification is off").is_none());

    // A server name that is no host name, then a client certificate without its key: each
    // refused by the API, its message beside its field.
    b.fill("#f-api-tls-ca", "/etc/gatewatch/partner-ca.pem")
        .await;
    b.fill("#f-api-tls-server-name", "api.partner.example/x y")
        .await;
    b.fill("#f-api-tls-cert", "/etc/gatewatch/partner-client.pem")
        .await;
    b.click("#api-save").await;
    let msg = b
        .wait_text(
            ".field-error #f-api-tls-server-name-error",
            "not a host name",
        )
        .await;
    println!("beside the server name: {msg}");
    b.fill("#f-api-tls-server-name", "api.partner.example")
        .await;
    b.click("#api-save").await;
    let msg = b
        .wait_text(".field-error #f-api-tls-key-error", "cert_file")
        .await;
    println!("beside the key file: {msg}");
    b.fill("#f-api-tls-key", "/etc/gatewatch/partner-client-key.pem")
        .await;

    // Verification off: a warning, in view of the checkbox.
    b.press("#api-tls-verify").await;
    b.wait_text("#api-tls-verify-warning", "Verification is off")
        .await;
    b.resize(TALL).await;
    b.screenshot("admin-api-tls-new").await;
    b.resize(LAPTOP).await;
    b.click("#api-save").await;
    b.wait_text("#api-table", "Partner").await;

    // Read back through the API: exactly what the form set, and nothing in the JSON box's
    // place.
    let e = stored(&b, "partner").await;
    assert_eq!(
        e["body"]["upstream_tls"],
        json!({
            "ca_file": "/etc/gatewatch/partner-ca.pem",
            "server_name": "api.partner.example",
            "cert_file": "/etc/gatewatch/partner-client.pem",
            "key_file": "/etc/gatewatch/partner-client-key.pem",
            "verify": false,
        }),
        "{e}"
    );
    assert_eq!(e["version"], json!(1), "{e}");

    // Editing another field keeps upstream_tls: the form shows it (not in the JSON box) and
    // sends it back whole.
    b.open("config?tab=apis&id=partner&view=edit").await;
    b.find("#api-form").await;
    assert_eq!(
        b.value("#f-api-tls-ca").await,
        "/etc/gatewatch/partner-ca.pem"
    );
    assert_eq!(
        b.value("#f-api-tls-server-name").await,
        "api.partner.example"
    );
    assert_eq!(
        b.value("#f-api-tls-cert").await,
        "/etc/gatewatch/partner-client.pem"
    );
    assert_eq!(
        b.value("#f-api-tls-key").await,
        "/etc/gatewatch/partner-client-key.pem"
    );
    assert!(!checked(&b, "#api-tls-verify").await);
    b.wait_text("#api-tls-verify-warning", "Verification is off")
        .await;
    assert!(
        !b.value("#f-api-rest").await.contains("upstream_tls"),
        "upstream_tls is in the form, not the JSON box"
    );
    b.fill("#f-api-name", "Partner v2").await;
    b.click("#api-save").await;
    b.wait_text("#api-table", "Partner v2").await;
    let e2 = stored(&b, "partner").await;
    assert_eq!(e2["version"], json!(2), "{e2}");
    assert_eq!(
        e2["body"]["upstream_tls"], e["body"]["upstream_tls"],
        "{e2}"
    );

    // Verification back on, the server name cleared: both leave the stored body.
    b.open("config?tab=apis&id=partner&view=edit").await;
    b.find("#api-form").await;
    assert_eq!(b.value("#f-api-name").await, "Partner v2");
    b.press("#api-tls-verify").await;
    b.wait_js(
        "the warning goes with verification on",
        "!document.querySelector('#api-tls-verify-warning')",
    )
    .await;
    b.fill("#f-api-tls-server-name", "").await;
    b.click("#api-save").await;
    b.wait_js(
        "back on the list",
        "document.querySelector('#api-table') && !document.querySelector('#api-form')",
    )
    .await;
    let e3 = stored(&b, "partner").await;
    assert_eq!(e3["version"], json!(3), "{e3}");
    assert_eq!(
        e3["body"]["upstream_tls"],
        json!({
            "ca_file": "/etc/gatewatch/partner-ca.pem",
            "cert_file": "/etc/gatewatch/partner-client.pem",
            "key_file": "/etc/gatewatch/partner-client-key.pem",
        }),
        "{e3}"
    );
    b.assert_no_csp_violations().await;
    b.close().await;
}
