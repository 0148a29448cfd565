//! The receiver presets (Alertmanager v4, PagerDuty Events v2, Slack blocks, Teams Workflows)
//! against receivers served in the test that check what the real services document: required
//! fields, types, enum values, limits. A receiver answers as its service does (PagerDuty 202,
//! Teams 202, Slack `ok`) and refuses a body that breaks its rules (400 with the reason), so a
//! wrong shape fails the send, and the test says why.

mod checks;
mod fixtures;

use crate::helpers::{quick_backoff, serve};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use fixtures::*;
use gatewatch_alerter::notify::{Directory, Message, NotifyConfig};
use gatewatch_alerter::{Error, Notifiers};
use gatewatch_model::alert::{Lang, NoticeKind};
use gatewatch_model::channel::ChannelSpec;
use gatewatch_model::sealed::SealKey;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// Which service a receiver plays.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Service {
    Alertmanager,
    PagerDuty,
    Slack,
    Teams,
}

#[derive(Default)]
struct Seen {
    /// Statuses for the first requests (then the service's success).
    script: Vec<u16>,
    /// Echo the body back in the answer (a receiver that reflects what it got).
    echo: bool,
    bodies: Vec<Value>,
    raw: Vec<String>,
}

type Shared = Arc<Mutex<Seen>>;

async fn receiver(service: Service, script: Vec<u16>, echo: bool) -> (Shared, String) {
    let seen: Shared = Arc::new(Mutex::new(Seen {
        script,
        echo,
        ..Seen::default()
    }));
    let handler = move |State(s): State<Shared>, body: Bytes| async move {
        let raw = String::from_utf8(body.to_vec()).expect("UTF-8 body");
        let mut s = s.lock().unwrap();
        let n = s.bodies.len();
        let parsed: Result<Value, _> = serde_json::from_str(&raw);
        s.raw.push(raw.clone());
        let Ok(v) = parsed else {
            s.bodies.push(Value::Null);
            return (StatusCode::BAD_REQUEST, "not JSON".to_string());
        };
        s.bodies.push(v.clone());
        let check = match service {
            Service::Alertmanager => checks::alertmanager(&v),
            Service::PagerDuty => checks::pagerduty(&v, ROUTING_KEY),
            Service::Slack => checks::slack(&v),
            Service::Teams => checks::teams(&v, raw.len()),
        };
        if let Err(why) = check {
            return (StatusCode::BAD_REQUEST, format!("invalid: {why}"));
        }
        if let Some(status) = s.script.get(n).copied() {
            // As a receiver that reflects the event's fields in its error.
            let answer = if s.echo {
                format!("invalid event for routing_key {}", v["routing_key"])
            } else {
                "scripted".into()
            };
            return (StatusCode::from_u16(status).unwrap(), answer);
        }
        match service {
            Service::PagerDuty => (
                StatusCode::ACCEPTED,
                json!({"status": "success", "message": "Event processed",
                       "dedup_key": v["dedup_key"]})
                .to_string(),
            ),
            Service::Teams => (StatusCode::ACCEPTED, String::new()),
            Service::Slack => (StatusCode::OK, "ok".into()),
            Service::Alertmanager => (StatusCode::OK, String::new()),
        }
    };
    let app = Router::new()
        .route("/hook", post(handler))
        .with_state(seen.clone());
    let addr = serve(app).await;
    (seen, format!("http://{addr}/hook"))
}

fn notifiers() -> Notifiers {
    Notifiers::new(&NotifyConfig {
        backoff: quick_backoff(),
        outbound: crate::webhook::loopback_allowed(),
        seal_key: Some(seal_key()),
        ..NotifyConfig::default()
    })
    .unwrap()
}

fn seal_key() -> SealKey {
    SealKey::from_pepper(b"the site's pepper, 32 bytes long")
}

