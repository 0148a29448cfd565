//! The shipper and its spool: ordered, at-least-once delivery with stable batch ids, the size
//! cap, restarts and corruption.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use gatewatch_gateway::{RouteConfig, CORRUPT_DIR};
use gatewatch_model::{ndjson, CallRecord};
use http::Request;
use uuid::Uuid;

use crate::support::*;

async fn call_with_id(gw: &Gateway, rid: &str) {
    let r = gw
        .send(
            Request::get("/api/echo")
                .header("x-request-id", rid)
                .body(empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 200);
}

fn api_route(up: &Server) -> Vec<RouteConfig> {
    vec![RouteConfig::new("/api", [format!("http://{}", up.addr)])]
}

#[tokio::test]
async fn collector_away_then_back_delivers_every_record_once_in_order() {
    let up = upstream("a", Arc::new(StreamSignals::default())).await;
    let (mut col, state) = collector().await;
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col.addr, spool.path());
    c.batch_max_records = 3;
    c.routes = api_route(&up);
    let gw = Gateway::start(c).await;

    // Phase 1: the collector answers 503 — batches are tried, then spooled.
    state.set_status(503);
    let mut sent = Vec::new();
    for i in 0..5 {
        let rid = format!("call-{i:02}");
        call_with_id(&gw, &rid).await;
        sent.push(rid);
    }
    eventually(20, "a refused attempt", || {
        !state.attempts.lock().unwrap().is_empty()
    })
    .await;
    // Phase 2: the collector is gone (connections refused).
    col.stop();
    for i in 5..14 {
        let rid = format!("call-{i:02}");
        call_with_id(&gw, &rid).await;
        sent.push(rid);
    }
    eventually_async(20, "every record spooled", || async {
        gw.metric("gatewatch_gateway_records_spooled_total").await == 14
    })
    .await;
    assert!(!spool_files(spool.path()).is_empty());
    assert_eq!(state.records().len(), 0);

    // Phase 3: back, on the same port.
    state.set_status(200);
    col.restart().await;
    eventually(30, "all records delivered", || state.records().len() >= 14).await;
    eventually(10, "the spool emptied", || {
        spool_files(spool.path()).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let records = state.records();
    let got: Vec<&str> = records.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(got, sent, "each record once, in call order");
    let batches = state.record_batches();
    assert!(
        batches.iter().all(|b| b.replay),
        "spooled batches carry the replay header"
    );
    let ids: HashSet<&str> = batches.iter().map(|b| b.batch_id.as_str()).collect();
    assert_eq!(ids.len(), batches.len(), "batch ids are unique");
    let refused: HashSet<String> = state
        .attempts
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, _, status)| *status == 503)
        .map(|(id, _, _)| id.clone())
        .collect();
    assert!(!refused.is_empty());
    for id in &refused {
        assert!(
            ids.contains(id.as_str()),
            "batch {id} was replayed under the same id"
        );
    }
    assert_eq!(
        gw.metric("gatewatch_gateway_records_shipped_total").await,
        14
    );
    assert_eq!(gw.metric("gatewatch_gateway_spool_batches").await, 0);
    assert_eq!(gw.metric("gatewatch_gateway_spool_bytes").await, 0);
    assert!(gw.metric("gatewatch_gateway_ship_errors_total").await >= 1);
}

