//! Webhooks against a receiver served in the test, which checks the HMAC signature.

use crate::helpers::{quick_backoff, serve};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use gatewatch_alerter::notify::webhook::sign;
use gatewatch_alerter::notify::{Directory, Message, NotifyConfig, Secrets};
use gatewatch_alerter::{Error, Notifiers};
use gatewatch_model::channel::ChannelSpec;
use gatewatch_model::outbound::{parse_networks, Policy};
use gatewatch_model::{Entity, EntityKind};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::{Arc, Mutex};

const KEY: &[u8] = b"webhook-key-of-the-site";

#[derive(Default)]
pub(crate) struct Receiver {
    /// Answers for the first requests (then 200).
    script: Vec<u16>,
    /// (method, headers, body, signature valid) of every request.
    pub(crate) seen: Vec<(String, HeaderMap, Value, bool)>,
}

pub(crate) type Shared = Arc<Mutex<Receiver>>;

/// Checks `X-Gatewatch-Signature` the way a receiver would: HMAC of the raw body, compared
/// in constant time.
fn signature_ok(headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(hex) = headers
        .get("x-gatewatch-signature")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
    else {
        return false;
    };
    let Some(sig) = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(KEY).unwrap();
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

async fn receive(
    State(r): State<Shared>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let mut r = r.lock().unwrap();
    let ok = signature_ok(&headers, &body);
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let n = r.seen.len();
    r.seen.push((method.to_string(), headers, json, ok));
    let status = r.script.get(n).copied().unwrap_or(200);
    (
        StatusCode::from_u16(status).unwrap(),
        "answer from the receiver",
    )
}

pub(crate) async fn receiver(script: Vec<u16>) -> (Shared, String) {
    let r: Shared = Arc::new(Mutex::new(Receiver {
        script,
        ..Receiver::default()
    }));
    let app = Router::new()
        .route("/hook", post(receive).put(receive))
        .with_state(r.clone());
    let addr = serve(app).await;
    (r, format!("http://{addr}/hook"))
}

/// The receivers here are on loopback: the site allows it, as `[alerter] allowed_networks =
/// ["127.0.0.0/8"]` would.
fn notifiers() -> Notifiers {
    Notifiers::new(&NotifyConfig {
        secrets: Secrets::new([("chatops".to_string(), KEY.to_vec())].into()),
        backoff: quick_backoff(),
        outbound: loopback_allowed(),
        ..NotifyConfig::default()
    })
    .unwrap()
}

pub(crate) fn loopback_allowed() -> Policy {
    // `::1` too: `localhost` may also resolve to it, and every answer must be allowed.
    Policy::new(parse_networks(&["127.0.0.0/8".to_string(), "::1".to_string()]).unwrap())
}

/// A channel as the admin API would store it.
pub(crate) fn channel(webhook: Value) -> ChannelSpec {
    let body = json!({ "webhook": webhook }).to_string();
    match Entity::parse(EntityKind::Channel, "hook", &body).unwrap() {
        Entity::Channel(c) => c,
        other => panic!("{other:?}"),
    }
}

pub(crate) fn message() -> Message {
    Message {
        subject: "[告警] node-1 CPU 95%".into(),
        text: "門檻 90%，\"已持續\" 180 秒".into(),
        dedup_key: "cpu/node-1/firing/1764000000".into(),
        vars: [
            ("rule", "CPU 過高"),
            ("node", "node-1"),
            ("value", "95"),
            ("threshold", "90"),
            ("status", "firing"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        ..Message::default()
    }
}

#[tokio::test]
async fn a_signed_template_body_arrives_and_verifies() {
    let (r, url) = receiver(vec![]).await;
    let c = channel(json!({
        "url": url, "method": "PUT", "secret": "chatops",
        "headers": {"X-Team": "ops"},
        "body": {"alert": "{{rule}} on {{node}}: $VALUE > $THRESHOLD", "detail": "{{text}}", "level": 2},
    }));
    let d = notifiers()
        .send(&c, &message(), &Directory::default())
        .await
        .unwrap();
    assert_eq!((d.status, d.attempts), (200, 1));
    assert_eq!(d.answer, "answer from the receiver");
    let r = r.lock().unwrap();
    let (method, headers, body, sig_ok) = &r.seen[0];
    assert_eq!(method, "PUT");
    assert!(sig_ok, "signature did not verify");
    assert_eq!(headers["x-team"], "ops");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        *body,
        json!({"alert": "CPU 過高 on node-1: 95 > 90", "detail": "門檻 90%，\"已持續\" 180 秒", "level": 2})
    );
}

#[tokio::test]
async fn slack_preset_body() {
    let (r, url) = receiver(vec![]).await;
    let c = channel(json!({"url": url, "preset": "slack"}));
    notifiers()
        .send(&c, &message(), &Directory::default())
        .await
        .unwrap();
    let r = r.lock().unwrap();
    let (_, headers, body, sig_ok) = &r.seen[0];
    assert_eq!(
        body["text"],
        "[告警] node-1 CPU 95%\n門檻 90%，\"已持續\" 180 秒"
    );
    assert_eq!(body["blocks"][0]["text"]["text"], "[告警] node-1 CPU 95%");
    // No secret named: not signed.
    assert!(!sig_ok);
    assert!(headers.get("x-gatewatch-signature").is_none());
}

#[tokio::test]
async fn a_5xx_is_retried_with_the_same_delivery_id_and_a_4xx_is_not() {
    let (r, url) = receiver(vec![503, 502]).await;
    let c = channel(json!({"url": url, "secret": "chatops", "retries": 2}));
    let d = notifiers()
        .send(&c, &message(), &Directory::default())
        .await
        .unwrap();
    assert_eq!(d.attempts, 3);
    {
        let r = r.lock().unwrap();
        assert_eq!(r.seen.len(), 3);
        let ids: Vec<_> = r
            .seen
            .iter()
            .map(|s| s.1["x-gatewatch-delivery"].clone())
            .collect();
        assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
        assert!(r.seen.iter().all(|s| s.3), "every attempt signed");
        assert_eq!(
            r.seen[0].2["value"], "95",
            "generic preset carries the values"
        );
    }

    let (r, url) = receiver(vec![404]).await;
    let c = channel(json!({"url": url, "retries": 3}));
    let e = notifiers()
        .send(&c, &message(), &Directory::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Refused {
                status: 404,
                attempts: 1,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(r.lock().unwrap().seen.len(), 1);

    let (_, url) = receiver(vec![500; 5]).await;
    let c = channel(json!({"url": url, "retries": 1}));
    let e = notifiers()
        .send(&c, &message(), &Directory::default())
        .await
        .unwrap_err();
    assert!(e.retryable() && e.attempts() == 2, "{e}");
}

#[tokio::test]
async fn an_unknown_secret_or_a_disabled_channel_sends_nothing() {
    let (r, url) = receiver(vec![]).await;
    let c = channel(json!({"url": url, "secret": "nope"}));
    let e = notifiers()
        .send(&c, &message(), &Directory::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::NotConfigured(m) if m.contains("nope")),
        "{e}"
    );
    let mut c = channel(json!({"url": url}));
    c.enabled = false;
    let e = notifiers()
        .send(&c, &message(), &Directory::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotConfigured(_)), "{e}");
    assert!(r.lock().unwrap().seen.is_empty());
    // The signing function agrees with the receiver's check.
    let body = br#"{"a":1}"#;
    let mut h = HeaderMap::new();
    h.insert(
        "x-gatewatch-signature",
        format!("sha256={}", sign(KEY, body)).parse().unwrap(),
    );
    assert!(signature_ok(&h, body));
}

#[tokio::test]
async fn a_receiver_that_does_not_answer_in_time_is_retried_then_given_up() {
    // A listener that accepts and never answers.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    let c = channel(json!({"url": format!("http://{addr}/hook"), "timeout_ms": 200, "retries": 1}));
    let e = notifiers()
        .send(&c, &message(), &Directory::default())
        .await
        .unwrap_err();
    assert!(e.retryable(), "{e}");
    assert_eq!(e.attempts(), 2);
    assert!(e.to_string().contains("timed out"), "{e}");
}
