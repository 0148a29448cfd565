//! N calls through the gateway, mixed outcomes → exactly N rows, fields right, rollups agree.

use crate::helpers::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_becomes_one_row_with_the_right_outcome() {
    let up = upstream().await;
    // Held bound (never listening) for the whole test: refused, and no other test's server
    // can be given the port meanwhile.
    let held = tokio::net::TcpSocket::new_v4().unwrap();
    held.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let dead = held.local_addr().unwrap().port();
    let routes = format!(
        r#"
[[routes]]
prefix = "/api"
upstreams = ["http://{up}"]
strip_prefix = true
name = "查詢 API"

[[routes]]
prefix = "/dead"
upstreams = ["http://127.0.0.1:{dead}"]
"#
    );
    let site = Site::new(
        "spine",
        &gatewatch_migrations::testing::clickhouse_url(),
        &routes,
    );
    let store = site.migrate().await;
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;

    let paths = [
        "/api/ok",
        "/api/missing",
        "/api/fail",
        "/api/slow",
        "/dead/x",
        "/nowhere",
    ];
    let n = 300;
    let statuses = drive(&site.url(""), &paths, n, 12, Duration::ZERO).await;
    assert_eq!(statuses.get(&200), Some(&50), "{statuses:?}");
    assert_eq!(statuses.get(&404), Some(&100), "{statuses:?}");
    assert_eq!(statuses.get(&500), Some(&50), "{statuses:?}");
    assert_eq!(statuses.get(&504), Some(&50), "{statuses:?}");
    assert_eq!(statuses.get(&502), Some(&50), "{statuses:?}");

    eventually(&store, "SELECT count() FROM api_calls", n as u64, 30).await;
    assert_eq!(
        store
            .fetch_u64("SELECT uniqExact(call_id) FROM api_calls")
            .await
            .unwrap(),
        n as u64
    );
    for (outcome, want) in [
        ("ok", 50),
        ("client_error", 50),
        ("upstream_error", 50),
        ("timeout", 50),
        ("upstream_unreachable", 50),
        ("no_route", 50),
    ] {
        let got = store
            .fetch_u64(&format!(
                "SELECT count() FROM api_calls WHERE outcome = '{outcome}'"
            ))
            .await
            .unwrap();
        assert_eq!(got, want, "outcome {outcome}");
    }
    // fields
    let q = |sql: &str| {
        let store = store.clone();
        let sql = sql.to_string();
        async move { store.fetch_u64(&sql).await.unwrap() }
    };
    assert_eq!(
        q("SELECT count() FROM api_calls WHERE api_id = '/api' AND api_name = '查詢 API'").await,
        200
    );
    assert_eq!(
        q("SELECT count() FROM api_calls WHERE node = 'e2e-spine'").await,
        300
    );
    assert_eq!(
        q("SELECT count() FROM api_calls WHERE request_id = ''").await,
        0
    );
    assert_eq!(
        q("SELECT count() FROM api_calls WHERE latency_us < upstream_latency_us").await,
        0
    );
    assert_eq!(
        q("SELECT count() FROM api_calls WHERE overhead_us != latency_us - upstream_latency_us")
            .await,
        0
    );
    assert_eq!(q("SELECT count() FROM api_calls WHERE outcome = 'timeout' AND (status != 504 OR latency_us < 1000000)").await, 0);
    assert_eq!(q("SELECT count() FROM api_calls WHERE outcome = 'ok' AND (path != '/api/ok' OR response_bytes != 11 OR upstream = '')").await, 0);
    assert_eq!(
        q("SELECT count() FROM api_calls WHERE toUInt32(intDiv(ts_us, 1000000)) != toUInt32(ts)")
            .await,
        0
    );
    // rollups agree with the raw rows
    eventually(
        &store,
        "SELECT countMerge(calls) FROM api_calls_1m",
        n as u64,
        10,
    )
    .await;
    eventually(
        &store,
        "SELECT countMerge(calls) FROM api_calls_1h",
        n as u64,
        10,
    )
    .await;
    eventually(
        &store,
        "SELECT countMerge(calls) FROM client_api_1h",
        n as u64,
        10,
    )
    .await;
    assert_eq!(
        q("SELECT countMerge(calls) FROM api_calls_1m WHERE status_class = 5").await,
        q("SELECT count() FROM api_calls WHERE status >= 500").await
    );
    // node samples arrive too
    eventually(
        &store,
        "SELECT toUInt64(count() > 0) FROM node_metrics WHERE node = 'e2e-spine'",
        1,
        30,
    )
    .await;
}
