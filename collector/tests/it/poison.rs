//! A batch a real ClickHouse refuses for good does not stop the flow: it is split out of its
//! round, set aside in `wal/quarantine/` and recorded in `ingest_quarantine`; every other batch
//! is stored once, and the log is acknowledged past it.
//!
//! The refusal is ClickHouse's own: a MATERIALIZED column `throwIf(path = '/poison')` makes
//! 18.16 (and current releases) refuse any INSERT block holding such a row (Code 395), as a
//! newer server refuses an insert spread over more than 100 partitions, or a value of the wrong
//! type — the same for every retry.

use crate::helpers::*;
use gatewatch_migrations::testing::migrated_store;
use gatewatch_model::BATCH_ID_HEADER;
use uuid::Uuid;

#[tokio::test]
async fn a_batch_clickhouse_refuses_is_set_aside_and_the_rest_flow_on() {
    let store = migrated_store("collector_poison").await;
    let raw = clickhouse::Client::default()
        .with_url(&store.config().url)
        .with_database(store.database())
        .with_validation(false);
    raw.query(
        "ALTER TABLE api_calls ADD COLUMN poison UInt8 MATERIALIZED throwIf(path = '/poison')",
    )
    .execute()
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let c = TestCollector::start(&store, dir.path()).await;
    let mut poison_id = String::new();
    for i in 0..6 {
        let mut rs = calls(10);
        let id = Uuid::now_v7().to_string();
        if i == 2 {
            rs[4].path = "/poison".into();
            poison_id = id.clone();
        }
        let (status, body) = post(
            &c.url("/v1/records"),
            &[NDJSON, (BATCH_ID_HEADER, &id)],
            ndjson(&rs),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    eventually_count(&store, "SELECT count() FROM api_calls", 50).await;
    eventually_count(&store, "SELECT count() FROM ingest_quarantine", 1).await;
    // The good batches have their markers, the refused one has none.
    eventually_count(&store, "SELECT count() FROM ingest_batches", 5).await;
    let error: String = raw
        .query("SELECT error FROM ingest_quarantine WHERE batch_id = toUUID(?)")
        .bind(&poison_id)
        .fetch_one()
        .await
        .unwrap();
    assert!(error.contains("Code: 395"), "{error}");
    // Its records and the error are on disk, its records as the ingest API takes them.
    let qdir = dir.path().join("quarantine");
    let mut files: Vec<_> = std::fs::read_dir(&qdir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    let records = files
        .iter()
        .find(|f| f.extension().unwrap() == "ndjson")
        .unwrap();
    assert!(records.to_str().unwrap().contains(&poison_id));
    let back = gatewatch_model::decode_lines::<gatewatch_model::CallRecord>(
        &std::fs::read(records).unwrap(),
    );
    assert_eq!(back.values.len(), 10);
    assert!(back.values.iter().any(|r| r.path == "/poison"));
    // The flow goes on, and the log is acknowledged past the refused batch.
    let (status, _) = post(&c.url("/v1/records"), &[NDJSON], ndjson(&calls(7))).await;
    assert_eq!(status, 200);
    eventually_count(&store, "SELECT count() FROM api_calls", 57).await;
    let metrics = get_text(&c.url("/metrics")).await;
    for line in [
        "gatewatch_collector_batches_quarantined_total 1",
        "gatewatch_collector_rows_quarantined_total 10",
        "gatewatch_collector_wal_pending_entries 0",
        "gatewatch_collector_clickhouse_down 0",
    ] {
        assert!(metrics.contains(line), "{line}\n{metrics}");
    }
    // A restart reads nothing again: the refused batch is not set aside twice.
    c.stop().await;
    let c = TestCollector::start(&store, dir.path()).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    eventually_count(&store, "SELECT count() FROM api_calls", 57).await;
    eventually_count(&store, "SELECT uniqExact(call_id) FROM api_calls", 57).await;
    eventually_count(&store, "SELECT count() FROM ingest_quarantine", 1).await;
    // Once the cause is gone, the set-aside records can be sent again, stored once.
    raw.query("ALTER TABLE api_calls DROP COLUMN poison")
        .execute()
        .await
        .unwrap();
    for _ in 0..2 {
        let (status, body) = post(
            &c.url("/v1/records"),
            &[
                NDJSON,
                (BATCH_ID_HEADER, &poison_id),
                (gatewatch_model::REPLAY_HEADER, "1"),
            ],
            std::fs::read(records).unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    eventually_count(&store, "SELECT count() FROM api_calls", 67).await;
    eventually_count(&store, "SELECT uniqExact(call_id) FROM api_calls", 67).await;
    c.stop().await;
}
