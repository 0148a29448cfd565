//! APIs registered in the configuration log reach running gateways without a restart, and a
//! gateway starts from its snapshot when ClickHouse is down.

use crate::helpers::*;
use gatewatch_model::EntityKind;
use gatewatch_store::config_log::{self, Change};
use std::time::{Duration, Instant};

fn api(id: &str, body: serde_json::Value, expected: u64) -> Change {
    Change {
        kind: EntityKind::Api,
        id: id.to_string(),
        body: body.to_string(),
        deleted: false,
        expected_version: Some(expected),
    }
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// Polls `url` until it answers `want`; returns how long that took.
async fn until_status(url: &str, want: u16, secs: u64) -> Duration {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(secs) {
        let s = drive(url, &[""], 1, 1, Duration::ZERO).await;
        if s.contains_key(&want) {
            return t0.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not answer {want} within {secs} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_registered_in_the_log_reaches_a_running_gateway_under_load() {
    let up = upstream().await;
    let routes = format!(
        "[[routes]]\nprefix = \"/api\"\nupstreams = [\"http://{up}\"]\nstrip_prefix = true\n"
    );
    let site = Site::new(
        "hot_reload",
        &gatewatch_migrations::testing::clickhouse_url(),
        &routes,
    );
    let store = site.migrate().await;
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;
    let orders = site.url("/orders/ok");
    assert_eq!(
        drive(&orders, &[""], 1, 1, Duration::ZERO).await.get(&404),
        Some(&1)
    );

    // Calls on the file's route keep flowing while the configuration changes.
    let base = site.url("");
    let load =
        tokio::spawn(
            async move { drive(&base, &["/api/ok"], 2000, 4, Duration::from_millis(2)).await },
        );

    let body = serde_json::json!({"name": "訂單", "prefix": "/orders", "upstreams": [format!("http://{up}")], "strip_prefix": true});
    config_log::write(
        &store,
        "e2e",
        "add orders",
        &[api("orders", body.clone(), 0)],
        now_us(),
    )
    .await
    .unwrap();
    let took = until_status(&orders, 200, 20).await;
    println!("new API reached the gateway in {} ms", took.as_millis());

    let mut disabled = body;
    disabled["enabled"] = serde_json::json!(false);
    config_log::write(
        &store,
        "e2e",
        "disable orders",
        &[api("orders", disabled, 1)],
        now_us(),
    )
    .await
    .unwrap();
    let took = until_status(&orders, 404, 20).await;
    println!("disabling reached the gateway in {} ms", took.as_millis());

    let statuses = load.await.unwrap();
    assert_eq!(
        statuses.get(&200),
        Some(&2000),
        "calls failed during reloads: {statuses:?}"
    );
    eventually(&store, "SELECT toUInt64(count() > 0) FROM api_calls WHERE api_id = 'orders' AND api_name = '訂單' AND status = 200", 1, 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_starts_from_its_snapshot_when_clickhouse_is_down() {
    let mut ch = PrivateClickHouse::start();
    let up = upstream().await;
    let site = Site::new("snapshot_start", &ch.url(), "");
    let store = site.migrate().await;
    let body = serde_json::json!({"name": "orders", "prefix": "/orders", "upstreams": [format!("http://{up}")], "strip_prefix": true});
    config_log::write(&store, "e2e", "", &[api("orders", body, 0)], now_us())
        .await
        .unwrap();

    let mut gateway = site.start("gateway").await;
    until_status(&site.url("/orders/ok"), 200, 20).await;
    gateway.kill();
    ch.stop();

    let _gateway = site.start("gateway").await;
    until_status(&site.url("/orders/ok"), 200, 20).await;
}