/// A channel of `preset` at `url` as the admin API stores it (a routing key sealed).
fn channel_of(preset: &str, url: &str, lang: &str) -> ChannelSpec {
    let mut w = json!({"url": url, "preset": preset, "retries": 2});
    if preset == "pagerduty" {
        w["routing_key"] = json!(ROUTING_KEY);
    }
    let mut c = crate::webhook::channel(w);
    c.name = "值班 ops".into();
    c.lang = lang.into();
    let key = seal_key();
    let mut n = 0u8;
    c.webhook
        .as_mut()
        .unwrap()
        .seal_headers(&key, || {
            n += 1;
            [n; 24]
        })
        .unwrap();
    c
}

async fn send(c: &ChannelSpec, m: &Message) -> Result<gatewatch_alerter::notify::Delivery, Error> {
    notifiers().send(c, m, &Directory::default()).await
}

const ALL: [(Service, &str); 4] = [
    (Service::Alertmanager, "alertmanager"),
    (Service::PagerDuty, "pagerduty"),
    (Service::Slack, "slack"),
    (Service::Teams, "teams"),
];

#[tokio::test]
async fn every_preset_sends_firing_repeat_resolved_and_a_test_in_its_documented_shape() {
    for (service, preset) in ALL {
        for lang in [Lang::En, Lang::ZhTw] {
            let (seen, url) = receiver(service, vec![], false).await;
            let c = channel_of(preset, &url, lang.as_str());
            let messages = [
                group_message(lang, NoticeKind::Firing, 3, 0),
                group_message(lang, NoticeKind::Repeat, 3, 0),
                group_message(lang, NoticeKind::Firing, 2, 1),
                group_message(lang, NoticeKind::Resolved, 0, 3),
                group_message(lang, NoticeKind::Firing, 1, 0),
                test_message(),
                health_message(),
            ];
            for m in &messages {
                let d = send(&c, m)
                    .await
                    .unwrap_or_else(|e| panic!("{preset} {lang:?}: {e}"));
                assert!((200..300).contains(&d.status), "{preset}: {d:?}");
                assert_eq!(d.attempts, 1);
            }
            let bodies = seen.lock().unwrap().bodies.clone();
            assert_eq!(bodies.len(), messages.len());
            println!(
                "{preset} {lang:?}: firing group of 3 is {} bytes",
                serde_json::to_vec(&bodies[0]).unwrap().len()
            );
            what_each_says(service, &bodies, lang);
        }
    }
}

