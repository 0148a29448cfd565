//! A message about a **group** of alerts (issue 18): what the alerter's notify stage hands to
//! the notifiers, and what the receivers' presets (Alertmanager v4 webhook, PagerDuty Events
//! v2, Slack blocks, Teams Adaptive Cards) and the mail/LINE texts are made from.
//!
//! An alert no notification policy takes is a group of one; its message reads as it did before
//! groups (the rule's own template).

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

use super::rule::Severity;
use super::template::{Lang, NoticeKind};

/// One alert of a group, as the message lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoticeAlert {
    pub rule_id: String,
    /// The rule's name (`alertname`).
    pub rule_name: String,
    /// Its labels ([`super::route::labels`]).
    pub labels: BTreeMap<String, String>,
    /// `firing` or `resolved` (a repeat lists its alerts as `firing`).
    pub status: NoticeKind,
    pub severity: Severity,
    /// The last value seen (`None` when the measurement failed).
    pub value: Option<f64>,
    pub threshold: f64,
    pub unit: String,
    /// When this episode started (firing state's `since`).
    pub started_at: DateTime<Utc>,
    /// When it resolved; `None` while firing.
    pub ended_at: Option<DateTime<Utc>>,
    /// The rule's own subject and text for this alert, rendered in the message's language.
    pub subject: String,
    pub text: String,
    /// Stable id of the alert (rule id and scope key): Alertmanager's `fingerprint`, 16 hex.
    pub fingerprint: String,
    /// Where ops acknowledge this episode (the dashboards' ack page); empty without a link base.
    pub ack_url: String,
}

/// A message about a group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupNotice {
    /// The notification policy's id (`""` for an alert no policy takes).
    pub policy: String,
    /// Stable key of the group: the policy and the group-by labels' values
    /// (Alertmanager's `groupKey`; PagerDuty's `dedup_key` is derived from it).
    pub group_key: String,
    /// The group-by labels and their values.
    pub group_labels: BTreeMap<String, String>,
    /// Labels every alert of the group shares.
    pub common_labels: BTreeMap<String, String>,
    /// `Firing` (first message or alerts added), `Repeat` (nothing changed), or `Resolved`
    /// (every alert resolved).
    pub kind: NoticeKind,
    /// Firing alerts first, then resolved ones.
    pub alerts: Vec<NoticeAlert>,
    pub lang: Lang,
    /// The dashboards' address (`[alerter] link_base`, Alertmanager's `externalURL`).
    pub link: String,
    /// The round that decided the message.
    pub at: DateTime<Utc>,
}

impl GroupNotice {
    pub fn firing(&self) -> impl Iterator<Item = &NoticeAlert> {
        self.alerts
            .iter()
            .filter(|a| a.status != NoticeKind::Resolved)
    }

    pub fn resolved(&self) -> impl Iterator<Item = &NoticeAlert> {
        self.alerts
            .iter()
            .filter(|a| a.status == NoticeKind::Resolved)
    }

    /// The most severe severity among the firing alerts (or all, when none fires).
    pub fn severity(&self) -> Severity {
        let worst = |it: &mut dyn Iterator<Item = &NoticeAlert>| {
            it.map(|a| a.severity)
                .max_by_key(|s| matches!(s, Severity::Critical))
        };
        worst(&mut self.firing())
            .or_else(|| worst(&mut self.alerts.iter()))
            .unwrap_or_default()
    }
}

/// The subject and text of a group's mail and LINE message, in `g.lang`. A group of one alert
/// reads as that alert's own (rule template) subject and text; a larger group has a subject
/// naming the count and a text listing each alert's subject.
///
/// (Foundation: the receivers' slice refines the wording and the zh-TW/en templates.)
pub fn render_group(g: &GroupNotice) -> (String, String) {
    if let [one] = g.alerts.as_slice() {
        return (one.subject.clone(), one.text.clone());
    }
    let firing = g.firing().count();
    let resolved = g.resolved().count();
    let subject = match g.lang {
        Lang::En => format!("[gatewatch] {firing} firing, {resolved} resolved"),
        Lang::ZhTw => format!("[gatewatch] {firing} 則告警中，{resolved} 則已恢復"),
    };
    let mut text = String::new();
    for a in &g.alerts {
        text.push_str("- ");
        text.push_str(&a.subject);
        text.push('\n');
    }
    (subject, text)
}
