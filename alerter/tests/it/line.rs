//! LINE push against a fake LINE API served in the test: it checks the token, the body's
//! shape and the retry key, and answers as LINE does (a key already accepted gets 409 with
//! `X-Line-Accepted-Request-Id`).

use crate::helpers::{quick_backoff, serve};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use gatewatch_alerter::notify::{Directory, LineConfig, Message, NotifyConfig};
use gatewatch_alerter::{Error, Notifiers};
use gatewatch_model::channel::{ChannelSpec, LineTarget};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "test-channel-access-token";
const USER: &str = "Ub2f4e7a9c1d3e5f7a9b1c3d5e7f9a1b2";
const GROUP: &str = "C0123456789abcdef0123456789abcdef";

/// How the fake answers the n-th request (0-based); past the list: accept.
#[derive(Clone, Copy, Debug)]
enum Script {
    /// 500 without accepting.
    Fail,
    /// Accept, but answer only after the client has given up waiting.
    AcceptSlowly,
    /// 400 (a bad request, as for an unknown `to`).
    BadRequest,
}

#[derive(Default)]
struct Fake {
    script: Vec<Script>,
    /// Every request: (retry key, body).
    requests: Vec<(String, Value)>,
    /// Accepted retry keys → request id; what LINE delivered.
    accepted: BTreeMap<String, String>,
    delivered: Vec<Value>,
    /// Problems the fake saw with a request, checked by the test.
    complaints: Vec<String>,
}

type Shared = Arc<Mutex<Fake>>;

async fn push(State(fake): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (step, slow) = {
        let mut f = fake.lock().unwrap();
        if header("authorization") != format!("Bearer {TOKEN}") {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"message": "Authentication failed due to the following reason: invalid token"})),
            )
                .into_response();
        }
        let key = header("x-line-retry-key");
        if uuid::Uuid::parse_str(&key).is_err() {
            f.complaints
                .push(format!("retry key {key:?} is not a UUID"));
        }
        if !header("content-type").starts_with("application/json") {
            f.complaints.push("not JSON".into());
        }
        let shape_ok = body["to"].is_string()
            && body["messages"].as_array().is_some_and(|m| {
                m.len() == 1
                    && m[0]["type"] == "text"
                    && m[0]["text"]
                        .as_str()
                        .is_some_and(|t| t.chars().count() <= 5000)
            });
        if !shape_ok {
            f.complaints.push(format!("bad body {body}"));
        }
        let n = f.requests.len();
        f.requests.push((key.clone(), body.clone()));
        if let Some(id) = f.accepted.get(&key) {
            return (
                StatusCode::CONFLICT,
                [("x-line-accepted-request-id", id.clone())],
                Json(json!({"message": "The retry key is already accepted"})),
            )
                .into_response();
        }
        let step = f.script.get(n).copied();
        match step {
            Some(Script::Fail) => {
                return (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response()
            }
            Some(Script::BadRequest) => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"message": "The property, 'to', in the request body is invalid"})),
                )
                    .into_response()
            }
            _ => {}
        }
        f.accepted.insert(key, format!("req-{n}"));
        f.delivered.push(body);
        (n, matches!(step, Some(Script::AcceptSlowly)))
    };
    if slow {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    Json(json!({"sentMessages": [{"id": format!("{step}"), "quoteToken": "q"}]})).into_response()
}

async fn fake_line(script: Vec<Script>) -> (Shared, Notifiers, String) {
    let fake: Shared = Arc::new(Mutex::new(Fake {
        script,
        ..Fake::default()
    }));
    let app = Router::new()
        .route("/v2/bot/message/push", post(push))
        .with_state(fake.clone());
    let addr = serve(app).await;
    let base = format!("http://{addr}");
    (fake, notifiers(&base, TOKEN), base)
}

/// Notifiers for the fake; `timeout` per attempt.
fn notifiers_with(base: &str, token: &str, timeout: Duration) -> Notifiers {
    Notifiers::new(&NotifyConfig {
        line: LineConfig {
            base_url: base.into(),
            channel_access_token: token.into(),
            timeout,
        },
        retries: 3,
        backoff: quick_backoff(),
        ..NotifyConfig::default()
    })
    .unwrap()
}

/// A patient client: only the slow-answer test wants a timeout.
fn notifiers(base: &str, token: &str) -> Notifiers {
    notifiers_with(base, token, Duration::from_secs(10))
}

fn channel(to: &[&str]) -> ChannelSpec {
    let c = ChannelSpec {
        name: "ops LINE".into(),
        enabled: true,
        lang: "zh-TW".into(),
        email: None,
        line: Some(LineTarget {
            to: to.iter().map(|s| s.to_string()).collect(),
        }),
        webhook: None,
    };
    c.validate().unwrap();
    c
}

fn message() -> Message {
    Message {
        subject: "[告警] node-1 CPU 95%".into(),
        text: "門檻 90%，已持續 180 秒".into(),
        dedup_key: "cpu/node-1/firing/1764000000".into(),
        ..Message::default()
    }
}