/// What the bodies of the scenario above hold, per service.
fn what_each_says(service: Service, b: &[Value], lang: Lang) {
    match service {
        Service::Alertmanager => {
            assert_eq!(b[0]["status"], "firing");
            assert_eq!(b[0]["alerts"].as_array().unwrap().len(), 3);
            assert_eq!(b[0]["receiver"], "值班 ops");
            assert_eq!(b[0]["groupKey"], GROUP_KEY);
            assert_eq!(b[0]["groupLabels"], json!({"alertname": "CPU 過高"}));
            assert_eq!(b[0]["commonLabels"]["kind"], "node_cpu");
            assert_eq!(b[0]["externalURL"], LINK);
            let a = &b[0]["alerts"][0];
            assert_eq!(a["labels"]["node"], "gw0");
            assert_eq!(a["endsAt"], "0001-01-01T00:00:00Z");
            assert_eq!(a["startsAt"], "2026-11-25T01:02:03Z");
            assert_eq!(a["annotations"]["summary"], "[critical] CPU 過高: gw0");
            assert_eq!(a["annotations"]["value"], "95.5%");
            assert!(a["annotations"]["ack_url"]
                .as_str()
                .unwrap()
                .starts_with(LINK));
            assert_eq!(
                a["generatorURL"],
                format!("{LINK}#/alerts?tab=rules&id=cpu")
            );
            assert_eq!(b[0]["commonAnnotations"]["threshold"], "90%");
            // Two firing, one resolved: still firing; the resolved one ends.
            assert_eq!(b[2]["status"], "firing");
            assert_eq!(b[2]["alerts"][2]["status"], "resolved");
            assert_eq!(b[2]["alerts"][2]["endsAt"], "2026-11-25T01:07:03Z");
            assert_eq!(b[3]["status"], "resolved");
            // A test-send: one alert from the message's values.
            assert_eq!(b[5]["alerts"].as_array().unwrap().len(), 1);
            assert_eq!(b[5]["alerts"][0]["labels"]["alertname"], "test-send");
            assert_eq!(b[5]["alerts"][0]["annotations"]["summary"], TEST_SUBJECT);
            assert_eq!(b[6]["alerts"][0]["labels"]["alertname"], HEALTH_SUBJECT);
        }
        Service::PagerDuty => {
            let actions: Vec<&str> = b
                .iter()
                .map(|x| x["event_action"].as_str().unwrap())
                .collect();
            assert_eq!(
                actions,
                ["trigger", "trigger", "trigger", "resolve", "trigger", "trigger", "trigger"]
            );
            // One group, one PagerDuty alert: the repeat re-triggers, the resolve closes it.
            let key = b[0]["dedup_key"].as_str().unwrap();
            for x in &b[..4] {
                assert_eq!(x["dedup_key"], key);
            }
            assert_eq!(
                b[3].as_object().unwrap().keys().collect::<Vec<_>>(),
                ["dedup_key", "event_action", "routing_key"]
            );
            let p = &b[0]["payload"];
            assert_eq!(p["severity"], "critical");
            assert_eq!(p["class"], "CPU 過高");
            assert_eq!(p["component"], "node_cpu");
            assert_eq!(p["group"], "ops");
            assert_eq!(p["source"], "gatewatch");
            assert_eq!(p["custom_details"]["firing"].as_array().unwrap().len(), 3);
            assert_eq!(b[0]["client_url"], LINK);
            assert!(b[0]["links"].as_array().unwrap().len() >= 2);
            // One alert: its node is the source.
            assert_eq!(b[4]["payload"]["source"], "gw0");
            assert_eq!(b[5]["payload"]["severity"], "info");
            assert_ne!(b[5]["dedup_key"], key);
        }
        Service::Slack => {
            let header = b[0]["blocks"][0]["text"]["text"].as_str().unwrap();
            match lang {
                Lang::En => assert_eq!(header, "[gatewatch] 3 firing: CPU 過高"),
                Lang::ZhTw => assert_eq!(header, "[gatewatch] 3 則告警中：CPU 過高"),
            }
            let blocks = b[0]["blocks"].as_array().unwrap();
            assert_eq!(blocks.len(), 5, "header, 3 alerts, context");
            assert!(blocks[1]["text"]["text"]
                .as_str()
                .unwrap()
                .contains(&format!("<{LINK}#/alerts/ack?")));
            assert_eq!(blocks[4]["type"], "context");
            assert!(b[3]["blocks"][1]["fields"]
                .to_string()
                .contains(match lang {
                    Lang::En => "resolved",
                    Lang::ZhTw => "已恢復",
                }));
        }
        Service::Teams => {
            let card = &b[0]["attachments"][0]["content"];
            assert_eq!(card["body"][0]["color"], "Attention");
            assert_eq!(card["body"].as_array().unwrap().len(), 4);
            assert_eq!(card["actions"][0]["url"], LINK);
            assert_eq!(card["actions"].as_array().unwrap().len(), 4);
            assert_eq!(
                b[3]["attachments"][0]["content"]["body"][0]["color"],
                "Good"
            );
        }
    }
}

