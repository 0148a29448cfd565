//! The schema on the cluster: `migrate` lays every table out as docs/cluster.md says on all four
//! servers, runs again (also after a crash halfway) without harm, a call lands on exactly one
//! shard and on both its replicas (and in that shard's rollups), the small tables are read from
//! every server, and retention finds and drops a sharded table's partitions on every shard.

use crate::harness::{self, ClusterDb, SERVERS};
use gatewatch_migrations::{migrate, Options, MIGRATIONS};
use gatewatch_model::{CallRecord, NodeSample, Outcome};
use gatewatch_store::layout::{self, Layout};
use gatewatch_store::rows::{ApiCallRow, NodeMetricRow};
use gatewatch_store::{ingest, retention};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// 2026-11-20T00:00:00Z.
const T0: i64 = 1_763_596_800;

fn call(i: u64, day: i64) -> CallRecord {
    let secs = T0 + day * 86_400 + (i as i64 % 86_000);
    let id = Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        secs as u64,
        i as u32,
    ));
    let mut r = CallRecord::new(id, secs * 1_000_000, "gw-1", "GET", "/x");
    r.api_id = format!("api{}", i % 3);
    r.status = 200;
    r.outcome = Outcome::Ok;
    r.latency_us = 1_000 + i;
    r
}

async fn insert(store: &gatewatch_store::Store, calls: &[CallRecord]) {
    let batch = Uuid::now_v7();
    let rows: Vec<ApiCallRow<'_>> = calls.iter().map(|c| ApiCallRow::new(c, batch)).collect();
    ingest::insert_calls(store, &rows).await.expect("insert");
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct TableRow {
    name: String,
    engine: String,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct ReplicaRow {
    table: String,
    zookeeper_path: String,
    replica_name: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_lays_out_every_table_on_every_server() {
    let db = ClusterDb::new("layout").await;
    for s in SERVERS {
        let tables: BTreeMap<String, String> = harness::client(s)
            .query("SELECT name, engine FROM system.tables WHERE database = ?")
            .bind(&db.name)
            .fetch_all::<TableRow>()
            .await
            .unwrap()
            .into_iter()
            .map(|t| (t.name, t.engine))
            .collect();
        let replicas: BTreeMap<String, (String, String)> = harness::client(s)
            .query("SELECT table, zookeeper_path, replica_name FROM system.replicas WHERE database = ?")
            .bind(&db.name)
            .fetch_all::<ReplicaRow>()
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.table, (r.zookeeper_path, r.replica_name)))
            .collect();
        let mut want = BTreeMap::new();
        for (t, l) in layout::TABLES {
            match l {
                Layout::Sharded { .. } => {
                    want.insert(t.to_string(), "Distributed");
                    let local = layout::local_name(t);
                    assert_eq!(
                        replicas.get(&local),
                        Some(&(
                            format!("/clickhouse/tables/{}/{}/{local}", s.shard, db.name),
                            s.name.to_string()
                        )),
                        "{} {local}",
                        s.name
                    );
                    want.insert(local, "");
                }
                Layout::Everywhere => {
                    want.insert(t.to_string(), "");
                    assert_eq!(
                        replicas.get(*t),
                        Some(&(
                            format!("/clickhouse/tables/all/{}/{t}", db.name),
                            s.name.to_string()
                        )),
                        "{} {t}",
                        s.name
                    );
                }
            }
        }
        for mv in ["api_calls_1m_mv", "api_calls_1h_mv", "client_api_1h_mv"] {
            want.insert(mv.to_string(), "MaterializedView");
        }
        assert_eq!(
            tables.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "tables of {}",
            s.name
        );
        for (t, engine) in &tables {
            match want[t] {
                "" => assert!(
                    engine.starts_with("Replicated") && engine.ends_with("MergeTree"),
                    "{} {t}: {engine}",
                    s.name
                ),
                w => assert_eq!(engine, w, "{} {t}", s.name),
            }
        }
        // The columns later migrations added reached the shards' tables, the Distributed
        // tables and the tables on every server.
        for (t, col) in [
            ("api_calls", "api_version"),
            ("api_calls_local", "api_version"),
            ("api_calls", "truncated"),
            ("node_metrics", "records_dropped"),
        ] {
            let n = harness::client(s)
                .query("SELECT count() FROM system.columns WHERE database = ? AND table = ? AND name = ?")
                .bind(&db.name)
                .bind(t)
                .bind(col)
                .fetch_one::<u64>()
                .await
                .unwrap();
            assert_eq!(n, 1, "{} {t}.{col}", s.name);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_runs_again_and_after_a_crash_halfway() {
    let db = ClusterDb::new("again").await;
    let again = migrate(&db.store, &Options::default()).await.unwrap();
    assert!(again.applied.is_empty(), "{again:?}");
    assert_eq!(again.already.len(), MIGRATIONS.len());

    // A run that died halfway through a new database: the shards' tables and views made, the
    // Distributed tables not, no version recorded. The next run makes the rest.
    harness::drop_database(&db.name).await;
    let all = gatewatch_migrations::all_statements(
        &db.name,
        &Options {
            on_cluster: Some(harness::CLUSTER.into()),
        },
    );
    let cut = all
        .iter()
        .position(|s| s.contains("ENGINE = Distributed("))
        .expect("Distributed tables");
    for s in &all[..cut] {
        harness::client(SERVERS[0])
            .query(s)
            .execute()
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    let n = db
        .each(&format!(
            "SELECT count() FROM system.tables WHERE database = '{}' AND name = 'api_calls'",
            db.name
        ))
        .await;
    assert_eq!(n, [0, 0, 0, 0], "the crash left no api_calls");
    let after = migrate(&db.store, &Options::default()).await.unwrap();
    assert_eq!(after.applied.len(), MIGRATIONS.len(), "{after:?}");
    let n = db
        .each(&format!(
            "SELECT count() FROM system.columns WHERE database = '{}' AND table = 'api_calls' AND name = 'api_version'",
            db.name
        ))
        .await;
    assert_eq!(n, [1, 1, 1, 1]);
}

/// A site that migrated before gets a new file's own statements: here the last file (a column
/// of `api_calls`), as an upgrade would: `ALTER TABLE api_calls_local … ON CLUSTER`, then the
/// Distributed `api_calls` made again from it, on every server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_alters_the_shards_and_remakes_the_distributed_table() {
    let db = ClusterDb::new("upgrade").await;
    let last = MIGRATIONS.last().expect("a migration");
    // Back to the schema before the last file: its column gone from the shards' tables and
    // from api_calls, its table gone, its version unrecorded.
    for s in [
        "DROP TABLE IF EXISTS {db}.api_calls ON CLUSTER gatewatch",
        "ALTER TABLE {db}.api_calls_local ON CLUSTER gatewatch DROP COLUMN api_version",
        "CREATE TABLE IF NOT EXISTS {db}.api_calls ON CLUSTER gatewatch AS {db}.api_calls_local ENGINE = Distributed(gatewatch, {db}, api_calls_local, sipHash64(toString(call_id)))",
        "DROP TABLE IF EXISTS {db}.node_registry ON CLUSTER gatewatch",
        "ALTER TABLE {db}.schema_migrations DELETE WHERE version = {v}",
    ] {
        let s = s
            .replace("{db}", &db.name)
            .replace("{v}", &last.version.to_string());
        harness::client(SERVERS[0])
            .query(&s)
            .execute()
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    db.each_reaches(
        &format!(
            "SELECT count() FROM schema_migrations WHERE version = {}",
            last.version
        ),
        &[0; 4],
        30,
    )
    .await;
    let up = migrate(&db.store, &Options::default()).await.unwrap();
    assert_eq!(up.applied, [last.version], "{up:?}");
    for t in ["api_calls", "api_calls_local"] {
        let n = db
            .each(&format!(
                "SELECT count() FROM system.columns WHERE database = '{}' AND table = '{t}' AND name = 'api_version'",
                db.name
            ))
            .await;
        assert_eq!(n, [1, 1, 1, 1], "{t}.api_version");
    }
    let engines = db
        .each(&format!(
            "SELECT count() FROM system.tables WHERE database = '{}' AND name = 'api_calls' AND engine = 'Distributed'",
            db.name
        ))
        .await;
    assert_eq!(engines, [1, 1, 1, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_lands_on_one_shard_and_both_its_replicas() {
    let db = ClusterDb::new("placement").await;
    let calls: Vec<CallRecord> = (0..400).map(|i| call(i, 0)).collect();
    insert(&db.store, &calls).await;
    // Through the Distributed table from every server: all of them, once.
    db.each_reaches("SELECT count() FROM api_calls", &[400; 4], 60)
        .await;
    let local = db.each("SELECT count() FROM api_calls_local").await;
    assert_eq!(local[0], local[1], "replicas of shard 01 differ: {local:?}");
    assert_eq!(local[2], local[3], "replicas of shard 02 differ: {local:?}");
    assert_eq!(local[0] + local[2], 400, "{local:?}");
    assert!(
        local[0] > 100 && local[2] > 100,
        "one shard took most: {local:?}"
    );

    #[derive(Deserialize, clickhouse::Row)]
    struct Id {
        #[serde(with = "clickhouse::serde::uuid")]
        id: Uuid,
    }
    let mut ids = Vec::new();
    for s in SERVERS {
        let set: BTreeSet<Uuid> = harness::client(s)
            .with_database(&db.name)
            .query("SELECT call_id AS id FROM api_calls_local")
            .fetch_all::<Id>()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        ids.push(set);
    }
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[2], ids[3]);
    assert!(ids[0].is_disjoint(&ids[2]), "a call on both shards");
    let all: BTreeSet<Uuid> = calls.iter().map(|c| c.call_id).collect();
    assert_eq!(&ids[0] | &ids[2], all);
    // The shard is sipHash64(toString(call_id)) modulo the two (equal) weights: 0 → shard 01.
    let wrong = db
        .on(SERVERS[0])
        .fetch_u64(
            "SELECT count() FROM api_calls_local WHERE sipHash64(toString(call_id)) % 2 != 0",
        )
        .await
        .unwrap();
    assert_eq!(wrong, 0);

    // Each shard's views rolled up that shard's calls, and the Distributed rollups add up.
    let rolled = db
        .each("SELECT toUInt64(countMerge(calls)) FROM api_calls_1m_local")
        .await;
    db.each_reaches(
        "SELECT toUInt64(countMerge(calls)) FROM api_calls_1m_local",
        &local,
        30,
    )
    .await;
    assert_eq!(rolled, local);
    for t in ["api_calls_1m", "api_calls_1h", "client_api_1h"] {
        db.each_reaches(
            &format!("SELECT toUInt64(countMerge(calls)) FROM {t}"),
            &[400; 4],
            30,
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_tables_are_read_from_every_server() {
    let db = ClusterDb::new("small").await;
    gatewatch_store::config_log::write(
        &db.store,
        "schema-test",
        "",
        &[gatewatch_store::config_log::Change {
            kind: gatewatch_model::EntityKind::Client,
            id: "c1".into(),
            body: serde_json::json!({"name": "c1"}).to_string(),
            deleted: false,
            expected_version: None,
        }],
        chrono::Utc::now().timestamp_micros(),
    )
    .await
    .unwrap();
    let sample = NodeSample {
        ts_us: chrono::Utc::now().timestamp_micros(),
        node: "n1".into(),
        role: "gateway".into(),
        cpu_pct: 12.5,
        mem_used_bytes: 1,
        mem_total_bytes: 2,
        rss_bytes: 1,
        disks: Vec::new(),
        backlog: Default::default(),
    };
    ingest::insert_node_samples(&db.store, &[NodeMetricRow::new(&sample, Uuid::new_v4())])
        .await
        .unwrap();
    db.each_reaches("SELECT count() FROM config_log", &[1; 4], 30)
        .await;
    db.each_reaches("SELECT count() FROM node_metrics", &[1; 4], 30)
        .await;
    // Every server's store reads the entity and the latest sample on its own.
    for s in SERVERS {
        let cur = gatewatch_store::config_log::current(&db.on(s))
            .await
            .unwrap();
        assert_eq!(cur.len(), 1, "{}", s.name);
        let seen = gatewatch_store::observe::latest_node_readings(&db.on(s), 3_600)
            .await
            .unwrap();
        assert_eq!(seen.len(), 1, "{}", s.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_finds_and_drops_partitions_on_every_shard() {
    let db = ClusterDb::new("retention").await;
    let calls: Vec<CallRecord> = (0..200).map(|i| call(i, (i % 2) as i64)).collect();
    insert(&db.store, &calls).await;
    db.each_reaches("SELECT count() FROM api_calls", &[200; 4], 60)
        .await;
    let parts = retention::partitions(&db.store, "api_calls").await.unwrap();
    assert_eq!(
        parts,
        [
            retention::Partition {
                partition: "20261120".into(),
                rows: 100
            },
            retention::Partition {
                partition: "20261121".into(),
                rows: 100
            }
        ]
    );
    retention::drop_partition(&db.store, "api_calls", 20261120)
        .await
        .unwrap();
    db.each_reaches("SELECT count() FROM api_calls", &[100; 4], 30)
        .await;
    db.each_reaches(
        "SELECT count() FROM api_calls_local WHERE toYYYYMMDD(ts) = 20261120",
        &[0; 4],
        30,
    )
    .await;
    // A table on every server: one server's drop reaches every replica.
    let sample = |day: i64| NodeSample {
        ts_us: (T0 + day * 86_400) * 1_000_000,
        node: "n1".into(),
        role: "gateway".into(),
        cpu_pct: 1.0,
        mem_used_bytes: 1,
        mem_total_bytes: 2,
        rss_bytes: 1,
        disks: Vec::new(),
        backlog: Default::default(),
    };
    let rows = [sample(0), sample(1)];
    let rows: Vec<NodeMetricRow<'_>> = rows
        .iter()
        .map(|s| NodeMetricRow::new(s, Uuid::new_v4()))
        .collect();
    ingest::insert_node_samples(&db.store, &rows).await.unwrap();
    db.each_reaches("SELECT count() FROM node_metrics", &[2; 4], 30)
        .await;
    let parts = retention::partitions(&db.store, "node_metrics")
        .await
        .unwrap();
    assert_eq!(parts.len(), 2, "{parts:?}");
    retention::drop_partition(&db.store, "node_metrics", 20261120)
        .await
        .unwrap();
    db.each_reaches("SELECT count() FROM node_metrics", &[1; 4], 30)
        .await;
}
