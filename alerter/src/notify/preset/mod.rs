//! Ready-made webhook bodies for the tools ops already run: [`alertmanager`] (Alertmanager's
//! webhook payload, version 4), [`pagerduty`] (Events API v2), [`slack`] (incoming webhook
//! with Block Kit blocks), [`teams`] (Teams Workflows with an Adaptive Card).
//!
//! Each preset reads one [`View`] of the message: the group of alerts it is about
//! ([`Message::group`]), or, for a message without a group (a test-send), one alert made
//! from the message's placeholder values ([`Message::vars`]). Values
//! are cut to the receiver's documented limits and escaped for its markup; the JSON encoder
//! escapes the rest, so no value can break the document.

pub mod alertmanager;
pub mod pagerduty;
pub mod slack;
pub mod teams;

use super::Message;
use chrono::{DateTime, SecondsFormat, Utc};
use gatewatch_model::alert::rule::Severity;
use gatewatch_model::alert::{GroupNotice, Lang, NoticeKind};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Longest label value a preset sends (characters); a longer one is cut with `…`.
pub const LABEL_MAX: usize = 1024;
/// Longest alert text (description) a preset sends.
pub const TEXT_MAX: usize = 4096;

/// What the message is about, as every preset reads it.
#[derive(Debug, Clone)]
pub struct View {
    pub lang: Lang,
    /// `firing`, `repeat`, `resolved`, or `test` (a test-send).
    pub kind: &'static str,
    /// Some alert still fires (Alertmanager's group status `firing`); else all resolved.
    pub firing: bool,
    pub group_key: String,
    pub group_labels: BTreeMap<String, String>,
    pub common_labels: BTreeMap<String, String>,
    pub policy: String,
    /// Firing alerts first, then resolved ones.
    pub alerts: Vec<AlertView>,
    /// The message's subject and text (mail/LINE).
    pub subject: String,
    pub text: String,
    /// The dashboards' address (may be empty).
    pub link: String,
    pub at: DateTime<Utc>,
}

/// One alert of a [`View`].
#[derive(Debug, Clone)]
pub struct AlertView {
    pub firing: bool,
    pub rule_id: String,
    pub labels: BTreeMap<String, String>,
    pub severity: Option<Severity>,
    /// As messages show them (`95.5%`), `None` when unknown.
    pub value: Option<String>,
    pub threshold: Option<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub subject: String,
    pub text: String,
    /// 16 hex digits.
    pub fingerprint: String,
    pub ack_url: String,
    /// The rule's page in the dashboards (empty without a link base).
    pub rule_url: String,
}

impl View {
    /// The view of `msg`: its group, or one alert from its placeholder values. `lang` is the
    /// channel's, used when the message has no group.
    pub fn of(msg: &Message, lang: Lang) -> View {
        let mut v = match &msg.group {
            Some(g) => View::of_group(g, msg),
            None => View::of_vars(msg, lang),
        };
        // Slack's header and PagerDuty's summary may not be empty.
        if v.subject.trim().is_empty() {
            v.subject = v
                .alerts
                .iter()
                .map(|a| a.subject.clone())
                .find(|s| !s.trim().is_empty())
                .unwrap_or_else(|| "gatewatch".to_string());
        }
        v
    }

    fn of_group(g: &GroupNotice, msg: &Message) -> View {
        let alerts: Vec<AlertView> = g
            .firing()
            .chain(g.resolved())
            .map(|a| {
                let unit = a.unit.as_str();
                AlertView {
                    firing: a.status != NoticeKind::Resolved,
                    rule_id: a.rule_id.clone(),
                    labels: a.labels.clone(),
                    severity: Some(a.severity),
                    value: a
                        .value
                        .map(|v| gatewatch_model::alert::template::with_unit(v, unit)),
                    threshold: Some(gatewatch_model::alert::template::with_unit(
                        a.threshold,
                        unit,
                    )),
                    started_at: a.started_at,
                    ended_at: a.ended_at,
                    subject: a.subject.clone(),
                    text: a.text.clone(),
                    fingerprint: a.fingerprint.clone(),
                    ack_url: a.ack_url.clone(),
                    rule_url: rule_url(&g.link, &a.rule_id),
                }
            })
            .collect();
        View {
            lang: g.lang,
            kind: g.kind.as_str(),
            firing: alerts.iter().any(|a| a.firing),
            group_key: g.group_key.clone(),
            group_labels: g.group_labels.clone(),
            common_labels: g.common_labels.clone(),
            policy: g.policy.clone(),
            alerts,
            subject: msg.subject.clone(),
            text: msg.text.clone(),
            link: g.link.clone(),
            at: g.at,
        }
    }