#[tokio::test]
async fn large_groups_are_cut_to_each_services_limits_and_say_how_many_more() {
    for (service, preset) in ALL {
        let (seen, url) = receiver(service, vec![], false).await;
        let c = channel_of(preset, &url, "en");
        let m = group_message(Lang::En, NoticeKind::Firing, 180, 20);
        send(&c, &m)
            .await
            .unwrap_or_else(|e| panic!("{preset}: {e}"));
        let s = seen.lock().unwrap();
        let (b, raw) = (&s.bodies[0], &s.raw[0]);
        println!("{preset}: a group of 200 alerts is {} bytes", raw.len());
        match service {
            Service::Alertmanager => {
                assert_eq!(b["alerts"].as_array().unwrap().len(), 200);
                assert_eq!(b["truncatedAlerts"], 0);
            }
            Service::PagerDuty => {
                let d = &b["payload"]["custom_details"];
                assert_eq!(d["firing"].as_array().unwrap().len(), 50);
                assert_eq!(d["resolved"].as_array().unwrap().len(), 20);
                assert_eq!(d["more"], 130);
                assert!(
                    raw.len() < 512 * 1024,
                    "PagerDuty takes events up to 512 KB"
                );
            }
            Service::Slack => {
                let blocks = b["blocks"].as_array().unwrap();
                assert_eq!(blocks.len(), 50);
                assert_eq!(blocks[48]["text"]["text"], "+153 more");
            }
            Service::Teams => {
                let body = b["attachments"][0]["content"]["body"].as_array().unwrap();
                let last = body.last().unwrap()["text"].as_str().unwrap();
                let more: usize = last
                    .trim_start_matches('+')
                    .trim_end_matches(" more")
                    .parse()
                    .unwrap();
                // The subject, the alerts shown, the "+N more" line.
                assert_eq!(body.len() - 2 + more, 200, "{last}");
                assert!(raw.len() < 28 * 1024);
            }
        }
    }
}

#[tokio::test]
async fn hostile_values_arrive_escaped_and_cut_and_never_break_the_json() {
    for (service, preset) in ALL {
        let (seen, url) = receiver(service, vec![], false).await;
        let c = channel_of(preset, &url, "zh-TW");
        for m in [hostile_group_message(), hostile_test_message()] {
            let d = send(&c, &m)
                .await
                .unwrap_or_else(|e| panic!("{preset}: {e}"));
            assert!((200..300).contains(&d.status));
        }
        let s = seen.lock().unwrap();
        for (n, (b, raw)) in s.bodies.iter().zip(&s.raw).enumerate() {
            // Every value is a JSON string: no `</script>` survives unescaped in a markup
            // field, and nothing is longer than its field allows (the checks above).
            assert!(raw.len() < 600 * 1024, "{preset}: {} bytes", raw.len());
            match service {
                Service::Alertmanager => {
                    let node = b["alerts"][0]["labels"]["node"].as_str().unwrap();
                    assert!(node.chars().count() <= 1024);
                    if n == 0 {
                        assert!(node.starts_with("gw\"1\"\n</script>"), "{node:?}");
                        assert!(node.ends_with('…'));
                    }
                }
                Service::Slack => {
                    // Mentions and markup only as text (the check refuses `<!channel>` in
                    // mrkdwn); the header is plain_text, which Slack shows as written.
                    assert!(b.to_string().contains("&lt;!channel&gt;"));
                    assert!(b.to_string().contains("&lt;/script&gt;"));
                }
                Service::Teams => {
                    assert!(!raw.contains("](javascript"), "link markdown broken up");
                }
                Service::PagerDuty => {
                    let summary = b["payload"]["summary"].as_str().unwrap();
                    assert!(!summary.contains('\n'));
                }
            }
        }
    }
}

