//! OAuth 2.0 in the config page, in a real browser: an API's credentials switched to
//! `oauth2` with scopes, a client's and a product's scopes typed one per line or
//! space-separated, a bad scope named by its place beside the box, everything seen again after
//! a reload; the client's effective scopes (its own and its approved products'); a client
//! secret for the token endpoint, shown once; the client events report with the tokens issued
//! and refused (records as the token endpoint writes them). No console errors, no CSP refusals.
//! Screenshots: `target/screenshots/admin-scopes-*.png`.

use super::browser::Browser;
use crate::admin::{add_user, Api};
use crate::helpers::*;
use gatewatch_model::{CallRecord, Outcome};
use gatewatch_store::rows::ApiCallRow;
use serde_json::json;
use uuid::Uuid;

const PW: &str = "correct-horse-battery";

/// Opens the route and reloads the page (the same hash again would not load anything).
async fn reload(b: &Browser, route: &str) {
    b.open(route).await;
    b.client.refresh().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_edits_scopes_of_apis_clients_and_products() {
    let site = Site::new(
        "ui_scopes",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    add_user(&site, "u-admin", "admin", PW);
    let _dash = site.start("dashboards").await;
    let api = Api::login(site.dashboards, "u-admin", PW).await;
    let r = api
        .post(
            "/api/v1/apis",
            json!({"id": "orders", "name": "Orders", "prefix": "/orders",
                "upstreams": ["http://127.0.0.1:9"], "auth": ["api_key"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let b = Browser::start(site.dashboards).await;
    b.log_in("u-admin", PW).await;

    // The API: OAuth 2.0 instead of a key; the scopes box comes with it.
    b.open("config?tab=apis&id=orders&view=edit").await;
    b.find("#api-form").await;
    b.scroll_to("#f-api-auth").await;
    b.press("#f-api-auth .chip[data-value=\"oauth2\"]").await;
    b.press("#f-api-auth .chip[data-value=\"api_key\"]").await;
    // A quote is no scope: named beside the box, by its place.
    b.fill("#f-api-scopes", "orders.read \"orders\"").await;
    b.click("#api-save").await;
    let msg = b
        .wait_text(".field-error #f-api-scopes-error", "Scope 2")
        .await;
    assert!(msg.contains("RFC 6749"), "{msg}");
    b.screenshot("admin-scopes-api-error").await;
    b.fill("#f-api-scopes", "orders.read orders.write").await;
    b.click("#api-save").await;
    b.wait_text("#api-table", "orders.write").await;
    let a = api.call("GET", "/api/v1/apis/orders", None, &[]).await;
    assert_eq!(a.body["body"]["auth"], json!(["oauth2"]), "{}", a.text);
    assert_eq!(
        a.body["body"]["scopes"],
        json!(["orders.read", "orders.write"])
    );
    b.screenshot("admin-scopes-api-list").await;
    // After a reload: the method ticked, the scopes one per line.
    reload(&b, "config?tab=apis&id=orders&view=edit").await;
    b.find("#api-form").await;
    assert_eq!(
        b.attr("#f-api-auth .chip[data-value=\"oauth2\"]", "aria-pressed")
            .await,
        "true"
    );
    assert_eq!(b.value("#f-api-scopes").await, "orders.read\norders.write");
    // Unticking OAuth 2.0 while scopes stay: the API names the field, shown beside it.
    b.press("#f-api-auth .chip[data-value=\"oauth2\"]").await;
    b.click("#api-save").await;
    b.wait_text(".field-error #f-api-scopes-error", "oauth2")
        .await;

    // A product granting a scope, through the product editor.
    b.open("config?tab=products").await;
    b.click("#products-new").await;
    b.find("#products-form").await;
    b.fill("#f-products-id", "reports").await;
    b.fill("#f-products-name", "Reports").await;
    b.fill("#f-products-apis", "orders").await;
    b.fill("#f-product-scopes", "reports.read\norders.read")
        .await;
    b.click("#products-save").await;
    b.wait_text("#products-table", "reports.read").await;
    let a = api.call("GET", "/api/v1/products/reports", None, &[]).await;
    assert_eq!(
        a.body["body"]["scopes"],
        json!(["reports.read", "orders.read"]),
        "{}",
        a.text
    );
    reload(&b, "config?tab=products&id=reports&view=edit").await;
    b.find("#products-form").await;
    assert_eq!(
        b.value("#f-product-scopes").await,
        "reports.read\norders.read"
    );

    // A client: a scope twice is named by its place; then saved and seen after a reload.
    b.open("config?tab=clients").await;
    b.click("#client-new").await;
    b.fill("#f-client-id", "acme").await;
    b.fill("#f-client-name", "Acme").await;
    b.fill("#f-client-scopes", "orders.read\norders.read").await;
    b.click("#client-save").await;
    let msg = b
        .wait_text(".field-error #f-client-scopes-error", "Scope 2")
        .await;
    assert!(msg.contains("twice"), "{msg}");
    b.fill("#f-client-scopes", "orders.read\norders.write")
        .await;
    b.click("#client-save").await;
    b.wait_text("#key-panel", "No keys yet").await;
    b.wait_text("#client-effective", "orders.write").await;
    // A key holding the product (approved at once): its scopes join the effective ones.
    let r = api
        .post(
            "/api/v1/clients/acme/keys",
            json!({"products": ["reports"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    reload(&b, "config?tab=clients&id=acme&view=edit").await;
    b.find("#client-form").await;
    assert_eq!(
        b.value("#f-client-scopes").await,
        "orders.read\norders.write"
    );
    let effective = b.wait_text("#client-effective", "reports.read").await;
    assert!(effective.contains("orders.write"), "{effective}");
    b.wait_text("#client-scope-products", "reports").await;
    b.scroll_to("#client-oauth").await;
    b.screenshot("admin-scopes-client").await;
    b.open("config?tab=clients").await;
    b.wait_text("#client-table", "orders.write").await;

    // The client secret for the token endpoint: said to be shown once, shown once.
    b.open("config?tab=clients&id=acme&view=edit").await;
    b.click("#secret-new").await;
    let text = b.wait_text("#confirm-dialog", "shown once").await;
    assert!(text.contains("token endpoint"), "{text}");
    b.click("#confirm-dialog-ok").await;
    b.wait_text("#secret-dialog", "you won't see it again")
        .await;
    let secret = b.value("#secret-value").await;
    assert!(secret.starts_with("gws_"), "{secret}");
    b.screenshot("admin-scopes-secret").await;
    b.click("#secret-done").await;
    b.wait_text("#key-panel", "token endpoint").await;
    let a = api.call("GET", "/api/v1/clients/acme", None, &[]).await;
    assert_eq!(a.body["body"]["has_secret"], true);
    assert!(!a.text.contains(&secret));

    // The token endpoint's records of acme: two tokens issued, one refused.
    let now_us = chrono::Utc::now().timestamp_micros();
    let token_call = |i: i64, outcome: Outcome, error: &str| {
        let ts_us = now_us - 60_000_000 + i;
        let mut r = CallRecord::new(Uuid::now_v7(), ts_us, "n1", "POST", "/oauth2/token");
        r.route = "/oauth2/token".into();
        r.client_id = "acme".into();
        r.auth_method = "client_secret_basic".into();
        r.status = if outcome == Outcome::Ok { 200 } else { 400 };
        r.outcome = outcome;
        r.error = error.into();
        if outcome == Outcome::Ok {
            r.token_jti = Uuid::new_v4().to_string();
            r.scopes = "orders.read reports.read".into();
        }
        r
    };
    let mut ins = gatewatch_migrations::testing::raw_client(&store)
        .insert::<ApiCallRow<'_>>("api_calls")
        .await
        .unwrap();
    for r in [
        token_call(0, Outcome::Ok, ""),
        token_call(1, Outcome::Ok, ""),
        token_call(2, Outcome::RefusedBadRequest, "invalid_scope: admin"),
    ] {
        ins.write(&ApiCallRow::new(&r, Uuid::nil())).await.unwrap();
    }
    ins.end().await.unwrap();
    b.open("reports/client-events?range=24h&client=acme").await;
    b.wait_text("#report-table", "tokens_issued").await;
    let table = b.wait_text("#report-table", "invalid_scope 1").await;
    assert!(table.contains("\"orders.read reports.read\" 2"), "{table}");
    let stats = b.wait_text("#report-stats", "Tokens issued").await;
    assert!(stats.contains("Token requests refused"), "{stats}");
    b.screenshot("admin-scopes-client-events").await;

    b.assert_no_csp_violations().await;
    // The console: only the refusals the test asked for (422) and the first look for a
    // session before the login (401); no exception, no failed module.
    let errors: Vec<String> = b
        .console_errors()
        .await
        .into_iter()
        .filter(|e| {
            !(e.contains("Failed to load resource")
                && (e.contains("status of 422")
                    || (e.contains("/api/v1/me ") && e.contains("status of 401"))))
        })
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    b.close().await;
}
