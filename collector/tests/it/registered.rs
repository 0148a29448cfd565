//! `[collector] registered_nodes_only`: a batch naming a node the node registry does not know
//! is refused whole (403, the field and the node named); a registered node's batches pass and
//! are stored exactly; a collector that never read the registry answers 503 (resend later).

use crate::helpers::*;
use gatewatch_migrations::testing::migrated_store;
use gatewatch_model::BATCH_ID_HEADER;
use gatewatch_store::registry::{self, NodeEntry};
use gatewatch_store::Store;
use std::time::Duration;
use uuid::Uuid;

async fn register(store: &Store, node: &str) {
    let entry = NodeEntry {
        node: node.into(),
        role: "gateway".into(),
        instance: "127.0.0.1:8080".into(),
        groups: vec!["default".into()],
        version: "test".into(),
        listen: vec!["127.0.0.1:8080".into()],
        started_us: now_us(),
        heartbeat_us: now_us(),
        apis: Vec::new(),
        stopping: false,
    };
    registry::heartbeat(store, &entry).await.unwrap();
}

fn calls_from(node: &str, n: usize) -> Vec<gatewatch_model::CallRecord> {
    let mut v = calls(n);
    for r in &mut v {
        r.node = node.into();
    }
    v
}

fn sample(node: &str) -> String {
    format!(
        "{{\"ts_us\":{},\"node\":\"{node}\",\"role\":\"gateway\",\"cpu_pct\":1.0,\"mem_used_bytes\":1,\"mem_total_bytes\":2,\"rss_bytes\":1}}\n",
        now_us()
    )
}

async fn only_registered(store: &Store, dir: &std::path::Path) -> TestCollector {
    TestCollector::start_with(store, dir, |c| c.registered_nodes_only = true).await
}

#[tokio::test]
async fn a_forged_node_is_refused_whole_and_a_registered_one_is_stored_exactly() {
    let store = migrated_store("collector_registered_only").await;
    register(&store, "gw-real").await;
    let dir = tempfile::tempdir().unwrap();
    let c = only_registered(&store, dir.path()).await;

    // A forged node name: refused, naming the field and the node; nothing stored.
    let (status, body) = post(
        &c.url("/v1/records"),
        &[NDJSON],
        ndjson(&calls_from("gw-forged", 5)),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "node_not_registered");
    assert_eq!(body["error"]["field"], "node");
    assert_eq!(body["error"]["node"], "gw-forged");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(r#"node "gw-forged" is not registered"#),
        "{message}"
    );

    // One forged line among good ones: the whole batch goes back, none of it is stored.
    let mut mixed = calls_from("gw-real", 9);
    mixed[4].node = "gw-real ".into(); // a look-alike is another name
    let (status, body) = post(&c.url("/v1/records"), &[NDJSON], ndjson(&mixed)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["node"], "gw-real ");

    // Samples are checked the same way.
    let (status, body) = post(&c.url("/v1/node-samples"), &[NDJSON], sample("gw-forged")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "node_not_registered");

    // The registered node: N in, exactly N stored (and the refused ones never are).
    const N: u64 = 137;
    for chunk in [50, 50, 37] {
        let id = Uuid::now_v7().to_string();
        let (status, body) = post(
            &c.url("/v1/records"),
            &[NDJSON, (BATCH_ID_HEADER, &id)],
            ndjson(&calls_from("gw-real", chunk)),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = post(&c.url("/v1/node-samples"), &[NDJSON], sample("gw-real")).await;
    assert_eq!(status, 200, "{body}");
    eventually_count(&store, "SELECT count() FROM node_metrics", 1).await;
    eventually_count(&store, "SELECT count() FROM api_calls", N).await;
    eventually_count(
        &store,
        "SELECT count() FROM api_calls WHERE node != 'gw-real'",
        0,
    )
    .await;
    let metrics = get_text(&c.url("/metrics")).await;
    assert!(
        metrics.contains(r#"gatewatch_collector_requests_total{result="unregistered"} 3"#),
        "{metrics}"
    );

    // A node that registers later is taken once the collector re-reads the registry (every
    // few seconds): the sender's resend then passes.
    register(&store, "gw-late").await;
    let mut passed = false;
    for _ in 0..100 {
        let (status, _) = post(
            &c.url("/v1/records"),
            &[NDJSON],
            ndjson(&calls_from("gw-late", 1)),
        )
        .await;
        if status == 200 {
            passed = true;
            break;
        }
        assert_eq!(status, 403);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(passed, "a newly registered node stayed refused");
    c.stop().await;
}

#[tokio::test]
async fn a_collector_that_never_read_the_registry_asks_for_a_resend() {
    // ClickHouse unreachable from the start: nothing is known, so nothing is guessed.
    let store = Store::new(gatewatch_store::StoreConfig {
        url: "http://127.0.0.1:1".into(),
        database: "gatewatch_nowhere".into(),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let c = only_registered(&store, dir.path()).await;
    let (status, headers, body) = post_full(
        &c.url("/v1/records"),
        &[NDJSON],
        ndjson(&calls_from("gw-any", 2)),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "registry_unavailable");
    assert_eq!(headers["retry-after"], "5");
    c.stop().await;
}