#[tokio::test]
async fn pagerduty_answers_are_handled_as_documented_and_the_key_stays_secret() {
    // 429 and 5xx are retried; 202 is success.
    let (seen, url) = receiver(Service::PagerDuty, vec![429, 502], false).await;
    let c = channel_of("pagerduty", &url, "en");
    let m = group_message(Lang::En, NoticeKind::Firing, 2, 0);
    let d = send(&c, &m).await.unwrap();
    assert_eq!((d.status, d.attempts), (202, 3));
    assert!(d.answer.contains("Event processed"));
    assert_eq!(seen.lock().unwrap().bodies.len(), 3);

    // 400 is final, and an answer that echoes the event does not carry the key away.
    let (seen, url) = receiver(Service::PagerDuty, vec![400], true).await;
    let c = channel_of("pagerduty", &url, "en");
    let e = send(&c, &m).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::Refused {
                status: 400,
                attempts: 1,
                ..
            }
        ),
        "{e}"
    );
    let said = e.to_string();
    assert!(!said.contains(ROUTING_KEY), "{said}");
    assert!(said.contains("****"), "{said}");
    assert_eq!(seen.lock().unwrap().bodies.len(), 1);

    // The stored channel holds the key sealed, answers show `****`.
    let stored = serde_json::to_string(&c).unwrap();
    assert!(!stored.contains(ROUTING_KEY));
    let answered = gatewatch_model::entity::redact(gatewatch_model::EntityKind::Channel, &stored);
    assert_eq!(answered["webhook"]["routing_key"], "****");
    assert!(!answered.to_string().contains("sealed:"));

    // Without the pepper's key the sealed key cannot open: nothing is sent, the error names
    // the field and not the value.
    let (seen, url) = receiver(Service::PagerDuty, vec![], false).await;
    let c = channel_of("pagerduty", &url, "en");
    let bare = Notifiers::new(&NotifyConfig {
        outbound: crate::webhook::loopback_allowed(),
        ..NotifyConfig::default()
    })
    .unwrap();
    let e = bare.send(&c, &m, &Directory::default()).await.unwrap_err();
    assert!(
        matches!(&e, Error::NotConfigured(w) if w.contains("routing_key")),
        "{e}"
    );
    assert!(seen.lock().unwrap().bodies.is_empty());
}

#[tokio::test]
async fn generic_and_template_bodies_carry_the_group() {
    let (seen, url) = crate::webhook::receiver(vec![]).await;
    let m = group_message(Lang::En, NoticeKind::Firing, 2, 1);
    let t = crate::webhook::channel(json!({"url": url, "body": {
        "n": "{{alerts_count}}", "f": "$FIRING_COUNT", "k": "{{group_key}}",
        "list": "{{alerts_text}}", "status": "{{group_status}}", "labels": "{{group_labels}}",
        "subject": "{{subject}}", "unknown": "{{nope}}"
    }}));
    notifiers()
        .send(&t, &m, &Directory::default())
        .await
        .unwrap();
    let g = crate::webhook::channel(json!({"url": url}));
    notifiers()
        .send(&g, &m, &Directory::default())
        .await
        .unwrap();
    let s = seen.lock().unwrap();
    let b = &s.seen[0].2;
    assert_eq!(b["n"], "3");
    assert_eq!(b["f"], "2");
    assert_eq!(b["k"], GROUP_KEY);
    assert_eq!(b["status"], "firing");
    assert_eq!(b["labels"], "alertname=CPU 過高");
    assert_eq!(b["unknown"], "{{nope}}");
    assert!(b["list"]
        .as_str()
        .unwrap()
        .starts_with("Firing (2):\n- [critical] CPU 過高: gw0"));
    assert_eq!(b["subject"], m.subject);
    let generic = &s.seen[1].2;
    assert_eq!(generic["alerts_count"], "3");
    assert_eq!(generic["resolved_count"], "1");
    assert_eq!(generic["subject"], m.subject);
}

#[tokio::test]
async fn a_group_mail_has_an_escaped_html_part() {
    let sink = crate::helpers::SmtpSink::start(None, None);
    let n = Notifiers::new(&NotifyConfig {
        smtp: Some(gatewatch_alerter::notify::SmtpConfig {
            host: "127.0.0.1".into(),
            port: sink.port,
            tls: gatewatch_alerter::notify::SmtpTls::None,
            user: String::new(),
            password: String::new(),
            from: "gatewatch <alerts@example.tw>".into(),
            timeout: std::time::Duration::from_secs(5),
            ca_pem: None,
        }),
        backoff: quick_backoff(),
        ..NotifyConfig::default()
    })
    .unwrap();
    let c: ChannelSpec =
        serde_json::from_value(json!({"email": {"to": ["oncall@example.tw"]}})).unwrap();
    let m = hostile_group_message();
    n.send(&c, &m, &Directory::default()).await.unwrap();
    let mails = sink.wait_for(1).await;
    let html = mails[0]["html"].as_str().expect("an HTML part");
    assert!(
        html.contains("&lt;/script&gt;") && !html.contains("</script>"),
        "{html}"
    );
    assert!(html.contains("<table"));
    let text = mails[0]["text"].as_str().unwrap().replace("\r\n", "\n");
    assert_eq!(text.trim_end(), m.text.trim_end());
}

