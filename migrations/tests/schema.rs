//! The schema against a real ClickHouse: applies, re-applies, and holds every typed row.

use gatewatch_migrations::{migrate, testing::migrated_store, Options, MIGRATIONS};
use gatewatch_model::{CallRecord, DiskUsage, Header, NodeSample, Outcome};
use gatewatch_store::ingest;
use gatewatch_store::rows::{ApiCallRow, BatchKind, NodeMetricRow};
use uuid::Uuid;

#[tokio::test]
async fn migrate_is_idempotent() {
    let store = migrated_store("migrate_is_idempotent").await;
    let again = migrate(&store, &Options::default()).await.unwrap();
    assert!(again.applied.is_empty());
    assert_eq!(again.already.len(), MIGRATIONS.len());
    for t in [
        "api_calls",
        "api_calls_1m",
        "api_calls_1h",
        "client_api_1h",
        "node_metrics",
        "ingest_batches",
        "ingest_quarantine",
    ] {
        let n = store
            .fetch_u64(&format!(
                "SELECT count() FROM system.tables WHERE database = '{}' AND name = '{t}'",
                store.database()
            ))
            .await
            .unwrap();
        assert_eq!(n, 1, "table {t}");
    }
}

#[tokio::test]
async fn every_column_round_trips_and_rollups_follow() {
    let store = migrated_store("every_column_round_trips").await;
    let batch = Uuid::now_v7();
    let mut r = CallRecord::new(
        Uuid::now_v7(),
        1_764_000_123_456_789,
        "gw-1",
        "POST",
        "/帳戶/查詢",
    );
    r.api_name = "查詢餘額".into();
    r.status = 504;
    r.outcome = Outcome::Timeout;
    r.latency_us = 30_000_123;
    r.upstream_latency_us = 30_000_000;
    r.overhead_us = 123;
    r.request_headers = vec![Header("x-a".into(), "1".into())];
    r.client_ip = "::1".into();
    r.truncated = vec!["path".into()];
    r.http_version = "HTTP/2".into();
    r.tls_version = "TLSv1.3".into();
    r.tls_cipher = "TLS13_AES_128_GCM_SHA256".into();
    r.client_cert = format!("sha256:{}", "0f".repeat(32));
    r.auth_method = "oauth2".into();
    r.token_jti = "0192f1c2-1a2b-7c3d-8e4f-5a6b7c8d9e0f".into();
    r.scopes = "orders.read orders.write".into();
    r.findings = vec!["sqli:query.q".into(), "xss:body.items[2].note".into()];
    r.policies = vec!["idempotency:stored".into()];
    let mut ins = gatewatch_migrations::testing::raw_client(&store)
        .insert::<ApiCallRow>("api_calls")
        .await
        .unwrap();
    ins.write(&ApiCallRow::new(&r, batch)).await.unwrap();
    ins.end().await.unwrap();

    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Back {
        #[serde(with = "clickhouse::serde::uuid")]
        call_id: Uuid,
        ts: u32,
        api_name: String,
        path: String,
        status: u16,
        outcome: String,
        latency_us: u64,
        request_headers: String,
        client_ip: String,
        truncated: Vec<String>,
        http_version: String,
        tls_version: String,
        tls_cipher: String,
        client_cert: String,
        auth_method: String,
        token_jti: String,
        scopes: String,
        findings: Vec<String>,
        policies: Vec<String>,
    }
    let b: Back = gatewatch_migrations::testing::raw_client(&store)
        .query("SELECT call_id, ts, api_name, path, status, toString(outcome), latency_us, request_headers, client_ip, truncated, http_version, tls_version, tls_cipher, client_cert, auth_method, token_jti, scopes, findings, policies FROM api_calls")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(b.call_id, r.call_id);
    assert_eq!(b.ts, 1_764_000_123);
    assert_eq!(b.api_name, "查詢餘額");
    assert_eq!(b.path, "/帳戶/查詢");
    assert_eq!(b.status, 504);
    assert_eq!(b.outcome, "timeout");
    assert_eq!(b.latency_us, 30_000_123);
    assert_eq!(b.request_headers, r#"[["x-a","1"]]"#);
    assert_eq!(b.client_ip, "::1");
    assert_eq!(b.truncated, ["path"]);
    assert_eq!(
        [b.http_version, b.tls_version, b.tls_cipher, b.client_cert],
        [r.http_version, r.tls_version, r.tls_cipher, r.client_cert]
    );
    assert_eq!(
        [b.auth_method, b.token_jti, b.scopes],
        [r.auth_method, r.token_jti, r.scopes]
    );
    assert_eq!([b.findings, b.policies], [r.findings, r.policies]);

    let calls_1m = store
        .fetch_u64("SELECT countMerge(calls) FROM api_calls_1m")
        .await
        .unwrap();
    let calls_1h = store
        .fetch_u64("SELECT countMerge(calls) FROM client_api_1h")
        .await
        .unwrap();
    assert_eq!((calls_1m, calls_1h), (1, 1));

    // markers and the dedup look-ups
    assert_eq!(
        ingest::stored_call_ids(&store, &[batch], (1_764_000_123, 1_764_000_123))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        ingest::stored_call_ids(&store, &[batch], (1_764_000_124, 1_764_000_200))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(ingest::stored_batches(&store, &[batch])
        .await
        .unwrap()
        .is_empty());
    ingest::mark_stored(&store, &[(batch, BatchKind::Calls, 1)], "c1", 1_764_000_200)
        .await
        .unwrap();
    assert!(ingest::stored_batches(&store, &[batch, Uuid::now_v7()])
        .await
        .unwrap()
        .contains(&batch));

    let s = NodeSample {
        ts_us: 1_764_000_000_000_000,
        node: "gw-1".into(),
        role: "gateway".into(),
        cpu_pct: 12.5,
        mem_used_bytes: 1,
        mem_total_bytes: 2,
        rss_bytes: 3,
        disks: vec![DiskUsage {
            mount: "/".into(),
            used_bytes: 4,
            total_bytes: 5,
        }],
        backlog: Default::default(),
    };
    let mut ins = gatewatch_migrations::testing::raw_client(&store)
        .insert::<NodeMetricRow>("node_metrics")
        .await
        .unwrap();
    ins.write(&NodeMetricRow::new(&s, batch)).await.unwrap();
    ins.end().await.unwrap();
    let used = store
        .fetch_u64("SELECT disk_used_bytes[1] FROM node_metrics WHERE mount[1] = '/'")
        .await
        .unwrap();
    assert_eq!(used, 4);
    assert_eq!(
        ingest::stored_node_samples(&store, &[batch], (1_764_000_000, 1_764_000_000))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn inserts_work_with_and_without_wire_compression() {
    use gatewatch_store::{Store, WireCompression};
    let base = migrated_store("wire_compression").await;
    for (i, compression) in [WireCompression::Lz4, WireCompression::None]
        .into_iter()
        .enumerate()
    {
        let store = Store::new(gatewatch_store::StoreConfig {
            compression,
            ..base.config().clone()
        });
        let r = CallRecord::new(Uuid::now_v7(), 1_764_000_000_000_000, "n", "GET", "/z");
        let mut ins = gatewatch_migrations::testing::raw_client(&store)
            .insert::<ApiCallRow>("api_calls")
            .await
            .unwrap();
        ins.write(&ApiCallRow::new(&r, Uuid::now_v7()))
            .await
            .unwrap();
        ins.end().await.unwrap();
        assert_eq!(
            store
                .fetch_u64("SELECT count() FROM api_calls")
                .await
                .unwrap(),
            i as u64 + 1
        );
    }
}

/// A run that stopped after adding a column but before recording its migration: the re-run
/// takes "already exists" as done and records the migration.
#[tokio::test]
async fn a_half_applied_add_column_migration_completes_on_a_rerun() {
    let store = migrated_store("half_applied_add_column").await;
    store.execute("DROP TABLE schema_migrations").await.unwrap();
    store
        .execute(
            "CREATE TABLE schema_migrations (version UInt32, name String, applied_at DateTime) \
             ENGINE = MergeTree ORDER BY version",
        )
        .await
        .unwrap();
    let earlier: Vec<String> = MIGRATIONS
        .iter()
        .filter(|m| m.name != "node_backlog")
        .map(|m| format!("({}, '{}', now())", m.version, m.name))
        .collect();
    store
        .execute(&format!(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES {}",
            earlier.join(", ")
        ))
        .await
        .unwrap();
    let report = migrate(&store, &Options::default()).await.unwrap();
    let backlog = MIGRATIONS
        .iter()
        .find(|m| m.name == "node_backlog")
        .unwrap();
    assert_eq!(report.applied, vec![backlog.version]);
    assert_eq!(
        store
            .fetch_u64("SELECT count() FROM system.columns WHERE database = currentDatabase() AND table = 'node_metrics' AND name = 'spool_bytes'")
            .await
            .unwrap(),
        1
    );
}
