//! The reports page in a real browser (issue 7): a manager opens a report with calls in it,
//! changes range and filter (the hash follows), sees chart and table, downloads the CSV (its
//! rows equal the API's) and the PNG; a bad range in a bookmarked link shows the API's message
//! beside the range picker; zh-TW shows a Chinese chart and headings; a subscription refused
//! for its cron (message beside the field), then created, sent now to the SMTP sink, its run
//! shown. Screenshots of every view at laptop and phone size, in English and zh-TW.

use super::browser::{Browser, LAPTOP, PHONE};
use crate::admin::add_user;
use crate::helpers::*;
use gatewatch_model::{CallRecord, EntityKind, Outcome};
use gatewatch_store::rows::ApiCallRow;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

const PW: &str = "reports-page-password";

/// 30 calls of `orders` (3 of them 502s) and 12 of `pay`, over the last 50 minutes.
fn calls(now_secs: i64) -> Vec<CallRecord> {
    (0..42)
        .map(|i| {
            let secs = now_secs - 3_000 + i * 60;
            let id = Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs as u64, 0));
            let orders = i < 30;
            let mut r = CallRecord::new(id, secs * 1_000_000, "gw-ui", "GET", "/orders/1");
            r.api_id = if orders { "orders" } else { "pay" }.into();
            r.api_name = if orders { "訂單查詢" } else { "Payments" }.into();
            r.client_id = "c1".into();
            (r.outcome, r.status) = if orders && i % 10 == 9 {
                (Outcome::UpstreamError, 502)
            } else {
                (Outcome::Ok, 200)
            };
            r.latency_us = 1_000 * (i as u64 % 7 + 1);
            r
        })
        .collect()
}

