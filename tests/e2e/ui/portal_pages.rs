//! The developer portal in a real headless Chromium: the catalogue and an API page in English
//! and Chinese, on a laptop and a phone, with screenshots (`target/screenshots/portal-*.png`);
//! the search typed in Chinese; the Markdown attacks of the description inert in the page
//! (no script ran, nothing the CSP had to block, no element with an event handler).

use super::browser::{Browser, LAPTOP, PHONE};
use crate::helpers::*;
use crate::portal::{listed, seed};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_pages_in_both_languages_on_laptop_and_phone() {
    let site = Site::new(
        "portal_browser",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    seed(&store).await;
    let _portal = site.start("portal").await;
    listed(site.portal, 2).await;
    let b = Browser::start(site.portal).await;

    for (lang, title, search, deprecated) in [
        ("en", "APIs", "Search APIs", "Deprecated"),
        ("zh-TW", "API 目錄", "搜尋 API", "已棄用"),
    ] {
        b.client
            .goto(&format!("{}/?lang={lang}", b.base))
            .await
            .unwrap();
        b.wait_text("h1", title).await;
        b.wait_text(".api-list", "支付服務").await;
        assert_eq!(b.attr("#search", "placeholder").await, search);
        b.wait_text("li[data-api=pay-v2] .badge", deprecated).await;
        let text = b.body_text().await;
        assert!(!text.contains("秘密") && !text.contains("Plain"), "{text}");
        b.resize(LAPTOP).await;
        b.screenshot(&format!("portal-catalogue-{lang}")).await;
        b.resize(PHONE).await;
        b.screenshot(&format!("portal-catalogue-{lang}-phone"))
            .await;
        b.resize(LAPTOP).await;

        // The search, typed in Chinese: a tag finds both versions, a summary word one.
        b.fill("#search", "分期").await;
        b.wait_js(
            "one hit",
            "document.querySelectorAll('.api-list li').length === 1 && document.querySelector('li[data-api=pay-v2]')",
        )
        .await;
        assert!(b
            .client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .contains("q=%E5%88%86%E6%9C%9F"));
        b.fill("#search", "").await;
        b.wait_js(
            "both again",
            "document.querySelectorAll('.api-list li').length === 2",
        )
        .await;

        // One API's page.
        b.client
            .goto(&format!("{}/apis/pay-v1", b.base))
            .await
            .unwrap();
        b.wait_text(".api-head h1", "支付服務").await;
        b.wait_text(".description", "支付說明").await;
        b.wait_text(".reference", "/pay/orders/{id}").await;
        b.wait_text(".versions", "v2").await;
        // Open the operations so the screenshot shows their parameters.
        b.client
            .execute(
                "document.querySelectorAll('details.op').forEach(d => d.open = true);",
                vec![],
            )
            .await
            .unwrap();
        b.wait_text(".reference", "訂單編號").await;
        // An example is shown as text too.
        b.wait_text(".reference .example", "<script>alert(9)</script>")
            .await;
        // The document's text is text: the <img onerror> of an operation summary is shown,
        // not made into an element.
        b.wait_text(".reference", "<img src=x onerror=alert(1)>")
            .await;
        let handlers = b
            .client
            .execute(
                "return [...document.querySelectorAll('*')].filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length \
                 + document.querySelectorAll('.description script, .description iframe, .description svg, a[href^=\"javascript\"]').length;",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            handlers,
            json!(0),
            "an event handler or script element reached the page"
        );
        b.assert_no_csp_violations().await;
        b.screenshot_full(&format!("portal-api-{lang}"), LAPTOP)
            .await;
        b.resize(PHONE).await;
        b.screenshot(&format!("portal-api-{lang}-phone")).await;
        b.resize(LAPTOP).await;
    }

    // An unpublished API's page says "not found", as an unknown one does.
    b.client
        .goto(&format!("{}/apis/secret-pay?lang=en", b.base))
        .await
        .unwrap();
    b.wait_text("h1", "No such API").await;
    assert!(!b.body_text().await.contains("秘密"));
    b.assert_no_csp_violations().await;
    b.close().await;
}

/// The dashboards' API editor has the portal card: a refusal beside its field, then an API
/// published from the form appears on the portal with its description and operations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_publishes_an_api_from_the_editors_portal_card() {
    const PW: &str = "a long portal ui password";
    let site = Site::new(
        "portal_editor",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    site.migrate().await;
    crate::admin::add_user(&site, "root", "admin", PW);
    let _dash = site.start("dashboards").await;
    let _portal = site.start("portal").await;

    let b = Browser::start(site.dashboards).await;
    b.log_in("root", PW).await;
    b.open("config?tab=apis").await;
    b.click("#api-new").await;
    b.find("#api-form").await;
    b.fill("#f-api-id", "invoices").await;
    b.fill("#f-api-name", "電子發票 API").await;
    b.fill("#f-api-match", "/invoices").await;
    b.fill("#f-up-url-0", "http://127.0.0.1:9").await;
    b.scroll_to("#api-portal").await;
    b.click("#api-portal-published").await;
    b.fill("#f-api-portal-category", "稅務").await;
    b.fill("#f-api-portal-summary", &"長".repeat(301)).await;
    b.fill("#f-api-portal-tags", "發票\ninvoice").await;
    b.fill(
        "#f-api-portal-description",
        "# 電子發票\n\n<script>alert(1)</script>開立與查詢。",
    )
    .await;
    b.fill("#f-api-portal-openapi", "{\"openapi\": \"3.0.3\", \"paths\": {\"/invoices\": {\"get\": {\"summary\": \"查詢發票\"}}}}")
        .await;
    b.click("#api-save").await;
    b.wait_text(".field-error #f-api-portal-summary-error", "300")
        .await;
    b.fill("#f-api-portal-summary", "開立與查詢電子發票").await;
    b.fill("#f-api-portal-openapi", "{\"swagger\": \"2.0\"}")
        .await;
    b.click("#api-save").await;
    b.wait_text(".field-error #f-api-portal-openapi-error", "openapi")
        .await;
    b.scroll_to("#api-portal").await;
    b.screenshot("admin-portal-card-error").await;
    b.fill("#f-api-portal-openapi", "{\"openapi\": \"3.0.3\", \"paths\": {\"/invoices\": {\"get\": {\"summary\": \"查詢發票\"}}}}")
        .await;
    b.click("#api-save").await;
    b.wait_text("#api-table", "invoices").await;
    b.close().await;

    let all = listed(site.portal, 1).await;
    assert_eq!(all["apis"][0]["id"], "invoices");
    assert_eq!(all["apis"][0]["tags"], json!(["發票", "invoice"]));
    let one = crate::portal::raw_get(site.portal, "/portal-api/apis/invoices").await;
    let v = one.json();
    let html = v["description_html"].as_str().unwrap();
    assert!(
        html.contains("<h1>電子發票</h1>") && !html.contains("<script"),
        "{html}"
    );
    assert_eq!(v["reference"]["operations"][0]["summary"], "查詢發票");
}
