//! Call search and call detail through the whole binary: calls go through the gateway and the
//! collector into ClickHouse; a support user finds them through the dashboards' report API and
//! opens one; who may search is what `Role::may` says (a manager may not).

use crate::admin::{add_user, Api};
use crate::helpers::*;
use gatewatch_model::{Permission, Role};
use std::time::Duration;

const PW: &str = "a long test password";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_finds_a_call_and_opens_it_and_a_manager_may_not() {
    let up = upstream().await;
    let routes = format!(
        r#"
[[routes]]
prefix = "/shop"
upstreams = ["http://{up}"]
strip_prefix = true
name = "訂單 API"
"#
    );
    let site = Site::new(
        "reports_detail",
        &gatewatch_migrations::testing::clickhouse_url(),
        &routes,
    );
    let store = site.migrate().await;
    for role in Role::ALL {
        add_user(&site, &format!("u-{role}"), role.as_str(), PW);
    }
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;
    let _dash = site.start("dashboards").await;

    let statuses = drive(
        &site.url(""),
        &["/shop/ok", "/shop/missing", "/shop/ok"],
        9,
        3,
        Duration::ZERO,
    )
    .await;
    assert_eq!(statuses.get(&200), Some(&6), "{statuses:?}");
    assert_eq!(statuses.get(&404), Some(&3), "{statuses:?}");
    eventually(&store, "SELECT count() FROM api_calls", 9, 30).await;

    let support = Api::login(site.dashboards, "u-support", PW).await;

    // Find the 404s by path substring and status, newest first.
    let a = support
        .call(
            "GET",
            "/api/v1/reports/calls?range=1h&path_contains=missing&status=404",
            None,
            &[],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let rows = a.body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{}", a.text);
    assert!(rows
        .windows(2)
        .all(|w| w[0]["ts_us"].as_i64() >= w[1]["ts_us"].as_i64()));
    for r in rows {
        assert_eq!(r["status"], 404);
        assert_eq!(r["outcome"], "client_error");
        assert_eq!(r["api_name"], "訂單 API");
        assert!(r["path"].as_str().unwrap().contains("missing"));
        assert!(r["latency_ms"].as_f64().unwrap() >= 0.0);
    }

    // Method and least latency: every call was a GET; none took a day.
    let a = support
        .call(
            "GET",
            "/api/v1/reports/calls?range=1h&method=get&min_latency_ms=0",
            None,
            &[],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["rows"].as_array().unwrap().len(), 9, "{}", a.text);
    for q in ["method=POST", "min_latency_ms=86400000"] {
        let a = support
            .call(
                "GET",
                &format!("/api/v1/reports/calls?range=1h&{q}"),
                None,
                &[],
            )
            .await;
        assert_eq!(a.status, 200, "{q}: {}", a.text);
        assert_eq!(
            a.body["rows"].as_array().unwrap().len(),
            0,
            "{q}: {}",
            a.text
        );
    }
    for (q, field) in [
        ("method=G%20T", "method"),
        ("min_latency_ms=-5", "min_latency_ms"),
        ("min_latency_ms=86400001", "min_latency_ms"),
    ] {
        let a = support
            .call(
                "GET",
                &format!("/api/v1/reports/calls?range=1h&{q}"),
                None,
                &[],
            )
            .await;
        assert_eq!(a.status, 422, "{q}: {}", a.text);
        assert_eq!(a.body["error"]["field"], field, "{q}: {}", a.text);
    }
    // An aggregate report refuses them by name instead of ignoring them.
    let a = support
        .call(
            "GET",
            "/api/v1/reports/usage?range=1h&method=GET",
            None,
            &[],
        )
        .await;
    assert_eq!(a.status, 422, "{}", a.text);
    assert_eq!(a.body["error"]["field"], "method", "{}", a.text);

    // Open one: every column, headers as objects.
    let id = rows[0]["call_id"].as_str().unwrap().to_string();
    let d = support
        .call("GET", &format!("/api/v1/reports/calls/{id}"), None, &[])
        .await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.body["call_id"], id.as_str());
    assert_eq!(d.body["status"], 404);
    assert_eq!(d.body["method"], "GET");
    assert!(d.body["request_headers"].is_object(), "{}", d.text);
    assert!(d.body["response_headers"].is_object(), "{}", d.text);
    for key in [
        "latency_us",
        "upstream_latency_us",
        "overhead_us",
        "request_bytes",
        "response_bytes",
        "upstream",
        "node",
        "time",
    ] {
        assert!(d.body.get(key).is_some(), "{key}: {}", d.text);
    }

    // Unknown and malformed ids; a cursor that is not one.
    let unknown = uuid::Uuid::now_v7();
    let a = support
        .call(
            "GET",
            &format!("/api/v1/reports/calls/{unknown}"),
            None,
            &[],
        )
        .await;
    assert_eq!(a.status, 404, "{}", a.text);
    let a = support
        .call("GET", "/api/v1/reports/calls/not-a-uuid", None, &[])
        .await;
    assert_eq!(a.status, 422, "{}", a.text);
    assert_eq!(a.body["error"]["field"], "call_id");
    let a = support
        .call(
            "GET",
            "/api/v1/reports/calls?range=1h&cursor=bm9wZQ",
            None,
            &[],
        )
        .await;
    assert_eq!(a.status, 422, "{}", a.text);
    assert_eq!(a.body["error"]["field"], "cursor");

    // Pages of 2 walk all 9 calls once.
    let mut seen = Vec::new();
    let mut path = "/api/v1/reports/calls?range=1h&limit=2".to_string();
    loop {
        let a = support.call("GET", &path, None, &[]).await;
        assert_eq!(a.status, 200, "{}", a.text);
        for r in a.body["rows"].as_array().unwrap() {
            seen.push(r["call_id"].as_str().unwrap().to_string());
        }
        match a.body["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/reports/calls?range=1h&limit=2&cursor={c}"),
            None => break,
        }
        assert!(seen.len() <= 9, "the walk repeats");
    }
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (9, 9));

    // CSV export: a byte-order mark, a heading and one line per call.
    let a = support
        .call(
            "GET",
            "/api/v1/reports/calls?range=1h&format=csv",
            None,
            &[],
        )
        .await;
    assert_eq!(a.status, 200);
    assert!(a.text.starts_with('\u{feff}'));
    assert_eq!(a.text.trim_end().lines().count(), 10, "{}", a.text);

    // Who may search calls and open one: the role table decides.
    for role in Role::ALL {
        let api = Api::login(site.dashboards, &format!("u-{role}"), PW).await;
        let want = if role.may(Permission::ReadCallDetail) {
            200
        } else {
            403
        };
        for path in [
            "/api/v1/reports/calls?range=1h".to_string(),
            format!("/api/v1/reports/calls/{id}"),
        ] {
            let a = api.call("GET", &path, None, &[]).await;
            assert_eq!(a.status, want, "{role} {path}: {}", a.text);
        }
        let want = if role.may(Permission::ReadReports) {
            200
        } else {
            403
        };
        let a = api
            .call("GET", "/api/v1/reports/top?range=1h&by=slowest", None, &[])
            .await;
        assert_eq!(a.status, want, "{role} top: {}", a.text);
    }
    assert!(!Role::Manager.may(Permission::ReadCallDetail));
}
