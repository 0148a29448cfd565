//! Nothing lost, nothing doubled: kill and restart things under load, then count.

use crate::helpers::*;
use std::time::Duration;

fn routes(up: std::net::SocketAddr) -> String {
    format!("[[routes]]\nprefix = \"/api\"\nupstreams = [\"http://{up}\"]\nstrip_prefix = true\n")
}

const COUNT: &str = "SELECT count() FROM api_calls";
const DISTINCT: &str = "SELECT uniqExact(call_id) FROM api_calls";

/// A migrated site with one route, `/api`, to an in-process upstream.
async fn site_with_api(name: &str, clickhouse_url: &str) -> (Site, gatewatch_store::Store) {
    let up = upstream().await;
    let site = Site::new(name, clickhouse_url, &routes(up));
    let store = site.migrate().await;
    (site, store)
}

/// `n` calls on `/api/ok` in the background, 8 at a time.
fn load(site: &Site, n: usize) -> tokio::task::JoinHandle<std::collections::HashMap<u16, usize>> {
    let base = site.url("");
    tokio::spawn(async move { drive(&base, &["/api/ok"], n, 8, Duration::from_millis(2)).await })
}

/// Every call was answered 200, and exactly `n` rows with `n` distinct call ids arrive.
async fn exactly_once(
    store: &gatewatch_store::Store,
    statuses: std::collections::HashMap<u16, usize>,
    n: usize,
    secs: u64,
) {
    assert_eq!(statuses.get(&200), Some(&n), "{statuses:?}");
    eventually(store, COUNT, n as u64, secs).await;
    assert_eq!(store.fetch_u64(DISTINCT).await.unwrap(), n as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_killed_under_load_then_restarted_loses_and_doubles_nothing() {
    let (site, store) = site_with_api(
        "collector_sigkill",
        &gatewatch_migrations::testing::clickhouse_url(),
    )
    .await;
    let mut collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;

    let n = 3000;
    let calls = load(&site, n);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    collector.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _collector = site.start("collector").await;
    exactly_once(&store, calls.await.unwrap(), n, 60).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_restarted_with_records_in_its_spool_delivers_them_once() {
    let (site, store) = site_with_api(
        "gateway_spool",
        &gatewatch_migrations::testing::clickhouse_url(),
    )
    .await;
    // No collector yet: every batch goes to the spool.
    let mut gateway = site.start("gateway").await;
    let n = 500;
    let statuses = drive(&site.url(""), &["/api/ok"], n, 4, Duration::ZERO).await;
    assert_eq!(statuses.get(&200), Some(&n));
    let spool = site.dir.path().join("data/spool");
    let spooled = || {
        std::fs::read_dir(&spool)
            .map(|d| {
                d.filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".zst"))
                })
                .count()
            })
            .unwrap_or(0)
    };
    // Wait for the shipper to find the collector away and spool (a loaded CI machine can
    // take a while), then a little more for the rest of the batches.
    for _ in 0..100 {
        if spooled() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    gateway.kill();
    assert!(spooled() > 0, "no spool files");
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;
    eventually(&store, COUNT, n as u64, 60).await;
    assert_eq!(store.fetch_u64(DISTINCT).await.unwrap(), n as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_down_under_load_then_back_loses_and_doubles_nothing() {
    let mut ch = PrivateClickHouse::start();
    let (site, store) = site_with_api("clickhouse_down", &ch.url()).await;
    let _collector = site.start("collector").await;
    let _gateway = site.start("gateway").await;

    let n = 3000;
    let calls = load(&site, n);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ch.stop();
    tokio::time::sleep(Duration::from_secs(4)).await;
    ch.resume();
    exactly_once(&store, calls.await.unwrap(), n, 90).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_each_role_cleanly() {
    let (site, store) =
        site_with_api("sigterm", &gatewatch_migrations::testing::clickhouse_url()).await;
    let mut collector = site.start("collector").await;
    let mut gateway = site.start("gateway").await;
    let statuses = drive(&site.url(""), &["/api/ok"], 20, 2, Duration::ZERO).await;
    assert_eq!(statuses.get(&200), Some(&20));
    // The gateway flushes its queue to the collector on the way out.
    gateway.terminate();
    eventually(&store, COUNT, 20, 30).await;
    collector.terminate();
}

/// Calls `/api/ok` over `connections` kept-alive connections until `stop`; a call that fails
/// (the gateway is down) is retried after a short pause. Returns (answered 200 in full,
/// failed).
async fn load_until(
    base: String,
    connections: usize,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (usize, usize) {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use std::sync::atomic::Ordering::Relaxed;
    let mut workers = Vec::new();
    for _ in 0..connections {
        let stop = stop.clone();
        let uri: hyper::Uri = format!("{base}/api/ok").parse().unwrap();
        workers.push(tokio::spawn(async move {
            // One client per worker: at most one call in flight per connection.
            let client = Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(1)
                .build_http::<Empty<bytes::Bytes>>();
            let (mut answered, mut failed) = (0, 0);
            while !stop.load(Relaxed) {
                let whole = match client.get(uri.clone()).await {
                    Ok(r) if r.status() == 200 => r.into_body().collect().await.is_ok(),
                    _ => false,
                };
                if whole {
                    answered += 1;
                } else {
                    failed += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            (answered, failed)
        }));
    }
    let mut total = (0, 0);
    for w in workers {
        let (a, f) = w.await.unwrap();
        total.0 += a;
        total.1 += f;
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_killed_under_load_five_times_loses_and_doubles_nothing() {
    let (site, store) = site_with_api(
        "gateway_sigkill",
        &gatewatch_migrations::testing::clickhouse_url(),
    )
    .await;
    let _collector = site.start("collector").await;
    let mut gateway = site.start("gateway").await;
    let connections = 4;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = tokio::spawn(load_until(site.url(""), connections, stop.clone()));
    let kills = 5;
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    for _ in 0..kills {
        // A random moment between 0.4 and 2 s into the run: mid-batch, mid-flush, mid-send.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(400 + seed % 1600)).await;
        gateway.kill();
        gateway = site.start("gateway").await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (answered, failed) = load.await.unwrap();
    assert!(answered > 1000, "too little load: {answered} answered");
    let log = gateway.log_text();
    assert!(
        log.contains("journal replayed into the spool"),
        "no replay after the kills: {log}"
    );
    // Every answered call has its row; at most one more per open connection per kill (a
    // record journalled just before its answer was cut off).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut rows = 0;
    while tokio::time::Instant::now() < deadline {
        rows = store.fetch_u64(COUNT).await.unwrap_or(rows);
        if rows >= answered as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // A moment more: a late duplicate would show.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rows = store.fetch_u64(COUNT).await.unwrap();
    let distinct = store.fetch_u64(DISTINCT).await.unwrap();
    eprintln!("answered {answered}, failed {failed}, rows {rows}, distinct {distinct}");
    assert_eq!(rows, distinct, "a call stored twice");
    assert!(
        rows >= answered as u64,
        "{} answered calls have no row ({rows} rows, {answered} answered)",
        answered as u64 - rows
    );
    assert!(
        rows <= (answered + kills * connections) as u64,
        "{rows} rows for {answered} answered calls"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_data_dir_are_refused_naming_the_lock() {
    let (site, _store) = site_with_api(
        "gateway_lock",
        &gatewatch_migrations::testing::clickhouse_url(),
    )
    .await;
    let _gateway = site.start("gateway").await;
    let out = gatewatch(&["gateway"], &site.config_path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("LOCK"), "{err}");
    assert!(err.contains("another gateway process"), "{err}");
}
