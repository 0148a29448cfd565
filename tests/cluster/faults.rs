//! Nothing lost, nothing doubled on a cluster: the real `gatewatch` gateway and collector
//! (`[clickhouse] cluster = "gatewatch"`, every server in `urls`) under load while a replica,
//! a whole shard or ZooKeeper goes away and comes back; then every answered call is counted:
//! rows = distinct call ids = answered calls, through the `Distributed` table and on every
//! replica, and each shard holds only the call ids the sharding key gives it.
//!
//! The tests stop servers of the one shared harness: each takes [`harness::exclusive`] and
//! brings every server back (`ops/cluster/up.sh`) when it ends, failed or not ([`BringBack`]).

use crate::harness;
use crate::helpers::*;
use gatewatch_store::{Store, StoreConfig};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// HTTP ports of ch1, ch2 (shard 1) and ch3, ch4 (shard 2).
const PORTS: [u16; 4] = [18223, 18224, 18225, 18226];
const ZOOKEEPER: u16 = 18218;

fn ch_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("ops/cluster")
        .join(name)
}

/// `ops/cluster/up.sh`: starts whatever is down and waits for it.
fn up() -> Result<(), String> {
    let out = Command::new(script("up.sh"))
        .output()
        .map_err(|e| format!("ops/cluster/up.sh: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ops/cluster/up.sh failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Brings every server of the harness back when dropped (also when the test fails).
struct BringBack;

impl Drop for BringBack {
    fn drop(&mut self) {
        if let Err(e) = up() {
            eprintln!("{e}");
        }
    }
}

/// Prints the tail of these logs if the test fails after it is made.
struct ShowLogs(Vec<PathBuf>);

impl Drop for ShowLogs {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for p in &self.0 {
                let text = std::fs::read_to_string(p).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let from = lines.len().saturating_sub(40);
                eprintln!(
                    "--- {} (last lines)\n{}",
                    p.display(),
                    lines[from..].join("\n")
                );
            }
        }
    }
}

/// SIGKILL to the server answering on `port` (a ClickHouse HTTP port, or ZooKeeper's).
fn kill(port: u16) {
    let out = Command::new(script("pid.sh"))
        .arg(port.to_string())
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success() && !pid.is_empty(),
        "no pid for port {port}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = Command::new("kill").args(["-KILL", &pid]).status().unwrap();
    assert!(status.success(), "kill -KILL {pid} (port {port})");
}

fn replica(port: u16, database: &str) -> Store {
    Store::new(StoreConfig {
        url: ch_url(port),
        database: database.to_string(),
        ..StoreConfig::default()
    })
}

/// A site on the cluster: gateway and collector know every server; `/api` to an in-process
/// upstream; its own database on the cluster, migrated ([`harness::ClusterDb`], dropped when it
/// goes).
async fn cluster_site(name: &str, collector_lines: &str) -> (Site, harness::ClusterDb) {
    up().unwrap();
    let db = harness::ClusterDb::new(name).await;
    let up_addr = upstream().await;
    let routes = format!(
        "[[routes]]\nprefix = \"/api\"\nupstreams = [\"http://{up_addr}\"]\nstrip_prefix = true\n"
    );
    // Site names its database `test_database(name)`; the cluster database is `c_<name>`.
    let site = Site::new(&format!("c_{name}"), &ch_url(PORTS[0]), &routes);
    assert_eq!(site.database, db.name);
    let urls: Vec<String> = PORTS
        .iter()
        .map(|p| format!("\"{}\"", ch_url(*p)))
        .collect();
    site.tune(
        "clickhouse",
        &format!(
            "urls = [{}]\ncluster = \"{}\"",
            urls.join(", "),
            harness::CLUSTER
        ),
    );
    if !collector_lines.is_empty() {
        site.tune("collector", collector_lines);
    }
    (site, db)
}

/// `n` calls on `/api/ok` in the background, `workers` at a time with `pause` between calls.
fn load(
    site: &Site,
    n: usize,
    workers: usize,
    pause: Duration,
) -> tokio::task::JoinHandle<HashMap<u16, usize>> {
    let base = site.url("");
    tokio::spawn(async move { drive(&base, &["/api/ok"], n, workers, pause).await })
}

/// Every call answered 200; exactly `n` rows with `n` distinct call ids through `api_calls`;
/// after each replica has caught up, both replicas of a shard hold the same rows, the shards
/// together hold `n`, and no shard holds a call id the sharding key gives the other.
async fn exactly_once(store: &Store, database: &str, answered: &HashMap<u16, usize>, n: usize) {
    assert_eq!(answered.get(&200), Some(&n), "answers: {answered:?}");
    eventually(store, "SELECT count() FROM api_calls", n as u64, 240).await;
    assert_eq!(
        store
            .fetch_u64("SELECT uniqExact(call_id) FROM api_calls")
            .await
            .unwrap(),
        n as u64
    );
    let mut local = Vec::new();
    for p in PORTS {
        let r = replica(p, database);
        // SYNC REPLICA waits for the replica's queue; retried while a server is still starting.
        let mut synced = Err(String::new());
        for _ in 0..60 {
            synced = r
                .execute(&format!("SYSTEM SYNC REPLICA {database}.api_calls_local"))
                .await
                .map_err(|e| e.to_string());
            if synced.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        synced.unwrap();
        local.push(
            r.fetch_u64("SELECT count() FROM api_calls_local")
                .await
                .unwrap(),
        );
        let distinct = r
            .fetch_u64("SELECT uniqExact(call_id) FROM api_calls_local")
            .await
            .unwrap();
        assert_eq!(distinct, local[local.len() - 1], "doubled rows on port {p}");
        // Shard 1 owns slot 0 of sipHash64(toString(call_id)) % 2 (weights 1 and 1).
        let slot = u64::from(p >= PORTS[2]);
        let misplaced = r
            .fetch_u64(&format!(
                "SELECT count() FROM api_calls_local WHERE sipHash64(toString(call_id)) % 2 != {slot}"
            ))
            .await
            .unwrap();
        assert_eq!(misplaced, 0, "rows of the other shard on port {p}");
    }
    assert_eq!(
        local[0], local[1],
        "the replicas of shard 1 differ: {local:?}"
    );
    assert_eq!(
        local[2], local[3],
        "the replicas of shard 2 differ: {local:?}"
    );
    assert_eq!(local[0] + local[2], n as u64, "per replica: {local:?}");
    assert!(
        local[0] > 0 && local[2] > 0,
        "a shard got nothing: {local:?}"
    );
}

/// A site of its own under 3 000 calls; 2 s in, the server on `port` is killed, and `down`
/// later everything is started again; then every answered call is counted once.
async fn killed_under_load(name: &str, port: u16, down: Duration) {
    let (site, db) = cluster_site(name, "").await;
    // Dropped before `db`: the servers are back before the database is dropped on them.
    let _back = BringBack;
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;

    let n = 3000;
    let calls = load(&site, n, 4, Duration::from_millis(10));
    tokio::time::sleep(Duration::from_secs(2)).await;
    kill(port);
    tokio::time::sleep(down).await;
    up().unwrap();
    let answered = calls.await.unwrap();
    exactly_once(&db.on(harness::SERVERS[0]), &site.database, &answered, n).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)] // one test at a time, each on a runtime of its own
async fn a_replica_killed_under_load_and_started_again_loses_and_doubles_nothing() {
    let _one = harness::exclusive();
    // ch3: the first-listed replica of shard 2, the one the collector writes to.
    killed_under_load("replica_kill", PORTS[2], Duration::from_secs(4)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)] // one test at a time, each on a runtime of its own
async fn a_whole_shard_down_for_a_minute_then_everything_arrives_once() {
    let _one = harness::exclusive();
    // A small log (1 MiB) fills while shard 2 is away: the collector answers 503 and the
    // gateway spools, so both the collector's log and the gateway's spool carry the outage.
    let (site, db) = cluster_site("shard_down", "wal_max_mb = 1").await;
    let _back = BringBack;
    let collector = site.start("collector").await;
    let gateway = site.start("gateway").await;
    let _show = ShowLogs(vec![collector.log.clone(), gateway.log.clone()]);

    let mut answered: HashMap<u16, usize> = HashMap::new();
    let mut add = |m: HashMap<u16, usize>| {
        for (k, v) in m {
            *answered.entry(k).or_default() += v;
        }
    };
    let per_phase = 1000;
    add(load(&site, per_phase, 4, Duration::from_millis(5))
        .await
        .unwrap());
    kill(PORTS[2]);
    kill(PORTS[3]);
    // About a minute without shard 2, under load all along.
    let during = load(&site, 2 * per_phase, 2, Duration::from_millis(25));
    tokio::time::sleep(Duration::from_secs(60)).await;
    add(during.await.unwrap());
    up().unwrap();
    add(load(&site, per_phase, 4, Duration::from_millis(5))
        .await
        .unwrap());
    exactly_once(
        &db.on(harness::SERVERS[0]),
        &site.database,
        &answered,
        4 * per_phase,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)] // one test at a time, each on a runtime of its own
async fn zookeeper_restarted_under_load_loses_and_doubles_nothing() {
    let _one = harness::exclusive();
    killed_under_load("zk_restart", ZOOKEEPER, Duration::from_secs(5)).await;
}
