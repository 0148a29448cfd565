//! The node registry (`node_registry`, migration 16) against a real ClickHouse: heartbeats in,
//! the newest entry per process out.

use gatewatch_migrations::testing::migrated_store;
use gatewatch_store::registry::{self, NodeEntry};

const T0: i64 = 1_764_000_000_000_000; // 2025-11-24T16:00:00Z

fn entry(node: &str, role: &str, hb: i64, apis: &[&str]) -> NodeEntry {
    NodeEntry {
        node: node.into(),
        role: role.into(),
        instance: "127.0.0.1:8080".into(),
        groups: vec!["edge".into()],
        version: "0.1.0".into(),
        listen: vec!["127.0.0.1:8080".into()],
        started_us: T0,
        heartbeat_us: hb,
        apis: apis.iter().map(|s| s.to_string()).collect(),
        stopping: false,
    }
}

#[tokio::test]
async fn the_newest_heartbeat_of_each_process_is_its_entry() {
    let store = migrated_store("registry").await;
    registry::heartbeat(&store, &entry("gw1", "gateway", T0 + 1, &["a"]))
        .await
        .unwrap();
    registry::heartbeat(
        &store,
        &entry("gw1", "gateway", T0 + 5_000_000, &["a", "b"]),
    )
    .await
    .unwrap();
    let mut bye = entry("gw2", "collector", T0 + 2_000_000, &[]);
    bye.stopping = true;
    registry::heartbeat(&store, &bye).await.unwrap();
    let got = registry::list(&store, T0 - 60_000_000).await.unwrap();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], entry("gw1", "gateway", T0 + 5_000_000, &["a", "b"]));
    assert_eq!(got[1], bye);
    assert!(registry::list(&store, T0 + 3_600_000_000)
        .await
        .unwrap()
        .is_empty());
}

/// The loop every role runs: a row at once, a goodbye row with `stopping` when told to stop.
#[tokio::test]
async fn the_heartbeat_loop_says_hello_at_once_and_goodbye_on_stop() {
    let store = migrated_store("registry_run").await;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut asked = 0u32;
    let task = tokio::spawn(registry::run(
        store.clone(),
        move || {
            asked += 1;
            let mut e = entry("gw-loop", "gateway", 0, &["a"]);
            e.apis = vec![format!("asked-{asked}")];
            e.stopping = true; // overwritten by the loop
            e
        },
        std::time::Duration::from_secs(3600),
        stop,
    ));
    // The first beat is written at once.
    let mut first = Vec::new();
    for _ in 0..100 {
        first = registry::list(&store, 0).await.unwrap();
        if !first.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(!first[0].stopping);
    assert_eq!(first[0].apis, ["asked-1"]);
    assert!(first[0].heartbeat_us > T0, "the loop sets the time");
    stop_tx.send(true).unwrap();
    task.await.unwrap();
    let last = registry::list(&store, 0).await.unwrap();
    assert_eq!(last.len(), 1, "{last:?}");
    assert!(last[0].stopping, "{last:?}");
    assert_eq!(
        last[0].apis,
        ["asked-2"],
        "the entry is asked again for the goodbye"
    );
}

/// ClickHouse away: the loop neither fails nor hangs the role; stopping still returns.
#[tokio::test]
async fn the_heartbeat_loop_survives_an_unreachable_clickhouse_and_still_stops() {
    let store = gatewatch_store::Store::new(gatewatch_store::StoreConfig {
        url: "http://127.0.0.1:1".into(),
        database: "gatewatch_nowhere".into(),
        ..Default::default()
    });
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(registry::run(
        store,
        || entry("gw-away", "gateway", 0, &[]),
        std::time::Duration::from_millis(20),
        stop,
    ));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!task.is_finished(), "the loop keeps trying");
    stop_tx.send(true).unwrap();
    task.await.unwrap();
}
