//! The aggregate reports through the HTTP API of `gatewatch dashboards`: a manager reads a
//! report as JSON and as CSV, support may read reports too (the role table gives both
//! `read_reports`), nobody without a login; bad and too-large questions get 422 naming the
//! field, hostile filter values select nothing.

use crate::admin::{add_user, Api};
use crate::helpers::*;
use chrono::{TimeZone, Utc};
use gatewatch_model::{CallRecord, Outcome};
use gatewatch_store::rows::ApiCallRow;
use serde_json::Value;
use uuid::Uuid;

const PW: &str = "a long report password";

/// 2026-11-20T00:00:00Z, a Friday well in the past of any test run.
fn t0() -> i64 {
    Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0)
        .unwrap()
        .timestamp()
}

/// Twelve calls an hour apart: `訂單查詢` gets 8 (6 ok, 1 timeout, 1 refused), `pay` 4 (ok).
fn calls() -> Vec<CallRecord> {
    (0..12)
        .map(|i| {
            let secs = t0() + i * 3_600 + 5;
            let id = Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs as u64, 0));
            let mut r = CallRecord::new(id, secs * 1_000_000, "gw-e2e", "GET", "/orders/1");
            let orders = i < 8;
            r.api_id = if orders { "orders" } else { "pay" }.into();
            r.api_name = if orders {
                "訂單查詢"
            } else {
                "付款, \"快速\""
            }
            .into();
            r.client_id = "c1".into();
            (r.outcome, r.status) = match i {
                0 => (Outcome::Timeout, 504),
                1 => (Outcome::RefusedQuota, 429),
                _ => (Outcome::Ok, 200),
            };
            r.latency_us = 1_000 * (i as u64 + 1);
            r
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_reads_usage_as_json_and_csv() {
    let site = Site::new(
        "reports_agg_http",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    let mut ins = gatewatch_migrations::testing::raw_client(&store)
        .insert::<ApiCallRow<'_>>("api_calls")
        .await
        .unwrap();
    for r in &calls() {
        ins.write(&ApiCallRow::new(r, Uuid::nil())).await.unwrap();
    }
    ins.end().await.unwrap();
    add_user(&site, "mia", "manager", PW);
    add_user(&site, "sam", "support", PW);
    let _dash = site.start("dashboards").await;
    let mia = Api::login(site.dashboards, "mia", PW).await;
    let range = "from=2026-11-20T08:00:00%2B08:00&to=2026-11-21T08:00:00%2B08:00&tz=Asia/Taipei";

    let a = mia
        .call("GET", &format!("/api/v1/reports/usage?{range}"), None, &[])
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let j = &a.body;
    assert_eq!(j["report"], "usage");
    assert_eq!(j["source"], "api_calls_1m");
    assert_eq!(j["from"], "2026-11-20T08:00:00+08:00");
    assert_eq!(j["summary"]["calls"], 12);
    assert_eq!(j["summary"]["refused"], 1);
    assert_eq!(j["summary"]["server_error"], 1);
    let rows = j["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["api_name"], "訂單查詢");
    assert_eq!(rows[0]["calls"], 8);
    assert_eq!(rows[0]["success"], 6);
    assert_eq!(rows[0]["share_pct"], 66.67);
    // (1+…+8) ms / 8 calls.
    assert_eq!(rows[0]["avg_ms"], 4.5);
    assert_eq!(rows[1]["calls"], 4);

    let a = mia
        .call(
            "GET",
            &format!("/api/v1/reports/usage?{range}&format=csv"),
            None,
            &[],
        )
        .await;
    assert_eq!(a.status, 200);
    let body = a
        .text
        .strip_prefix('\u{feff}')
        .expect("CSV starts with a BOM");
    let mut csv = body.lines();
    assert_eq!(
        csv.next().unwrap(),
        "API id,API,Module,Calls,Success,Client error,Server error,Refused,Share (%),Average latency (ms)"
    );
    assert_eq!(csv.next().unwrap(), "orders,訂單查詢,,8,6,0,1,1,66.67,4.5");
    assert_eq!(
        csv.next().unwrap(),
        "pay,\"付款, \"\"快速\"\"\",,4,4,0,0,0,33.33,10.5"
    );

    // Traffic in hours, zero-filled: 24 buckets, calls in the first 12.
    let a = mia
        .call(
            "GET",
            &format!("/api/v1/reports/traffic?{range}"),
            None,
            &[],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let rows = a.body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 24);
    let calls: Vec<u64> = rows.iter().map(|r| r["calls"].as_u64().unwrap()).collect();
    assert_eq!(calls, [vec![1; 12], vec![0; 12]].concat());

    // Support reads reports too; without a login nobody does.
    let sam = Api::login(site.dashboards, "sam", PW).await;
    let a = sam
        .call("GET", &format!("/api/v1/reports/errors?{range}"), None, &[])
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let dims: Vec<&str> = a.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["dimension"].as_str().unwrap())
        .collect();
    assert_eq!(dims, ["api", "outcome", "outcome", "path"]);
    let a = Api::anonymous(site.dashboards)
        .call("GET", &format!("/api/v1/reports/usage?{range}"), None, &[])
        .await;
    assert_eq!(a.status, 401);

    // Bad and too-large questions: 422 naming the field.
    for (q, code, field) in [
        ("range=3w", "invalid", "range"),
        ("range=30d&module=m", "too_large", "module"),
        ("range=1d&clinet=c1", "invalid", "clinet"),
        ("range=1d&format=xml", "invalid", "format"),
        ("range=1d&status_class=5xx%27--", "invalid", "status_class"),
        ("range=1d&outcome=ok%27%20OR%201%3D1", "invalid", "outcome"),
        ("range=1d&tz=Asia/Taipei%27--", "invalid", "tz"),
    ] {
        let a = mia
            .call("GET", &format!("/api/v1/reports/usage?{q}"), None, &[])
            .await;
        assert_eq!(a.status, 422, "{q}: {}", a.text);
        assert_eq!(a.body["error"]["code"], code, "{q}");
        assert_eq!(a.body["error"]["field"], field, "{q}");
    }
    // Hostile filter values are plain values: nothing matches, nothing breaks.
    for v in [
        "x%27%20OR%201%3D1%20--",
        "%27%3B%20DROP%20TABLE%20api_calls%3B%20--",
        "a%3F%3F",
    ] {
        let a = mia
            .call(
                "GET",
                &format!("/api/v1/reports/usage?{range}&api={v}"),
                None,
                &[],
            )
            .await;
        assert_eq!(a.status, 200, "{v}: {}", a.text);
        assert_eq!(a.body["rows"], Value::Array(vec![]));
    }
    assert_eq!(
        store
            .fetch_u64("SELECT count() FROM api_calls")
            .await
            .unwrap(),
        12
    );
}
