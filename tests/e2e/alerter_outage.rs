//! The outage case with the whole binary: `gatewatch alerter` against a ClickHouse of
//! the test's own, a database rule (`failure`: the alerter's own probe) whose recipients are an
//! e-mail address and a LINE target. The test stops ClickHouse: the mail reaches aiosmtpd and
//! the push reaches a fake LINE API (token, body shape, retry key) while ClickHouse is down.
//! It starts ClickHouse again: the resolved notices arrive, and `alert_events` then holds what
//! was buffered meanwhile — each transition and each attempt exactly once.

use crate::admin::Api;
use crate::helpers::SmtpSink;
use crate::helpers::{change, put_entities, put_entity};
use crate::helpers::{eventually, PrivateClickHouse, Site};
use crate::test_send::{fake_line, Pushes, OK};
use gatewatch_model::EntityKind;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const FOR_SECS: u64 = 2;

/// A gauge or counter of the alerter's `/metrics`.
async fn metric(alerter: SocketAddr, name: &str) -> Option<f64> {
    let r = Api::anonymous(alerter)
        .call("GET", "/metrics", None, &[])
        .await;
    r.text
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Waits (up to `secs`) until `f` holds, checking every 50 ms.
async fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within {secs} s");
}

async fn wait_metric(alerter: SocketAddr, name: &str, want: f64, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut last = None;
    while Instant::now() < deadline {
        last = metric(alerter, name).await;
        if last == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name}: wanted {want}, still {last:?} after {secs} s");
}

