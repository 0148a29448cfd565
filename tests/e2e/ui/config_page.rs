//! The config page in a real browser (issue 7): as admin, an API and a client created in the
//! UI (each with a bad field first, its message beside the field), a product with manual
//! approval, a key generated and read from its shown-once dialog, its pending grant approved
//! on the Approvals tab, a call through the gateway with that key, the call found through the
//! report API, the upstream's health badge up, an edit's diff in the history, a rotation and a
//! client secret (each shown once). Screenshots of every tab and dialog at laptop size, some
//! on a phone and in zh-TW: `target/screenshots/admin-config-*.png`.

use super::browser::{Browser, LAPTOP, PHONE};
use crate::admin::{add_user, Api};
use crate::helpers::*;
use std::time::Duration;

const PW: &str = "correct-horse-battery";
/// A laptop-wide window tall enough for a whole editor.
const TALL: (u32, u32) = (1366, 2300);

/// Calls `GET /orders/ok` through the gateway with `key` until it answers `want` (the gateway
/// picks up configuration changes on its next poll of the log).
async fn call_until(site: &Site, key: &str, want: u16) -> u16 {
    let gw = Api::anonymous(site.gateway);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut last = 0;
    while tokio::time::Instant::now() < deadline {
        last = gw
            .call("GET", "/orders/ok", None, &[("x-api-key", key)])
            .await
            .status;
        if last == want {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("GET /orders/ok with the key: wanted {want}, still {last}");
}

async fn shot(b: &Browser, name: &str) {
    b.screenshot(&format!("admin-config-{name}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_configures_an_api_and_a_client_whose_key_calls_it() {
    let up = upstream().await;
    let site = Site::new(
        "ui_config",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    site.migrate().await;
    add_user(&site, "u-admin", "admin", PW);
    let _up = site.start("up").await;
    let anon = Api::anonymous(site.dashboards);
    for _ in 0..300 {
        if anon.call("GET", "/readyz", None, &[]).await.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let b = Browser::start(site.dashboards).await;
    b.log_in("u-admin", PW).await;

    // The APIs tab, empty: it says what to do.
    b.open("config").await;
    b.wait_text("#api-list", "No APIs yet").await;
    shot(&b, "apis-empty").await;

    // A new API with a bad weight: the API's message beside the weight.
    b.click("#api-new").await;
    b.find("#api-form").await;
    b.fill("#f-api-id", "orders").await;
    b.fill("#f-api-name", "Orders").await;
    b.fill("#f-api-match", "/orders").await;
    b.fill("#f-up-url-0", &format!("http://{up}")).await;
    b.fill("#f-up-weight-0", "0").await;
    b.press("#api-strip").await;
    b.fill("#f-api-rest", "{\"capture\": {\"mode\": \"headers\"}}")
        .await;
    shot(&b, "api-new").await;
    // The whole form on a tall window.
    b.press("#api-hc-on").await;
    b.resize(TALL).await;
    shot(&b, "api-new-full").await;
    b.resize(LAPTOP).await;
    b.press("#api-hc-on").await;
    b.click("#api-save").await;
    let msg = b
        .wait_text(".field-error #f-up-weight-0-error", "1 to 1000")
        .await;
    println!("beside the weight: {msg}");
    shot(&b, "api-error").await;
    b.fill("#f-up-weight-0", "1").await;
    // The JSON box: not JSON, then a field the model refuses; each beside the box.
    b.fill("#f-api-rest", "{capture").await;
    b.click("#api-save").await;
    b.wait_text(".field-error #f-api-rest-error", "Not a JSON object")
        .await;
    b.fill("#f-api-rest", "{\"capture\": {\"mode\": \"everything\"}}")
        .await;
    b.click("#api-save").await;
    let msg = b
        .wait_text(".field-error #f-api-rest-error", "capture")
        .await;
    println!("beside the JSON: {msg}");
    b.fill("#f-api-rest", "{\"capture\": {\"mode\": \"headers\"}}")
        .await;
    b.click("#api-save").await;
    b.wait_text("#api-table", "Orders").await;
    b.wait_text("#api-table", &format!("http://{up}")).await;

    // A product needing approval, and a group, from their tabs.
    b.click("#config-tabs [data-tab=products]").await;
    b.wait_text("#products-list", "No products yet").await;
    b.click("#products-new").await;
    b.fill("#f-products-id", "orders-plan").await;
    b.fill("#f-products-name", "Orders plan").await;
    b.fill("#f-products-apis", "orders").await;
    b.select("#f-product-approval", "manual").await;
    b.fill("#f-product-per-day", "10000").await;
    shot(&b, "product-new").await;
    b.click("#products-save").await;
    b.wait_text("#products-table", "Manual approval").await;
    shot(&b, "products").await;
    b.click("#config-tabs [data-tab=groups]").await;
    b.click("#groups-new").await;
    b.fill("#f-groups-id", "partners").await;
    b.fill("#f-groups-name", "Partners").await;
    b.fill("#f-groups-apis", "reports-*").await;
    b.click("#groups-save").await;
    b.wait_text("#groups-table", "Partners").await;
    shot(&b, "groups").await;

    // A client with a bad address block first.
    b.click("#config-tabs [data-tab=clients]").await;
    b.wait_text("#client-list", "No clients yet").await;
    b.click("#client-new").await;
    b.fill("#f-client-id", "acme").await;
    b.fill("#f-client-name", "Acme Trading").await;
    b.fill("#f-client-ip-allow", "10.0.0.0/33").await;
    b.fill("#f-client-tps", "50").await;
    b.fill("#f-client-per-day", "100000").await;
    b.click("#client-save").await;
    let msg = b
        .wait_text(
            ".field-error #f-client-ip-allow-error",
            "not an address or CIDR block",
        )
        .await;
    println!("beside the allow list: {msg}");
    shot(&b, "client-error").await;
    b.fill("#f-client-ip-allow", "127.0.0.0/8\n::1").await;
    b.click("#client-save").await;
    // Created: the editor now shows its keys.
    b.wait_text("#key-panel", "No keys yet").await;
    shot(&b, "client-edit").await;

    // A key with the product: shown once, with the warning.
    b.click("#key-new").await;
    b.find("#key-dialog").await;
    b.click("#f-key-products .chip[data-value=\"orders-plan\"]")
        .await;
    shot(&b, "key-dialog").await;
    b.click("#key-generate").await;
    b.wait_text("#secret-dialog", "you won't see it again")
        .await;
    let key = b.value("#secret-value").await;
    assert!(
        key.starts_with("gwk_") && key.len() > 20,
        "the key: {key:?}"
    );
    shot(&b, "key-shown-once").await;
    b.click("#secret-done").await;
    b.wait_text("#key-table", "pending").await;
    // The key is stored only as a hash: no answer of the API shows it again.
    let (_, keys) = b.fetch("GET", "/api/v1/api-keys").await;
    assert!(!keys.contains(&key), "a key list shows the key");

    // Pending: the gateway refuses the key's calls until the grant is approved.
    assert_eq!(call_until(&site, &key, 403).await, 403);
    b.click("#config-tabs [data-tab=approvals]").await;
    b.wait_text("#config-tabs [data-tab=approvals] .tab-count", "1")
        .await;
    b.wait_text("#pending-table", "orders-plan").await;
    shot(&b, "approvals").await;
    b.click("#pending-table .row-actions[data-product=\"orders-plan\"] .btn-primary")
        .await;
    b.wait_text("#pending-card", "Nothing waits for approval")
        .await;
    shot(&b, "approvals-empty").await;

    // Approved: the call goes through to the upstream.
    assert_eq!(call_until(&site, &key, 200).await, 200);

    // The call, found in the Call search page: the client's calls, then the call itself.
    b.open("calls?client=acme&status=200").await;
    b.find("#calls-form").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let found = b
            .client
            .execute(
                "return document.querySelectorAll('#calls-table a.call-link').length;",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        if found > 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the call never showed in the call search: {}",
            b.body_text().await
        );
        // Not stored yet (the collector batches): search again, as a user would.
        b.click("#calls-submit").await;
    }
    shot(&b, "call-found").await;
    b.click("#calls-table a.call-link").await;
    b.find("#call-detail").await;
    b.wait_text("#call-summary", "acme").await;
    b.wait_text("#call-detail", "/orders/ok").await;
    b.wait_text("#call-outcome-text", "OK").await;
    shot(&b, "call-detail").await;
    assert!(
        !b.body_text().await.contains(&key),
        "the key is shown in the call's detail"
    );
    b.open("config").await;
    b.find("#config-tabs").await;

    // The upstream's health badge says up; the health API refuses a bad window.
    b.click("#config-tabs [data-tab=apis]").await;
    b.wait_js(
        "the upstream up",
        "document.querySelector('#api-table [data-health=\"up\"]')",
    )
    .await;
    shot(&b, "apis").await;
    let (status, text) = b.fetch("GET", "/api/v1/upstreams/health?minutes=0").await;
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("\"field\":\"minutes\""), "{text}");
    let (status, text) = b.fetch("GET", "/api/v1/upstreams/health").await;
    assert_eq!(status, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["items"][0]["status"], "up", "{text}");
    assert!(v["items"][0]["calls"].as_u64().unwrap() >= 1, "{text}");

    // An edit (If-Match the version read), then its diff in the history.
    b.click("#api-table a.strong").await;
    b.find("#api-form").await;
    b.wait_js(
        "the API loaded",
        "document.querySelector('#f-api-name') && document.querySelector('#f-api-name').value === 'Orders'",
    )
    .await;
    b.fill("#f-api-timeout", "2500").await;
    b.fill("#f-api-name", "Orders v2").await;
    b.click("#api-save").await;
    b.wait_text("#api-table", "Orders v2").await;
    b.click("#api-table .row-actions a:nth-child(2)").await;
    let diff = b.wait_text("#history-diff", "timeout_ms").await;
    assert!(
        diff.contains("2500") && diff.contains("Orders v2") && diff.contains("Orders"),
        "{diff}"
    );
    b.wait_text("#history-versions", "Version 1").await;
    shot(&b, "history").await;
    b.click("#history-versions [data-version=\"1\"]").await;
    b.wait_text("#history-diff", "upstreams").await;

    // Someone else saves first: the page's version is stale, and it says so.
    b.open("config?tab=apis&id=orders&view=edit").await;
    b.wait_js(
        "the API loaded",
        "document.querySelector('#f-api-name') && document.querySelector('#f-api-name').value === 'Orders v2'",
    )
    .await;
    let other = Api::login(site.dashboards, "u-admin", PW).await;
    let r = other
        .call(
            "PUT",
            "/api/v1/apis/orders",
            Some(&format!(
                r#"{{"name":"Orders v3","prefix":"/orders","upstreams":["http://{up}"],"strip_prefix":true,"auth":["api_key"]}}"#
            )),
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    b.fill("#f-api-retries", "1").await;
    b.click("#api-save").await;
    b.wait_text("#stale-alert", "newer version").await;
    shot(&b, "api-stale").await;

    // Rotate the key (the old one works on for the overlap), and a client secret.
    b.open("config?tab=clients&id=acme&view=edit").await;
    b.wait_text("#key-table", "approved").await;
    b.click("#key-table .row-actions .btn:nth-child(2)").await;
    b.find("#rotate-dialog").await;
    shot(&b, "rotate-dialog").await;
    b.click("#rotate-ok").await;
    b.wait_text("#secret-dialog", "you won't see it again")
        .await;
    let new_key = b.value("#secret-value").await;
    assert!(new_key.starts_with("gwk_") && new_key != key);
    b.click("#secret-done").await;
    b.wait_text("#key-table", "Replaces").await;
    assert_eq!(call_until(&site, &new_key, 200).await, 200);
    assert_eq!(call_until(&site, &key, 200).await, 200, "the overlap");
    b.click("#secret-new").await;
    b.find("#confirm-dialog").await;
    b.click("#confirm-dialog-ok").await;
    b.wait_text("#secret-dialog", "you won't see it again")
        .await;
    let secret = b.value("#secret-value").await;
    assert!(secret.starts_with("gws_"), "{secret}");
    shot(&b, "secret-shown-once").await;
    b.click("#secret-done").await;
    b.wait_text("#key-panel", "A client secret is set").await;
    shot(&b, "client-keys").await;
    b.resize(TALL).await;
    shot(&b, "client-edit-full").await;
    b.resize(LAPTOP).await;
    // The client's history names the secret, never shows it.
    b.open("config?tab=clients&id=acme&view=history").await;
    let diff = b.wait_text("#history-diff", "secret").await;
    assert!(!diff.contains(&secret) && !diff.contains("hmac"), "{diff}");
    shot(&b, "client-history").await;
    b.open("config?tab=clients").await;
    b.wait_text("#client-table", "Acme Trading").await;
    shot(&b, "clients").await;

    // On a phone, and in Chinese.
    b.resize(PHONE).await;
    b.open("config?tab=apis").await;
    b.wait_js(
        "the upstream up",
        "document.querySelector('#api-table [data-health=\"up\"]')",
    )
    .await;
    shot(&b, "apis-phone").await;
    b.open("config?tab=clients&id=acme&view=edit").await;
    b.wait_text("#key-table", "approved").await;
    shot(&b, "client-edit-phone").await;
    b.press("#key-new").await;
    b.find("#key-dialog").await;
    shot(&b, "key-dialog-phone").await;
    b.open("config?tab=approvals").await;
    b.find("#pending-card").await;
    shot(&b, "approvals-phone").await;
    b.open("config?tab=apis&id=orders&view=history").await;
    b.find("#history-diff").await;
    shot(&b, "history-phone").await;
    b.resize(LAPTOP).await;
    b.open("config?tab=apis").await;
    b.click("#lang-switch button[data-value=\"zh-TW\"]").await;
    b.wait_text("#config-tabs", "用戶端").await;
    b.wait_js(
        "the upstream up",
        "document.querySelector('#api-table [data-health=\"up\"]')",
    )
    .await;
    shot(&b, "apis-zh-TW").await;
    b.open("config?tab=clients&id=acme&view=edit").await;
    b.wait_text("#key-panel", "金鑰").await;
    shot(&b, "client-edit-zh-TW").await;
    b.press("#key-new").await;
    b.wait_text("#key-dialog", "產生").await;
    shot(&b, "key-dialog-zh-TW").await;
    b.press("#key-dialog .modal-close").await;
    b.open("config?tab=products").await;
    b.wait_text("#products-table", "人工審核").await;
    shot(&b, "products-zh-TW").await;
    b.open("config?tab=apis&id=orders&view=history").await;
    b.find("#history-diff").await;
    shot(&b, "history-zh-TW").await;
    b.click("#lang-switch button[data-value=\"en\"]").await;
    b.wait_text("#config-tabs", "Clients").await;

    b.assert_no_csp_violations().await;
    b.close().await;
}
