//! `gatewatch alerter` as a process: it takes the lease, reads a rule from the configuration
//! log and node samples from ClickHouse, fires, and records the notice attempt (here `failed`,
//! naming the missing SMTP server, since the site sets none).

use crate::helpers::{eventually, gatewatch, Site};
use crate::helpers::{insert_cpu_sample, put_entity};
use gatewatch_model::EntityKind;
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
    put_entity(&store, EntityKind::AlertRule, "cpu", &rule).await;
    insert_cpu_sample(&store, "hot", 99.0).await;

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
