//! The evaluator against a real ClickHouse: node samples and rules written directly, the
//! engine run with short intervals, a recording dispatcher in place of the notifiers.
//! Each test prints the time from "threshold crossed + duration" to the dispatch.

use chrono::{DateTime, Utc};
use gatewatch_alerter::dispatch::Delivery;
use gatewatch_alerter::{Dispatcher, Engine, EngineConfig, Outgoing, Recipient};
use gatewatch_migrations::testing::migrated_store;
use gatewatch_model::alert::AlertState;
use gatewatch_model::{EntityKind, NodeSample};
use gatewatch_store::alerts::{self, AlertEvent, EventQuery};
use gatewatch_store::config_log::{self, Change};
use gatewatch_store::rows::NodeMetricRow;
use gatewatch_store::Store;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// What a test dispatcher was asked to send.
#[derive(Debug, Clone)]
struct Sent {
    to: Recipient,
    msg: Outgoing,
    at: DateTime<Utc>,
    by: String,
}

#[derive(Default)]
struct Recorder {
    name: String,
    sent: Mutex<Vec<Sent>>,
    shared: Option<Arc<Recorder>>,
}

impl Recorder {
    fn named(name: &str, shared: Option<Arc<Recorder>>) -> Arc<Recorder> {
        Arc::new(Recorder {
            name: name.into(),
            sent: Mutex::default(),
            shared,
        })
    }

    fn all(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }

    fn states(&self) -> Vec<String> {
        self.all()
            .iter()
            .map(|s| s.msg.vars["state"].clone())
            .collect()
    }

    fn push(&self, s: Sent) {
        self.sent.lock().unwrap().push(s.clone());
        if let Some(sh) = &self.shared {
            sh.push(s);
        }
    }
}

impl Dispatcher for Recorder {
    async fn send(&self, to: &Recipient, msg: &Outgoing) -> Delivery {
        self.push(Sent {
            to: to.clone(),
            msg: msg.clone(),
            at: Utc::now(),
            by: self.name.clone(),
        });
        Delivery::sent(1, "250 ok (test)")
    }
}

async fn put(store: &Store, kind: EntityKind, id: &str, body: serde_json::Value) {
    config_log::write(
        store,
        "test",
        "",
        &[Change {
            kind,
            id: id.into(),
            body: body.to_string(),
            deleted: false,
            expected_version: None,
        }],
        Utc::now().timestamp_micros(),
    )
    .await
    .unwrap();
}

async fn sample(store: &Store, node: &str, cpu: f32) {
    let s = NodeSample {
        ts_us: Utc::now().timestamp_micros(),
        node: node.into(),
        role: "gateway".into(),
        cpu_pct: cpu,
        mem_used_bytes: 1 << 30,
        mem_total_bytes: 4 << 30,
        rss_bytes: 100 << 20,
        disks: Vec::new(),
        backlog: Default::default(),
    };
    let mut ins = gatewatch_migrations::testing::raw_client(store)
        .insert::<NodeMetricRow<'_>>("node_metrics")
        .await
        .unwrap();
    ins.write(&NodeMetricRow::new(&s, Uuid::new_v4()))
        .await
        .unwrap();
    ins.end().await.unwrap();
}