#[tokio::test]
async fn a_batch_refused_as_too_large_is_split_until_every_record_is_delivered() {
    let up = upstream("a", Arc::new(StreamSignals::default())).await;
    let (_col, state) = collector().await;
    // The collector takes one record per batch; the gateway sends all 8 in one.
    state
        .max_lines
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(_col.addr, spool.path());
    c.flush_interval = Duration::from_secs(60);
    c.batch_max_records = 8;
    c.routes = api_route(&up);
    let gw = Gateway::start(c).await;
    let sent: Vec<String> = (0..8).map(|i| format!("big-{i}")).collect();
    for rid in &sent {
        call_with_id(&gw, rid).await;
    }
    eventually(20, "8 records", || state.records().len() >= 8).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got: Vec<String> = state.records().into_iter().map(|r| r.request_id).collect();
    // Every record once, in the order of the calls (first half first).
    assert_eq!(got, sent);
    // 8 leaves: 7 splits, each after one 413.
    assert_eq!(gw.metric("gatewatch_gateway_batches_split_total").await, 7);
    let refused = state
        .attempts
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a.2 == 413)
        .count();
    assert_eq!(refused, 7);
    assert_eq!(
        gw.metric("gatewatch_gateway_records_dropped_total{reason=\"too_large\"}")
            .await,
        0
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_single_record_refused_as_too_large_is_dropped_and_counted() {
    let up = upstream("a", Arc::new(StreamSignals::default())).await;
    let (col, state) = collector().await;
    state.set_status(413);
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col.addr, spool.path());
    c.flush_interval = Duration::from_secs(60);
    c.batch_max_records = 4;
    c.routes = api_route(&up);
    let gw = Gateway::start(c).await;
    for i in 0..4 {
        call_with_id(&gw, &format!("refused-{i}")).await;
    }
    eventually_async(20, "4 records dropped as too large", || async {
        gw.metric("gatewatch_gateway_records_dropped_total{reason=\"too_large\"}")
            .await
            == 4
    })
    .await;
    // Split down to single records first: 4 leaves, 3 splits; nothing stored, nothing spooled.
    assert_eq!(gw.metric("gatewatch_gateway_batches_split_total").await, 3);
    assert!(state.records().is_empty());
    assert_eq!(gw.metric("gatewatch_gateway_spool_batches").await, 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn full_spool_drops_batches_and_counts_them_until_the_collector_is_back() {
    let up = upstream("a", Arc::new(StreamSignals::default())).await;
    let (mut col, state) = collector().await;
    col.stop();
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col.addr, spool.path());
    c.spool_max_bytes = 10; // smaller than any batch
    c.routes = api_route(&up);
    let gw = Gateway::start(c).await;
    assert_eq!(gw.admin_get("/readyz").await.status, 200);
    for i in 0..7 {
        call_with_id(&gw, &format!("r{i}")).await;
    }
    eventually_async(20, "7 records dropped for the cap", || async {
        gw.metric("gatewatch_gateway_records_dropped_total{reason=\"spool_full\"}")
            .await
            == 7
    })
    .await;
    assert_eq!(
        gw.metric("gatewatch_gateway_records_spooled_total").await,
        0
    );
    assert_eq!(gw.metric("gatewatch_gateway_spool_full").await, 1);
    assert_eq!(gw.admin_get("/readyz").await.status, 503);
    assert!(spool_files(spool.path()).is_empty());

    // Back: new records are delivered and the gateway is ready again.
    col.restart().await;
    eventually_async(30, "a record delivered after the outage", || async {
        call_with_id(&gw, "after").await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        !state.records().is_empty()
    })
    .await;
    assert_eq!(gw.admin_get("/readyz").await.status, 200);
    assert!(state.records().iter().all(|r| r.request_id == "after"));
}

#[tokio::test]
async fn shutdown_flushes_the_queue_to_the_collector() {
    let up = upstream("a", Arc::new(StreamSignals::default())).await;
    let (col, state) = collector().await;
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col.addr, spool.path());
    c.flush_interval = Duration::from_secs(3600); // only the shutdown flush sends
    c.routes = api_route(&up);
    let gw = Gateway::start(c).await;
    for i in 0..4 {
        call_with_id(&gw, &format!("q{i}")).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(state.records().len(), 0, "still queued");
    gw.shutdown().await;
    assert_eq!(state.records().len(), 4);
    assert!(spool_files(spool.path()).is_empty());
}

#[tokio::test]
async fn restart_replays_the_spool_once() {
    let up = upstream("a", Arc::new(StreamSignals::default())).await;
    let spool = tempfile::tempdir().unwrap();

    // First life: no collector; the queue is flushed to the spool at shutdown.
    let mut c = config(dead_addr().await, spool.path());
    c.flush_interval = Duration::from_secs(3600);
    c.routes = api_route(&up);
    let gw = Gateway::start(c).await;
    for i in 0..6 {
        call_with_id(&gw, &format!("s{i}")).await;
    }
    gw.shutdown().await;
    let files = spool_files(spool.path());
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].contains("-records-"));

    // Second life: the collector is there.
    let (col, state) = collector().await;
    let mut c = config(col.addr, spool.path());
    c.routes = api_route(&up);
    let gw = Gateway::start(c).await;
    eventually(20, "the spooled records", || state.records().len() >= 6).await;
    eventually(10, "the spool emptied", || {
        spool_files(spool.path()).is_empty()
    })
    .await;
    gw.shutdown().await;
    let got: Vec<String> = state.records().into_iter().map(|r| r.request_id).collect();
    assert_eq!(got, ["s0", "s1", "s2", "s3", "s4", "s5"]);
    let batches = state.record_batches();
    assert_eq!(batches.len(), 1);
    assert!(batches[0].replay);
    assert!(
        files[0].contains(&batches[0].batch_id),
        "the id in the file name is sent"
    );
}

