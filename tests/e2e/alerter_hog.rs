//! A real CPU hog, not written rows: `gatewatch up` samples its own machine every second, the
//! test keeps both cores busy, and the node CPU rule's mail must reach the SMTP server —
//! sampler → collector → ClickHouse → alerter → mail, all real.
//!
//! The machine may be busy already (other tests run beside this one), so the test only asks
//! that the rule fires while the hog runs, with a value at or above its threshold; it does not
//! claim the hog alone caused it.

use crate::helpers::put_entity;
use crate::helpers::SmtpSink;
use crate::helpers::{eventually, Site};
use gatewatch_model::EntityKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_cpu_hog_fires_the_node_cpu_rule() {
    let smtp = SmtpSink::start();
    let extra = smtp.alerter_toml();
    let site = Site::new(
        "alerter_hog",
        &gatewatch_migrations::testing::clickhouse_url(),
        &extra,
    );
    site.tune("alerter", "eval_interval_ms = 500");
    site.tune("gateway", "sample_interval_secs = 1");
    let store = site.migrate().await;
    let node = "e2e-alerter_hog";
    let rule = serde_json::json!({"name": "CPU 過高", "kind": {"type": "node_cpu"},
        "scope": {"nodes": [node]}, "threshold": 90, "recovery": 50, "for_secs": 2,
        "repeat_secs": 3600, "recipients": {"emails": ["ops@example.tw"]}});
    put_entity(&store, EntityKind::AlertRule, "cpu-hog", &rule).await;
    let _up = site.start("up").await;

    // Both cores busy, bounded: the hog stops when the mail arrives or after 60 s.
    let stop = Arc::new(AtomicBool::new(false));
    let hogs: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let until = Instant::now() + Duration::from_secs(60);
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            })
        })
        .collect();
    let started = Instant::now();
    while smtp.mails().is_empty() && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for h in hogs {
        h.join().unwrap();
    }
    let mails = smtp.mails();
    assert!(!mails.is_empty(), "no mail while both cores were busy");
    println!(
        "cpu hog → mail in {:.1} s (1 s samples, for_secs 2, 0.5 s rounds)",
        started.elapsed().as_secs_f64()
    );
    eventually(
        &store,
        "SELECT count() FROM alert_events WHERE rule_id = 'cpu-hog' AND event = 'firing'",
        1,
        10,
    )
    .await;
    let value: f64 = gatewatch_migrations::testing::raw_client(&store)
        .query(
            "SELECT value FROM alert_events WHERE rule_id = 'cpu-hog' AND event = 'firing' LIMIT 1",
        )
        .fetch_one()
        .await
        .unwrap();
    assert!(value >= 90.0, "fired at {value}% under a threshold of 90");
    let sampled = store
        .fetch_u64(&format!(
            "SELECT count() FROM node_metrics WHERE node = '{node}' AND cpu_pct >= 90"
        ))
        .await
        .unwrap();
    assert!(sampled >= 2, "the sampler saw the hog in {sampled} samples");
}
