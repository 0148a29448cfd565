//! The report mail as a real SMTP server receives it, parsed by Python's e-mail package.

use base64::Engine;
use chrono::{TimeZone, Utc};
use gatewatch_model::EntityKind;
use gatewatch_reports::schedule::{ReportSource, Scheduler};
use gatewatch_store::report_runs::OK;
use std::sync::Arc;

use crate::helpers::*;

fn b64(v: &serde_json::Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_mails_the_summary_with_the_chart_inline_and_the_csv_attached() {
    let store = gatewatch_migrations::testing::migrated_store("rsched_mail").await;
    let sink = SmtpSink::start(free_port());
    user(&store, "mia", "manager", "mia@example.tw", false).await;
    user(&store, "max", "manager", "max@example.tw", true).await;
    user(&store, "otto", "ops", "otto@example.tw", false).await;
    put(
        &store,
        EntityKind::ReportSubscription,
        "daily-usage",
        serde_json::json!({
            "name": "每日 API 用量", "report": "usage", "params": {"range": "yesterday"},
            "cron": "0 8 * * *", "timezone": "Asia/Taipei",
            "recipients": {"roles": ["manager"], "emails": ["boss@example.tw", "MIA@example.tw"]}
        }),
    )
    .await;
    let s = Scheduler::new(store.clone(), config("t1", sink.port), Arc::new(HandMade)).unwrap();
    // 08:00 in Taipei on 25 November: the report covers the 24th there.
    let slot = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
    assert_eq!(s.run_now("daily-usage", slot).await.unwrap(), OK);

    let mails = sink.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let m = &mails[0];
    // The manager with an address, not the disabled one, not ops; each address once.
    let mut to: Vec<&str> = m["rcpt_tos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    to.sort();
    assert_eq!(to, ["boss@example.tw", "mia@example.tw"]);
    assert_eq!(
        m["subject"],
        "【gatewatch】每日 API 用量：API 用量（2026-11-24）"
    );
    assert_eq!(m["message_id"], "<report-daily-usage-1795564800@gatewatch>");
    let types: Vec<&str> = m["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["content_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "multipart/mixed",
            "multipart/related",
            "multipart/alternative",
            "text/plain",
            "text/html",
            "image/png",
            "text/csv"
        ]
    );
    let parts = m["parts"].as_array().unwrap();
    let png = &parts[5];
    assert_eq!(png["content_id"], "<chart@gatewatch>");
    assert_eq!(png["disposition"], "inline");
    assert_eq!(b64(&png["base64"]), PNG);
    let html = m["html"].as_str().unwrap();
    assert!(html.contains("src=\"cid:chart@gatewatch\""), "{html}");
    assert!(
        html.contains("訂單 orders") && html.contains("期間"),
        "{html}"
    );
    let text = m["text"].as_str().unwrap();
    assert!(
        text.contains("calls: 123") && text.contains("usage-2026-11-24.csv"),
        "{text}"
    );
    let csv = &parts[6];
    assert_eq!(csv["disposition"], "attachment");
    assert_eq!(csv["filename"], "usage-2026-11-24.csv");
    // The bytes the table writes: BOM, quoting, a formula made harmless; headings in the
    // subscription's language (zh-TW by default).
    let mut expected = HandMade
        .report(
            &store,
            gatewatch_model::report::ReportKind::Usage,
            &gatewatch_model::report::ReportParams::from_pairs(&[("range", "yesterday")]).unwrap(),
            slot,
            "Asia/Taipei".parse().unwrap(),
        )
        .await
        .unwrap();
    gatewatch_reports::i18n::localise(&mut expected, gatewatch_model::alert::Lang::ZhTw);
    let got = b64(&csv["base64"]);
    assert_eq!(got, expected.table.to_csv());
    assert!(got.starts_with("\u{feff}".as_bytes()));
    let heading = String::from_utf8_lossy(&got[3..])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert_eq!(heading, "API,呼叫數");

    let r = runs(&store, "daily-usage").await;
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!((r[0].status.as_str(), r[0].attempt), (OK, 1));
    assert_eq!(r[0].run_id, "daily-usage@1795564800");
    assert_eq!(r[0].recipients, ["mia@example.tw", "boss@example.tw"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn english_summary_csv_only() {
    let store = gatewatch_migrations::testing::migrated_store("rsched_mail_en").await;
    let sink = SmtpSink::start(free_port());
    put(
        &store,
        EntityKind::ReportSubscription,
        "weekly",
        serde_json::json!({
            "name": "Weekly <usage>", "report": "usage", "params": {"range": "last_week"},
            "cron": "0 8 * * 1", "recipients": {"emails": ["boss@example.tw"]},
            "formats": ["csv"], "language": "en"
        }),
    )
    .await;
    let s = Scheduler::new(store.clone(), config("t1", sink.port), Arc::new(HandMade)).unwrap();
    // Monday 30 November 2026, 08:00 in Taipei (the site's zone): last week is 23–29.
    let slot = Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap();
    assert_eq!(s.run_now("weekly", slot).await.unwrap(), OK);
    let m = &sink.mails()[0];
    assert_eq!(
        m["subject"],
        "[gatewatch] Weekly <usage>: API 用量 (2026-11-23 – 2026-11-29)"
    );
    let types: Vec<&str> = m["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["content_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "multipart/mixed",
            "multipart/alternative",
            "text/plain",
            "text/html",
            "text/csv"
        ]
    );
    assert!(m["html"].as_str().unwrap().contains("Weekly &lt;usage&gt;"));
    assert_eq!(m["parts"][4]["filename"], "usage-2026-11-23_2026-11-29.csv");
    // An English subscription keeps the English headings.
    let csv = b64(&m["parts"][4]["base64"]);
    assert!(String::from_utf8_lossy(&csv[3..]).starts_with("API,Calls"));
}

/// With the real catalog: the mailed CSV is the usage report of the slot's yesterday.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalogs_usage_report_is_mailed_for_the_slots_yesterday() {
    let store = gatewatch_migrations::testing::migrated_store("rsched_mail_catalog").await;
    let sink = SmtpSink::start(free_port());
    // 24 November in Taipei: 5 calls of orders, 2 of pay; one call on the 25th (not counted).
    let mut rows = Vec::new();
    for (api, n, ts) in [
        (
            "orders",
            5,
            Utc.with_ymd_and_hms(2026, 11, 24, 4, 0, 0).unwrap(),
        ),
        (
            "pay",
            2,
            Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap(),
        ),
        (
            "orders",
            1,
            Utc.with_ymd_and_hms(2026, 11, 24, 16, 30, 0).unwrap(),
        ),
    ] {
        for i in 0..n {
            let secs = ts.timestamp() + i;
            let id =
                uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs as u64, 0));
            rows.push(format!(
                "('{id}', toDateTime({secs}), {}, 'gw1', '{api}', 'c1', 200, 'ok', 1000)",
                secs * 1_000_000
            ));
        }
    }
    store
        .execute(&format!(
            "INSERT INTO api_calls (call_id, ts, ts_us, node, api_id, client_id, status, outcome, latency_us) VALUES {}",
            rows.join(", ")
        ))
        .await
        .unwrap();
    put(
        &store,
        EntityKind::ReportSubscription,
        "daily",
        serde_json::json!({"name": "Daily", "report": "usage", "params": {"range": "yesterday"},
            "cron": "0 8 * * *", "recipients": {"emails": ["boss@example.tw"]}, "language": "en"}),
    )
    .await;
    let s = Scheduler::new(
        store.clone(),
        config("t1", sink.port),
        Arc::new(gatewatch_reports::schedule::Catalog),
    )
    .unwrap();
    let slot = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
    assert_eq!(s.run_now("daily", slot).await.unwrap(), OK);
    let m = &sink.mails()[0];
    let csv = m["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["content_type"] == "text/csv")
        .unwrap();
    assert_eq!(csv["filename"], "usage-2026-11-24.csv");
    // The usage chart, drawn by the chart renderer, inline in the HTML.
    let png = m["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["content_type"] == "image/png")
        .unwrap_or_else(|| panic!("no chart in {m}"));
    assert_eq!(png["content_id"], "<chart@gatewatch>");
    assert!(b64(&png["base64"]).starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(m["html"].as_str().unwrap().contains("cid:chart@gatewatch"));
    // The summary's single figures, not its per-module list.
    let body = m["text"].as_str().unwrap();
    assert!(
        body.contains("calls: 7") && !body.contains("modules"),
        "{body}"
    );
    let text = String::from_utf8(b64(&csv["base64"])).unwrap();
    let mut lines = text.lines();
    let heading: Vec<&str> = lines.next().unwrap().split(',').collect();
    let calls = heading
        .iter()
        .position(|h| h.to_lowercase().starts_with("calls"))
        .unwrap_or_else(|| panic!("no calls column in {heading:?}"));
    let mut got: Vec<(String, String)> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), f[calls].to_string())
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("orders".to_string(), "5".to_string()),
            ("pay".to_string(), "2".to_string())
        ],
        "{text}"
    );
}
