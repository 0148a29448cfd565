//! Client certificates in the config page, in a real browser: `mtls` among an API's accepted
//! credentials; a client's certificates typed one per line (as `sha256:<hex>`, in upper case,
//! or as `sha256sum` prints them), a malformed line and another client's certificate each named
//! by its line beside the box. Screenshots: `target/screenshots/admin-mtls-*.png`.

use super::browser::Browser;
use crate::admin::{add_user, Api};
use crate::helpers::*;
use serde_json::json;

const PW: &str = "correct-horse-battery";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_lists_client_certificates_and_requires_them_on_an_api() {
    let site = Site::new(
        "ui_mtls",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    site.migrate().await;
    add_user(&site, "u-admin", "admin", PW);
    let _dash = site.start("dashboards").await;
    let api = Api::login(site.dashboards, "u-admin", PW).await;
    let b = Browser::start(site.dashboards).await;
    b.log_in("u-admin", PW).await;

    // An API needing a client certificate and a key (api_key is ticked for a new API).
    b.open("config").await;
    b.click("#api-new").await;
    b.find("#api-form").await;
    b.fill("#f-api-id", "orders").await;
    b.fill("#f-api-name", "Orders").await;
    b.fill("#f-api-match", "/orders").await;
    b.fill("#f-up-url-0", "http://127.0.0.1:9").await;
    b.scroll_to("#f-api-auth").await;
    b.press("#f-api-auth .chip[data-value=\"mtls\"]").await;
    b.screenshot("admin-mtls-api").await;
    b.click("#api-save").await;
    b.wait_text("#api-table", "Orders").await;
    let a = api.call("GET", "/api/v1/apis/orders", None, &[]).await;
    assert_eq!(
        a.body["body"]["auth"],
        json!(["api_key", "mtls"]),
        "{}",
        a.text
    );

    // A client: a malformed second line is named by its line.
    let hex = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
    let summed = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
    b.click("#config-tabs [data-tab=clients]").await;
    b.click("#client-new").await;
    b.fill("#f-client-id", "acme").await;
    b.fill("#f-client-name", "Acme").await;
    b.fill(
        "#f-client-certificates",
        &format!("sha256:{hex}\nsha256:not-a-fingerprint"),
    )
    .await;
    b.click("#client-save").await;
    let msg = b
        .wait_text(".field-error #f-client-certificates-error", "Line 2")
        .await;
    println!("beside the certificates: {msg}");
    b.screenshot("admin-mtls-client-error").await;
    // Upper case, and a line as `sha256sum` prints it: both taken, kept in lower case.
    b.fill(
        "#f-client-certificates",
        &format!("sha256:{hex}\n{summed}  -"),
    )
    .await;
    b.click("#client-save").await;
    b.wait_text("#key-panel", "No keys yet").await;
    let a = api.call("GET", "/api/v1/clients/acme", None, &[]).await;
    assert_eq!(
        a.body["body"]["certificates"],
        json!([
            format!("sha256:{}", hex.to_lowercase()),
            format!("sha256:{summed}")
        ]),
        "{}",
        a.text
    );
    assert_eq!(
        b.value("#f-client-certificates").await,
        format!("sha256:{}\nsha256:{summed}", hex.to_lowercase())
    );
    b.screenshot("admin-mtls-client").await;

    // Another client may not list acme's certificate: named by its line, with acme.
    b.open("config?tab=clients").await;
    b.click("#client-new").await;
    b.fill("#f-client-id", "beta").await;
    b.fill("#f-client-name", "Beta").await;
    b.fill("#f-client-certificates", &format!("sha256:{summed}"))
        .await;
    b.click("#client-save").await;
    let msg = b
        .wait_text(".field-error #f-client-certificates-error", "Line 1")
        .await;
    assert!(msg.contains("acme"), "{msg}");
    b.assert_no_csp_violations().await;
    b.close().await;
}
