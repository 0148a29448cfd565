//! `gatewatch alerter` stopped while a rule is pending and started again: the new process
//! picks up the saved state, so the rule fires on the original clock (the notice's
//! `started_at` is the first breach, and there is one pending transition, not two).

use crate::admin::Api;
use crate::helpers::SmtpSink;
use crate::helpers::{eventually, Site};
use chrono::TimeZone;
use gatewatch_model::{EntityKind, NodeSample};
use gatewatch_store::config_log::{self, Change};
use gatewatch_store::rows::NodeMetricRow;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_pending_fires_on_the_original_clock() {
    let smtp = SmtpSink::start();
    let extra = format!(
        "[alerter.smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"gatewatch@example.tw\"\n",
        smtp.port
    );
    let site = Site::new(
        "alerter_restart",
        &gatewatch_migrations::testing::clickhouse_url(),
        &extra,
    );
    let cfg = std::fs::read_to_string(site.config_path()).unwrap();
    let cfg = cfg.replacen(
        "[alerter]\n",
        "[alerter]\neval_interval_ms = 300\nlease_ttl_ms = 3000\n",
        1,
    );
    std::fs::write(site.config_path(), cfg).unwrap();
    let store = site.migrate().await;
    let rule = serde_json::json!({"name": "CPU 過高", "kind": {"type": "node_cpu"},
        "threshold": 90, "for_secs": 8, "recipients": {"emails": ["ops@example.tw"]}});
    config_log::write(
        &store,
        "e2e",
        "",
        &[Change {
            kind: EntityKind::AlertRule,
            id: "cpu".into(),
            body: rule.to_string(),
            deleted: false,
            expected_version: None,
        }],
        chrono::Utc::now().timestamp_micros(),
    )
    .await
    .unwrap();

    let mut first = site.start("alerter").await;
    let s = NodeSample {
        ts_us: chrono::Utc::now().timestamp_micros(),
        node: "hot".into(),
        role: "gateway".into(),
        cpu_pct: 99.0,
        mem_used_bytes: 1,
        mem_total_bytes: 2,
        rss_bytes: 1,
        disks: Vec::new(),
        backlog: Default::default(),
    };
    let mut ins = store
        .client()
        .insert::<NodeMetricRow<'_>>("node_metrics")
        .await
        .unwrap();
    ins.write(&NodeMetricRow::new(&s, uuid::Uuid::new_v4()))
        .await
        .unwrap();
    ins.end().await.unwrap();

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
    let since_us: i64 = store
        .client()
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
