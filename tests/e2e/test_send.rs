//! Test-sends end to end: `gatewatch alerter` and `gatewatch dashboards` as processes, a real
//! SMTP server (aiosmtpd) and a fake LINE Messaging API. A channel and a rule are created
//! through the admin API and test-sent; the mail and the LINE push arrive, and the answers
//! carry the far end's status (a LINE 400 is `sent: false` with 400). The alerter's own
//! endpoint refuses a wrong bearer.

use crate::admin::{add_user, Api};
use crate::helpers::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PW: &str = "a long test password";
/// LINE ids the fake API takes and refuses.
pub(crate) const OK: &str = "U00000000000000000000000000000001";
const BAD: &str = "Ubbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// What the fake LINE API was sent: (authorization header, retry key, body).
pub(crate) type Pushes = Arc<Mutex<Vec<(String, String, Value)>>>;

/// A fake LINE Messaging API: `POST /v2/bot/message/push` answers 200 with sent message ids,
/// but 400 (LINE's own wording) for the target [`BAD`].
pub(crate) async fn fake_line() -> (std::net::SocketAddr, Pushes) {
    let pushes: Pushes = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let p = pushes.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let p = p.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let p = p.clone();
                    async move {
                        let h = |n: &str| {
                            req.headers()
                                .get(n)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_string()
                        };
                        let (auth, key) = (h("authorization"), h("x-line-retry-key"));
                        let path = req.uri().path().to_string();
                        let bytes = req.into_body().collect().await.unwrap().to_bytes();
                        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                        let (status, answer) = if path != "/v2/bot/message/push" {
                            (404, json!({"message": "Not found"}))
                        } else if body["to"] == BAD {
                            (
                                400,
                                json!({"message": "The property, 'to', in the request body is invalid (line: -, column: -)"}),
                            )
                        } else {
                            (
                                200,
                                json!({"sentMessages": [{"id": "4611", "quoteToken": "q"}]}),
                            )
                        };
                        p.lock().unwrap().push((auth, key, body));
                        let mut r = Response::new(Full::new(Bytes::from(answer.to_string())));
                        *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, pushes)
}

