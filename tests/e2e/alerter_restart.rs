//! `gatewatch alerter` stopped while a rule is pending and started again: the new process
//! picks up the saved state, so the rule fires on the original clock (the notice's
//! `started_at` is the first breach, and there is one pending transition, not two).

use crate::admin::Api;
use crate::helpers::SmtpSink;
use crate::helpers::{eventually, Site};
use crate::helpers::{insert_cpu_sample, put_entity};
use chrono::TimeZone;
use gatewatch_model::EntityKind;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_pending_fires_on_the_original_clock() {
    let smtp = SmtpSink::start();
    let extra = smtp.alerter_toml();
    let site = Site::new(
        "alerter_restart",
        &gatewatch_migrations::testing::clickhouse_url(),
        &extra,
    );
    site.tune("alerter", "eval_interval_ms = 300\nlease_ttl_ms = 3000");
    let store = site.migrate().await;
    let rule = serde_json::json!({"name": "CPU 過高", "kind": {"type": "node_cpu"},
        "threshold": 90, "for_secs": 8, "recipients": {"emails": ["ops@example.tw"]}});
    put_entity(&store, EntityKind::AlertRule, "cpu", &rule).await;

    let mut first = site.start("alerter").await;
    insert_cpu_sample(&store, "hot", 99.0).await;

    let pending = "SELECT count() FROM alert_events WHERE rule_id = 'cpu' AND event = 'pending'";
    let deadline = Instant::now() + Duration::from_secs(20);
    while store.fetch_u64(pending).await.unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "no pending transition");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Stopped (SIGTERM: it gives the lease up) and started again while pending.
    first.terminate();
    assert!(smtp.mails().is_empty(), "fired before the restart");
    let _second = site.start("alerter").await;
    let metrics = Api::anonymous(site.alerter)
        .call("GET", "/metrics", None, &[])
        .await;
    assert_eq!(metrics.status, 200);

    let deadline = Instant::now() + Duration::from_secs(30);
    while smtp.mails().is_empty() {
        assert!(Instant::now() < deadline, "the firing mail did not arrive");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eventually(&store, pending, 1, 5).await;
    eventually(
        &store,
        "SELECT count() FROM alert_events WHERE rule_id = 'cpu' AND event = 'firing'",
        1,
        5,
    )
    .await;
    let since_us: i64 = gatewatch_migrations::testing::raw_client(&store)
        .query("SELECT ts_us FROM alert_events WHERE rule_id = 'cpu' AND event = 'pending'")
        .fetch_one()
        .await
        .unwrap();
    let shown = chrono_tz::Asia::Taipei
        .timestamp_micros(since_us)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string();
    let text = smtp.mails()[0]["text"].as_str().unwrap().to_string();
    assert!(
        text.contains(&format!("開始於 {shown}")),
        "started_at is the first breach ({shown}): {text}"
    );
    let firing_by = store
        .fetch_u64(
            "SELECT uniqExact(alerter) FROM alert_events WHERE rule_id = 'cpu' \
             AND event IN ('pending', 'firing')",
        )
        .await
        .unwrap();
    assert_eq!(
        firing_by, 2,
        "pending seen by the first process, firing by the second"
    );
}