fn batch_file(records: &[CallRecord]) -> Vec<u8> {
    let mut raw = Vec::new();
    ndjson::encode_lines(records, &mut raw).unwrap();
    let mut c = zstd::bulk::Compressor::new(3).unwrap();
    c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))
        .unwrap();
    c.compress(&raw).unwrap()
}

fn record(rid: &str) -> CallRecord {
    let mut r = CallRecord::new(
        Uuid::now_v7(),
        1_764_000_000_000_000,
        "old-node",
        "GET",
        "/x",
    );
    r.request_id = rid.to_string();
    r
}

#[tokio::test]
async fn corrupt_spool_file_is_quarantined_and_the_rest_delivered() {
    let spool = tempfile::tempdir().unwrap();
    let dir = spool.path();
    let name = |seq: u64| format!("{seq:016}-records-{}.zst", Uuid::now_v7());
    let good1 = name(1);
    let bad = name(2);
    let good3 = name(3);
    std::fs::write(dir.join(&good1), batch_file(&[record("a"), record("b")])).unwrap();
    let mut damaged = batch_file(&[record("lost")]);
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0x55;
    std::fs::write(dir.join(&bad), damaged).unwrap();
    std::fs::write(dir.join(&good3), batch_file(&[record("c")])).unwrap();
    std::fs::write(dir.join(format!("{}.tmp", name(4))), b"unfinished").unwrap();
    std::fs::write(dir.join("README"), b"not a batch").unwrap();

    let (col, state) = collector().await;
    let gw = Gateway::start(config(col.addr, dir)).await;
    eventually(20, "the good records", || state.records().len() >= 3).await;
    eventually(10, "the spool emptied", || spool_files(dir).is_empty()).await;
    let got: Vec<String> = state.records().into_iter().map(|r| r.request_id).collect();
    assert_eq!(
        got,
        ["a", "b", "c"],
        "in file order, the corrupt one skipped"
    );
    assert!(dir.join(CORRUPT_DIR).join(&bad).exists(), "quarantined");
    let leftovers: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "unfinished writes deleted: {leftovers:?}"
    );
    assert!(dir.join("README").exists(), "strangers are left alone");
    assert_eq!(gw.metric("gatewatch_gateway_spool_corrupt_total").await, 1);
    // Not retried: only two batches ever reached the collector.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(state.attempts.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn node_samples_reach_the_collector() {
    let (col, state) = collector().await;
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col.addr, spool.path());
    c.sample_interval = Duration::from_millis(300);
    let gw = Gateway::start(c).await;
    eventually(20, "two node samples", || state.samples().len() >= 2).await;
    let samples = state.samples();
    for s in &samples {
        assert!(s.validate().is_ok(), "{:?}", s.validate());
        assert_eq!((s.node.as_str(), s.role.as_str()), ("gw-test", "gateway"));
        assert!(s.mem_total_bytes > 0 && s.rss_bytes > 0);
    }
    let mounts: Vec<&str> = samples[0].disks.iter().map(|d| d.mount.as_str()).collect();
    let unique: HashSet<&&str> = mounts.iter().collect();
    assert_eq!(
        unique.len(),
        mounts.len(),
        "mounts are not repeated: {mounts:?}"
    );
    assert!(gw.metric("gatewatch_gateway_samples_shipped_total").await >= 2);
    gw.shutdown().await;
}

