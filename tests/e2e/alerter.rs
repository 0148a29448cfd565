//! `gatewatch alerter` as a process: it takes the lease, reads a rule from the configuration
//! log and node samples from ClickHouse, fires, and records the notice attempt (here `failed`,
//! naming the missing SMTP server, since the site sets none).

use crate::helpers::{eventually, gatewatch, Site};
use gatewatch_model::{EntityKind, NodeSample};
use gatewatch_store::config_log::{self, Change};
use gatewatch_store::rows::NodeMetricRow;
use std::process::Stdio;

#[tokio::test]
async fn the_alerter_role_evaluates_rules_and_records_its_notices() {
    let site = Site::new(
        "alerter_role",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    let rule = serde_json::json!({"name": "CPU", "kind": {"type": "node_cpu"},
        "threshold": 90, "recipients": {"emails": ["ops@example.tw"]}});
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

    let log = site.dir.path().join("alerter.log");
    let f = std::fs::File::create(&log).unwrap();
    let mut child = gatewatch(&["alerter"], &site.config_path())
        .stdout(Stdio::from(f.try_clone().unwrap()))
        .stderr(Stdio::from(f))
        .spawn()
        .unwrap();
    eventually(
        &store,
        "SELECT count() FROM alert_events WHERE rule_id = 'cpu' AND event = 'notify' \
         AND result = 'failed' AND recipient = 'ops@example.tw' AND detail LIKE '%SMTP%'",
        1,
        20,
    )
    .await;
    eventually(
        &store,
        "SELECT count() FROM alert_events WHERE rule_id = 'cpu' AND event = 'firing' \
         AND scope_key = 'node=hot'",
        1,
        5,
    )
    .await;
    // The snapshot that keeps the rules through a ClickHouse outage.
    assert!(site.dir.path().join("data/alerter/sources.json").exists());
    // SIGTERM: it stops, giving the lease up.
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "{text}");
    assert!(text.contains("holding the alerter lease"), "{text}");
}