#[tokio::test]
async fn a_receiver_that_echoes_a_credential_header_does_not_get_it_recorded() {
    let app = Router::new().route(
        "/hook",
        post(|headers: axum::http::HeaderMap| async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            (StatusCode::UNAUTHORIZED, format!("bad credentials: {auth}"))
        }),
    );
    let addr = serve(app).await;
    let mut c = crate::webhook::channel(json!({
        "url": format!("http://{addr}/hook"), "preset": "alertmanager",
        "headers": {"Authorization": "Bearer s3cr3t-t0ken"},
    }));
    let mut n = 0u8;
    c.webhook
        .as_mut()
        .unwrap()
        .seal_headers(&seal_key(), || {
            n += 1;
            [n; 24]
        })
        .unwrap();
    let e = send(&c, &test_message()).await.unwrap_err();
    let said = e.to_string();
    assert!(matches!(e, Error::Refused { status: 401, .. }), "{said}");
    assert!(
        !said.contains("s3cr3t-t0ken") && said.contains("bad credentials: ****"),
        "{said}"
    );
}

#[tokio::test]
async fn an_alert_no_policy_takes_is_one_alert_keyed_by_its_rule_and_scope() {
    let kinds = [NoticeKind::Firing, NoticeKind::Repeat, NoticeKind::Resolved];
    let (seen, url) = receiver(Service::PagerDuty, vec![], false).await;
    let c = channel_of("pagerduty", &url, "en");
    for k in kinds {
        send(&c, &lone_message(k)).await.unwrap();
    }
    let b = seen.lock().unwrap().bodies.clone();
    let actions: Vec<&Value> = b.iter().map(|x| &x["event_action"]).collect();
    assert_eq!(
        actions,
        [&json!("trigger"), &json!("trigger"), &json!("resolve")]
    );
    assert!(b.iter().all(|x| x["dedup_key"] == b[0]["dedup_key"]));
    assert_eq!(b[0]["payload"]["source"], "gw1");
    assert_eq!(b[0]["payload"]["severity"], "critical");
    assert_eq!(
        b[0]["payload"]["custom_details"]["firing"][0]["value"],
        "95.5%"
    );

    let (seen, url) = receiver(Service::Alertmanager, vec![], false).await;
    let c = channel_of("alertmanager", &url, "en");
    for k in kinds {
        send(&c, &lone_message(k)).await.unwrap();
    }
    let b = seen.lock().unwrap().bodies.clone();
    assert_eq!(b[0]["alerts"][0]["labels"]["node"], "gw1");
    assert_eq!(b[0]["alerts"][0]["startsAt"], "2026-11-25T01:02:03Z");
    assert_eq!(b[1]["status"], "firing");
    assert_eq!(b[2]["status"], "resolved");
    assert_eq!(b[2]["alerts"][0]["endsAt"], "2026-11-25T01:14:03Z");
    assert_eq!(
        b[0]["alerts"][0]["fingerprint"],
        b[2]["alerts"][0]["fingerprint"]
    );
    assert_eq!(b[0]["groupKey"], b[2]["groupKey"]);
}

