//! Nothing lost, nothing doubled: resends, replays and restarts store each row once.

use crate::helpers::*;
use gatewatch_migrations::testing::migrated_store;
use gatewatch_model::{BATCH_ID_HEADER, REPLAY_HEADER};
use uuid::Uuid;

const COUNT: &str = "SELECT count() FROM api_calls";
const DISTINCT: &str = "SELECT uniqExact(call_id) FROM api_calls";

#[tokio::test]
async fn batches_are_stored_and_a_resent_batch_is_stored_once() {
    let store = migrated_store("collector_resend").await;
    let dir = tempfile::tempdir().unwrap();
    let c = TestCollector::start(&store, dir.path()).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        let id = Uuid::now_v7().to_string();
        let (status, body) = post(
            &c.url("/v1/records"),
            &[NDJSON, (BATCH_ID_HEADER, &id)],
            ndjson(&calls(100)),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["accepted"], 100);
        ids.push(id);
    }
    eventually_count(&store, COUNT, 1000).await;
    // The same batch again: a lost acknowledgement makes a shipper do this.
    let records = calls(50);
    let id = Uuid::now_v7().to_string();
    for _ in 0..2 {
        let (status, _) = post(
            &c.url("/v1/records"),
            &[NDJSON, (BATCH_ID_HEADER, &id), (REPLAY_HEADER, "1")],
            ndjson(&records),
        )
        .await;
        assert_eq!(status, 200);
    }
    eventually_count(&store, COUNT, 1050).await;
    // ... and once more much later, after it is stored and acknowledged.
    let (status, _) = post(
        &c.url("/v1/records"),
        &[NDJSON, (BATCH_ID_HEADER, &id), (REPLAY_HEADER, "1")],
        ndjson(&records),
    )
    .await;
    assert_eq!(status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    eventually_count(&store, COUNT, 1050).await;
    eventually_count(&store, DISTINCT, 1050).await;
    // the rollup agrees
    eventually_count(&store, "SELECT countMerge(calls) FROM api_calls_1m", 1050).await;
    c.stop().await;
}

#[tokio::test]
async fn replay_after_crash_inserts_each_batch_once() {
    let store = migrated_store("collector_replay_after_crash").await;
    let dir = tempfile::tempdir().unwrap();
    let c = TestCollector::start(&store, dir.path()).await;
    for _ in 0..5 {
        let (status, _) = post(&c.url("/v1/records"), &[NDJSON], ndjson(&calls(200))).await;
        assert_eq!(status, 200);
    }
    eventually_count(&store, COUNT, 1000).await;
    c.stop().await;
    // As if the process died after inserting but before acknowledging the log: every entry
    // is replayed, and half of them also lost their marker (died before writing it).
    std::fs::write(dir.path().join("acked"), "0").unwrap();
    store
        .execute("ALTER TABLE ingest_batches DELETE WHERE rand() % 2 = 0")
        .await
        .unwrap();
    let c = TestCollector::start(&store, dir.path()).await;
    let (status, _) = post(&c.url("/v1/records"), &[NDJSON], ndjson(&calls(10))).await;
    assert_eq!(status, 200);
    eventually_count(&store, COUNT, 1010).await;
    eventually_count(&store, DISTINCT, 1010).await;
    c.stop().await;
}

#[tokio::test]
async fn node_samples_are_stored_once() {
    let store = migrated_store("collector_node_samples").await;
    let dir = tempfile::tempdir().unwrap();
    let c = TestCollector::start(&store, dir.path()).await;
    let line = r#"{"ts_us":1764000000000000,"node":"n1","role":"gateway","cpu_pct":12.5,"mem_used_bytes":10,"mem_total_bytes":20,"rss_bytes":5,"disks":[{"mount":"/","used_bytes":1,"total_bytes":2}]}"#;
    let id = Uuid::now_v7().to_string();
    for _ in 0..2 {
        let (status, body) = post(
            &c.url("/v1/node-samples"),
            &[NDJSON, (BATCH_ID_HEADER, &id), (REPLAY_HEADER, "1")],
            format!("{line}\n"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    eventually_count(&store, "SELECT count() FROM node_metrics", 1).await;
    c.stop().await;
}

/// A batch another collector has stored (its marker is in `ingest_batches`) that reaches this
/// one *without* the replay mark — this collector was frozen past the gateway's timeout and
/// took the request late — is skipped: every round reads the markers of all its batches.
#[tokio::test]
async fn a_fresh_batch_another_collector_stored_is_skipped() {
    let store = migrated_store("collector_late_copy").await;
    let dir = tempfile::tempdir().unwrap();
    let c = TestCollector::start(&store, dir.path()).await;
    let late = Uuid::now_v7();
    gatewatch_store::ingest::mark_stored(
        &store,
        &[(late, gatewatch_store::rows::BatchKind::Calls, 30)],
        "the-other-collector",
        now_us().div_euclid(1_000_000) as u32,
    )
    .await
    .unwrap();
    let (status, _) = post(
        &c.url("/v1/records"),
        &[NDJSON, (BATCH_ID_HEADER, &late.to_string())],
        ndjson(&calls(30)),
    )
    .await;
    assert_eq!(status, 200);
    // A batch after it, to know the round with the late one is done.
    let (status, _) = post(
        &c.url("/v1/records"),
        &[NDJSON, (BATCH_ID_HEADER, &Uuid::now_v7().to_string())],
        ndjson(&calls(20)),
    )
    .await;
    assert_eq!(status, 200);
    eventually_count(&store, COUNT, 20).await;
    let skipped = get_text(&c.url("/metrics")).await;
    assert!(
        skipped.contains("gatewatch_collector_rows_skipped_total 30"),
        "{skipped}"
    );
    assert_eq!(store.fetch_u64(COUNT).await.unwrap(), 20);
    c.stop().await;
}