pub(crate) async fn wait_for_mails(sink: &SmtpSink, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let m = sink.mails();
        if m.len() >= n {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{n} mail(s) did not arrive; got {:?}", sink.mails());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_sends_reach_smtp_and_line_and_report_their_answers() {
    let smtp = SmtpSink::start();
    let (line, pushes) = fake_line().await;
    let extra = format!(
        "[alerter.smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"gatewatch@example.tw\"\n[alerter.line]\nbase_url = \"http://{line}\"\nchannel_access_token = \"line-token\"\n",
        smtp.port
    );
    let site = Site::new(
        "test_send",
        &gatewatch_migrations::testing::clickhouse_url(),
        &extra,
    );
    let store = site.migrate().await;
    add_user(&site, "boss", "admin", PW);
    add_user(&site, "sam", "support", PW);
    let _alerter = site.start("alerter").await;
    let _dash = site.start("dashboards").await;
    let admin = Api::login(site.dashboards, "boss", PW).await;
    for (id, body) in [
        ("mail", json!({"email": {"to": ["ops@example.tw"]}})),
        ("line-ok", json!({"line": {"to": [OK]}})),
        ("line-bad", json!({"line": {"to": [BAD]}})),
    ] {
        let mut b = body;
        b["id"] = json!(id);
        let r = admin.post("/api/v1/channels", b).await;
        assert_eq!(r.status, 201, "{id}: {}", r.text);
    }
    let rule = |id: &str, recipients: Value| {
        json!({
            "id": id, "name": "CPU 高", "kind": {"type": "node_cpu"}, "threshold": 90,
            "for_secs": 180, "repeat_secs": 180, "recipients": recipients
        })
    };
    let r = admin
        .post(
            "/api/v1/alert-rules",
            rule("cpu", json!({"emails": ["rule@example.tw"], "line": [OK]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Manager mail goes to users with that role: there are none.
    let r = admin
        .post(
            "/api/v1/alert-rules",
            rule("nobody", json!({"roles": ["manager"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    // A mail channel: aiosmtpd's 250.
    let r = admin.post("/api/v1/channels/mail/test", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let res = &r.body["results"][0];
    assert_eq!(res["sent"], true, "{}", r.text);
    assert_eq!(res["status"], 250, "{}", r.text);
    assert_eq!(res["channel"], "email");
    let mails = wait_for_mails(&smtp, 1).await;
    assert_eq!(mails[0]["rcpt_tos"], json!(["ops@example.tw"]));
    assert!(
        mails[0]["subject"].as_str().unwrap().contains("[TEST]"),
        "{}",
        mails[0]
    );

    // A LINE channel: the fake API's 200 and its body.
    let r = admin.post("/api/v1/channels/line-ok/test", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let res = &r.body["results"][0];
    assert_eq!(
        (res["sent"].clone(), res["status"].clone()),
        (json!(true), json!(200)),
        "{}",
        r.text
    );
    assert!(res["answer"].as_str().unwrap().contains("sentMessages"));
    {
        let p = pushes.lock().unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, "Bearer line-token");
        assert!(!p[0].1.is_empty(), "a retry key is sent");
        assert_eq!(p[0].2["to"], OK);
        assert_eq!(p[0].2["messages"][0]["type"], "text");
    }

    // LINE refusing: not sent, with LINE's status and words.
    let r = admin
        .post("/api/v1/channels/line-bad/test", json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let res = &r.body["results"][0];
    assert_eq!(res["sent"], false, "{}", r.text);
    assert_eq!(res["status"], 400, "{}", r.text);
    assert!(
        res["answer"].as_str().unwrap().contains("'to'"),
        "{}",
        r.text
    );

    // The rule: a sample firing notice to each recipient.
    let r = admin.post("/api/v1/alert-rules/cpu/test", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let results = r.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{}", r.text);
    for res in results {
        assert_eq!(res["sent"], true, "{}", r.text);
    }
    let mails = wait_for_mails(&smtp, 2).await;
    assert_eq!(mails[1]["rcpt_tos"], json!(["rule@example.tw"]));
    assert!(mails[1]["subject"].as_str().unwrap().contains("CPU 高"));
    assert_eq!(pushes.lock().unwrap().len(), 3);

    // Unknown ids and a rule reaching nobody.
    let r = admin.post("/api/v1/channels/nope/test", json!({})).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.body["error"]["field"], "channel");
    let r = admin
        .post("/api/v1/alert-rules/nobody/test", json!({}))
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "no_recipients");

    // A role without the permission.
    let sam = Api::login(site.dashboards, "sam", PW).await;
    let r = sam.post("/api/v1/channels/mail/test", json!({})).await;
    assert_eq!(r.status, 403, "{}", r.text);

    // The alerter's own port: a wrong or missing bearer is 401.
    let direct = Api::anonymous(site.alerter);
    let body = json!({"channel": "mail"}).to_string();
    for auth in [Some("Bearer 00"), Some("Basic Ym9zczpwdw=="), None::<&str>] {
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", *a)).collect();
        let r = direct
            .call("POST", "/v1/test-send", Some(&body), &headers)
            .await;
        assert_eq!(r.status, 401, "{auth:?}: {}", r.text);
    }
    assert_eq!(smtp.mails().len(), 2, "nothing sent on a refused bearer");
    // The right bearer, derived from the site's pepper as the dashboards derive it: bad
    // bodies are 422 naming the field, a good one sends.
    let pepper = std::fs::read(site.dir.path().join("data/secret/pepper")).unwrap();
    let bearer = format!(
        "Bearer {}",
        gatewatch_model::secret::alerter_test_send_token(&pepper)
    );
    for (body, field) in [
        (r#"{"bogus":1}"#, "bogus"),
        (r#"{"channel":"mail","rule":"cpu"}"#, "rule"),
        ("{}", "channel"),
    ] {
        let r = direct
            .call(
                "POST",
                "/v1/test-send",
                Some(body),
                &[("authorization", &bearer)],
            )
            .await;
        assert_eq!(
            (r.status, r.body["error"]["field"].as_str()),
            (422, Some(field)),
            "{body}: {}",
            r.text
        );
    }
    let r = direct
        .call(
            "POST",
            "/v1/test-send",
            Some(&body),
            &[("authorization", &bearer)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["results"][0]["status"], 250, "{}", r.text);
    wait_for_mails(&smtp, 3).await;

    // Every attempt is an alert event; every test-send an audit row.
    let rows: Vec<(String, String)> = gatewatch_migrations::testing::raw_client(&store)
        .query("SELECT channel, result FROM alert_events WHERE event = 'test' ORDER BY ts_us")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![
            ("mail".to_string(), "sent".to_string()),
            ("line-ok".into(), "sent".into()),
            ("line-bad".into(), "failed".into()),
            ("email".into(), "sent".into()),
            ("line".into(), "sent".into()),
            ("mail".into(), "sent".into()),
        ]
    );
    let r = admin
        .call("GET", "/api/v1/audit?limit=100", None, &[])
        .await;
    let actions: Vec<&str> = r.body["items"]
        .as_array()
        .or(r.body.as_array())
        .map(|a| a.iter().filter_map(|x| x["action"].as_str()).collect())
        .unwrap_or_default();
    for want in ["channel.test", "alert_rule.test"] {
        assert!(actions.contains(&want), "{want} in {}", r.text);
    }
}

/// `gatewatch up` serves test-send on its alerter port too, and the dashboards in the same
/// process reach it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gatewatch_up_serves_test_send() {
    let smtp = SmtpSink::start();
    let extra = format!(
        "[alerter.smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"gatewatch@example.tw\"\n",
        smtp.port
    );
    let site = Site::new(
        "test_send_up",
        &gatewatch_migrations::testing::clickhouse_url(),
        &extra,
    );
    site.migrate().await;
    add_user(&site, "boss", "admin", PW);
    let _up = site.start_args(&["up"]).await;
    let admin = Api::login(site.dashboards, "boss", PW).await;
    let r = admin
        .post(
            "/api/v1/channels",
            json!({"id": "mail", "email": {"to": ["up@example.tw"]}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = admin.post("/api/v1/channels/mail/test", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["results"][0]["status"], 250, "{}", r.text);
    let mails = wait_for_mails(&smtp, 1).await;
    assert_eq!(mails[0]["rcpt_tos"], json!(["up@example.tw"]));
    let r = Api::anonymous(site.alerter)
        .call(
            "POST",
            "/v1/test-send",
            Some(r#"{"channel":"mail"}"#),
            &[("authorization", "Bearer wrong")],
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
}

/// What the webhook receiver was sent: (headers, body, whether the signature verified).
type Hooks = Arc<Mutex<Vec<(hyper::HeaderMap, Value, bool)>>>;

/// A webhook receiver that checks `X-Gatewatch-Signature` (hex HMAC-SHA256 of the exact body
/// under `key`) itself: 200 when it verifies, 401 when not.
async fn webhook_receiver(key: &'static [u8]) -> (std::net::SocketAddr, Hooks) {
    use hmac::{Hmac, Mac};
    let hooks: Hooks = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let h = hooks.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let h = h.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let h = h.clone();
                    async move {
                        let headers = req.headers().clone();
                        let bytes = req.into_body().collect().await.unwrap().to_bytes();
                        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
                        mac.update(&bytes);
                        let want: String = mac
                            .finalize()
                            .into_bytes()
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect();
                        let ok = headers
                            .get("x-gatewatch-signature")
                            .and_then(|v| v.to_str().ok())
                            == Some(format!("sha256={want}").as_str());
                        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                        h.lock().unwrap().push((headers, body, ok));
                        let (status, answer) = if ok {
                            (200, r#"{"received":true}"#)
                        } else {
                            (401, r#"{"error":"bad signature"}"#)
                        };
                        let mut r = Response::new(Full::new(Bytes::from(answer)));
                        *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, hooks)
}

/// A webhook channel test-sent through the admin API reaches a receiver that verifies the
/// HMAC signature; a channel signing with another key is refused by it (and reported so); a
/// rule's test renders its texts in the site language (`[alerter] language = "en"`) into the
/// channel's body template.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_test_sends_are_signed_and_verified_by_the_receiver() {
    const KEY: &[u8] = b"e2e-webhook-key-0123456789";
    let (hook, hooks) = webhook_receiver(KEY).await;
    let extra = format!(
        "[alerter.secrets]\nhook = \"{}\"\nother = \"not-the-receivers-key\"\n",
        std::str::from_utf8(KEY).unwrap()
    );
    let site = Site::new(
        "test_send_webhook",
        &gatewatch_migrations::testing::clickhouse_url(),
        &extra,
    );
    // The receiver is on loopback: the site allows it (webhooks reach public addresses only
    // by default).
    site.tune(
        "alerter",
        "language = \"en\"\nallowed_networks = [\"127.0.0.0/8\"]",
    );
    let store = site.migrate().await;
    add_user(&site, "boss", "admin", PW);
    let _alerter = site.start("alerter").await;
    let _dash = site.start("dashboards").await;
    let admin = Api::login(site.dashboards, "boss", PW).await;
    let template = json!({"title": "{{subject}}", "message": "$TEXT", "state": "{{ state }}",
        "rule": "{{rule}} ({{rule_id}})", "for": "$DURATION", "level": 2});
    for (id, secret) in [("hook", "hook"), ("hook-other-key", "other")] {
        let r = admin
            .post(
                "/api/v1/channels",
                json!({"id": id, "webhook": {"url": format!("http://{hook}/alerts"),
                    "secret": secret, "body": template,
                    "headers": {"X-Team": "ops", "Authorization": "Bearer e2e-s3cret"},
                    "retries": 0}}),
            )
            .await;
        assert_eq!(r.status, 201, "{id}: {}", r.text);
    }

    // The channel: signed with the receiver's key, its 200 reported.
    let r = admin.post("/api/v1/channels/hook/test", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let res = &r.body["results"][0];
    assert_eq!(
        (
            &res["channel"],
            &res["sent"],
            &res["status"],
            &res["attempts"]
        ),
        (&json!("webhook"), &json!(true), &json!(200), &json!(1)),
        "{}",
        r.text
    );
    assert!(res["answer"].as_str().unwrap().contains("received"));
    {
        let h = hooks.lock().unwrap();
        assert_eq!(h.len(), 1);
        let (headers, body, verified) = &h[0];
        assert!(verified, "the receiver verified the signature");
        assert_eq!(headers["x-team"], "ops");
        assert_eq!(headers["authorization"], "Bearer e2e-s3cret");
        assert_eq!(headers["content-type"], "application/json");
        let delivery = headers["x-gatewatch-delivery"].to_str().unwrap();
        assert!(uuid::Uuid::parse_str(delivery).is_ok(), "{delivery}");
        assert_eq!(body["state"], "test");
        assert_eq!(body["level"], 2);
        assert!(
            body["title"].as_str().unwrap().starts_with("[TEST]"),
            "{body}"
        );
        assert!(body["message"].as_str().unwrap().contains("\"hook\""));
    }

    // Another key: the receiver's 401 is the answer.
    let r = admin
        .post("/api/v1/channels/hook-other-key/test", json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let res = &r.body["results"][0];
    assert_eq!(
        (&res["sent"], &res["status"]),
        (&json!(false), &json!(401)),
        "{}",
        r.text
    );
    assert!(res["answer"].as_str().unwrap().contains("bad signature"));
    assert!(!hooks.lock().unwrap()[1].2);

    // The credential header never comes back: "****" in the answer and the history; the
    // answer sent back as it is keeps the stored value; "****" with nothing stored is refused.
    let r = admin.call("GET", "/api/v1/channels/hook", None, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut body = r.body["body"].clone();
    assert_eq!(
        body["webhook"]["headers"]["Authorization"], "****",
        "{}",
        r.text
    );
    assert_eq!(body["webhook"]["headers"]["X-Team"], "ops");
    assert!(!r.text.contains("e2e-s3cret"), "{}", r.text);
    body["webhook"]["headers"]["X-Team"] = json!("sre");
    let r = admin
        .call(
            "PUT",
            "/api/v1/channels/hook",
            Some(&body.to_string()),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = admin
        .call("GET", "/api/v1/channels/hook/history", None, &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.text.contains("e2e-s3cret"), "{}", r.text);
    body["webhook"]["headers"]["X-Api-Key"] = json!("****");
    let r = admin
        .call(
            "PUT",
            "/api/v1/channels/hook",
            Some(&body.to_string()),
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        r.body["error"]["field"], "webhook.headers.X-Api-Key",
        "{}",
        r.text
    );

    // A rule without a language of its own: its texts in the site's (en), rendered into the
    // body template by the same renderer.
    let r = admin
        .post(
            "/api/v1/alert-rules",
            json!({"id": "p99", "name": "Orders p99", "kind": {"type": "api_latency",
                "quantile": "p99"}, "scope": {"api": "orders"}, "threshold": 800,
                "for_secs": 180, "recipients": {"webhooks": ["hook"]}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = admin.post("/api/v1/alert-rules/p99/test", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["results"][0]["sent"], true, "{}", r.text);
    {
        let h = hooks.lock().unwrap();
        assert_eq!(h.len(), 3);
        let (headers, body, verified) = &h[2];
        assert!(verified);
        assert_eq!(
            headers["authorization"], "Bearer e2e-s3cret",
            "kept through the PUT"
        );
        assert_eq!(headers["x-team"], "sre");
        assert_eq!(body["rule"], "Orders p99 (p99)");
        assert_eq!(body["for"], "3 min");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("Orders p99 on test: 800 ms (threshold 800 ms) for 3 min"),
            "{message}"
        );
    }
    let rows: Vec<(String, String)> = gatewatch_migrations::testing::raw_client(&store)
        .query("SELECT channel, result FROM alert_events WHERE event = 'test' ORDER BY ts_us")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![
            ("hook".to_string(), "sent".to_string()),
            ("hook-other-key".into(), "failed".into()),
            ("webhook".into(), "sent".into()),
        ]
    );
}