/// Several collectors (`collector_urls`, listed): the first answers 503, so its batch goes to
/// the second at once, under the same id and with the replay header, and nothing is spooled;
/// once the first answers again the gateway goes back to it. Every record once, in order.
#[tokio::test]
async fn a_batch_the_first_collector_refuses_goes_to_the_next_with_the_replay_header() {
    let up = upstream("a", Arc::new(StreamSignals::default())).await;
    let (col_a, a) = collector().await;
    let (col_b, b) = collector().await;
    let (url_a, url_b) = (
        format!("http://{}", col_a.addr),
        format!("http://{}", col_b.addr),
    );
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col_a.addr, spool.path());
    c.collector_urls = vec![url_a.clone(), url_b.clone()];
    c.collector_order = gatewatch_gateway::CollectorOrder::Listed;
    c.batch_max_records = 3;
    c.routes = api_route(&up);
    let gw = Gateway::start(c).await;

    a.set_status(503);
    let mut sent = Vec::new();
    for i in 0..9 {
        let rid = format!("call-{i:02}");
        call_with_id(&gw, &rid).await;
        sent.push(rid);
    }
    eventually(20, "every record at the second collector", || {
        b.records().len() >= 9
    })
    .await;
    let got: Vec<String> = b.records().into_iter().map(|r| r.request_id).collect();
    assert_eq!(got, sent, "each record once, in call order");
    assert!(a.records().is_empty());
    // What the first one refused came to the second under the same id, marked as a replay.
    let refused: Vec<String> = a
        .attempts
        .lock()
        .unwrap()
        .iter()
        .map(|(id, _, status)| {
            assert_eq!(*status, 503);
            id.clone()
        })
        .collect();
    assert!(!refused.is_empty());
    for id in &refused {
        let at_b = b.record_batches().into_iter().find(|x| &x.batch_id == id);
        assert!(
            at_b.is_some_and(|x| x.replay),
            "batch {id} went to the second collector with the replay header"
        );
    }
    assert_eq!(
        gw.metric("gatewatch_gateway_records_spooled_total").await,
        0
    );
    let up_a = format!("gatewatch_gateway_collector_up{{collector=\"{url_a}\"}}");
    let in_use_b = format!("gatewatch_gateway_collector_in_use{{collector=\"{url_b}\"}}");
    let failovers_a =
        format!("gatewatch_gateway_collector_failovers_total{{collector=\"{url_a}\"}}");
    assert_eq!(gw.metric(&up_a).await, 0);
    assert_eq!(gw.metric(&in_use_b).await, 1);
    assert!(gw.metric(&failovers_a).await >= 1);

    // The first answers again: the gateway returns to it once its wait is over.
    a.set_status(200);
    // Calls go on (a batch every few) until one reaches the first collector again.
    for i in 9..400 {
        let rid = format!("call-{i:02}");
        call_with_id(&gw, &rid).await;
        sent.push(rid);
        if !a.records().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !a.records().is_empty(),
        "the gateway never went back to the first collector"
    );
    eventually(20, "every record delivered", || {
        a.records().len() + b.records().len() >= sent.len()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut all: Vec<String> = b.records().into_iter().map(|r| r.request_id).collect();
    all.extend(a.records().into_iter().map(|r| r.request_id));
    all.sort();
    let mut want = sent.clone();
    want.sort();
    assert_eq!(all, want, "each record once");
    assert_eq!(gw.metric(&up_a).await, 1);
    assert_eq!(
        gw.metric(&format!(
            "gatewatch_gateway_collector_in_use{{collector=\"{url_a}\"}}"
        ))
        .await,
        1
    );
}

/// Every collector away: batches are spooled; the one that comes back takes the spool, in
/// order, each batch once with the replay header.
#[tokio::test]
async fn with_every_collector_away_batches_wait_in_the_spool_for_the_first_back() {
    let up = upstream("a", Arc::new(StreamSignals::default())).await;
    let (mut col_a, a) = collector().await;
    let (mut col_b, b) = collector().await;
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col_a.addr, spool.path());
    c.collector_urls = vec![
        format!("http://{}", col_a.addr),
        format!("http://{}", col_b.addr),
    ];
    c.batch_max_records = 2;
    c.routes = api_route(&up);
    col_a.stop();
    col_b.stop();
    let gw = Gateway::start(c).await;
    let mut sent = Vec::new();
    for i in 0..7 {
        let rid = format!("call-{i:02}");
        call_with_id(&gw, &rid).await;
        sent.push(rid);
    }
    eventually_async(20, "every record spooled", || async {
        gw.metric("gatewatch_gateway_records_spooled_total").await == 7
    })
    .await;
    col_b.restart().await;
    eventually(30, "the spool drained into the second", || {
        b.records().len() >= 7
    })
    .await;
    eventually(10, "the spool emptied", || {
        spool_files(spool.path()).is_empty()
    })
    .await;
    let got: Vec<String> = b.records().into_iter().map(|r| r.request_id).collect();
    assert_eq!(got, sent, "each record once, in call order");
    assert!(b.record_batches().iter().all(|x| x.replay));
    assert!(a.records().is_empty());
}