/// The CSV's rows (heading first) without the byte-order mark.
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let text = text.trim_start_matches('\u{feff}');
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    r.records()
        .map(|x| x.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// Waits for the notices to go (5 s each), so screenshots show the page.
async fn no_toasts(b: &Browser) {
    b.wait_js("the notices are gone", "!document.querySelector('.toast')")
        .await;
}

fn json_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_reads_downloads_and_subscribes_to_reports() {
    let smtp = SmtpSink::start();
    let site = Site::new(
        "ui_reports_page",
        &gatewatch_migrations::testing::clickhouse_url(),
        &smtp.alerter_toml(),
    );
    let store = site.migrate().await;
    let now = chrono::Utc::now().timestamp();
    let mut ins = gatewatch_migrations::testing::raw_client(&store)
        .insert::<ApiCallRow<'_>>("api_calls")
        .await
        .unwrap();
    for r in &calls(now) {
        ins.write(&ApiCallRow::new(r, Uuid::nil())).await.unwrap();
    }
    ins.end().await.unwrap();
    for (id, name) in [("orders", "訂單查詢"), ("pay", "Payments")] {
        put_entity(
            &store,
            EntityKind::Api,
            id,
            &json!({"name": name, "prefix": format!("/{id}"), "upstreams": ["http://127.0.0.1:9"]}),
        )
        .await;
    }
    add_user(&site, "mia", "manager", PW);
    let _dash = site.start("dashboards").await;

    let b = Browser::start(site.dashboards).await;
    b.log_in("mia", PW).await;

    // The usage report over the last 24 hours: figures, chart and table.
    b.open("reports/usage?range=24h").await;
    b.wait_text("#report-table", "訂單查詢").await;
    b.wait_text("#report-table", "Payments").await;
    b.wait_text("#report-stats", "42").await;
    let chart_drawn = "(() => { const i = document.querySelector('#report-chart'); \
                       return i && i.complete && i.naturalWidth > 0; })()";
    b.wait_js("the usage chart is drawn", chart_drawn).await;
    b.screenshot("manager-reports").await;
    b.screenshot("manager-reports-usage").await;
    b.scroll_to("#report-chart-card").await;
    b.screenshot("manager-reports-usage-chart").await;
    b.scroll_to("#report-table-card").await;
    b.screenshot("manager-reports-usage-table").await;

    // Filter by API and change the range: the hash follows, so the view can be shared.
    b.select("#rp-api", "orders").await;
    b.wait_js("api in the hash", "location.hash.includes('api=orders')")
        .await;
    b.wait_js(
        "only orders in the table",
        "(() => { const t = document.querySelector('#report-table'); \
          return t && t.innerText.includes('訂單查詢') && !t.innerText.includes('Payments'); })()",
    )
    .await;
    b.select("#rp-range", "7d").await;
    b.wait_js(
        "range in the hash",
        "location.hash.startsWith('#/reports/usage?') && location.hash.includes('range=7d') \
         && location.hash.includes('api=orders')",
    )
    .await;
    b.wait_text("#report-stats", "30").await;

    // The CSV link answers the rows the API's JSON has.
    let href = b.attr("#download-csv", "href").await;
    assert!(
        href.contains("format=csv") && href.contains("api=orders"),
        "{href}"
    );
    let (status, csv) = b.fetch("GET", &href).await;
    assert_eq!(status, 200, "{csv}");
    let (status, body) = b.fetch("GET", &href.replace("&format=csv", "")).await;
    assert_eq!(status, 200, "{body}");
    let api: Value = serde_json::from_str(&body).unwrap();
    let rows = csv_rows(&csv);
    let keys: Vec<&str> = api["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(rows.len(), 1 + api["rows"].as_array().unwrap().len());
    for (got, want) in rows[1..].iter().zip(api["rows"].as_array().unwrap()) {
        let want: Vec<String> = keys.iter().map(|k| json_text(&want[*k])).collect();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            // Numbers as numbers: the CSV writes 100 where JSON writes 100.0.
            match (g.parse::<f64>(), w.parse::<f64>()) {
                (Ok(a), Ok(b)) => assert!((a - b).abs() < 1e-9, "{got:?} != {want:?}"),
                _ => assert_eq!(g, w, "{got:?} != {want:?}"),
            }
        }
    }
    assert!(rows[1].contains(&"orders".to_string()) && rows[1].contains(&"30".to_string()));

    // The PNG link answers a PNG.
    let png = b.attr("#download-png", "href").await;
    let (status, ctype, head) = b.fetch_head(&png).await;
    assert_eq!((status, ctype.as_str()), (200, "image/png"));
    assert!(head.starts_with(b"\x89PNG\r\n\x1a\n"), "{head:?}");

    // Latency over time, with its bucket picker.
    b.open("reports/latency?granularity=minute&range=1h").await;
    b.find("#rp-granularity").await;
    b.wait_text("#report-table", "訂單查詢").await;
    b.wait_js("the latency chart is drawn", chart_drawn).await;
    b.scroll_to("#report-chart-card").await;
    b.screenshot("manager-reports-latency").await;
    // Its rows per API first; over time on a click, the per-API columns left out.
    b.click("#report-parts button[data-value=\"time\"]").await;
    b.wait_js(
        "the latency over time",
        "(() => { const t = document.querySelector('#report-table'); \
          return t && !t.innerText.includes('訂單查詢') && t.querySelectorAll('tbody tr').length > 10; })()",
    )
    .await;
    b.scroll_to("#report-table-card").await;
    b.screenshot("manager-reports-latency-table").await;
    b.click("#report-parts button[data-value=\"api\"]").await;

    // A custom range: from and to in the user's zone (Asia/Taipei, the site's), as RFC 3339.
    b.select("#rp-range", "custom").await;
    b.wait_js(
        "a custom range in the hash",
        "location.hash.includes('from=') && location.hash.includes('to=') \
         && location.hash.includes('%2B08%3A00') && !location.hash.includes('range=')",
    )
    .await;
    b.find("#rp-from").await;
    b.wait_text("#report-table", "訂單查詢").await;
    b.scroll_to(".page").await;
    b.screenshot("manager-reports-custom-range").await;

    // The other reports open with their own pickers.
    b.open("reports/top?by=slowest&range=24h").await;
    b.find("#rp-by").await;
    b.wait_text("#report-table", "orders").await;
    b.wait_js("the top chart is drawn", chart_drawn).await;
    b.screenshot("manager-reports-top").await;
    b.open("reports/nodes?range=24h").await;
    b.wait_text("#report-table-card", "No rows").await;
    b.screenshot("manager-reports-nodes").await;
    b.open("reports/client-events?range=7d").await;
    b.wait_text(".report-view", "Pick a client").await;
    b.fill("#f-rp-client", "c1").await;
    b.wait_js(
        "the client in the hash",
        "location.hash.includes('client=c1')",
    )
    .await;
    b.find("#report-table-card").await;
    b.screenshot("manager-reports-client-events").await;

    // A bad range in a bookmarked link: the API's message beside the range picker.
    b.open("reports/traffic?range=99x").await;
    let msg = b.wait_text("#rp-range-error", "99x").await;
    assert!(msg.contains("not a range"), "{msg}");
    b.screenshot("manager-reports-bad-range").await;

    // On a phone.
    b.open("reports/usage?range=24h").await;
    b.resize(PHONE).await;
    b.wait_text("#report-table", "訂單查詢").await;
    b.wait_js("the chart on a phone", chart_drawn).await;
    b.screenshot("manager-reports-phone").await;
    b.resize(LAPTOP).await;

    // In zh-TW: the chart, the headings and the CSV in Chinese.
    b.click("#lang-switch button[data-value=\"zh-TW\"]").await;
    b.wait_text("#report-table", "呼叫數").await;
    b.wait_js(
        "the chart asks for zh-TW",
        "(() => { const i = document.querySelector('#report-chart'); \
          return i && i.src.includes('lang=zh-TW') && i.complete && i.naturalWidth > 0; })()",
    )
    .await;
    let src = b.attr("#report-chart", "src").await;
    let (status, svg) = b.fetch("GET", &src).await;
    assert_eq!(status, 200);
    assert!(
        svg.contains("各 API 呼叫數"),
        "no Chinese title in the chart"
    );
    let (_, csv) = b.fetch("GET", &b.attr("#download-csv", "href").await).await;
    assert!(csv_rows(&csv)[0].contains(&"呼叫數".to_string()), "{csv}");
    b.screenshot("manager-reports-zh").await;
    b.scroll_to("#report-chart-card").await;
    b.screenshot("manager-reports-zh-chart").await;
    b.resize(PHONE).await;
    b.screenshot("manager-reports-zh-phone").await;
    b.resize(LAPTOP).await;
    b.click("#lang-switch button[data-value=\"en\"]").await;
    b.wait_js(
        "English headings again",
        "(() => { const h = document.querySelector('#report-table thead'); \
          return h && h.textContent.includes('Calls'); })()",
    )
    .await;

    // Subscriptions: none yet.
    b.open("reports/subscriptions").await;
    b.find("#new-subscription").await;
    b.wait_text(".page", "No subscriptions yet").await;
    b.screenshot("manager-reports-subscriptions-empty").await;

    // A new one with a bad cron: the API's message beside the cron field, nothing saved.
    b.click("#new-subscription").await;
    b.find("#subscription-form").await;
    b.fill("#f-sub-id", "orders-weekly").await;
    b.fill("#f-sub-name", "Orders, weekly").await;
    b.select("#sub-report", "usage").await;
    b.select("#sp-api", "orders").await;
    b.select("#sp-range", "last_week").await;
    b.fill("#f-sub-cron", "every monday").await;
    b.fill("#f-sub-emails", "boss@example.tw").await;
    b.select("#sub-lang", "zh-TW").await;
    b.click("#subscription-save").await;
    let msg = b.wait_text("#f-sub-cron-error", "every monday").await;
    assert!(msg.contains("fields"), "{msg}");
    b.screenshot("manager-reports-subscription-bad-cron").await;
    let (status, _) = b
        .fetch("GET", "/api/v1/report-subscriptions/orders-weekly")
        .await;
    assert_eq!(status, 404);

    // A preset fixes it; saved, the page shows the subscription's runs.
    b.click("#cron-presets button[data-value=\"0 8 * * 1\"]")
        .await;
    b.wait_js(
        "the preset fills the cron",
        "document.querySelector('#f-sub-cron').value === '0 8 * * 1'",
    )
    .await;
    b.click("#subscription-save").await;
    b.wait_js(
        "the subscription's page",
        "location.hash === '#/reports/subscriptions/orders-weekly'",
    )
    .await;
    b.wait_text("#runs-next", "Next").await;
    let (status, body) = b
        .fetch("GET", "/api/v1/report-subscriptions/orders-weekly")
        .await;
    assert_eq!(status, 200, "{body}");
    let saved: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(saved["body"]["cron"], "0 8 * * 1");
    assert_eq!(saved["body"]["params"]["api"], "orders");
    assert_eq!(saved["body"]["params"]["range"], "last_week");

    // Send now: the mail reaches the sink and the run shows as sent.
    b.click("#send-now").await;
    b.wait_text("#runs-table", "Sent").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while smtp.mails().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0]["rcpt_tos"], json!(["boss@example.tw"]));
    // A zh-TW subscription: the attached CSV has Chinese headings.
    let part = mails[0]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["content_type"] == "text/csv")
        .unwrap_or_else(|| panic!("no CSV in {}", mails[0]));
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(part["base64"].as_str().unwrap())
        .unwrap();
    let rows = csv_rows(&String::from_utf8(bytes).unwrap());
    assert!(rows[0].contains(&"呼叫數".to_string()), "{rows:?}");
    no_toasts(&b).await;
    b.screenshot("manager-reports-subscription").await;

    // The list: the schedule in words, the last run.
    b.open("reports/subscriptions").await;
    b.wait_text("#subscription-table", "Every Monday at 08:00")
        .await;
    b.wait_text("#subscription-table", "Sent").await;
    no_toasts(&b).await;
    b.screenshot("manager-reports-subscriptions").await;
    b.resize(PHONE).await;
    b.screenshot("manager-reports-subscriptions-phone").await;
    b.resize(LAPTOP).await;
    b.click("#lang-switch button[data-value=\"zh-TW\"]").await;
    b.wait_text("#subscription-table", "每星期一 08:00").await;
    b.screenshot("manager-reports-subscriptions-zh").await;

    // Deleted (after the browser's confirmation, answered yes here): gone for the API too.
    b.open("reports/subscriptions/orders-weekly").await;
    b.find("#subscription-delete").await;
    b.client
        .execute("window.confirm = () => true;", vec![])
        .await
        .unwrap();
    b.click("#subscription-delete").await;
    b.wait_text(".page", "尚無訂閱").await;
    let (status, _) = b
        .fetch("GET", "/api/v1/report-subscriptions/orders-weekly")
        .await;
    assert_eq!(status, 404);

    // No script or style was refused by the CSP along the way.
    b.assert_no_csp_violations().await;
    b.close().await;
}
