//! Issue 19 in the browser: an admin creates an API family in the API families tab, then a
//! version API of it in the API editor (a bad version refused beside its field, then family,
//! version, deprecation and node groups saved and seen in the list and in the family's
//! versions with its badge); support filters calls by version and sees the version column and
//! the call's version; the usage report groups by version. No console errors.
//! Screenshots: `target/screenshots/admin-versions-*.png`.

use super::browser::Browser;
use crate::admin::{add_user, Api};
use crate::helpers::*;
use gatewatch_model::{CallRecord, Outcome};
use gatewatch_store::rows::ApiCallRow;
use serde_json::json;
use uuid::Uuid;

const PW: &str = "a long versions ui password";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_makes_a_family_and_a_version_and_support_filters_calls_by_version() {
    let site = Site::new(
        "ui_versions",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    // Calls of the last minutes: 3 of v1, 2 of v2.
    let now_us = chrono::Utc::now().timestamp_micros();
    let mut ins = gatewatch_migrations::testing::raw_client(&store)
        .insert::<ApiCallRow<'_>>("api_calls")
        .await
        .unwrap();
    for i in 0..5i64 {
        let ts = now_us - (i + 1) * 30_000_000;
        let mut r = CallRecord::new(Uuid::now_v7(), ts, "gw", "GET", &format!("/orders/{i}"));
        let v = if i < 3 { "v1" } else { "v2" };
        r.api_id = format!("orders-{v}");
        r.api_name = "訂單".into();
        r.api_version = v.into();
        r.outcome = Outcome::Ok;
        r.status = 200;
        ins.write(&ApiCallRow::new(&r, Uuid::nil())).await.unwrap();
    }
    ins.end().await.unwrap();
    add_user(&site, "root", "admin", PW);
    add_user(&site, "sam", "support", PW);
    add_user(&site, "mia", "manager", PW);
    let _dash = site.start("dashboards").await;
    let api = Api::login(site.dashboards, "root", PW).await;

    let b = Browser::start(site.dashboards).await;
    b.log_in("root", PW).await;

    // The family: typed default version (no version APIs yet).
    b.open("config?tab=families").await;
    b.click("#family-new").await;
    b.find("#family-form").await;
    b.fill("#f-family-id", "orders").await;
    b.fill("#f-family-name", "訂單").await;
    b.fill("#f-family-default", "v 1").await;
    b.click("#family-save").await;
    b.wait_text(".field-error #f-family-default-error", "v 1")
        .await;
    b.fill("#f-family-default", "v1").await;
    b.fill("#f-family-header", "x-api-version").await;
    b.click("#family-save").await;
    b.wait_text("#family-table", "orders").await;
    let a = api
        .call("GET", "/api/v1/api-families/orders", None, &[])
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["body"]["default_version"], "v1");
    assert_eq!(a.body["body"]["select"]["header"], "x-api-version");

    // A version API: a family needs a valid version, named beside the field.
    b.open("config?tab=apis").await;
    b.click("#api-new").await;
    b.find("#api-form").await;
    b.fill("#f-api-id", "orders-v1").await;
    b.fill("#f-api-name", "Orders v1").await;
    b.fill("#f-api-match", "/orders").await;
    b.fill("#f-up-url-0", "http://127.0.0.1:9").await;
    b.scroll_to("#api-versioning").await;
    b.select("#f-api-family", "orders").await;
    b.fill("#f-api-version", "v1!").await;
    b.click("#api-deprecated").await;
    b.fill("#f-api-dep-since", "2026-07-01T00:00:00Z").await;
    b.fill("#f-api-dep-sunset", "2026-01-01T00:00:00Z").await;
    b.fill("#f-api-node-groups", "edge\nEdge!").await;
    // Each refusal beside its field, in the order the API checks them.
    b.click("#api-save").await;
    b.wait_text(".field-error #f-api-node-groups-error", "Group 2")
        .await;
    b.fill("#f-api-node-groups", "edge").await;
    b.click("#api-save").await;
    b.wait_text(".field-error #f-api-version-error", "v1!")
        .await;
    b.screenshot("admin-versions-api-error").await;
    b.fill("#f-api-version", "v1").await;
    b.click("#api-save").await;
    b.wait_text(".field-error #f-api-dep-sunset-error", "since")
        .await;
    b.fill("#f-api-dep-sunset", "2027-01-01T00:00:00Z").await;
    b.click("#api-save").await;
    b.wait_text("#api-table", "deprecated").await;
    let a = api.call("GET", "/api/v1/apis/orders-v1", None, &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let body = &a.body["body"];
    assert_eq!(body["family"], "orders");
    assert_eq!(body["version"], "v1");
    assert_eq!(body["deprecation"]["since"], "2026-07-01T00:00:00Z");
    assert_eq!(body["deprecation"]["sunset"], "2027-01-01T00:00:00Z");
    assert_eq!(body["node_groups"], json!(["edge"]));
    b.screenshot("admin-versions-api-list").await;
    // Seen again in the editor, and among the family's versions with its badges.
    b.open("config?tab=apis&id=orders-v1&view=edit").await;
    b.find("#api-form").await;
    b.client.refresh().await.unwrap();
    b.find("#f-api-version").await;
    b.wait_js(
        "the version is shown",
        "document.querySelector('#f-api-version') && document.querySelector('#f-api-version').value === 'v1'",
    )
    .await;
    assert_eq!(b.value("#f-api-family").await, "orders");
    assert_eq!(b.value("#f-api-node-groups").await, "edge");
    b.open("config?tab=families").await;
    let row = b.wait_text("#family-table", "v1").await;
    assert!(row.contains("deprecated"), "{row}");
    assert!(row.contains("default"), "{row}");
    b.screenshot("admin-versions-families").await;
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

    // Support: calls of v2 only, the version column and the call's version.
    let b = Browser::start(site.dashboards).await;
    b.log_in("sam", PW).await;
    b.open("calls").await;
    b.find("#calls-form").await;
    b.fill("#f-version", "v2").await;
    b.click("#calls-submit").await;
    b.wait_text("#calls-count", "Calls shown: 2 ").await;
    let table = b.find("#calls-table").await.text().await.unwrap();
    assert!(table.contains("v2") && !table.contains("v1"), "{table}");
    b.wait_js(
        "the hash keeps the filter",
        "location.hash.includes('version=v2')",
    )
    .await;
    b.screenshot("admin-versions-calls").await;
    b.click("#calls-table a.call-link").await;
    b.wait_text("#call-api-version", "v2").await;
    quiet_but_login(&b).await;
    b.close().await;

    // A manager: usage per version.
    let b = Browser::start(site.dashboards).await;
    b.log_in("mia", PW).await;
    b.open("reports/usage?range=1h&group=version").await;
    let t = b.wait_text("#report-table", "v2").await;
    assert!(t.contains("v1"), "{t}");
    assert_eq!(b.value("#rp-group").await, "version");
    b.screenshot("admin-versions-usage").await;
    quiet_but_login(&b).await;
    b.close().await;
}

/// No console errors but the first look for a session before the login (401).
async fn quiet_but_login(b: &Browser) {
    b.assert_no_csp_violations().await;
    let errors: Vec<String> = b
        .console_errors()
        .await
        .into_iter()
        .filter(|e| !(e.contains("/api/v1/me ") && e.contains("status of 401")))
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
}
