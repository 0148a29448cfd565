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
