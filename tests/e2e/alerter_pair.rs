//! Two `gatewatch alerter` processes of one site (two machines: own data directories and
//! ports, one ClickHouse): each notice goes out once, and when the process holding the
//! sending lease is killed, the other takes over — it sends the resolved notice and does not
//! send the firing one again.

use crate::admin::Api;
use crate::helpers::{
    eventually, free_port, gatewatch, insert_cpu_sample, put_entity, Site, SmtpSink,
};
use gatewatch_model::EntityKind;
use gatewatch_store::Store;
use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A child process killed (SIGKILL) when dropped.
struct Killed(Option<Child>);

impl Killed {
    fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The alerter's `gatewatch_alerter_lease_held`; `None` while its port does not answer.
async fn lease_held(alerter: SocketAddr) -> Option<bool> {
    std::net::TcpStream::connect(alerter).ok()?;
    let r = Api::anonymous(alerter)
        .call("GET", "/metrics", None, &[])
        .await;
    r.text
        .lines()
        .find_map(|l| l.strip_prefix("gatewatch_alerter_lease_held "))
        .map(|v| v.trim() == "1")
}

async fn cpu_sample(store: &Store, cpu: f32) {
    insert_cpu_sample(store, "hot", cpu).await;
}

async fn wait_mails(smtp: &SmtpSink, n: usize, secs: u64) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        let m = smtp.mails();
        if m.len() >= n {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{n} mail(s) did not arrive in {secs} s: {:?}", smtp.mails());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_alerters_send_each_notice_once_and_the_survivor_takes_over() {
    let smtp = SmtpSink::start();
    let extra = smtp.alerter_toml();
    let site = Site::new(
        "alerter_pair",
        &gatewatch_migrations::testing::clickhouse_url(),
        &extra,
    );
    site.tune("alerter", "eval_interval_ms = 300\nlease_ttl_ms = 3000");
    let cfg = std::fs::read_to_string(site.config_path()).unwrap();
    // The second machine: its own data directory and alerter port.
    let b_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let b_data = site.dir.path().join("data-b");
    let b_cfg = cfg
        .replace(
            &format!("listen = \"{}\"", site.alerter),
            &format!("listen = \"{b_addr}\""),
        )
        .replace(
            &site.dir.path().join("data").display().to_string(),
            &b_data.display().to_string(),
        );
    assert_ne!(b_cfg, cfg);
    let b_path = site.dir.path().join("gatewatch-b.toml");
    std::fs::write(&b_path, b_cfg).unwrap();

    let store = site.migrate().await;
    let rule = serde_json::json!({"name": "CPU 過高", "kind": {"type": "node_cpu"},
        "threshold": 90, "for_secs": 1, "recipients": {"emails": ["ops@example.tw"]}});
    put_entity(&store, EntityKind::AlertRule, "cpu", &rule).await;

    let mut a = site.start("alerter").await;
    let log_b = std::fs::File::create(site.dir.path().join("alerter-b.log")).unwrap();
    let mut b = Killed(Some(
        gatewatch(&["alerter"], &b_path)
            .stdout(Stdio::from(log_b.try_clone().unwrap()))
            .stderr(Stdio::from(log_b))
            .spawn()
            .unwrap(),
    ));
    let mut held = (None, None);
    for _ in 0..300 {
        held = (lease_held(site.alerter).await, lease_held(b_addr).await);
        if held.0.is_some() && held.1.is_some() && (held.0 == Some(true) || held.1 == Some(true)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        held.0.is_some() && held.1.is_some(),
        "both alerters answer: {held:?}"
    );
    // Both run before the value crosses the threshold.
    cpu_sample(&store, 99.0).await;

    let mails = wait_mails(&smtp, 1, 30).await;
    assert!(mails[0]["subject"].as_str().unwrap().contains("CPU 過高"));
    // Both keep evaluating for a while: still one firing notice, one attempt recorded.
    eventually(
        &store,
        "SELECT count() FROM alert_events WHERE rule_id = 'cpu' AND event = 'notify'",
        1,
        10,
    )
    .await;
    assert_eq!(smtp.mails().len(), 1);
    let held = (lease_held(site.alerter).await, lease_held(b_addr).await);
    assert!(
        matches!(held, (Some(true), Some(false)) | (Some(false), Some(true))),
        "exactly one holds the lease: {held:?}"
    );

    // Kill the holder; the value comes back down; the other resolves it.
    if held.0 == Some(true) {
        a.kill();
    } else {
        b.kill();
    }
    cpu_sample(&store, 10.0).await;
    let mails = wait_mails(&smtp, 2, 30).await;
    let subject = mails[1]["subject"].as_str().unwrap();
    assert!(subject.starts_with("[已恢復]"), "{subject}");
    eventually(
        &store,
        "SELECT count() FROM alert_events WHERE rule_id = 'cpu'",
        5,
        10,
    )
    .await;
    assert_eq!(
        smtp.mails().len(),
        2,
        "the firing notice was not sent again"
    );
    let rows: Vec<(String, String, u64)> = gatewatch_migrations::testing::raw_client(&store)
        .query(
            "SELECT event, result, count() FROM alert_events WHERE rule_id = 'cpu' \
             GROUP BY event, result ORDER BY event, result",
        )
        .fetch_all()
        .await
        .unwrap();
    let row = |e: &str, r: &str, n: u64| (e.to_string(), r.to_string(), n);
    assert_eq!(
        rows,
        vec![
            row("firing", "", 1),
            row("notify", "sent", 2),
            row("pending", "", 1),
            row("resolved", "", 1),
        ]
    );
    let senders = store
        .fetch_u64(
            "SELECT uniqExact(alerter) FROM alert_events WHERE rule_id = 'cpu' AND event = 'notify'",
        )
        .await
        .unwrap();
    assert_eq!(
        senders, 2,
        "the firing and the resolved notice came from different processes"
    );
}
