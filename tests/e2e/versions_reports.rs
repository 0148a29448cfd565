//! Issue 19, reports and call search by API version, through the HTTP API of `gatewatch
//! dashboards`: calls recorded with `api_version` (rows as the collector writes them) are
//! found by `version=` (exact, repeatable), shown with their version in the search rows, the
//! CSV and the call detail; the usage and latency reports group by version (`group=version`);
//! hostile, huge and malformed values get 422 naming the field, never a 500. The admin side:
//! an API family and a version API with deprecation and node groups are stored as sent, and
//! every bad version field is refused naming it.

use crate::admin::{add_user, Api};
use crate::helpers::*;
use chrono::{TimeZone, Utc};
use gatewatch_model::{CallRecord, Outcome};
use gatewatch_store::rows::ApiCallRow;
use serde_json::{json, Value};
use uuid::Uuid;

const PW: &str = "a long version report password";

/// 2026-11-20T00:00:00Z.
fn t0() -> i64 {
    Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0)
        .unwrap()
        .timestamp()
}

/// Twelve calls ten minutes apart: `orders-v1` (v1) 6, `orders-v2` (v2) 4 (one a 502),
/// `legacy` (no version) 2.
fn calls() -> Vec<CallRecord> {
    (0..12)
        .map(|i| {
            let secs = t0() + i * 600 + 5;
            let id = Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs as u64, 0));
            let mut r = CallRecord::new(id, secs * 1_000_000, "gw-e2e", "GET", "/orders/1");
            let (api, version) = match i {
                0..=5 => ("orders-v1", "v1"),
                6..=9 => ("orders-v2", "v2"),
                _ => ("legacy", ""),
            };
            r.api_id = api.into();
            r.api_name = "訂單".into();
            r.api_version = version.into();
            r.client_id = "c1".into();
            (r.outcome, r.status) = if i == 9 {
                (Outcome::UpstreamUnreachable, 502)
            } else {
                (Outcome::Ok, 200)
            };
            r.latency_us = 1_000 * (i as u64 + 1);
            r
        })
        .collect()
}

const RANGE: &str = "from=2026-11-20T00:00:00Z&to=2026-11-20T06:00:00Z";

async fn get(api: &Api, q: &str) -> crate::admin::Answer {
    api.call("GET", q, None, &[]).await
}

