//! The outage case end to end: ClickHouse stops answering, the alerter that held the
//! lease fires its database rule, and the notice reaches a real SMTP server (aiosmtpd) and a
//! fake LINE API through the real notifiers; the events land once ClickHouse is back.

use crate::helpers::{quick_backoff, serve, SmtpSink};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use gatewatch_alerter::notify::{LineConfig, NotifyConfig, SmtpConfig, SmtpTls};
use gatewatch_alerter::{Engine, EngineConfig, NotifierDispatch, Notifiers};
use gatewatch_migrations::testing::migrated_store;
use gatewatch_model::EntityKind;
use gatewatch_store::alerts::{self, EventQuery};
use gatewatch_store::config_log::{self, Change};
use gatewatch_store::{Store, StoreConfig};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

const TOKEN: &str = "outage-test-token";

/// A TCP relay to ClickHouse the test can cut (connections closed) and restore.
async fn relay(to: &str) -> (String, watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (up, up_rx) = watch::channel(true);
    let to = to.trim_start_matches("http://").to_string();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            if !*up_rx.borrow() {
                continue;
            }
            let (mut cut, to) = (up_rx.clone(), to.clone());
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

type Pushes = Arc<Mutex<Vec<(String, Value)>>>;

async fn push(State(p): State<Pushes>, h: HeaderMap, Json(body): Json<Value>) -> Json<Value> {
    let header = |n: &str| {
        h.get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(header("authorization"), format!("Bearer {TOKEN}"));
    p.lock().unwrap().push((header("x-line-retry-key"), body));
    Json(json!({"sentMessages": [{"id": "1", "quoteToken": "q"}]}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_stopped_the_database_rule_fires_through_email_and_line() {
    let direct = migrated_store("alerter_it_outage").await;
    let body = json!({"name": "ClickHouse 連線", "severity": "critical",
        "kind": {"type": "database", "check": "connect_ms"}, "threshold": 3000, "for_secs": 1,
        "recipients": {"emails": ["ops@example.tw"], "line": ["Ub2f4e7a9c1d3e5f7a9b1c3d5e7f9a1b2"]}});
    config_log::write(
        &direct,
        "test",
        "",
        &[Change {
            kind: EntityKind::AlertRule,
            id: "db".into(),
            body: body.to_string(),
            deleted: false,
            expected_version: None,
        }],
        Utc::now().timestamp_micros(),
    )
    .await
    .unwrap();

    let sink = SmtpSink::start(None, None);
    let pushes = Pushes::default();
    let line = serve(
        Router::new()
            .route("/v2/bot/message/push", post(push))
            .with_state(pushes.clone()),
    )
    .await;
    let notifiers = Notifiers::new(&NotifyConfig {
        smtp: Some(SmtpConfig {
            host: "127.0.0.1".into(),
            port: sink.port,
            tls: SmtpTls::None,
            user: String::new(),
            password: String::new(),
            from: "gatewatch <alerts@example.tw>".into(),
            timeout: Duration::from_secs(5),
            ca_pem: None,
        }),
        line: LineConfig {
            base_url: format!("http://{line}"),
            channel_access_token: TOKEN.into(),
            timeout: Duration::from_secs(5),
        },
        retries: 1,
        backoff: quick_backoff(),
        ..NotifyConfig::default()
    })
    .unwrap();

    let (url, up) = relay(&direct.config().url).await;
    let store = Store::new(StoreConfig {
        url,
        ..direct.config().clone()
    });
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EngineConfig::new("a", dir.path().to_path_buf(), store.config());
    cfg.eval_interval = Duration::from_millis(300);
    cfg.lease_ttl = Duration::from_secs(5);
    cfg.lease_settle = Duration::from_millis(300);
    cfg.probe_timeout = Duration::from_secs(2);
    cfg.link_base = "http://127.0.0.1:8090".into();
    let engine = Engine::new(store, cfg, Arc::new(NotifierDispatch { notifiers }));
    let metrics = engine.metrics();
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(engine.run(async move {
        let mut rx = rx;
        let _ = rx.wait_for(|s| *s).await;
    }));
    let held = |m: &gatewatch_alerter::Metrics| {
        m.lease_held.load(std::sync::atomic::Ordering::Relaxed) == 1
            && m.rules.load(std::sync::atomic::Ordering::Relaxed) == 1
    };
    for _ in 0..200 {
        if held(&metrics) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(held(&metrics), "the engine did not take the lease");

    up.send(false).unwrap();
    let cut = Instant::now();
    let mails = sink.wait_for(1).await;
    let mail_after = cut.elapsed();
    for _ in 0..200 {
        if !pushes.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let line_after = cut.elapsed();
    println!(
        "outage → message: mail {} ms, LINE {} ms after ClickHouse went away (for_secs 1, round 300 ms)",
        mail_after.as_millis(),
        line_after.as_millis()
    );
    let text = mails[0]["text"].as_str().unwrap();
    assert!(text.contains("ClickHouse 連線"), "{text}");
    assert!(
        text.contains("無法量測"),
        "the value is the failure: {text}"
    );
    let p = pushes.lock().unwrap().clone();
    assert_eq!(p.len(), 1);
    assert!(p[0].1["messages"][0]["text"]
        .as_str()
        .unwrap()
        .contains("ClickHouse 連線"));

    up.send(true).unwrap();
    let mut sent = Vec::new();
    for _ in 0..200 {
        sent = alerts::read_events(
            &direct,
            &EventQuery {
                from_us: 0,
                to_us: i64::MAX / 2,
                rule_id: Some("db".into()),
                limit: 100,
            },
        )
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.result == "sent")
        .collect();
        if sent.len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(true);
    let _ = task.await;
    // Firing (sent during the outage, written after) and resolved (once it answered again).
    let mut got: Vec<(String, String)> = sent
        .iter()
        .map(|e| {
            (
                e.channel.clone(),
                e.detail.split(' ').next().unwrap_or("").to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("email".to_string(), "250".to_string()),
            ("email".into(), "250".into()),
            ("line".into(), "200".into()),
            ("line".into(), "200".into())
        ],
        "{sent:?}"
    );
    assert_eq!(sink.mails().len(), 2);
}
