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
use crate::html::escape as esc;

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
    /// (Alertmanager's `groupKey`; PagerDuty's `dedup_key` is derived from it). An alert no
    /// policy takes: `rule:<rule id>/<scope key>`; a channel-health notice: `channel:<kind>`.
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

/// LINE's limit on one text message (UTF-16 units), which a group's subject and text keep to.
pub const TEXT_MAX: usize = 5000;

/// Longest line one alert takes in a group's text (its subject may be long, or hostile).
const ENTRY_MAX: usize = 400;

/// Most alerts the HTML part of a mail lists (the rest are counted).
const HTML_MAX_ALERTS: usize = 500;

/// The subject and text of a group's mail and LINE message, in `g.lang`.
///
/// - One alert reads as that alert's own subject and text (its rule's template, as before
///   groups), with the acknowledgement link on a line of its own while it fires.
/// - Several: a subject with the counts, the rule name(s) and the group labels
///   (`[gatewatch] 3 firing: CPU 過高 (node=gw1)`), then a text listing the firing alerts and
///   then the resolved ones (each its rule's subject, value, threshold and since, an ack link
///   under each firing one), then the dashboards' link. Subject and text together fit one
///   LINE message ([`TEXT_MAX`]); alerts that do not fit are counted (`+2 more`).
pub fn render_group(g: &GroupNotice) -> (String, String) {
    if let [one] = g.alerts.as_slice() {
        let mut text = one.text.clone();
        if one.status != NoticeKind::Resolved && is_web_url(&one.ack_url) {
            text.push('\n');
            text.push_str(words(g.lang).ack);
            text.push_str(&one.ack_url);
        }
        return (one.subject.clone(), text);
    }
    let subject = group_subject(g);
    let budget = TEXT_MAX.saturating_sub(units(&subject) + 1);
    let footer = if is_web_url(&g.link) {
        format!("\n{}{}", words(g.lang).dashboards, g.link)
    } else {
        String::new()
    };
    let list = alert_list(g, budget.saturating_sub(units(&footer)), true);
    (subject, format!("{list}{footer}"))
}

/// The HTML part of a group's mail (several alerts; `None` for one, whose mail stays the
/// rule's text): the same list as [`render_group`] as a table, every value escaped, links
/// only to `http(s)` addresses.
pub fn render_group_html(g: &GroupNotice) -> Option<String> {
    if g.alerts.len() < 2 {
        return None;
    }
    let w = words(g.lang);
    let mut h = String::with_capacity(4096);
    h.push_str("<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body style=\"font-family:sans-serif\">");
    h.push_str(&format!("<h2>{}</h2>", esc(&group_subject(g))));
    let firing: Vec<&NoticeAlert> = g.firing().collect();
    let resolved: Vec<&NoticeAlert> = g.resolved().collect();
    let mut shown = 0;
    for (title, list) in [(w.firing, &firing), (w.resolved, &resolved)] {
        if list.is_empty() || shown >= HTML_MAX_ALERTS {
            continue;
        }
        h.push_str(&format!("<h3>{} ({})</h3>", esc(title), list.len()));
        h.push_str("<table cellpadding=\"4\" style=\"border-collapse:collapse\">");
        h.push_str(&format!(
            "<tr><th align=\"left\">{}</th><th align=\"left\">{}</th><th align=\"left\">{}</th><th></th></tr>",
            esc(w.alert),
            esc(w.value),
            esc(w.since)
        ));
        for a in list.iter().take(HTML_MAX_ALERTS - shown) {
            shown += 1;
            let ack = if a.status != NoticeKind::Resolved && is_web_url(&a.ack_url) {
                format!("<a href=\"{}\">{}</a>", esc(&a.ack_url), esc(w.ack_short))
            } else {
                String::new()
            };
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{ack}</td></tr>",
                esc(&cut(&a.subject, ENTRY_MAX)),
                esc(&value_of(a, g.lang)),
                esc(&since_of(a, g)),
            ));
        }
        h.push_str("</table>");
    }
    if g.alerts.len() > shown {
        h.push_str(&format!(
            "<p>{}</p>",
            esc(&more(g.lang, g.alerts.len() - shown))
        ));
    }
    if is_web_url(&g.link) {
        h.push_str(&format!(
            "<p><a href=\"{}\">{}</a></p>",
            esc(&g.link),
            esc(w.dashboards.trim_end_matches([':', '：', ' ']))
        ));
    }
    h.push_str("</body></html>");
    Some(h)
}