#[tokio::test]
async fn a_500_is_retried_with_the_same_retry_key_and_delivered_once() {
    let (fake, n, _) = fake_line(vec![Script::Fail]).await;
    let d = n
        .send(&channel(&[USER]), &message(), &Directory::default())
        .await
        .unwrap();
    assert_eq!((d.status, d.attempts), (200, 2), "{d:?}");
    assert!(d.answer.contains("sentMessages"), "{d:?}");
    let f = fake.lock().unwrap();
    assert!(f.complaints.is_empty(), "{:?}", f.complaints);
    assert_eq!(f.requests.len(), 2);
    assert_eq!(
        f.requests[0].0, f.requests[1].0,
        "same retry key on both attempts"
    );
    assert_eq!(f.delivered.len(), 1);
    assert_eq!(
        f.delivered[0],
        json!({"to": USER, "messages": [{"type": "text", "text": "[告警] node-1 CPU 95%\n門檻 90%，已持續 180 秒"}]})
    );
}

#[tokio::test]
async fn an_attempt_accepted_after_a_timeout_is_not_delivered_twice() {
    // The first push is accepted but answered too late: the client times out and tries
    // again with the same key, and LINE's 409 "already accepted" counts as delivered.
    let (fake, _, base) = fake_line(vec![Script::AcceptSlowly]).await;
    let n = notifiers_with(&base, TOKEN, Duration::from_millis(300));
    let d = n
        .send(&channel(&[USER]), &message(), &Directory::default())
        .await
        .unwrap();
    assert_eq!(d.status, 409, "{d:?}");
    assert!(d.answer.contains("req-0"), "{d:?}");
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.delivered.len(), 1);
        assert!(f.requests.len() >= 2);
        assert!(f.requests.iter().all(|(k, _)| *k == f.requests[0].0));
    }

    // The same notification sent again (an alerter restarted mid-send) is recognised too.
    n.send(&channel(&[USER]), &message(), &Directory::default())
        .await
        .unwrap();
    assert_eq!(fake.lock().unwrap().delivered.len(), 1);
}

#[tokio::test]
async fn a_bad_request_is_not_retried_and_other_targets_still_get_it() {
    let (fake, n, _) = fake_line(vec![Script::BadRequest]).await;
    let e = n
        .send(&channel(&[USER, GROUP]), &message(), &Directory::default())
        .await
        .unwrap_err();
    match &e {
        Error::Refused {
            status,
            answer,
            attempts,
        } => {
            assert_eq!((*status, *attempts), (400, 2), "{e}");
            assert!(
                answer.contains("'to'") && answer.contains(GROUP),
                "{answer}"
            );
        }
        other => panic!("{other}"),
    }
    assert!(!e.retryable());
    let f = fake.lock().unwrap();
    assert_eq!(f.requests.len(), 2);
    assert_eq!(f.delivered.len(), 1);
    assert_eq!(f.delivered[0]["to"], GROUP);
    assert_ne!(f.requests[0].0, f.requests[1].0, "one retry key per target");
}

#[tokio::test]
async fn a_wrong_token_is_refused_and_no_token_is_not_configured() {
    let (fake, _, base) = fake_line(vec![]).await;
    let wrong = notifiers(&base, "stolen");
    let e = wrong
        .send(&channel(&[USER]), &message(), &Directory::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Refused {
                status: 401,
                attempts: 1,
                ..
            }
        ),
        "{e}"
    );
    let none = notifiers(&base, "");
    let e = none
        .send(&channel(&[USER]), &message(), &Directory::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotConfigured(_)), "{e}");
    assert!(fake.lock().unwrap().delivered.is_empty());
}

#[tokio::test]
async fn a_line_server_that_keeps_failing_is_given_up_as_retryable() {
    let (fake, n, _) = fake_line(vec![Script::Fail; 10]).await;
    let e = n
        .send(&channel(&[USER]), &message(), &Directory::default())
        .await
        .unwrap_err();
    assert!(e.retryable(), "{e}");
    assert_eq!(e.attempts(), 4, "1 + 3 retries: {e}");
    assert!(e.to_string().contains("500"), "{e}");
    assert!(fake.lock().unwrap().delivered.is_empty());
}

#[tokio::test]
async fn long_texts_are_cut_to_lines_limit() {
    let (fake, n, _) = fake_line(vec![]).await;
    let msg = Message {
        text: "很長的訊息".repeat(2000),
        ..message()
    };
    n.send(&channel(&[USER]), &msg, &Directory::default())
        .await
        .unwrap();
    let f = fake.lock().unwrap();
    assert!(f.complaints.is_empty(), "{:?}", f.complaints);
    let text = f.delivered[0]["messages"][0]["text"].as_str().unwrap();
    assert_eq!(text.chars().count(), 5000);
    assert!(text.ends_with('…'));
}