fn pushes_of(p: &Pushes) -> Vec<(String, String, Value)> {
    p.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_stopped_the_alerter_mails_and_pushes_then_records_every_event_once() {
    let mut ch = PrivateClickHouse::start();
    let smtp = SmtpSink::start();
    let (line, pushes) = fake_line().await;
    let extra = format!(
        "[alerter.smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"gatewatch@example.tw\"\n[alerter.line]\nbase_url = \"http://{line}\"\nchannel_access_token = \"line-token\"\n",
        smtp.port
    );
    let site = Site::new("alerter_outage", &ch.url(), &extra);
    // Short rounds, so the test is quick; the lease outlives two of them.
    site.tune(
        "alerter",
        "eval_interval_ms = 300\nlease_ttl_ms = 3000\nlink_base = \"http://127.0.0.1:8090\"",
    );
    let store = site.migrate().await;
    let rule = json!({"name": "ClickHouse 連線", "severity": "critical",
        "kind": {"type": "database", "check": "failure"}, "threshold": 0,
        "for_secs": FOR_SECS, "repeat_secs": 600,
        "recipients": {"emails": ["oncall@example.tw"], "line": [OK]}});
    put_entity(&store, EntityKind::AlertRule, "db", &rule).await;

    let alerter = site.start("alerter").await;
    wait_metric(site.alerter, "gatewatch_alerter_lease_held", 1.0, 30).await;
    wait_metric(site.alerter, "gatewatch_alerter_rules", 1.0, 30).await;
    assert!(site.dir.path().join("data/alerter/sources.json").exists());
    // A healthy round or two: nothing fires.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(smtp.mails().is_empty() && pushes_of(&pushes).is_empty());

    ch.stop();
    let stopped = Instant::now();
    wait_until("the firing mail", 30, || !smtp.mails().is_empty()).await;
    let mail_after = stopped.elapsed();
    wait_until("the firing LINE push", 30, || {
        !pushes_of(&pushes).is_empty()
    })
    .await;
    let line_after = stopped.elapsed();
    let after_duration = |d: Duration| d.as_millis() as i64 - (FOR_SECS * 1000) as i64;
    println!(
        "ClickHouse stopped + for_secs {FOR_SECS} → firing mail after {} ms, LINE push after {} ms (rounds 300 ms)",
        after_duration(mail_after),
        after_duration(line_after)
    );
    let mails = smtp.mails();
    assert_eq!(mails[0]["rcpt_tos"], json!(["oncall@example.tw"]));
    let subject = mails[0]["subject"].as_str().unwrap();
    assert!(
        subject.contains("ClickHouse 連線") && subject.contains("嚴重"),
        "{subject}"
    );
    let text = mails[0]["text"].as_str().unwrap();
    assert!(
        text.contains("無法量測"),
        "the value is the failure: {text}"
    );
    assert!(text.contains("http://127.0.0.1:8090"), "{text}");
    let (auth, key, body) = pushes_of(&pushes)[0].clone();
    assert_eq!(auth, "Bearer line-token");
    assert!(uuid::Uuid::parse_str(&key).is_ok(), "retry key {key:?}");
    assert_eq!(body["to"], OK);
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{body}");
    assert_eq!(messages[0]["type"], "text");
    assert!(messages[0]["text"]
        .as_str()
        .unwrap()
        .contains("ClickHouse 連線"));
    // Pending, firing and the two attempts wait in memory; nothing more is sent meanwhile.
    wait_metric(site.alerter, "gatewatch_alerter_buffered_events", 4.0, 10).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!((smtp.mails().len(), pushes_of(&pushes).len()), (1, 1));

    ch.resume();
    wait_until("the resolved mail", 60, || smtp.mails().len() >= 2).await;
    wait_until("the resolved LINE push", 30, || {
        pushes_of(&pushes).len() >= 2
    })
    .await;
    let mails = smtp.mails();
    let subject = mails[1]["subject"].as_str().unwrap();
    assert!(subject.starts_with("[已恢復]"), "{subject}");
    assert_eq!(mails[1]["rcpt_tos"], json!(["oncall@example.tw"]));
    assert_ne!(mails[0]["message_id"], mails[1]["message_id"]);
    let p = pushes_of(&pushes);
    assert_eq!(p[1].0, "Bearer line-token");
    assert_ne!(p[1].1, p[0].1, "each notice has its own retry key");
    assert!(p[1].2["messages"][0]["text"]
        .as_str()
        .unwrap()
        .contains("已恢復"));

    // Everything that happened, written once: three transitions, four sent attempts.
    let q = "SELECT count() FROM alert_events WHERE rule_id = 'db'";
    eventually(&store, q, 7, 30).await;
    let rows: Vec<(String, String, String, String, u16)> =
        gatewatch_migrations::testing::raw_client(&store)
            .query(
                "SELECT event, phase, channel, result, attempt FROM alert_events \
             WHERE rule_id = 'db' ORDER BY event, phase, channel",
            )
            .fetch_all()
            .await
            .unwrap();
    let row = |e: &str, p: &str, c: &str, r: &str, a: u16| {
        (
            e.to_string(),
            p.to_string(),
            c.to_string(),
            r.to_string(),
            a,
        )
    };
    assert_eq!(
        rows,
        vec![
            row("firing", "firing", "", "", 0),
            row("notify", "firing", "email", "sent", 1),
            row("notify", "firing", "line", "sent", 1),
            row("notify", "ok", "email", "sent", 1),
            row("notify", "ok", "line", "sent", 1),
            row("pending", "pending", "", "", 0),
            row("resolved", "ok", "", "", 0),
        ]
    );
    let ids = store
        .fetch_u64(
            "SELECT uniqExact(notification_id) FROM alert_events \
             WHERE rule_id = 'db' AND event = 'notify'",
        )
        .await
        .unwrap();
    assert_eq!(ids, 4);
    // The firing attempts were made while ClickHouse was down, and written after.
    let during = store
        .fetch_u64(
            "SELECT count() FROM alert_events WHERE rule_id = 'db' AND event = 'notify' \
             AND phase = 'firing' AND detail LIKE '2_0 %'",
        )
        .await
        .unwrap();
    assert_eq!(during, 2, "the far ends' answers (250, 200) are kept");
    wait_metric(site.alerter, "gatewatch_alerter_buffered_events", 0.0, 5).await;
    assert_eq!(
        metric(site.alerter, "gatewatch_alerter_dropped_events_total").await,
        Some(0.0)
    );
    drop(alerter);
}

/// Test-sends while ClickHouse is down: the alerter answers them from its snapshot of the
/// configuration (channels, rules), the mail goes out, and the attempts are written once
/// ClickHouse is back (handed to the evaluator, written with its buffered events).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_sends_work_from_the_snapshot_while_clickhouse_is_down() {
    let mut ch = PrivateClickHouse::start();
    let smtp = SmtpSink::start();
    let extra = smtp.alerter_toml();
    let site = Site::new("alerter_outage_test_send", &ch.url(), &extra);
    site.tune("alerter", "eval_interval_ms = 300\nlease_ttl_ms = 3000");
    let store = site.migrate().await;
    put_entities(
        &store,
        &[
            change(
                EntityKind::Channel,
                "mail",
                json!({"lang": "zh-TW", "email": {"to": ["channel@example.tw"]}}),
            ),
            change(
                EntityKind::AlertRule,
                "cpu",
                json!({"name": "CPU 過高", "kind": {"type": "node_cpu"}, "threshold": 90,
                    "recipients": {"emails": ["rule@example.tw"]}}),
            ),
        ],
    )
    .await;
    let _alerter = site.start("alerter").await;
    wait_metric(site.alerter, "gatewatch_alerter_rules", 1.0, 30).await;
    assert!(site.dir.path().join("data/alerter/sources.json").exists());
    let pepper = std::fs::read(site.dir.path().join("data/secret/pepper")).unwrap();
    let bearer = format!(
        "Bearer {}",
        gatewatch_model::secret::alerter_test_send_token(&pepper)
    );
    let direct = Api::anonymous(site.alerter);
    let test_send = |body: Value| {
        let (direct, bearer) = (direct.clone(), bearer.clone());
        async move {
            direct
                .call(
                    "POST",
                    "/v1/test-send",
                    Some(&body.to_string()),
                    &[("authorization", &bearer)],
                )
                .await
        }
    };

    ch.stop();
    let r = test_send(json!({"channel": "mail"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["results"][0]["status"], 250, "{}", r.text);
    let r = test_send(json!({"rule": "cpu"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["results"][0]["sent"], true, "{}", r.text);
    let r = test_send(json!({"channel": "nope"})).await;
    assert_eq!(r.status, 404, "{}", r.text);
    wait_until("two test mails", 10, || smtp.mails().len() == 2).await;
    let mails = smtp.mails();
    assert_eq!(mails[0]["rcpt_tos"], json!(["channel@example.tw"]));
    assert!(mails[0]["subject"].as_str().unwrap().contains("[測試]"));
    assert_eq!(mails[1]["rcpt_tos"], json!(["rule@example.tw"]));
    assert!(mails[1]["subject"].as_str().unwrap().contains("CPU 過高"));

    ch.resume();
    eventually(
        &store,
        "SELECT count() FROM alert_events WHERE event = 'test' AND result = 'sent'",
        2,
        60,
    )
    .await;
    let rows: Vec<(String, String, String)> = gatewatch_migrations::testing::raw_client(&store)
        .query(
            "SELECT rule_id, channel, recipient FROM alert_events WHERE event = 'test' \
             ORDER BY ts_us",
        )
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![
            (
                String::new(),
                "mail".to_string(),
                "channel@example.tw".to_string()
            ),
            ("cpu".into(), "email".into(), "rule@example.tw".into()),
        ]
    );
}

/// The pid of the private ClickHouse listening on `url`'s port (the test started it; the port
/// is its own).
fn clickhouse_pid(url: &str) -> String {
    let port = url.rsplit(':').next().unwrap();
    let out = std::process::Command::new("pgrep")
        .arg("-f")
        .arg(format!("http_port={port}"))
        .output()
        .unwrap();
    let pids = String::from_utf8_lossy(&out.stdout).to_string();
    let mut lines = pids.lines();
    let pid = lines.next().expect("the private ClickHouse runs").trim();
    assert!(lines.next().is_none(), "one process on port {port}: {pids}");
    pid.to_string()
}

/// ClickHouse that hangs (SIGSTOP: connections are accepted, nothing answers) rather than
/// refusing, with the default 5 s rounds: the database rule fires too, each round waiting
/// only a probe's timeout; after SIGCONT the resolved notice follows and every event is
/// written once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_hanging_fires_the_database_rule_within_a_few_rounds() {
    let ch = PrivateClickHouse::start();
    let smtp = SmtpSink::start();
    let extra = smtp.alerter_toml();
    let site = Site::new("alerter_outage_hang", &ch.url(), &extra);
    let store = site.migrate().await;
    let rule = json!({"name": "ClickHouse 連線", "kind": {"type": "database", "check": "failure"},
        "threshold": 0, "for_secs": FOR_SECS, "recipients": {"emails": ["oncall@example.tw"]}});
    put_entity(&store, EntityKind::AlertRule, "db", &rule).await;
    let _alerter = site.start("alerter").await;
    wait_metric(site.alerter, "gatewatch_alerter_lease_held", 1.0, 30).await;
    wait_metric(site.alerter, "gatewatch_alerter_rules", 1.0, 30).await;

    let pid = clickhouse_pid(&ch.url());
    let signal = |sig: &str| {
        let ok = std::process::Command::new("kill")
            .arg(sig)
            .arg(&pid)
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {pid}");
    };
    // The worst moment to hang (issue 18 item 9): just as a round began, after its probe
    // answered, so the failure is seen only by the calls after it and the next probe.
    let evaluations = "gatewatch_alerter_evaluations_total";
    let before = metric(site.alerter, evaluations).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric(site.alerter, evaluations).await == before {
        assert!(Instant::now() < deadline, "no round ran");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // GATEWATCH_HANG_AFTER_MS: hang that long after the round began instead (to measure
    // other phases of the round; the figures are in ops/bench/RESULTS.md).
    if let Some(ms) = std::env::var("GATEWATCH_HANG_AFTER_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    signal("-STOP");
    let hung = Instant::now();
    wait_until("the firing mail", 60, || !smtp.mails().is_empty()).await;
    // Printed, not asserted (the target is ≤ 10 s; recorded in ops/bench/RESULTS.md).
    println!(
        "ClickHouse hung (SIGSTOP) {} ms after a round began + for_secs {FOR_SECS} → firing mail after {} ms (default 5 s rounds, 3 s probe timeout, 5 s query timeout)",
        std::env::var("GATEWATCH_HANG_AFTER_MS").unwrap_or_else(|_| "0".into()),
        hung.elapsed().as_millis() as i64 - (FOR_SECS * 1000) as i64
    );
    let text = smtp.mails()[0]["text"].as_str().unwrap().to_string();
    assert!(text.contains("無法量測"), "{text}");

    signal("-CONT");
    wait_until("the resolved mail", 60, || smtp.mails().len() >= 2).await;
    assert!(smtp.mails()[1]["subject"]
        .as_str()
        .unwrap()
        .starts_with("[已恢復]"));
    eventually(
        &store,
        "SELECT count() FROM alert_events WHERE rule_id = 'db'",
        5,
        30,
    )
    .await;
    let rows: Vec<(String, String)> = gatewatch_migrations::testing::raw_client(&store)
        .query("SELECT event, result FROM alert_events WHERE rule_id = 'db' ORDER BY event, phase")
        .fetch_all()
        .await
        .unwrap();
    let row = |e: &str, r: &str| (e.to_string(), r.to_string());
    assert_eq!(
        rows,
        vec![
            row("firing", ""),
            row("notify", "sent"),
            row("notify", "sent"),
            row("pending", ""),
            row("resolved", ""),
        ]
    );
    assert_eq!(smtp.mails().len(), 2);
}
