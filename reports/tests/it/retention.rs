//! Retention against real partitions: rows seeded on old and recent days, counted after.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use gatewatch_reports::retention::{enforce, RetentionPolicy};
use gatewatch_store::Store;
use uuid::Uuid;

/// (day, calls that day, node samples that day); every row at noon UTC, so a partition's day
/// is the same in any server zone within ±11 h.
const SEEDS: [((i32, u32, u32), u64); 6] = [
    ((2026, 8, 20), 2),
    ((2026, 9, 30), 3),
    ((2026, 10, 10), 4),
    ((2026, 11, 13), 5),
    ((2026, 11, 17), 6),
    ((2026, 11, 24), 7),
];

fn noon((y, m, d): (i32, u32, u32)) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
}

async fn seed(store: &Store) {
    let mut calls = Vec::new();
    let mut samples = Vec::new();
    for (day, n) in SEEDS {
        let t = noon(day);
        for i in 0..n {
            let ts = t.timestamp() + i as i64;
            let ts_us = ts * 1_000_000;
            let id = Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, ts as u64, 0));
            calls.push(format!(
                "('{id}', toDateTime({ts}), {ts_us}, 'gw1', 'orders', 'c1', 200, 'ok', 1000)"
            ));
        }
        samples.push(format!(
            "(toDateTime({}), {}, 'gw1', 10, 1, 2, 3)",
            t.timestamp(),
            t.timestamp() * 1_000_000
        ));
    }
    store
        .execute(&format!(
            "INSERT INTO api_calls (call_id, ts, ts_us, node, api_id, client_id, status, outcome, latency_us) VALUES {}",
            calls.join(", ")
        ))
        .await
        .unwrap();
    store
        .execute(&format!(
            "INSERT INTO node_metrics (ts, ts_us, node, cpu_pct, mem_used_bytes, mem_total_bytes, rss_bytes) VALUES {}",
            samples.join(", ")
        ))
        .await
        .unwrap();
}

async fn count(store: &Store, sql: &str) -> u64 {
    store.fetch_u64(sql).await.unwrap()
}

/// What should remain, worked out from the seeds: a day stays when its end is after
/// `now - raw_days`, a month when its end is after `now - rollup_days`.
fn expected(now: DateTime<Utc>, raw_days: i64, rollup_days: i64) -> (u64, u64, u64) {
    let raw_cut = now - Duration::days(raw_days);
    let rollup_cut = now - Duration::days(rollup_days);
    let (mut calls, mut samples, mut hourly) = (0, 0, 0);
    for ((y, m, d), n) in SEEDS {
        let day_end = NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            + Duration::days(1);
        if day_end.and_utc() > raw_cut {
            calls += n;
            samples += 1;
        }
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        let month_end = Utc.with_ymd_and_hms(ny, nm, 1, 0, 0, 0).unwrap();
        if month_end > rollup_cut {
            hourly += n;
        }
    }
    (calls, samples, hourly)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_whole_old_partitions_and_keeps_the_rest() {
    let store = gatewatch_migrations::testing::migrated_store("rsched_retention").await;
    seed(&store).await;
    assert_eq!(count(&store, "SELECT count() FROM api_calls").await, 27);
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
    let policy = RetentionPolicy {
        raw_days: 10,
        rollup_days: 40,
    };
    let t = std::time::Instant::now();
    let dropped = enforce(&store, &policy, now).await.unwrap();
    println!(
        "retention: {} partitions dropped in {:?}",
        dropped.len(),
        t.elapsed()
    );
    let (calls, samples, hourly) = expected(now, 10, 40);
    // 17 and 24 November keep their calls; August and September go from the hourly rollups.
    assert_eq!((calls, samples, hourly), (13, 2, 22));
    assert_eq!(count(&store, "SELECT count() FROM api_calls").await, calls);
    assert_eq!(
        count(
            &store,
            "SELECT toUInt64(countMerge(calls)) FROM api_calls_1m"
        )
        .await,
        calls
    );
    assert_eq!(
        count(&store, "SELECT count() FROM node_metrics").await,
        samples
    );
    assert_eq!(
        count(
            &store,
            "SELECT toUInt64(countMerge(calls)) FROM api_calls_1h"
        )
        .await,
        hourly
    );
    assert_eq!(
        count(
            &store,
            "SELECT toUInt64(countMerge(calls)) FROM client_api_1h"
        )
        .await,
        hourly
    );
    // Four days of three daily tables, two months of two monthly ones.
    assert_eq!(dropped.len(), 4 * 3 + 2 * 2, "{dropped:?}");
    // Nothing more to drop on a second run.
    assert!(enforce(&store, &policy, now).await.unwrap().is_empty());
}
