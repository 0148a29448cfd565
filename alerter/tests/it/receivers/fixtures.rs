//! Messages as the evaluator hands them over: groups (texts from `render_group`), a test-send
//! and a channel-health notice (no group), and hostile ones.

use chrono::{DateTime, Duration, Utc};
use gatewatch_alerter::notify::Message;
use gatewatch_model::alert::rule::Severity;
use gatewatch_model::alert::{render_group, GroupNotice, Lang, NoticeAlert, NoticeKind};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const ROUTING_KEY: &str = "R0123456789abcdefR0123456789abcd";
pub const GROUP_KEY: &str = "ops/{alertname=\"CPU 過高\"}";
pub const LINK: &str = "https://dash.example.tw/";
pub const TEST_SUBJECT: &str = "[TEST] gatewatch channel ops";
pub const HEALTH_SUBJECT: &str = "gatewatch: webhook notices keep failing";

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn alert(i: usize, status: NoticeKind) -> NoticeAlert {
    let node = format!("gw{i}");
    NoticeAlert {
        rule_id: "cpu".into(),
        rule_name: "CPU 過高".into(),
        labels: labels(&[
            ("alertname", "CPU 過高"),
            ("rule", "cpu"),
            ("severity", "critical"),
            ("kind", "node_cpu"),
            ("node", &node),
        ]),
        status,
        severity: Severity::Critical,
        value: Some(95.5 + i as f64),
        threshold: 90.0,
        unit: "%".into(),
        started_at: at("2026-11-25T01:02:03Z"),
        ended_at: (status == NoticeKind::Resolved).then(|| at("2026-11-25T01:07:03Z")),
        subject: format!("[critical] CPU 過高: {node}"),
        text: format!("CPU 過高 on {node}: {}% (threshold 90%)", 95.5 + i as f64),
        fingerprint: format!("{:016x}", 0xabc0_0000_u64 + i as u64),
        ack_url: format!("{LINK}#/alerts/ack?rule=cpu&key={node}&episode=1764032523000000"),
    }
}

/// A group with `firing` firing alerts then `resolved` resolved ones, its texts rendered.
pub fn group_message(lang: Lang, kind: NoticeKind, firing: usize, resolved: usize) -> Message {
    let status = if kind == NoticeKind::Repeat {
        NoticeKind::Repeat
    } else {
        NoticeKind::Firing
    };
    let mut alerts: Vec<NoticeAlert> = (0..firing).map(|i| alert(i, status)).collect();
    alerts.extend((firing..firing + resolved).map(|i| alert(i, NoticeKind::Resolved)));
    let mut common = labels(&[
        ("alertname", "CPU 過高"),
        ("rule", "cpu"),
        ("severity", "critical"),
        ("kind", "node_cpu"),
    ]);
    if alerts.len() == 1 {
        common = alerts[0].labels.clone();
    }
    let g = GroupNotice {
        policy: "ops".into(),
        group_key: GROUP_KEY.into(),
        group_labels: labels(&[("alertname", "CPU 過高")]),
        common_labels: common,
        kind,
        alerts,
        lang,
        link: LINK.into(),
        at: at("2026-11-25T01:14:03Z"),
    };
    message_of(g)
}

pub fn message_of(g: GroupNotice) -> Message {
    let (subject, text) = render_group(&g);
    Message {
        subject,
        text,
        html: None,
        dedup_key: uuid::Uuid::new_v4().to_string(),
        vars: [
            ("rule", "CPU 過高"),
            ("rule_id", "cpu"),
            ("status", g.kind.as_str()),
            ("severity", "critical"),
            ("link", LINK),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        group: Some(Arc::new(g)),
    }
}

/// A channel test-send, as `test_send` builds it.
pub fn test_message() -> Message {
    Message {
        subject: TEST_SUBJECT.into(),
        text: "This is a test message of the gatewatch channel \"ops\" (chan-1).".into(),
        html: None,
        dedup_key: String::new(),
        vars: [
            ("rule", "test-send"),
            ("channel_id", "chan-1"),
            ("state", "test"),
            ("status", "test"),
            ("at", "2026-11-25T01:14:03Z"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        group: None,
    }
}

/// A notice with neither group nor values (as channel-health notices were before they carried
/// a group of one; a preset must still cope).
pub fn health_message() -> Message {
    Message {
        subject: HEALTH_SUBJECT.into(),
        text: "3 sends in a row failed: 500 Internal Server Error".into(),
        dedup_key: uuid::Uuid::new_v4().to_string(),
        ..Message::default()
    }
}

const NASTY: &str = "\"quoted\" \\ back\nnew line </script><script>alert(1)</script> <!channel> <@U0123> [x](javascript:alert(1)) &amp; 告警 🔥 \u{0} \u{7}";

pub fn hostile_group_message() -> Message {
    let huge = format!("gw\"1\"\n</script>{}", "x".repeat(100_000));
    let mut alerts = Vec::new();
    for i in 0..5 {
        let mut a = alert(i, NoticeKind::Firing);
        a.labels.insert("node".into(), huge.clone());
        a.labels.insert("api".into(), NASTY.into());
        a.rule_name = NASTY.into();
        a.subject = format!("{NASTY} {}", "長".repeat(5_000));
        a.text = NASTY.repeat(2_000);
        a.ack_url = format!("{LINK}#/alerts/ack?rule=cpu&key=a%7Cb&episode=1");
        alerts.push(a);
    }
    alerts[4].ack_url = "javascript:alert(1)".into();
    let g = GroupNotice {
        policy: NASTY.into(),
        group_key: format!("ops/{NASTY}"),
        group_labels: labels(&[("alertname", NASTY), ("node", &huge)]),
        common_labels: labels(&[("alertname", NASTY)]),
        kind: NoticeKind::Firing,
        alerts,
        lang: Lang::ZhTw,
        link: LINK.into(),
        at: at("2026-11-25T01:14:03Z") + Duration::seconds(1),
    };
    message_of(g)
}

pub fn hostile_test_message() -> Message {
    Message {
        subject: format!("{NASTY}{}", "s".repeat(20_000)),
        text: NASTY.repeat(3_000),
        html: None,
        dedup_key: String::new(),
        vars: [
            ("rule", NASTY),
            ("rule_id", "cpu"),
            ("node", NASTY),
            ("severity", "critical"),
            ("status", "firing"),
            ("value", "not a number"),
            ("started_at", "yesterday"),
            ("link", "javascript:alert(1)"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        group: None,
    }
}

/// An alert no policy takes, as the notify stage sends it: no group, the rule's texts and
/// values.
pub fn lone_message(kind: NoticeKind) -> Message {
    Message {
        subject: format!("[critical] CPU 過高: gw1 ({})", kind.as_str()),
        text: "CPU 過高 on gw1: 95.5% (threshold 90%)".into(),
        html: None,
        dedup_key: uuid::Uuid::new_v4().to_string(),
        vars: [
            ("rule", "CPU 過高"),
            ("rule_id", "cpu"),
            ("scope", "gw1"),
            ("node", "gw1"),
            ("value", "95.5"),
            ("threshold", "90"),
            ("unit", "%"),
            ("state", kind.as_str()),
            ("status", kind.as_str()),
            ("severity", "critical"),
            ("started_at", "2026-11-25T01:02:03+00:00"),
            ("link", LINK),
            ("at", "2026-11-25T01:14:03+00:00"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        group: None,
    }
}