/// Writes `cpu` samples for `node` every 200 ms until stopped or changed.
fn feed(store: &Store, node: &str) -> (watch::Sender<f32>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(0.0f32);
    let (store, node) = (store.clone(), node.to_string());
    let h = tokio::spawn(async move {
        loop {
            let v = *rx.borrow();
            if v < 0.0 {
                return;
            }
            sample(&store, &node, v).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    (tx, h)
}

struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn config(holder: &str, dir: &std::path::Path, store: &Store) -> EngineConfig {
    let mut c = EngineConfig::new(holder, dir.to_path_buf(), store.config());
    c.eval_interval = Duration::from_millis(300);
    c.lease_ttl = Duration::from_secs(5);
    c.lease_settle = Duration::from_millis(300);
    c.site_tz = chrono_tz::UTC;
    c.site_lang = gatewatch_model::alert::Lang::En;
    c.link_base = "http://127.0.0.1:8090".into();
    c
}

fn start(store: &Store, cfg: EngineConfig, d: Arc<Recorder>) -> Running {
    let (stop, rx) = watch::channel(false);
    let engine = Engine::new(store.clone(), cfg, d);
    let task = tokio::spawn(engine.run(async move {
        let mut rx = rx;
        let _ = rx.wait_for(|s| *s).await;
    }));
    Running { stop, task }
}

async fn eventually<T>(what: &str, secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn events(store: &Store, rule: &str) -> Vec<AlertEvent> {
    let mut e = alerts::read_events(
        store,
        &EventQuery {
            from_us: 0,
            to_us: i64::MAX / 2,
            rule_id: Some(rule.into()),
            limit: 10_000,
        },
    )
    .await
    .unwrap();
    e.reverse();
    e
}

fn cpu_rule(for_secs: u64, repeat_secs: u64) -> serde_json::Value {
    serde_json::json!({
        "name": "CPU high", "kind": {"type": "node_cpu"}, "scope": {"nodes": ["n1"]},
        "threshold": 90, "recovery": 80, "for_secs": for_secs, "repeat_secs": repeat_secs,
        "recipients": {"emails": ["ops@example.tw"], "line": ["U0123"]}, "language": "en"
    })
}

fn started_at(s: &Sent) -> DateTime<Utc> {
    s.msg.vars["started_at"].parse().unwrap()
}

fn at(s: &Sent) -> DateTime<Utc> {
    s.msg.vars["at"].parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fires_after_the_duration_repeats_at_the_interval_and_resolves() {
    let store = migrated_store("alerter_eval_fire").await;
    let dir = tempfile::tempdir().unwrap();
    put(&store, EntityKind::AlertRule, "cpu", cpu_rule(2, 3)).await;
    let (cpu, feeder) = feed(&store, "n1");
    let rec = Recorder::named("a", None);
    let eng = start(&store, config("a", dir.path(), &store), rec.clone());
    cpu.send(95.0).unwrap();
    let crossed = Utc::now();

    let first = eventually("the firing notice", 20, async || {
        rec.all()
            .into_iter()
            .find(|s| s.msg.vars["state"] == "firing")
    })
    .await;
    // Not before the condition held for for_secs (measured from the first breaching round).
    assert!(at(&first) >= started_at(&first) + chrono::Duration::seconds(2));
    assert!(started_at(&first) >= crossed - chrono::Duration::seconds(1));
    println!(
        "firing: dispatched {} ms after threshold crossing + duration",
        (first.at - (crossed + chrono::Duration::seconds(2))).num_milliseconds()
    );
    assert!(first.msg.text.contains("CPU high"), "{:?}", first.msg);
    assert!(first.msg.text.contains("http://127.0.0.1:8090"));
    // Both recipients, the same notice, distinct ids.
    let firing = eventually("both firing notices", 10, async || {
        let f: Vec<Sent> = rec
            .all()
            .into_iter()
            .filter(|s| s.msg.vars["state"] == "firing")
            .collect();
        (f.len() >= 2).then_some(f)
    })
    .await;
    assert_eq!(firing.len(), 2);
    assert!(firing
        .iter()
        .any(|s| s.to == Recipient::Email("ops@example.tw".into())));
    assert!(firing
        .iter()
        .any(|s| s.to == Recipient::Line("U0123".into())));
    assert_ne!(firing[0].msg.notification_id, firing[1].msg.notification_id);

    // Keep it firing for a while: repeats no closer than 3 s (by the deciding round's time).
    tokio::time::sleep(Duration::from_secs(8)).await;
    let email: Vec<Sent> = rec
        .all()
        .into_iter()
        .filter(|s| matches!(s.to, Recipient::Email(_)))
        .collect();
    let repeats = email
        .iter()
        .filter(|s| s.msg.vars["state"] == "repeat")
        .count();
    assert!(repeats >= 2, "{:?}", rec.states());
    for w in email.windows(2) {
        assert!(
            at(&w[1]) - at(&w[0]) >= chrono::Duration::seconds(3),
            "{w:?}"
        );
    }

    cpu.send(50.0).unwrap();
    let resolved_from = Utc::now();
    let resolved = eventually("the resolved notice", 20, async || {
        rec.all()
            .into_iter()
            .find(|s| s.msg.vars["state"] == "resolved")
    })
    .await;
    println!(
        "resolved: dispatched {} ms after the value went back",
        (resolved.at - resolved_from).num_milliseconds()
    );
    eng.stop().await;
    cpu.send(-1.0).unwrap();
    let _ = feeder.await;

    let ev = events(&store, "cpu").await;
    let transitions: Vec<&str> = ev
        .iter()
        .filter(|e| e.event != "notify")
        .map(|e| e.event.as_str())
        .collect();
    assert_eq!(transitions, ["pending", "firing", "resolved"]);
    let sent = ev
        .iter()
        .filter(|e| e.event == "notify" && e.result == "sent")
        .count();
    assert_eq!(sent, rec.all().len());
    assert!(ev.iter().all(|e| e.alerter == "a" && e.rule_version == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_oscillating_between_recovery_and_threshold_does_not_flap() {
    let store = migrated_store("alerter_eval_hysteresis").await;
    let dir = tempfile::tempdir().unwrap();
    put(&store, EntityKind::AlertRule, "cpu", cpu_rule(0, 0)).await;
    let (cpu, feeder) = feed(&store, "n1");
    let rec = Recorder::named("a", None);
    let eng = start(&store, config("a", dir.path(), &store), rec.clone());
    cpu.send(92.0).unwrap();
    eventually("the firing notice", 20, async || {
        (!rec.all().is_empty()).then_some(())
    })
    .await;
    for i in 0..20 {
        cpu.send(if i % 2 == 0 { 85.0 } else { 92.0 }).unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eng.stop().await;
    cpu.send(-1.0).unwrap();
    let _ = feeder.await;
    assert_eq!(
        rec.states(),
        ["firing", "firing"],
        "one notice, two recipients"
    );
    let transitions: Vec<String> = events(&store, "cpu")
        .await
        .into_iter()
        .filter(|e| e.event != "notify")
        .map(|e| e.event)
        .collect();
    assert_eq!(transitions, ["firing"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exception_window_holds_notices_back_but_records_them() {
    let store = migrated_store("alerter_eval_window").await;
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let hm = |t: DateTime<Utc>| t.format("%H:%M").to_string();
    let mut rule = cpu_rule(0, 1);
    // A daily window around now (crossing midnight when now is near it), in UTC.
    rule["timezone"] = "UTC".into();
    rule["windows"] = serde_json::json!([{"type": "daily",
        "from": hm(now - chrono::Duration::hours(1)), "until": hm(now + chrono::Duration::hours(1))}]);
    rule["recipients"]["roles"] = serde_json::json!(["ops"]);
    put(&store, EntityKind::AlertRule, "cpu", rule).await;
    // Role mail goes to enabled users of the role who have an address.
    let user = |role: &str, email: &str, disabled: bool| {
        serde_json::json!({"role": role, "email": email, "disabled": disabled,
            "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"})
    };
    put(
        &store,
        EntityKind::User,
        "olive",
        user("ops", "Olive@Example.tw", false),
    )
    .await;
    put(
        &store,
        EntityKind::User,
        "bob",
        user("ops", "bob@example.tw", true),
    )
    .await;
    put(
        &store,
        EntityKind::User,
        "mia",
        user("manager", "mia@example.tw", false),
    )
    .await;
    // A second rule with no window, silenced for n1 instead.
    put(&store, EntityKind::AlertRule, "cpu2", cpu_rule(0, 0)).await;
    put(
        &store,
        EntityKind::Silence,
        "upgrade",
        serde_json::json!({"rule": "cpu2", "node": "n1",
            "from": (now - chrono::Duration::minutes(5)).to_rfc3339(),
            "until": (now + chrono::Duration::hours(1)).to_rfc3339(),
            "who": "olive", "why": "kernel upgrade"}),
    )
    .await;
    let (cpu, feeder) = feed(&store, "n1");
    cpu.send(97.0).unwrap();
    let rec = Recorder::named("a", None);
    let eng = start(&store, config("a", dir.path(), &store), rec.clone());
    let suppressed = async |rule: &str, n: usize| {
        let ev = events(&store, rule).await;
        let held: Vec<AlertEvent> = ev
            .into_iter()
            .filter(|e| e.result == "suppressed")
            .collect();
        (held.len() >= n).then_some(held)
    };
    let held = eventually("suppressed events", 20, async || suppressed("cpu", 6).await).await;
    let silenced = eventually("silenced events", 20, async || suppressed("cpu2", 2).await).await;
    eng.stop().await;
    cpu.send(-1.0).unwrap();
    let _ = feeder.await;
    assert!(rec.all().is_empty(), "{:?}", rec.states());
    assert!(held.iter().all(|e| e.detail.contains("exception window")));
    assert!(
        silenced.iter().all(|e| e.detail.contains("silence")),
        "{silenced:?}"
    );
    assert!(held
        .iter()
        .any(|e| e.channel == "line" && e.recipient == "U0123"));
    let mut mail: Vec<&str> = held
        .iter()
        .filter(|e| e.channel == "email")
        .map(|e| e.recipient.as_str())
        .collect();
    mail.sort();
    mail.dedup();
    assert_eq!(mail, ["olive@example.tw", "ops@example.tw"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_pending_keeps_the_pending_time() {
    let store = migrated_store("alerter_eval_restart").await;
    let dir = tempfile::tempdir().unwrap();
    put(&store, EntityKind::AlertRule, "cpu", cpu_rule(4, 0)).await;
    let (cpu, feeder) = feed(&store, "n1");
    cpu.send(95.0).unwrap();
    let rec_a = Recorder::named("a", None);
    let a = start(&store, config("a", dir.path(), &store), rec_a.clone());
    let pending_since = eventually("a saved pending state", 20, async || {
        let saved = alerts::load_states(&store).await.unwrap();
        saved.into_iter().find_map(|s| {
            match serde_json::from_str::<AlertState>(&s.state).unwrap().phase {
                gatewatch_model::alert::Phase::Pending { since } => Some(since),
                _ => None,
            }
        })
    })
    .await;
    a.stop().await;
    let restarted = Utc::now();
    assert!(rec_a.all().is_empty());
    assert!(
        restarted < pending_since + chrono::Duration::seconds(4),
        "too slow to test"
    );

    let rec_b = Recorder::named("b", None);
    let b = start(&store, config("b", dir.path(), &store), rec_b.clone());
    let first = eventually("the firing notice", 20, async || {
        rec_b.all().into_iter().next()
    })
    .await;
    b.stop().await;
    cpu.send(-1.0).unwrap();
    let _ = feeder.await;
    // The episode began when A first saw the breach; B fired on that clock, not its own.
    assert_eq!(started_at(&first), pending_since);
    assert!(at(&first) < restarted + chrono::Duration::seconds(4));
    println!(
        "restart: dispatched {} ms after the original since + duration (restarted {} ms in)",
        (first.at - (pending_since + chrono::Duration::seconds(4))).num_milliseconds(),
        (restarted - pending_since).num_milliseconds()
    );
    let ev = events(&store, "cpu").await;
    let pend: Vec<&AlertEvent> = ev.iter().filter(|e| e.event == "pending").collect();
    assert_eq!(pend.len(), 1, "B did not start a new pending period");
    assert_eq!(pend[0].alerter, "a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_on_one_database_send_each_notice_once() {
    let store = migrated_store("alerter_eval_two").await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    put(&store, EntityKind::AlertRule, "cpu", cpu_rule(0, 2)).await;
    let (cpu, feeder) = feed(&store, "n1");
    cpu.send(95.0).unwrap();
    let all = Recorder::named("all", None);
    let (ra, rb) = (
        Recorder::named("a", Some(all.clone())),
        Recorder::named("b", Some(all.clone())),
    );
    let a = start(&store, config("a", dir_a.path(), &store), ra.clone());
    let b = start(&store, config("b", dir_b.path(), &store), rb.clone());
    eventually("a few notices", 30, async || {
        (all.all().len() >= 6).then_some(())
    })
    .await;
    a.stop().await;
    b.stop().await;
    cpu.send(-1.0).unwrap();
    let _ = feeder.await;
    let sent = all.all();
    let mut ids: Vec<Uuid> = sent.iter().map(|s| s.msg.notification_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), sent.len(), "a notice went out twice");
    let senders: std::collections::BTreeSet<&str> = sent.iter().map(|s| s.by.as_str()).collect();
    assert_eq!(senders.len(), 1, "{senders:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_probe_fires_when_nothing_listens() {
    let store = migrated_store("alerter_eval_probe").await;
    let dir = tempfile::tempdir().unwrap();
    put(
        &store,
        EntityKind::AlertRule,
        "db",
        serde_json::json!({"name": "ClickHouse", "severity": "critical",
            "kind": {"type": "database", "check": "connect_ms"}, "threshold": 500,
            "for_secs": 1, "recipients": {"emails": ["ops@example.tw"]}, "language": "en"}),
    )
    .await;
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cfg = config("a", dir.path(), &store);
    cfg.probe.url = format!("http://127.0.0.1:{port}");
    cfg.probe_timeout = Duration::from_millis(500);
    let rec = Recorder::named("a", None);
    let started = Utc::now();
    let eng = start(&store, cfg, rec.clone());
    let first = eventually("the database notice", 20, async || {
        rec.all().into_iter().next()
    })
    .await;
    eng.stop().await;
    println!(
        "database probe: dispatched {} ms after start (for_secs 1)",
        (first.at - started).num_milliseconds()
    );
    assert_eq!(first.msg.vars["state"], "firing");
    assert!(first.msg.text.contains("failed"), "{}", first.msg.text);
    assert_eq!(first.msg.vars["scope"], "");
    // Webhook placeholders: the mail's texts for durations, data for the value.
    assert_eq!(first.msg.vars["duration"], "1 s");
    assert_eq!(first.msg.vars["value"], "");
    let ev = events(&store, "db").await;
    assert!(ev
        .iter()
        .any(|e| e.event == "firing" && e.detail.contains(&port.to_string())));
}

/// A TCP relay to ClickHouse that the test can cut and restore: while cut, connections are
/// closed as they come and the open ones are dropped.
async fn relay(to: &str) -> (String, watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (up, up_rx) = watch::channel(true);
    let to = to.trim_start_matches("http://").to_string();
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            if !*up_rx.borrow() {
                continue;
            }
            let mut cut = up_rx.clone();
            let to = to.clone();
            tokio::spawn(async move {
                let Ok(mut outbound) = tokio::net::TcpStream::connect(&to).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = cut.wait_for(|u| !*u) => {}
                }
            });
        }
    });
    (url, up)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_clickhouse_away_the_holder_still_fires_the_database_rule_and_records_later() {
    let direct = migrated_store("alerter_eval_outage").await;
    let dir = tempfile::tempdir().unwrap();
    put(
        &direct,
        EntityKind::AlertRule,
        "db",
        serde_json::json!({"name": "ClickHouse", "severity": "critical",
            "kind": {"type": "database", "check": "connect_ms"}, "threshold": 3000,
            "for_secs": 1, "recipients": {"emails": ["ops@example.tw"], "line": ["U0123"]},
            "language": "en"}),
    )
    .await;
    let (url, up) = relay(&direct.config().url).await;
    let store = Store::new(gatewatch_store::StoreConfig {
        url,
        ..direct.config().clone()
    });
    let mut cfg = config("a", dir.path(), &store);
    // A slow but working probe must not breach before the cut.
    cfg.probe_timeout = Duration::from_secs(2);
    let rec = Recorder::named("a", None);
    let (stop, rx) = watch::channel(false);
    let engine = Engine::new(store.clone(), cfg, rec.clone());
    let metrics = engine.metrics();
    let task = tokio::spawn(engine.run(async move {
        let mut rx = rx;
        let _ = rx.wait_for(|s| *s).await;
    }));
    let m = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    eventually("the lease and the rules", 20, async || {
        (m(&metrics.lease_held) == 1 && m(&metrics.rules) == 1).then_some(())
    })
    .await;
    assert!(gatewatch_alerter::source::snapshot_path(dir.path()).exists());

    up.send(false).unwrap();
    let cut = Utc::now();
    let notices = eventually("both notices while ClickHouse is away", 20, async || {
        let all = rec.all();
        (all.len() >= 2).then_some(all)
    })
    .await;
    println!(
        "outage: dispatched {} ms after ClickHouse went away (for_secs 1)",
        (notices[0].at - cut).num_milliseconds()
    );
    assert!(notices.iter().all(|s| s.msg.vars["state"] == "firing"));
    // Transitions and attempts wait in memory (counted at the end of the round).
    eventually("buffered events", 10, async || {
        (m(&metrics.buffered_events) >= 4).then_some(())
    })
    .await;
    assert_eq!(m(&metrics.lease_held), 1, "still acting as holder");
    assert!(events(&direct, "db").await.is_empty());

    up.send(true).unwrap();
    let ev = eventually("the buffered events written", 20, async || {
        let ev = events(&direct, "db").await;
        ev.iter().any(|e| e.event == "resolved").then_some(ev)
    })
    .await;
    let _ = stop.send(true);
    let _ = task.await;
    let sent: Vec<&AlertEvent> = ev.iter().filter(|e| e.result == "sent").collect();
    assert!(sent.len() >= 2, "{ev:?}");
    assert!(ev
        .iter()
        .any(|e| e.event == "firing" && !e.detail.is_empty()));
    // Back up: the probe succeeds again and the alert resolves, with a notice.
    eventually("the resolved notices", 10, async || {
        (rec.states().iter().filter(|s| *s == "resolved").count() == 2).then_some(())
    })
    .await;
}

async fn calls(store: &Store, api: &str, client: &str, n: usize, failed: usize, latency_ms: u64) {
    calls_ago(store, api, client, n, failed, latency_ms, 0).await
}

async fn calls_ago(
    store: &Store,
    api: &str,
    client: &str,
    n: usize,
    failed: usize,
    latency_ms: u64,
    ago_secs: i64,
) {
    let now = Utc::now().timestamp_micros() - ago_secs * 1_000_000;
    let recs: Vec<gatewatch_model::CallRecord> = (0..n)
        .map(|i| {
            serde_json::from_value(serde_json::json!({
                "call_id": Uuid::now_v7(), "ts_us": now - i as i64 * 1000, "node": "n1",
                "api_id": api, "client_id": client, "method": "GET", "path": "/x",
                "status": if i < failed { 502 } else { 200 },
                "outcome": if i < failed { "upstream_error" } else { "ok" },
                "latency_us": latency_ms * 1000,
            }))
            .unwrap()
        })
        .collect();
    let mut ins = gatewatch_migrations::testing::raw_client(store)
        .insert::<gatewatch_store::rows::ApiCallRow<'_>>("api_calls")
        .await
        .unwrap();
    for r in &recs {
        ins.write(&gatewatch_store::rows::ApiCallRow::new(r, Uuid::new_v4()))
            .await
            .unwrap();
    }
    ins.end().await.unwrap();
}

#[tokio::test]
async fn observations_per_kind_and_scope_key() {
    use gatewatch_alerter::evaluate::Observer;
    use gatewatch_model::alert::{AlertRuleSpec, Observation as O, ScopeKey};
    let store = migrated_store("alerter_eval_observe").await;
    let s = NodeSample {
        ts_us: Utc::now().timestamp_micros(),
        node: "n1".into(),
        role: "gateway".into(),
        cpu_pct: 42.0,
        mem_used_bytes: 3 << 30,
        mem_total_bytes: 4 << 30,
        rss_bytes: 256 << 20,
        disks: vec![gatewatch_model::DiskUsage {
            mount: "/var".into(),
            used_bytes: 9,
            total_bytes: 10,
        }],
        backlog: gatewatch_model::Backlog {
            queue_depth: 5,
            spool_bytes: 3 << 20,
            spool_batches: 3,
            records_dropped: 0,
        },
    };
    // An older sample of another process on the node: bigger, but not newer.
    let other = NodeSample {
        ts_us: s.ts_us - 1_000_000,
        role: "alerter".into(),
        cpu_pct: 10.0,
        rss_bytes: 512 << 20,
        backlog: gatewatch_model::Backlog {
            spool_batches: 1,
            ..Default::default()
        },
        ..s.clone()
    };
    let mut ins = gatewatch_migrations::testing::raw_client(&store)
        .insert::<NodeMetricRow<'_>>("node_metrics")
        .await
        .unwrap();
    for x in [&s, &other] {
        ins.write(&NodeMetricRow::new(x, Uuid::new_v4()))
            .await
            .unwrap();
    }
    ins.end().await.unwrap();
    calls(&store, "orders", "acme", 10, 4, 300).await;
    calls(&store, "quiet", "", 2, 2, 10).await;

    let rule = |json: serde_json::Value| -> AlertRuleSpec {
        let mut j = serde_json::json!({"name": "r", "threshold": 1});
        j.as_object_mut()
            .unwrap()
            .extend(json.as_object().unwrap().clone());
        serde_json::from_value(j).unwrap()
    };
    let now = Utc::now() + chrono::Duration::seconds(2);
    let mut o = Observer::new(&store, now, None);
    let n1 = ScopeKey::node("n1");
    let got = o
        .observe(&rule(serde_json::json!({"kind": {"type": "node_cpu"}})))
        .await;
    assert_eq!(got.values, vec![(n1.clone(), O::Value(42.0))]);
    let got = o
        .observe(&rule(
            serde_json::json!({"kind": {"type": "node_memory"}, "scope": {"nodes": ["n1", "n9"]}}),
        ))
        .await;
    assert_eq!(
        got.values,
        vec![
            (n1.clone(), O::Value(75.0)),
            (ScopeKey::node("n9"), O::NoData)
        ]
    );
    let got = o
        .observe(&rule(serde_json::json!({"kind": {"type": "process_memory", "unit": "percent", "limit_mb": 1024}})))
        .await;
    // The largest process of the node.
    assert_eq!(got.values, vec![(n1.clone(), O::Value(50.0))]);
    let got = o
        .observe(&rule(serde_json::json!({"kind": {"type": "disk"}})))
        .await;
    let var = ScopeKey {
        mount: Some("/var".into()),
        ..n1.clone()
    };
    assert_eq!(got.values, vec![(var, O::Value(90.0))]);
    let got = o
        .observe(&rule(serde_json::json!({"kind": {"type": "node_silent"}, "scope": {"nodes": ["n1", "gone"]}})))
        .await;
    assert!(
        matches!(got.values[0], (ref k, O::Value(v)) if *k == n1 && (1.0..=5.0).contains(&v)),
        "{got:?}"
    );
    assert_eq!(got.values[1], (ScopeKey::node("gone"), O::Value(86400.0)));
    // Error rate per API; an API under min_calls has no value.
    let got = o
        .observe(&rule(
            serde_json::json!({"kind": {"type": "api_error_rate", "min_calls": 5}}),
        ))
        .await;
    assert_eq!(
        got.values,
        vec![
            (ScopeKey::api("orders"), O::Value(40.0)),
            (ScopeKey::api("quiet"), O::NoData)
        ]
    );
    let got = o
        .observe(&rule(
            serde_json::json!({"kind": {"type": "api_latency", "quantile": "p95", "min_calls": 5},
            "scope": {"client": "acme"}}),
        ))
        .await;
    assert!(
        matches!(got.values[0], (ref k, O::Value(v)) if *k == ScopeKey::client("acme") && (v - 300.0).abs() < 1.0),
        "{got:?}"
    );
    let got = o
        .observe(&rule(serde_json::json!({"kind": {"type": "api_latency", "quantile": "p99"}, "scope": {"api": "none"}})))
        .await;
    assert_eq!(got.values, vec![(ScopeKey::api("none"), O::NoData)]);
    // Traffic against the same hour a week before (whole minutes: the filling one is left
    // out of both); APIs without a baseline have no value.
    let week = 7 * 24 * 3600;
    calls_ago(&store, "weekly", "", 10, 0, 5, week + 90).await;
    calls_ago(&store, "weekly", "", 2, 0, 5, 90).await;
    let got = Observer::new(&store, now, None)
        .observe(&rule(
            serde_json::json!({"kind": {"type": "traffic_drop", "min_calls": 5}}),
        ))
        .await;
    assert_eq!(
        got.values,
        vec![(ScopeKey::api("weekly"), O::Value(80.0))],
        "{got:?}"
    );
    // Backlogs, added up over the node's processes.
    for (kind, want) in [
        (
            serde_json::json!({"type": "backlog", "measure": "spool_batches"}),
            4.0,
        ),
        (
            serde_json::json!({"type": "backlog", "measure": "spool_mb"}),
            3.0,
        ),
        (
            serde_json::json!({"type": "backlog", "measure": "queue_depth"}),
            5.0,
        ),
        (
            serde_json::json!({"type": "database", "check": "gateway_spool"}),
            4.0,
        ),
    ] {
        let got = o.observe(&rule(serde_json::json!({ "kind": kind }))).await;
        assert_eq!(got.values, vec![(n1.clone(), O::Value(want))], "{kind}");
    }
    // Batches the collectors set aside, counted over the rule's window, one value for the site.
    let quarantine =
        rule(serde_json::json!({"kind": {"type": "ingest_quarantine", "window_secs": 600}}));
    let got = o.observe(&quarantine).await;
    assert_eq!(got.values, vec![(ScopeKey::default(), O::Value(0.0))]);
    for (ago, collector) in [(30, "c1"), (60, "c2"), (3600, "c1")] {
        gatewatch_store::ingest::record_quarantine(
            &store,
            &gatewatch_store::ingest::Quarantined {
                ts: (now.timestamp() - ago) as u32,
                batch_id: Uuid::now_v7(),
                kind: gatewatch_store::rows::BatchKind::Calls,
                rows: 10,
                collector: collector.into(),
                file: "/data/wal/quarantine/x.ndjson".into(),
                error: "Code: 53. Type mismatch".into(),
            },
        )
        .await
        .unwrap();
    }
    let got = Observer::new(&store, now, None).observe(&quarantine).await;
    assert_eq!(got.values, vec![(ScopeKey::default(), O::Value(2.0))]);
    // A failing read is an error, not a value.
    let dead = Store::new(gatewatch_store::StoreConfig {
        url: "http://127.0.0.1:9".into(),
        ..store.config().clone()
    });
    let got = Observer::new(&dead, now, None)
        .observe(&rule(serde_json::json!({"kind": {"type": "node_cpu"}})))
        .await;
    assert!(got.values.is_empty() && got.error.is_some());
}

/// A dispatcher whose LINE sends fail until told otherwise; every attempt is recorded.
struct LineDown {
    rec: Arc<Recorder>,
    line_ok: std::sync::atomic::AtomicBool,
}

impl Dispatcher for LineDown {
    async fn send(&self, to: &Recipient, msg: &Outgoing) -> Delivery {
        self.rec.push(Sent {
            to: to.clone(),
            msg: msg.clone(),
            at: Utc::now(),
            by: "a".into(),
        });
        let down = matches!(to, Recipient::Line(_))
            && !self.line_ok.load(std::sync::atomic::Ordering::SeqCst);
        if down {
            Delivery::failed(1, "500 LINE is down (test)")
        } else {
            Delivery::sent(1, "250 ok (test)")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_that_keeps_failing_raises_its_own_notice_on_the_others() {
    let store = migrated_store("alerter_eval_channel_down").await;
    let dir = tempfile::tempdir().unwrap();
    put(&store, EntityKind::AlertRule, "cpu", cpu_rule(1, 1)).await;
    let (cpu, feeder) = feed(&store, "n1");
    let d = Arc::new(LineDown {
        rec: Recorder::named("a", None),
        line_ok: false.into(),
    });
    let (stop, rx) = watch::channel(false);
    let engine = Engine::new(store.clone(), config("a", dir.path(), &store), d.clone());
    let task = tokio::spawn(engine.run(async move {
        let mut rx = rx;
        let _ = rx.wait_for(|s| *s).await;
    }));
    cpu.send(95.0).unwrap();

    let mail_with = |subject: &'static str| {
        let d = d.clone();
        async move || {
            d.rec.all().into_iter().find(|s| {
                matches!(&s.to, Recipient::Email(a) if a == "ops@example.tw")
                    && s.msg.subject.contains(subject)
            })
        }
    };
    let failing = eventually(
        "the channel-failing mail",
        30,
        mail_with("line notices keep failing"),
    )
    .await;
    assert!(
        failing.msg.text.contains("500 LINE is down"),
        "{:?}",
        failing.msg
    );
    // Exactly one such notice for the run of failures, and none to LINE itself.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let about_line: Vec<Sent> = d
        .rec
        .all()
        .into_iter()
        .filter(|s| s.msg.subject.contains("line notices"))
        .collect();
    assert_eq!(about_line.len(), 1, "{about_line:?}");
    assert!(about_line
        .iter()
        .all(|s| !matches!(s.to, Recipient::Line(_))));

    // LINE comes back: the next repeat gets through and a recovery mail follows.
    d.line_ok.store(true, std::sync::atomic::Ordering::SeqCst);
    eventually(
        "the channel-recovered mail",
        30,
        mail_with("line notices work again"),
    )
    .await;
    let ev = eventually("the channel events", 10, async || {
        let e = events(&store, "channel:line").await;
        let kinds: Vec<String> = e.iter().map(|e| e.event.clone()).collect();
        (kinds.contains(&"firing".to_string()) && kinds.contains(&"resolved".to_string()))
            .then_some(e)
    })
    .await;
    assert!(ev.iter().any(|e| e.event == "notify" && e.result == "sent"));

    let _ = cpu.send(-1.0);
    let _ = feeder.await;
    let _ = stop.send(true);
    let _ = task.await;
}

// Issue 18: notification policies (groups), inhibit rules, acks — through the engine against
// the real ClickHouse.

fn cpu_rule_on(nodes: &[&str], repeat_secs: u64) -> serde_json::Value {
    serde_json::json!({
        "name": "CPU high", "kind": {"type": "node_cpu"}, "scope": {"nodes": nodes},
        "threshold": 90, "recovery": 80, "for_secs": 0, "repeat_secs": repeat_secs,
        "recipients": {"emails": ["ops@example.tw"], "line": ["U0123"]}, "language": "en"
    })
}

fn group_of(s: &Sent) -> Option<Arc<gatewatch_model::alert::GroupNotice>> {
    s.msg.group.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_sends_one_message_per_group_and_one_resolved_message() {
    use gatewatch_model::alert::NoticeKind;
    let store = migrated_store("alerter_eval_group").await;
    let dir = tempfile::tempdir().unwrap();
    // The rule would repeat every second alone; the policy never repeats.
    put(
        &store,
        EntityKind::AlertRule,
        "cpu",
        cpu_rule_on(&["n1", "n2"], 1),
    )
    .await;
    put(
        &store,
        EntityKind::NotificationPolicy,
        "cpu-by-rule",
        serde_json::json!({"name": "CPU by rule", "matchers": ["kind=node_cpu"],
            "group_by": ["rule"], "group_wait_secs": 2, "group_interval_secs": 2,
            "repeat_interval_secs": 0}),
    )
    .await;
    let (cpu1, feeder1) = feed(&store, "n1");
    let (cpu2, feeder2) = feed(&store, "n2");
    let rec = Recorder::named("a", None);
    let eng = start(&store, config("a", dir.path(), &store), rec.clone());
    cpu1.send(95.0).unwrap();
    cpu2.send(95.0).unwrap();
    let crossed = Utc::now();
    let first = eventually("the group's first message", 20, async || {
        rec.all()
            .into_iter()
            .find(|s| s.to == Recipient::Email("ops@example.tw".into()))
    })
    .await;
    println!(
        "group: first message {} ms after crossing (group_wait 2 s)",
        (first.at - crossed).num_milliseconds()
    );
    let g = group_of(&first).expect("a group message carries its GroupNotice");
    assert_eq!(g.kind, NoticeKind::Firing);
    assert_eq!(g.policy, "cpu-by-rule");
    assert_eq!(g.group_key, "cpu-by-rule:{rule=\"cpu\"}");
    assert_eq!(g.group_labels["rule"], "cpu");
    let nodes: Vec<&str> = g.alerts.iter().map(|a| a.labels["node"].as_str()).collect();
    assert_eq!(nodes, ["n1", "n2"], "both nodes in one message");
    assert_eq!(g.common_labels["alertname"], "CPU high");
    for a in &g.alerts {
        assert_eq!(a.fingerprint.len(), 16);
        assert!(a.subject.contains("CPU high"), "{}", a.subject);
        assert!(
            a.ack_url
                .starts_with("http://127.0.0.1:8090/#/alerts/ack?rule=cpu&key=node%3Dn"),
            "{}",
            a.ack_url
        );
    }
    // Nothing more while unchanged (repeat_interval 0), though the rule alone repeats every
    // second; one message per recipient.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = rec.all();
    assert_eq!(all.len(), 2, "{:?}", rec.states());
    assert!(all.iter().all(|s| s.msg.group.is_some()));
    assert_ne!(all[0].msg.notification_id, all[1].msg.notification_id);

    cpu1.send(50.0).unwrap();
    cpu2.send(50.0).unwrap();
    let resolved = eventually("the group's resolved message", 20, async || {
        rec.all().into_iter().find(|s| {
            s.to == Recipient::Email("ops@example.tw".into())
                && group_of(s).is_some_and(|g| g.kind == NoticeKind::Resolved)
        })
    })
    .await;
    let g = group_of(&resolved).unwrap();
    assert!(g
        .alerts
        .iter()
        .all(|a| a.status == NoticeKind::Resolved && a.ended_at.is_some()));
    tokio::time::sleep(Duration::from_millis(800)).await;
    eng.stop().await;
    for (tx, h) in [(cpu1, feeder1), (cpu2, feeder2)] {
        tx.send(-1.0).unwrap();
        let _ = h.await;
    }
    // Both went back at once, but a round may see one before the other: then a change
    // message lists the first as resolved, and the resolved message the second. Either
    // way each is announced resolved once per recipient.
    let to_ops: Vec<Sent> = rec
        .all()
        .into_iter()
        .filter(|s| s.to == Recipient::Email("ops@example.tw".into()))
        .collect();
    assert!(matches!(to_ops.len(), 2 | 3), "{:?}", rec.states());
    assert_eq!(rec.all().len(), 2 * to_ops.len());
    let mut resolved_nodes: Vec<String> = to_ops
        .iter()
        .flat_map(|s| group_of(s).unwrap().alerts.clone())
        .filter(|a| a.status == NoticeKind::Resolved)
        .map(|a| a.labels["node"].clone())
        .collect();
    resolved_nodes.sort();
    assert_eq!(resolved_nodes, ["n1", "n2"]);

    // Each message is recorded under each alert it listed, with the message's id.
    let ev = events(&store, "cpu").await;
    let sent: Vec<&AlertEvent> = ev
        .iter()
        .filter(|e| e.event == "notify" && e.result == "sent")
        .collect();
    for m in rec.all() {
        let listed = group_of(&m).unwrap().alerts.len();
        let rows: Vec<&&AlertEvent> = sent
            .iter()
            .filter(|e| e.notification_id == m.msg.notification_id)
            .collect();
        assert_eq!(rows.len(), listed, "one row per alert listed");
        assert!(rows.iter().all(|e| e.detail.contains("group cpu-by-rule:")));
    }
    let listed: usize = rec
        .all()
        .iter()
        .map(|m| group_of(m).unwrap().alerts.len())
        .sum();
    assert_eq!(sent.len(), listed);
    // The group's state is saved beside the alerts' (ended now: empty).
    let groups: Vec<String> = gatewatch_migrations::testing::raw_client(&store)
        .query("SELECT DISTINCT scope_key FROM alert_state WHERE rule_id = 'group:cpu-by-rule'")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(groups, ["cpu-by-rule:{rule=\"cpu\"}"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_down_alert_inhibits_api_error_rate_alerts_and_records_why() {
    let store = migrated_store("alerter_eval_inhibit").await;
    let dir = tempfile::tempdir().unwrap();
    put(
        &store,
        EntityKind::AlertRule,
        "db",
        serde_json::json!({"name": "ClickHouse", "severity": "critical",
            "kind": {"type": "database", "check": "failure"}, "threshold": 0,
            "for_secs": 0, "recipients": {"emails": ["ops@example.tw"]}, "language": "en"}),
    )
    .await;
    put(
        &store,
        EntityKind::AlertRule,
        "errors",
        serde_json::json!({"name": "API errors", "kind": {"type": "api_error_rate", "min_calls": 5},
            "threshold": 10, "for_secs": 0, "repeat_secs": 0,
            "recipients": {"emails": ["ops@example.tw"]}, "language": "en"}),
    )
    .await;
    put(
        &store,
        EntityKind::InhibitRule,
        "db-mutes-api",
        serde_json::json!({"name": "database down", "source_matchers": ["kind=database"],
            "target_matchers": ["kind=api_error_rate"]}),
    )
    .await;
    calls(&store, "orders", "acme", 10, 5, 20).await;
    // The probe looks at a port nothing listens on; the store itself answers.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cfg = config("a", dir.path(), &store);
    cfg.probe.url = format!("http://127.0.0.1:{port}");
    cfg.probe_timeout = Duration::from_millis(500);
    let rec = Recorder::named("a", None);
    let eng = start(&store, cfg, rec.clone());
    eventually("the database notice", 20, async || {
        rec.all().into_iter().next()
    })
    .await;
    let held = eventually("the inhibited notice recorded", 20, async || {
        events(&store, "errors")
            .await
            .into_iter()
            .find(|e| e.event == "notify")
    })
    .await;
    eng.stop().await;
    assert_eq!(held.result, "suppressed");
    assert_eq!(held.detail, "inhibited by database down (ClickHouse)");
    assert_eq!(held.scope_key, "api=orders");
    assert!(
        rec.all().iter().all(|s| s.msg.vars["rule_id"] == "db"),
        "only the source's notice goes out: {:?}",
        rec.states()
    );
    let ev = events(&store, "errors").await;
    assert!(ev.iter().any(|e| e.event == "firing"), "it fires, muted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_stops_the_repeats_of_its_episode_but_not_the_resolved_notice() {
    use gatewatch_store::acks::{self, Ack, AckAction};
    let store = migrated_store("alerter_eval_ack").await;
    let dir = tempfile::tempdir().unwrap();
    put(&store, EntityKind::AlertRule, "cpu", cpu_rule(0, 1)).await;
    let (cpu, feeder) = feed(&store, "n1");
    let rec = Recorder::named("a", None);
    let eng = start(&store, config("a", dir.path(), &store), rec.clone());
    cpu.send(95.0).unwrap();
    let email = Recipient::Email("ops@example.tw".into());
    let first = eventually("a repeat", 20, async || {
        rec.all()
            .into_iter()
            .find(|s| s.to == email && s.msg.vars["state"] == "repeat")
    })
    .await;
    let episode = started_at(&first);
    acks::write(
        &store,
        &Ack {
            ts_us: Utc::now().timestamp_micros(),
            rule_id: "cpu".into(),
            scope_key: "node=n1".into(),
            episode_us: episode.timestamp_micros(),
            action: AckAction::Ack,
            by: "olive".into(),
            until_us: 0,
            comment: "on it".into(),
        },
    )
    .await
    .unwrap();
    // The next round reads it; from then on no repeat.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let before = rec.all().len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(rec.all().len(), before, "{:?}", rec.states());
    let held = events(&store, "cpu")
        .await
        .into_iter()
        .filter(|e| e.result == "suppressed" && e.detail == "acknowledged by olive")
        .count();
    assert!(held >= 2, "held-back repeats are recorded: {held}");

    cpu.send(50.0).unwrap();
    eventually("the resolved notice", 20, async || {
        rec.all()
            .into_iter()
            .find(|s| s.to == email && s.msg.vars["state"] == "resolved")
    })
    .await;
    // A new episode is not acknowledged: it fires and repeats again.
    cpu.send(95.0).unwrap();
    let again = eventually("a repeat of the new episode", 20, async || {
        rec.all()
            .into_iter()
            .find(|s| s.to == email && s.msg.vars["state"] == "repeat" && started_at(s) > episode)
    })
    .await;
    assert!(started_at(&again) > episode);
    eng.stop().await;
    cpu.send(-1.0).unwrap();
    let _ = feeder.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_node_inhibits_that_nodes_cpu_alert() {
    let store = migrated_store("alerter_eval_inhibit_silent").await;
    let dir = tempfile::tempdir().unwrap();
    put(
        &store,
        EntityKind::AlertRule,
        "silent",
        serde_json::json!({"name": "Node silent", "kind": {"type": "node_silent"},
            "scope": {"nodes": ["n1"]}, "threshold": 2, "for_secs": 0,
            "recipients": {"emails": ["ops@example.tw"]}, "language": "en"}),
    )
    .await;
    // Fires 5 s after the crossing: by then the node has been silent for a while.
    put(&store, EntityKind::AlertRule, "cpu", cpu_rule(5, 0)).await;
    put(
        &store,
        EntityKind::InhibitRule,
        "silent-node",
        serde_json::json!({"name": "node silent", "source_matchers": ["kind=node_silent"],
            "target_matchers": ["kind=~\"node_cpu|node_memory|disk\""], "equal": ["node"]}),
    )
    .await;
    let (cpu, feeder) = feed(&store, "n1");
    cpu.send(95.0).unwrap();
    let rec = Recorder::named("a", None);
    let eng = start(&store, config("a", dir.path(), &store), rec.clone());
    // The CPU alert goes pending on the last samples; then the node falls silent.
    eventually("the CPU alert pending", 20, async || {
        events(&store, "cpu")
            .await
            .into_iter()
            .find(|e| e.event == "pending")
    })
    .await;
    cpu.send(-1.0).unwrap();
    let _ = feeder.await;
    let held = eventually("the CPU notice held back", 30, async || {
        events(&store, "cpu")
            .await
            .into_iter()
            .find(|e| e.event == "notify")
    })
    .await;
    eng.stop().await;
    assert_eq!(held.result, "suppressed", "{held:?}");
    assert_eq!(
        held.detail,
        "inhibited by node silent (Node silent node=n1)"
    );
    let sent: Vec<String> = rec
        .all()
        .iter()
        .map(|s| s.msg.vars["rule_id"].clone())
        .collect();
    assert!(sent.iter().all(|r| r == "silent"), "{sent:?}");
    assert!(!sent.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_survives_a_change_of_alerter_without_a_second_first_message() {
    use gatewatch_model::alert::NoticeKind;
    let store = migrated_store("alerter_eval_group_restart").await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    put(
        &store,
        EntityKind::AlertRule,
        "cpu",
        cpu_rule_on(&["n1", "n2"], 0),
    )
    .await;
    put(
        &store,
        EntityKind::NotificationPolicy,
        "all",
        serde_json::json!({"name": "all", "group_wait_secs": 1, "group_interval_secs": 1,
            "repeat_interval_secs": 0, "recipients": {"emails": ["team@example.tw"]}}),
    )
    .await;
    let (cpu1, feeder1) = feed(&store, "n1");
    let (cpu2, feeder2) = feed(&store, "n2");
    cpu1.send(95.0).unwrap();
    let rec = Recorder::named("both", None);
    let a = start(
        &store,
        config("a", dir_a.path(), &store),
        Recorder::named("a", Some(rec.clone())),
    );
    let first = eventually("the group's first message", 20, async || {
        rec.all().into_iter().next()
    })
    .await;
    let g = group_of(&first).unwrap();
    assert_eq!((g.kind, g.alerts.len()), (NoticeKind::Firing, 1));
    assert_eq!(
        first.to,
        Recipient::Email("team@example.tw".into()),
        "the policy's recipients"
    );
    a.stop().await;
    // Another alerter takes over: it knows the group (no new first message) and tells what
    // changed.
    let b = start(
        &store,
        config("b", dir_b.path(), &store),
        Recorder::named("b", Some(rec.clone())),
    );
    cpu2.send(95.0).unwrap();
    let change = eventually("the change", 20, async || {
        rec.all().into_iter().find(|s| s.by == "b")
    })
    .await;
    let g = group_of(&change).unwrap();
    assert_eq!((g.kind, g.alerts.len()), (NoticeKind::Firing, 2), "{g:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    b.stop().await;
    for (tx, h) in [(cpu1, feeder1), (cpu2, feeder2)] {
        tx.send(-1.0).unwrap();
        let _ = h.await;
    }
    let all = rec.all();
    assert_eq!(
        all.len(),
        2,
        "{:?}",
        all.iter()
            .map(|s| (&s.by, group_of(s).map(|g| g.alerts.len())))
            .collect::<Vec<_>>()
    );
    assert_ne!(all[0].msg.notification_id, all[1].msg.notification_id);
}

/// Issue 19: node-scoped alerts carry `node_group` (the node's groups in the node registry,
/// joined with `,`), so a notification policy can route by group; a node of another group
/// stays out of that policy and its own notice shows its group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_alerts_carry_the_registry_groups_and_a_policy_routes_by_them() {
    use gatewatch_store::registry::{self, NodeEntry};
    let store = migrated_store("alerter_eval_node_group").await;
    let dir = tempfile::tempdir().unwrap();
    let now_us = Utc::now().timestamp_micros();
    for (node, groups) in [("n1", vec!["public", "edge"]), ("n2", vec!["core"])] {
        registry::heartbeat(
            &store,
            &NodeEntry {
                node: node.into(),
                role: "gateway".into(),
                instance: "127.0.0.1:8080".into(),
                groups: groups.into_iter().map(String::from).collect(),
                version: "0.1.0".into(),
                listen: vec![],
                started_us: now_us,
                heartbeat_us: now_us,
                apis: vec![],
                stopping: false,
            },
        )
        .await
        .unwrap();
    }
    put(
        &store,
        EntityKind::AlertRule,
        "cpu",
        cpu_rule_on(&["n1", "n2"], 0),
    )
    .await;
    put(
        &store,
        EntityKind::NotificationPolicy,
        "edge-only",
        serde_json::json!({"name": "Edge nodes", "matchers": ["node_group=~\".*edge.*\""],
            "group_by": ["node_group"], "group_wait_secs": 1, "group_interval_secs": 2,
            "repeat_interval_secs": 0}),
    )
    .await;
    let (cpu1, feeder1) = feed(&store, "n1");
    let (cpu2, feeder2) = feed(&store, "n2");
    let rec = Recorder::named("a", None);
    let eng = start(&store, config("a", dir.path(), &store), rec.clone());
    cpu1.send(95.0).unwrap();
    cpu2.send(95.0).unwrap();
    let to_ops = |policy: &str| {
        rec.all().into_iter().find(|s| {
            s.to == Recipient::Email("ops@example.tw".into())
                && group_of(s).is_some_and(|g| g.policy == policy)
        })
    };
    let edge = eventually("the edge policy's message", 20, async || {
        to_ops("edge-only")
    })
    .await;
    let g = group_of(&edge).unwrap();
    let nodes: Vec<&str> = g.alerts.iter().map(|a| a.labels["node"].as_str()).collect();
    assert_eq!(nodes, ["n1"], "only the edge node in the edge policy");
    assert_eq!(g.group_labels["node_group"], "edge,public");
    assert_eq!(g.alerts[0].labels["node_group"], "edge,public");
    // n2 (group core) is not the policy's: it goes alone, its labels naming its group.
    let lone = eventually("n2's own notice", 20, async || to_ops("")).await;
    let g = group_of(&lone).unwrap();
    assert_eq!(g.alerts[0].labels["node"], "n2");
    assert_eq!(g.alerts[0].labels["node_group"], "core");
    eng.stop().await;
    for (tx, h) in [(cpu1, feeder1), (cpu2, feeder2)] {
        tx.send(-1.0).unwrap();
        let _ = h.await;
    }
}