/// The group's placeholders for webhook body templates (besides the notice's own: see the
/// alerter README): `alerts_count`, `firing_count`, `resolved_count`, `group_key`,
/// `group_labels` and `common_labels` (`name=value, …`), `group_status` (`firing` while any
/// alert fires, else `resolved`: Alertmanager's), `group_kind` (`firing|repeat|resolved`),
/// `policy`, `alerts_text` (the alerts listed as in the LINE text, without the footer,
/// at most [`TEXT_MAX`] characters) and `external_url` (the dashboards' address).
pub fn group_values(g: &GroupNotice) -> BTreeMap<String, String> {
    let firing = g.firing().count();
    let status = if firing > 0 { "firing" } else { "resolved" };
    [
        ("alerts_count", g.alerts.len().to_string()),
        ("firing_count", firing.to_string()),
        ("resolved_count", g.resolved().count().to_string()),
        ("group_key", g.group_key.clone()),
        ("group_labels", label_text(&g.group_labels)),
        ("common_labels", label_text(&g.common_labels)),
        ("group_status", status.to_string()),
        ("group_kind", g.kind.as_str().to_string()),
        ("policy", g.policy.clone()),
        ("alerts_text", alert_list(g, TEXT_MAX, false)),
        ("external_url", g.link.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// `name=value, name=value` in label order.
pub fn label_text(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The words of a group message in one language.
struct Words {
    firing: &'static str,
    resolved: &'static str,
    ack: &'static str,
    ack_short: &'static str,
    dashboards: &'static str,
    alert: &'static str,
    value: &'static str,
    since: &'static str,
    threshold: &'static str,
    failed: &'static str,
}

fn words(lang: Lang) -> Words {
    match lang {
        Lang::En => Words {
            firing: "Firing",
            resolved: "Resolved",
            ack: "Acknowledge: ",
            ack_short: "Acknowledge",
            dashboards: "Dashboards: ",
            alert: "Alert",
            value: "Value",
            since: "Since",
            threshold: "threshold",
            failed: "failed",
        },
        Lang::ZhTw => Words {
            firing: "告警中",
            resolved: "已恢復",
            ack: "確認處理：",
            ack_short: "確認處理",
            dashboards: "儀表板：",
            alert: "告警",
            value: "數值",
            since: "開始於",
            threshold: "門檻",
            failed: "無法量測",
        },
    }
}

/// `+3 more` / `+3 則未列出`.
fn more(lang: Lang, n: usize) -> String {
    match lang {
        Lang::En => format!("+{n} more"),
        Lang::ZhTw => format!("+{n} 則未列出"),
    }
}

/// The subject of a message about several alerts.
fn group_subject(g: &GroupNotice) -> String {
    let (f, r) = (g.firing().count(), g.resolved().count());
    let counts = match (g.lang, g.kind, f, r) {
        (Lang::En, _, 0, r) => format!("{r} resolved"),
        (Lang::En, NoticeKind::Repeat, f, 0) => format!("still {f} firing"),
        (Lang::En, _, f, 0) => format!("{f} firing"),
        (Lang::En, _, f, r) => format!("{f} firing, {r} resolved"),
        (Lang::ZhTw, _, 0, r) => format!("{r} 則已恢復"),
        (Lang::ZhTw, NoticeKind::Repeat, f, 0) => format!("仍有 {f} 則告警中"),
        (Lang::ZhTw, _, f, 0) => format!("{f} 則告警中"),
        (Lang::ZhTw, _, f, r) => format!("{f} 則告警中、{r} 則已恢復"),
    };
    // The rules named: the firing ones first, as the text lists them.
    let mut names: Vec<&str> = Vec::new();
    for a in g.firing().chain(g.resolved()) {
        if !names.contains(&a.rule_name.as_str()) {
            names.push(&a.rule_name);
        }
    }
    let mut what = names.iter().take(2).copied().collect::<Vec<_>>().join(", ");
    if names.len() > 2 {
        what.push_str(", …");
    }
    let labels: BTreeMap<String, String> = g
        .group_labels
        .iter()
        .filter(|(k, _)| k.as_str() != "alertname")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let labels = cut(&label_text(&labels), 60);
    let (colon, open, close) = match g.lang {
        Lang::En => (": ", " (", ")"),
        Lang::ZhTw => ("：", "（", "）"),
    };
    let mut s = format!("[gatewatch] {counts}");
    if !what.is_empty() {
        s.push_str(colon);
        s.push_str(&cut(&what, 80));
    }
    if !labels.is_empty() {
        s.push_str(&format!("{open}{labels}{close}"));
    }
    one_line(&s)
}

/// The alerts listed, firing ones then resolved ones, within `budget` UTF-16 units; those
/// that do not fit are counted on a last line. `acks`: an ack link under each firing alert.
fn alert_list(g: &GroupNotice, budget: usize, acks: bool) -> String {
    let w = words(g.lang);
    let firing: Vec<&NoticeAlert> = g.firing().collect();
    let resolved: Vec<&NoticeAlert> = g.resolved().collect();
    let total = firing.len() + resolved.len();
    let (open, close) = match g.lang {
        Lang::En => (" (", "):"),
        Lang::ZhTw => ("（", "）："),
    };
    // Room kept for the "+N more" line.
    let reserve = units(&more(g.lang, total)) + 1;
    let mut out = String::new();
    let mut listed = 0;
    'sections: for (title, list) in [(w.firing, &firing), (w.resolved, &resolved)] {
        if list.is_empty() {
            continue;
        }
        let head = format!("{title}{open}{}{close}", list.len());
        for (i, a) in list.iter().enumerate() {
            let mut entry = String::new();
            if i == 0 {
                entry.push_str(&head);
                entry.push('\n');
            }
            entry.push_str(&cut(&alert_line(a, g), ENTRY_MAX));
            if acks && a.status != NoticeKind::Resolved && is_web_url(&a.ack_url) {
                entry.push_str("\n  ");
                entry.push_str(w.ack);
                entry.push_str(&a.ack_url);
            }
            let sep = usize::from(!out.is_empty());
            let keep = if listed + 1 == total { 0 } else { reserve };
            if units(&out) + sep + units(&entry) + keep > budget {
                break 'sections;
            }
            if sep == 1 {
                out.push('\n');
            }
            out.push_str(&entry);
            listed += 1;
        }
    }
    if listed < total {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&more(g.lang, total - listed));
    }
    out
}

/// `- [critical] CPU: gw1 — 95.5% (threshold 90%), since 2026-11-25 01:02:03 UTC (12 min)`.
fn alert_line(a: &NoticeAlert, g: &GroupNotice) -> String {
    let w = words(g.lang);
    let threshold = super::template::with_unit(a.threshold, &a.unit);
    let (open, close, comma) = match g.lang {
        Lang::En => (" (", ")", ", "),
        Lang::ZhTw => ("（", "）", "，"),
    };
    format!(
        "- {} — {}{open}{} {threshold}{close}{comma}{} {}",
        one_line(&a.subject),
        value_of(a, g.lang),
        w.threshold,
        w.since.to_lowercase(),
        since_of(a, g)
    )
}

fn value_of(a: &NoticeAlert, lang: Lang) -> String {
    match a.value {
        Some(v) => super::template::with_unit(v, &a.unit),
        None => words(lang).failed.to_string(),
    }
}

/// When the alert started (UTC: a group may span zones) and for how long it fired.
fn since_of(a: &NoticeAlert, g: &GroupNotice) -> String {
    let end = a.ended_at.unwrap_or(g.at);
    let secs = u64::try_from((end - a.started_at).num_seconds()).unwrap_or(0);
    let (open, close) = match g.lang {
        Lang::En => (" (", ")"),
        Lang::ZhTw => ("（", "）"),
    };
    format!(
        "{}{open}{}{close}",
        a.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        super::template::format_duration(secs, g.lang)
    )
}

/// Whether a link may be shown as one: an `http(s)` address without spaces.
fn is_web_url(u: &str) -> bool {
    (u.starts_with("https://") || u.starts_with("http://"))
        && !u.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// UTF-16 units, as LINE counts.
fn units(s: &str) -> usize {
    s.encode_utf16().count()
}

/// At most `max` characters, `…` at the end when cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Line breaks and other control characters as spaces (a subject is one line).
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests;