fn refused(a: &crate::admin::Answer, field: &str, what: &str) {
    assert_eq!(a.status, 422, "{what}: {}", a.text);
    assert_eq!(a.body["error"]["field"], field, "{what}: {}", a.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_and_call_search_filter_and_group_by_version() {
    let site = Site::new(
        "versions_reports",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    let mut ins = gatewatch_migrations::testing::raw_client(&store)
        .insert::<ApiCallRow<'_>>("api_calls")
        .await
        .unwrap();
    let seeded = calls();
    for r in &seeded {
        ins.write(&ApiCallRow::new(r, Uuid::nil())).await.unwrap();
    }
    ins.end().await.unwrap();
    add_user(&site, "mia", "manager", PW);
    add_user(&site, "sam", "support", PW);
    let _dash = site.start("dashboards").await;
    let mia = Api::login(site.dashboards, "mia", PW).await;
    let sam = Api::login(site.dashboards, "sam", PW).await;

    // Call search: exact version, its label in every row and in the detail.
    let a = get(&sam, &format!("/api/v1/reports/calls?{RANGE}&version=v2")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let rows = a.body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r["api_version"] == "v2"), "{}", a.text);
    let id = rows[0]["call_id"].as_str().unwrap().to_string();
    let d = get(&sam, &format!("/api/v1/reports/calls/{id}")).await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.body["api_version"], "v2");
    // Repeated keys add versions; with another filter they narrow together.
    let a = get(
        &sam,
        &format!("/api/v1/reports/calls?{RANGE}&version=v1&version=v2&status=502"),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["rows"].as_array().unwrap().len(), 1);
    // The CSV carries the version column.
    let a = get(
        &sam,
        &format!("/api/v1/reports/calls?{RANGE}&version=v1&format=csv"),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let mut lines = a.text.trim_start_matches('\u{feff}').lines();
    assert!(
        lines.next().unwrap().ends_with(",API version"),
        "{}",
        a.text
    );
    assert_eq!(lines.filter(|l| l.ends_with(",v1")).count(), 6);

    // Usage per version: v1 6, v2 4 (one server error), no version 2.
    let a = get(
        &mia,
        &format!("/api/v1/reports/usage?{RANGE}&group=version"),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["source"], "api_calls", "{}", a.text);
    assert_eq!(a.body["summary"]["versions"], 3);
    let by: Vec<(String, u64, u64)> = a.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["version"].as_str().unwrap().to_string(),
                r["calls"].as_u64().unwrap(),
                r["server_error"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by,
        [
            ("v1".to_string(), 6, 0),
            ("v2".to_string(), 4, 1),
            (String::new(), 2, 0)
        ]
    );
    // In zh-TW the headings are translated, the labels (data) are not.
    let a = get(
        &mia,
        &format!("/api/v1/reports/usage?{RANGE}&group=version&lang=zh-TW"),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["title"], "各版本 API 用量", "{}", a.text);

    // Latency per version: (7+8+9+10) ms / 4 for v2.
    let a = get(
        &mia,
        &format!("/api/v1/reports/latency?{RANGE}&group=version"),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let v2 = a.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["group"] == "version" && r["version"] == "v2")
        .cloned()
        .unwrap_or_else(|| panic!("no v2 row: {}", a.text));
    assert_eq!(v2["calls"], 4);
    assert_eq!(v2["avg_ms"], 8.5);
    // The version filter on an aggregate report.
    let a = get(&mia, &format!("/api/v1/reports/traffic?{RANGE}&version=v1")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["summary"]["calls"], 6);

    // Hostile labels are values: 200 with nothing found.
    for v in [
        "v1'%20OR%201%3D1%20--",
        "%3F",
        "v1%5C",
        "%E6%9F%A5%E8%A9%A2",
        "v1)%20UNION%20SELECT%201",
    ] {
        let a = get(&sam, &format!("/api/v1/reports/calls?{RANGE}&version={v}")).await;
        assert_eq!(a.status, 200, "{v}: {}", a.text);
        assert_eq!(a.body["rows"].as_array().unwrap().len(), 0, "{v}");
    }
    // Refusals name the field.
    let long = "v".repeat(65);
    // As long as a URI may be here (the http crate stops at 64 KiB).
    let huge = "v".repeat(60_000);
    for (q, field) in [
        (format!("version={long}"), "version"),
        (format!("version=%E7%89%88{}", "x".repeat(64)), "version"),
        ("version=v1%07".to_string(), "version"),
        ("version=v1%00".to_string(), "version"),
        ("group=api".to_string(), "group"),
        ("group=version%00".to_string(), "group"),
    ] {
        let a = get(&sam, &format!("/api/v1/reports/calls?{RANGE}&{q}")).await;
        refused(&a, field, &q);
    }
    let a = get(
        &sam,
        &format!("/api/v1/reports/calls?{RANGE}&version={huge}"),
    )
    .await;
    assert!(
        a.status == 422 || a.status == 414 || a.status == 431,
        "huge version: {} {}",
        a.status,
        a.text
    );
    if a.status == 422 {
        assert_eq!(a.body["error"]["field"], "version", "{}", a.text);
    }
    for kind in ["traffic", "errors", "clients", "top", "calls"] {
        // The call search is support's (`read_call_detail`), the rest the manager's.
        let who = if kind == "calls" { &sam } else { &mia };
        let a = get(
            who,
            &format!("/api/v1/reports/{kind}?{RANGE}&group=version"),
        )
        .await;
        refused(&a, "group", kind);
    }
    let a = get(&mia, &format!("/api/v1/reports/nodes?{RANGE}&version=v1")).await;
    refused(&a, "version", "nodes");
    // Versions are read from single calls: 7 days at most, named.
    let a = get(&mia, "/api/v1/reports/usage?range=30d&group=version").await;
    refused(&a, "group", "30 days by version");
    let a = get(&mia, "/api/v1/reports/usage?range=30d&version=v1").await;
    refused(&a, "version", "30 days of a version");
    let a = get(&mia, "/api/v1/reports/usage?range=30d").await;
    assert_eq!(a.status, 200, "the rollups still serve 30 days: {}", a.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn families_and_version_fields_are_stored_and_bad_ones_named() {
    let site = Site::new(
        "versions_admin",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    site.migrate().await;
    add_user(&site, "root", "admin", PW);
    let _dash = site.start("dashboards").await;
    let admin = Api::login(site.dashboards, "root", PW).await;

    let family = json!({"id": "orders", "name": "訂單", "default_version": "v1",
        "select": {"path": true, "header": "accept-version", "query": "version"},
        "canary": {"version": "v2", "percent": 12.5}});
    let a = admin.post("/api/v1/api-families", family.clone()).await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.body["body"]["canary"]["percent"], 12.5);
    let v2 = json!({"id": "orders-v2", "name": "Orders v2", "prefix": "/orders",
        "upstreams": ["http://127.0.0.1:9"], "family": "orders", "version": "v2",
        "deprecation": {"since": "2026-07-01T00:00:00Z", "sunset": "2027-01-01T00:00:00Z",
                        "link": "https://developer.example/orders/v3"},
        "node_groups": ["edge", "default"]});
    let a = admin.post("/api/v1/apis", v2.clone()).await;
    assert_eq!(a.status, 201, "{}", a.text);
    for k in ["family", "version", "deprecation", "node_groups"] {
        assert_eq!(a.body["body"][k], v2[k], "{k}: {}", a.text);
    }

    let with = |patch: Value| {
        let mut b = v2.clone();
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        b["id"] = json!("orders-bad");
        b
    };
    for (patch, field) in [
        (json!({"version": ""}), "version"),
        (json!({"version": "v 2"}), "version"),
        (
            json!({"version": "v2'); DROP TABLE api_calls; --"}),
            "version",
        ),
        (json!({"version": "v".repeat(33)}), "version"),
        (json!({"family": "or ders"}), "family"),
        (json!({"family": "x".repeat(300)}), "family"),
        (
            json!({"deprecation": {"since": "yesterday"}}),
            "deprecation.since",
        ),
        (
            json!({"deprecation": {"since": "2026-07-01T00:00:00Z", "sunset": "2026-01-01T00:00:00Z"}}),
            "deprecation.sunset",
        ),
        (
            json!({"deprecation": {"since": "2026-07-01T00:00:00Z", "link": "javascript:alert(1)"}}),
            "deprecation.link",
        ),
        (
            json!({"deprecation": {"since": "2026-07-01T00:00:00Z", "link": "https://a.example/>; rel=x"}}),
            "deprecation.link",
        ),
        (json!({"node_groups": ["edge", "Edge!"]}), "node_groups[1]"),
        (json!({"node_groups": ["edge", "edge"]}), "node_groups[1]"),
        (json!({"retired": "yes"}), "retired"),
    ] {
        let a = admin.post("/api/v1/apis", with(patch.clone())).await;
        assert_eq!(a.status, 422, "{patch}: {}", a.text);
        assert_eq!(a.body["error"]["field"], field, "{patch}: {}", a.text);
    }
    let a = get(&admin, "/api/v1/apis/orders-bad").await;
    assert_eq!(a.status, 404, "a refusal wrote: {}", a.text);
    for (patch, field) in [
        (json!({"default_version": "v 1"}), "default_version"),
        (
            json!({"select": {"header": "Accept-Version"}}),
            "select.header",
        ),
        (
            json!({"canary": {"version": "v2", "percent": 101}}),
            "canary.percent",
        ),
        (
            json!({"canary": {"version": "v2", "percent": -1}}),
            "canary.percent",
        ),
    ] {
        let mut b = family.clone();
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        b["id"] = json!("orders-bad");
        let a = admin.post("/api/v1/api-families", b).await;
        assert_eq!(a.status, 422, "{patch}: {}", a.text);
        assert_eq!(a.body["error"]["field"], field, "{patch}: {}", a.text);
    }
}