/// The notify stage's own messages (not fixtures) through `NotifierDispatch` to PagerDuty:
/// a channel-health notice's "keeps failing" and "work again" are one incident (trigger, then
/// resolve, one dedup key), and an alert no policy takes is a group of one whose trigger
/// carries its ack link and whose resolve closes it.
#[tokio::test]
async fn the_notify_stages_channel_health_and_lone_alerts_are_one_pagerduty_incident_each() {
    use gatewatch_alerter::notice::{self, Site};
    use gatewatch_alerter::source::RuleEntry;
    use gatewatch_alerter::{Dispatcher, NotifierDispatch, Recipient};
    use gatewatch_model::alert::rule::Severity;
    use gatewatch_model::alert::{AlertRuleSpec, AlertState, Observation, RuleKind, ScopeKey};

    let (seen, url) = receiver(Service::PagerDuty, vec![], false).await;
    let to = Recipient::Webhook {
        id: "pd".into(),
        spec: Some(serde_json::to_value(channel_of("pagerduty", &url, "en")).unwrap()),
    };
    let d = NotifierDispatch {
        notifiers: notifiers(),
    };
    let mut spec = AlertRuleSpec::new("CPU high", RuleKind::NodeCpu {}, 90.0);
    spec.severity = Severity::Critical;
    spec.language = Some(Lang::En);
    let entry = RuleEntry {
        id: "cpu".into(),
        version: 1,
        spec,
    };
    let since: chrono::DateTime<chrono::Utc> = "2026-11-25T01:02:03Z".parse().unwrap();
    let later = since + chrono::Duration::minutes(3);

    let mut last = notice::base_event(
        &entry,
        "node=gw1",
        &AlertState::default(),
        &Observation::Value(95.0),
        since,
        "a",
    );
    last.detail = "535 bad login".into();
    let (_, up) =
        notice::channel_health("email", true, &last, vec![to.clone()], since, since, LINK);
    let (_, down) =
        notice::channel_health("email", false, &last, vec![to.clone()], since, later, LINK);
    for s in up.iter().chain(&down) {
        let r = d.send(&s.to, &s.msg).await;
        assert!(r.sent, "{r:?}");
    }
    let b = std::mem::take(&mut seen.lock().unwrap().bodies);
    assert_eq!(b.len(), 2);
    assert_eq!(
        (&b[0]["event_action"], &b[1]["event_action"]),
        (&json!("trigger"), &json!("resolve"))
    );
    assert_eq!(b[0]["dedup_key"], b[1]["dedup_key"]);
    assert_eq!(b[0]["payload"]["severity"], "critical");
    let summary = b[0]["payload"]["summary"].as_str().unwrap();
    assert!(summary.contains("email notices keep failing"), "{summary}");

    let site = Site {
        tz: chrono_tz::UTC,
        lang: Lang::ZhTw,
        link_base: LINK.trim_end_matches('/'),
        node_groups: &std::collections::HashMap::new(),
    };
    let key = ScopeKey::node("gw1");
    for (kind, at) in [
        (NoticeKind::Firing, since),
        (NoticeKind::Repeat, later),
        (NoticeKind::Resolved, later),
    ] {
        let n = notice::alert_notice("cpu", &entry.spec, &key, Some(95.5), kind, since, at, &site);
        let g = notice::lone_notice(&entry, &key, Some(95.5), kind, since, at, &n, &site);
        let msg = notice::group_outgoing(g, &n.vars, uuid::Uuid::new_v4());
        let r = d.send(&to, &msg).await;
        assert!(r.sent, "{r:?}");
    }
    let b = seen.lock().unwrap().bodies.clone();
    let actions: Vec<&Value> = b.iter().map(|x| &x["event_action"]).collect();
    assert_eq!(
        actions,
        [&json!("trigger"), &json!("trigger"), &json!("resolve")]
    );
    assert!(b.iter().all(|x| x["dedup_key"] == b[0]["dedup_key"]));
    let ack = notice::ack_url(site.link_base, "cpu", "node=gw1", since);
    let links = b[0]["links"].as_array().unwrap();
    assert!(links.iter().any(|l| l["href"] == ack.as_str()), "{links:?}");
    assert_eq!(b[0]["payload"]["source"], "gw1");
    assert_eq!(
        b[0]["payload"]["custom_details"]["group_key"],
        "rule:cpu/node=gw1"
    );
}
