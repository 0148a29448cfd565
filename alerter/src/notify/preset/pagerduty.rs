//! PagerDuty Events API v2 (`POST https://events.pagerduty.com/v2/enqueue`, answered 202).
//!
//! A firing or repeated group is a `trigger` event; PagerDuty folds every trigger with the
//! same `dedup_key` into the open alert, so a repeat re-triggers it rather than opening
//! another. When every alert of the group has resolved, a `resolve` event with the same key
//! closes it (a resolve carries only `routing_key`, `dedup_key`, `event_action`).
//!
//! ```json
//! {"routing_key": "<32 chars, sealed at rest>", "event_action": "trigger",
//!  "dedup_key": "gatewatch-<40 hex of SHA-256(group key)>",
//!  "payload": {"summary": "≤ 1024 chars", "source": "<node, or gatewatch>",
//!              "severity": "critical|error|warning|info", "timestamp": "…Z",
//!              "component": "<kind>", "group": "<policy>", "class": "<alertname>",
//!              "custom_details": {"firing": […], "resolved": […], …}},
//!  "links": [{"href", "text"}], "client": "gatewatch", "client_url": "<dashboards>"}
//! ```
//!
//! A test-send is a `trigger` with severity `info` (its key stable per channel).

use super::{cut, cut_labels, is_web_url, one_line, rfc3339, words, AlertView, View, TEXT_MAX};
use gatewatch_model::alert::rule::Severity;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// PagerDuty's limit on `payload.summary`.
pub const SUMMARY_MAX: usize = 1024;
/// PagerDuty's limit on `dedup_key`.
pub const DEDUP_KEY_MAX: usize = 255;
/// Most alerts listed in `custom_details` (the rest counted in `more`).
pub const DETAILS_MAX_ALERTS: usize = 50;
/// Most ack links under `links`.
pub const ACK_LINKS_MAX: usize = 5;

/// The key PagerDuty deduplicates on: the same for every message about one group.
pub fn dedup_key(group_key: &str) -> String {
    let digest = Sha256::digest(group_key.as_bytes());
    format!("gatewatch-{}", &super::hex(&digest)[..40])
}

pub fn body(v: &View, routing_key: &str) -> Value {
    let dedup = dedup_key(&v.group_key);
    debug_assert!(dedup.len() <= DEDUP_KEY_MAX);
    if !v.firing && v.kind != "test" {
        return json!({
            "routing_key": routing_key,
            "dedup_key": dedup,
            "event_action": "resolve",
        });
    }
    let severity = match (v.kind, v.severity()) {
        ("test", _) => "info",
        (_, Some(Severity::Critical)) => "critical",
        (_, Some(Severity::Warning)) => "warning",
        (_, None) => "error",
    };
    let common = |k: &str| v.common_labels.get(k).filter(|s| !s.is_empty());
    let source = common("node")
        .cloned()
        .unwrap_or_else(|| "gatewatch".to_string());
    let mut payload = Map::new();
    payload.insert(
        "summary".into(),
        json!(cut(&one_line(&v.subject), SUMMARY_MAX)),
    );
    payload.insert("source".into(), json!(cut(&source, 255)));
    payload.insert("severity".into(), json!(severity));
    payload.insert("timestamp".into(), json!(rfc3339(v.at)));
    if let Some(kind) = common("kind") {
        payload.insert("component".into(), json!(cut(kind, 255)));
    }
    if !v.policy.is_empty() {
        payload.insert("group".into(), json!(cut(&v.policy, 255)));
    }
    if let Some(name) = common("alertname") {
        payload.insert("class".into(), json!(cut(name, 255)));
    }
    let listed = |firing: bool| -> Vec<Value> {
        v.alerts
            .iter()
            .filter(|a| a.firing == firing)
            .take(DETAILS_MAX_ALERTS)
            .map(detail)
            .collect()
    };
    let (firing, resolved) = (listed(true), listed(false));
    let more = v.alerts.len() - firing.len() - resolved.len();
    let mut details = Map::new();
    details.insert("firing".into(), Value::Array(firing));
    details.insert("resolved".into(), Value::Array(resolved));
    if more > 0 {
        details.insert("more".into(), json!(more));
    }
    details.insert("group_labels".into(), json!(cut_labels(&v.group_labels)));
    details.insert("group_key".into(), json!(cut(&v.group_key, TEXT_MAX)));
    details.insert("notice".into(), json!(v.kind));
    details.insert("text".into(), json!(cut(&v.text, TEXT_MAX)));
    payload.insert("custom_details".into(), Value::Object(details));

    let w = words(v.lang);
    let mut links = Vec::new();
    if is_web_url(&v.link) {
        links.push(json!({"href": v.link, "text": "gatewatch"}));
    }
    for a in v
        .alerts
        .iter()
        .filter(|a| a.firing && is_web_url(&a.ack_url))
        .take(ACK_LINKS_MAX)
    {
        links.push(json!({
            "href": a.ack_url,
            "text": format!("{}: {}", w.ack, cut(&one_line(&a.subject), 100)),
        }));
    }
    let mut body = Map::new();
    body.insert("routing_key".into(), json!(routing_key));
    body.insert("event_action".into(), json!("trigger"));
    body.insert("dedup_key".into(), json!(dedup));
    body.insert("payload".into(), Value::Object(payload));
    if !links.is_empty() {
        body.insert("links".into(), Value::Array(links));
    }
    body.insert("client".into(), json!("gatewatch"));
    if is_web_url(&v.link) {
        body.insert("client_url".into(), json!(v.link));
    }
    Value::Object(body)
}

fn detail(a: &AlertView) -> Value {
    let mut m = Map::new();
    m.insert("alert".into(), json!(cut(&one_line(&a.subject), 1024)));
    m.insert("labels".into(), json!(cut_labels(&a.labels)));
    if let Some(x) = &a.value {
        m.insert("value".into(), json!(x));
    }
    if let Some(x) = &a.threshold {
        m.insert("threshold".into(), json!(x));
    }
    m.insert("started_at".into(), json!(rfc3339(a.started_at)));
    if let Some(t) = a.ended_at {
        m.insert("ended_at".into(), json!(rfc3339(t)));
    }
    if a.firing && is_web_url(&a.ack_url) {
        m.insert("ack_url".into(), json!(a.ack_url));
    }
    Value::Object(m)
}
