//! Alertmanager's webhook payload, version 4 (Alertmanager's `notify/webhook` `Message`: its
//! template `Data` plus `version`, `groupKey`, `truncatedAlerts`), so a receiver written for
//! Alertmanager takes gatewatch's groups as they are:
//!
//! ```json
//! {"version": "4", "groupKey": "…", "truncatedAlerts": 0, "status": "firing",
//!  "receiver": "<channel name>", "groupLabels": {…}, "commonLabels": {…},
//!  "commonAnnotations": {…}, "externalURL": "<dashboards>",
//!  "alerts": [{"status": "firing", "labels": {…}, "annotations": {"summary", "description",
//!    "value", "threshold", "ack_url"}, "startsAt": "…Z", "endsAt": "0001-01-01T00:00:00Z",
//!    "generatorURL": "…", "fingerprint": "16 hex"}]}
//! ```
//!
//! `status` is `firing` while any alert fires, else `resolved`; `endsAt` is Go's zero time
//! while an alert fires; `commonAnnotations` are the annotations every alert shares (as
//! Alertmanager computes them). At most [`MAX_ALERTS`] alerts are listed, the rest counted in
//! `truncatedAlerts` (Alertmanager's `max_alerts`).

use super::{cut, cut_labels, rfc3339, View, LABEL_MAX, TEXT_MAX};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Most alerts one payload lists.
pub const MAX_ALERTS: usize = 1000;

/// Go's zero `time.Time` as its JSON encoder writes it: Alertmanager's `endsAt` of an alert
/// with no end.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub fn body(v: &View, receiver: &str) -> Value {
    let listed = &v.alerts[..v.alerts.len().min(MAX_ALERTS)];
    let annotations: Vec<BTreeMap<String, String>> = listed
        .iter()
        .map(|a| {
            let mut m = BTreeMap::new();
            m.insert("summary".to_string(), cut(&a.subject, LABEL_MAX));
            m.insert("description".to_string(), cut(&a.text, TEXT_MAX));
            if let Some(x) = &a.value {
                m.insert("value".to_string(), x.clone());
            }
            if let Some(x) = &a.threshold {
                m.insert("threshold".to_string(), x.clone());
            }
            if a.firing && super::is_web_url(&a.ack_url) {
                m.insert("ack_url".to_string(), a.ack_url.clone());
            }
            m
        })
        .collect();
    // Alertmanager's common annotations: those of the first alert every other one shares.
    let mut common = annotations.first().cloned().unwrap_or_default();
    for a in annotations.iter().skip(1) {
        common.retain(|k, val| a.get(k) == Some(val));
    }
    let alerts: Vec<Value> = listed
        .iter()
        .zip(annotations)
        .map(|(a, ann)| {
            json!({
                "status": if a.firing { "firing" } else { "resolved" },
                "labels": cut_labels(&a.labels),
                "annotations": ann,
                "startsAt": rfc3339(a.started_at),
                "endsAt": match a.ended_at {
                    Some(t) if !a.firing => rfc3339(t),
                    _ => ZERO_TIME.to_string(),
                },
                "generatorURL": a.rule_url,
                "fingerprint": a.fingerprint,
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": cut(&v.group_key, TEXT_MAX),
        "truncatedAlerts": v.alerts.len() - listed.len(),
        "status": if v.firing { "firing" } else { "resolved" },
        "receiver": receiver,
        "groupLabels": cut_labels(&v.group_labels),
        "commonLabels": cut_labels(&v.common_labels),
        "commonAnnotations": common,
        "externalURL": v.link,
        "alerts": alerts,
    })
}