    /// One alert from `msg.vars` (`rule`, `rule_id`, `scope`, `node`, `severity`, `status`,
    /// `value`, `threshold`, `unit`, `started_at`, `at`, `link`), whatever of them it has.
    fn of_vars(msg: &Message, lang: Lang) -> View {
        let var = |k: &str| msg.vars.get(k).map(String::as_str).unwrap_or("");
        let time = |k: &str| {
            DateTime::parse_from_rfc3339(var(k))
                .ok()
                .map(|t| t.to_utc())
        };
        let at = time("at").unwrap_or_else(Utc::now);
        let started_at = time("started_at").unwrap_or(at);
        let kind = match var("status") {
            "resolved" => "resolved",
            "repeat" => "repeat",
            "test" => "test",
            _ => "firing",
        };
        let firing = kind != "resolved";
        let severity = match var("severity") {
            "critical" => Some(Severity::Critical),
            "warning" => Some(Severity::Warning),
            _ => None,
        };
        let mut labels = BTreeMap::new();
        let name = [var("rule"), msg.subject.as_str(), "gatewatch"]
            .into_iter()
            .find(|s| !s.is_empty())
            .unwrap_or("gatewatch");
        labels.insert("alertname".to_string(), name.to_string());
        for (label, key) in [
            ("rule", "rule_id"),
            ("severity", "severity"),
            ("node", "node"),
            ("channel", "channel_id"),
        ] {
            if !var(key).is_empty() {
                labels.insert(label.to_string(), var(key).to_string());
            }
        }
        // Stable per rule and scope (a test-send: per channel), so a resolve finds its trigger.
        let identity = if !var("rule_id").is_empty() {
            format!("rule:{}/{}", var("rule_id"), var("scope"))
        } else if !var("channel_id").is_empty() {
            format!("test:{}", var("channel_id"))
        } else if !msg.dedup_key.is_empty() {
            format!("notice:{}", msg.dedup_key)
        } else {
            format!("notice:{}", uuid::Uuid::new_v4())
        };
        let unit = var("unit");
        let number = |k: &str| {
            var(k)
                .parse::<f64>()
                .ok()
                .map(|v| gatewatch_model::alert::template::with_unit(v, unit))
        };
        let link = var("link").to_string();
        let alert = AlertView {
            firing,
            rule_id: var("rule_id").to_string(),
            labels: labels.clone(),
            severity,
            value: number("value"),
            threshold: number("threshold"),
            started_at,
            ended_at: (!firing).then_some(at),
            subject: msg.subject.clone(),
            text: msg.text.clone(),
            fingerprint: hex(&Sha256::digest(identity.as_bytes())[..8]),
            ack_url: String::new(),
            rule_url: rule_url(&link, var("rule_id")),
        };
        View {
            lang,
            kind,
            firing,
            group_key: identity,
            group_labels: BTreeMap::new(),
            common_labels: labels,
            policy: String::new(),
            alerts: vec![alert],
            subject: msg.subject.clone(),
            text: msg.text.clone(),
            link,
            at,
        }
    }

    /// The most severe severity among firing alerts (all, when none fires).
    pub fn severity(&self) -> Option<Severity> {
        let worst = |firing_only: bool| {
            self.alerts
                .iter()
                .filter(|a| a.firing || !firing_only)
                .filter_map(|a| a.severity)
                .max_by_key(|s| matches!(s, Severity::Critical))
        };
        worst(true).or_else(|| worst(false))
    }

    pub fn firing_count(&self) -> usize {
        self.alerts.iter().filter(|a| a.firing).count()
    }
}

/// The rule's page in the dashboards: `{link}/#/alerts?tab=rules&id=<rule id>`.
fn rule_url(link: &str, rule_id: &str) -> String {
    if !is_web_url(link) || rule_id.is_empty() {
        return String::new();
    }
    // Rule ids are `[A-Za-z0-9._-]`; anything else is percent-encoded all the same.
    let id: String = rule_id
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("{}/#/alerts?tab=rules&id={id}", link.trim_end_matches('/'))
}

/// The words presets show, per language.
pub struct Words {
    pub value: &'static str,
    pub threshold: &'static str,
    pub since: &'static str,
    pub status: &'static str,
    pub firing: &'static str,
    pub resolved: &'static str,
    pub ack: &'static str,
    pub open: &'static str,
}

pub fn words(lang: Lang) -> Words {
    match lang {
        Lang::En => Words {
            value: "Value",
            threshold: "Threshold",
            since: "Since",
            status: "Status",
            firing: "firing",
            resolved: "resolved",
            ack: "Acknowledge",
            open: "Open gatewatch",
        },
        Lang::ZhTw => Words {
            value: "數值",
            threshold: "門檻",
            since: "開始於",
            status: "狀態",
            firing: "告警中",
            resolved: "已恢復",
            ack: "確認處理",
            open: "開啟 gatewatch",
        },
    }
}

/// `+3 more` / `+3 則未列出`.
pub fn more(lang: Lang, n: usize) -> String {
    match lang {
        Lang::En => format!("+{n} more"),
        Lang::ZhTw => format!("+{n} 則未列出"),
    }
}

/// RFC 3339 in UTC with `Z`, as Go writes a `time.Time`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// At most `max` characters, ending in `…` when cut.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Control characters (line breaks) as spaces: for one-line fields (titles, summaries).
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Label values cut to [`LABEL_MAX`].
pub fn cut_labels(labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|(k, v)| (cut(k, LABEL_MAX), cut(v, LABEL_MAX)))
        .collect()
}

/// Whether a link may be sent as one: `http(s)`, no spaces or control characters.
pub fn is_web_url(u: &str) -> bool {
    (u.starts_with("https://") || u.starts_with("http://"))
        && u.len() <= 2048
        && !u.chars().any(|c| c.is_whitespace() || c.is_control())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