/// With several collectors, one answering 404 (a wrong URL in the list: no ingest endpoint
/// there) is passed over, not taken as a refusal of the batch: every record reaches the other.
#[tokio::test]
async fn a_collector_url_without_the_endpoint_is_passed_over_not_a_reason_to_drop() {
    let up = upstream("a", Arc::new(StreamSignals::default())).await;
    let (col_a, a) = collector().await;
    let (col_b, b) = collector().await;
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col_a.addr, spool.path());
    c.collector_urls = vec![
        format!("http://{}", col_a.addr),
        format!("http://{}", col_b.addr),
    ];
    c.collector_order = gatewatch_gateway::CollectorOrder::Listed;
    c.batch_max_records = 2;
    c.routes = api_route(&up);
    let gw = Gateway::start(c).await;
    a.set_status(404);
    let mut sent = Vec::new();
    for i in 0..6 {
        let rid = format!("call-{i:02}");
        call_with_id(&gw, &rid).await;
        sent.push(rid);
    }
    eventually(20, "every record at the second collector", || {
        b.records().len() >= 6
    })
    .await;
    let got: Vec<String> = b.records().into_iter().map(|r| r.request_id).collect();
    assert_eq!(got, sent);
    assert!(!a.attempts.lock().unwrap().is_empty());
    assert_eq!(
        gw.metric("gatewatch_gateway_records_dropped_total{reason=\"rejected\"}")
            .await,
        0
    );
}

#[tokio::test]
async fn a_full_journal_refuses_records_counts_them_and_they_still_ship() {
    let up = upstream("a", Arc::new(StreamSignals::default())).await;
    let (col, state) = collector().await;
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col.addr, spool.path());
    c.journal_max_bytes = 10; // smaller than any record's frame
    c.routes = api_route(&up);
    let gw = Gateway::start(c).await;
    assert_eq!(gw.admin_get("/readyz").await.status, 200);
    for i in 0..5 {
        call_with_id(&gw, &format!("j{i}")).await;
    }
    // Not crash-safe, but not lost: shipped from memory as before the journal existed.
    eventually(30, "5 records delivered", || state.records().len() >= 5).await;
    assert_eq!(
        gw.metric("gatewatch_gateway_records_unjournalled_total")
            .await,
        5
    );
    assert_eq!(gw.metric("gatewatch_gateway_journal_full").await, 1);
    assert_eq!(gw.metric("gatewatch_gateway_journal_max_bytes").await, 10);
    let ready = gw.admin_get("/readyz").await;
    assert_eq!(ready.status, 503);
    let text = String::from_utf8_lossy(&ready.body);
    assert!(text.contains("journal is full"), "{text}");
    assert_eq!(
        gw.metric("gatewatch_gateway_records_dropped_total{reason=\"queue_full\"}")
            .await,
        0
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_journal_left_by_a_killed_gateway_is_replayed_once_damage_skipped_and_counted() {
    let up = upstream("a", Arc::new(StreamSignals::default())).await;
    let (mut col, state) = collector().await;
    col.stop();
    let spool = tempfile::tempdir().unwrap();
    let journal = spool.path().join("journal");
    std::fs::create_dir_all(&journal).unwrap();
    // A segment as a killed gateway leaves it: three records, the second one's bytes
    // damaged, and a torn last frame.
    let frame = |id: &str| {
        let mut rec = CallRecord::new(Uuid::now_v7(), 1_764_000_000_000_000, "gw", "GET", "/x");
        rec.request_id = id.into();
        let mut line = serde_json::to_vec(&rec).unwrap();
        line.push(b'\n');
        let len = (line.len() as u32).to_le_bytes();
        let crc = crc32c::crc32c_append(crc32c::crc32c(&len), &line);
        let mut f = b"GWJ1".to_vec();
        f.extend_from_slice(&len);
        f.extend_from_slice(&crc.to_le_bytes());
        f.extend_from_slice(&line);
        f
    };
    let mut data = frame("kept-1");
    let mut bad = frame("damaged");
    let mid = bad.len() / 2;
    bad[mid] ^= 0x20;
    data.extend_from_slice(&bad);
    data.extend_from_slice(&frame("kept-2"));
    let torn = frame("torn");
    data.extend_from_slice(&torn[..torn.len() - 7]);
    std::fs::write(journal.join("0000000000000003.jnl"), &data).unwrap();
    let mut c = config(col.addr, spool.path());
    c.routes = api_route(&up);
    let gw = Gateway::start(c).await;
    assert_eq!(
        gw.metric("gatewatch_gateway_journal_replayed_total").await,
        2
    );
    assert_eq!(
        gw.metric("gatewatch_gateway_journal_damaged_total").await,
        1
    );
    assert_eq!(
        gw.metric("gatewatch_gateway_journal_skipped_bytes_total")
            .await,
        (bad.len() + torn.len() - 7) as u64
    );
    assert!(!journal.join("0000000000000003.jnl").exists());
    col.restart().await;
    eventually(30, "the two intact records delivered", || {
        state.records().len() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ids: Vec<String> = state
        .records()
        .iter()
        .map(|r| r.request_id.clone())
        .collect();
    assert_eq!(ids, ["kept-1", "kept-2"]);
    gw.shutdown().await;
}
