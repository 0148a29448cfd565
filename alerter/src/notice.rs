//! The **notify** stage's decisions (the sending itself is the engine's I/O): what an alert's
//! notice says ([`AlertNotice`]: the rule's template, the webhook placeholders), who gets it
//! (the rule's or the policy's recipients, [`addressed`]), the deterministic notification ids
//! ([`crate::dispatch::notification_id`] for an alert alone, [`group_notification_id`] for a
//! group's message), and a group's [`GroupNotice`] turned into one [`Outgoing`] per recipient
//! ([`group_outgoing`]). Every message carries its group: an alert alone is a group of one
//! ([`lone_notice`]), and so is a channel-health notice ([`channel_health`]). Pure, tested
//! alone.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use gatewatch_model::alert::rule::Severity;
use gatewatch_model::alert::{
    render_group, render_notice, route, AlertRuleSpec, AlertState, GroupNotice, Lang, NoticeAlert,
    NoticeKind, NotificationPolicySpec, Observation, Recipients, ScopeKey, Vars,
};
use gatewatch_store::acks::Ack;
use gatewatch_store::alerts::AlertEvent;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use uuid::Uuid;

use crate::dispatch::{self, Outgoing, Recipient};
use crate::group::{self, GroupMessage, Member};
use crate::mute;
use crate::source::{RuleEntry, Sources};

/// The namespace of group message ids and fingerprints (a fixed random UUID, not the one of
/// [`crate::dispatch::notification_id`]).
const NAMESPACE: Uuid = Uuid::from_u128(0x2b8e_71c4_0f5a_4d93_b6e2_98a1_c3d7_5e04);

/// One send: the message, its recipient, and the `alert_events` rows it is recorded as (one
/// for an alert alone; one per alert listed for a group's message, all with its id).
pub struct Send {
    pub events: Vec<AlertEvent>,
    pub to: Recipient,
    pub msg: Outgoing,
}

/// An alert's stable id (rule id and scope key): 16 hex digits, Alertmanager's `fingerprint`.
pub fn fingerprint(rule_id: &str, scope_key: &str) -> String {
    let u = Uuid::new_v5(&NAMESPACE, format!("{rule_id}\n{scope_key}").as_bytes());
    u.simple().to_string()[..16].to_string()
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where ops acknowledge an episode: `{link_base}/#/alerts/ack?rule=…&key=…&episode=…`
/// (the dashboards' page asks to confirm; a GET changes nothing). Empty without a link base.
pub fn ack_url(link_base: &str, rule_id: &str, scope_key: &str, since: DateTime<Utc>) -> String {
    if link_base.is_empty() {
        return String::new();
    }
    format!(
        "{}/#/alerts/ack?rule={}&key={}&episode={}",
        link_base.trim_end_matches('/'),
        encode(rule_id),
        encode(scope_key),
        since.timestamp_micros()
    )
}

/// An alert's notice as its rule renders it: subject, text and the webhook placeholders.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertNotice {
    pub subject: String,
    pub text: String,
    pub vars: BTreeMap<String, String>,
    pub lang: Lang,
}

/// Site settings the notices need.
#[derive(Debug, Clone)]
pub struct Site<'a> {
    pub tz: Tz,
    pub lang: Lang,
    pub link_base: &'a str,
    /// Each node's groups from the node registry, joined with `,` (the `node_group` label).
    pub node_groups: &'a std::collections::HashMap<String, String>,
}

/// An alert's labels (`route::labels`) with its node's `node_group` when the registry knows
/// the node's groups: what routing matches and what receivers are shown.
pub fn alert_labels(
    entry: &RuleEntry,
    key: &ScopeKey,
    node_groups: &std::collections::HashMap<String, String>,
) -> std::collections::BTreeMap<String, String> {
    let mut l = route::labels(&entry.id, &entry.spec, key);
    if let Some(g) = key.node.as_ref().and_then(|n| node_groups.get(n)) {
        l.insert("node_group".into(), g.clone());
    }
    l
}

/// Renders `kind` of the alert (rule `rule_id`, `key`) whose episode began at `since`, with
/// the value seen (`None`: the measurement failed), decided at `now`.
#[allow(clippy::too_many_arguments)]
pub fn alert_notice(
    rule_id: &str,
    spec: &AlertRuleSpec,
    key: &ScopeKey,
    value: Option<f64>,
    kind: NoticeKind,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    site: &Site<'_>,
) -> AlertNotice {
    let scope = key.to_string();
    let node = key.node.clone().unwrap_or_default();
    let vars = Vars::for_notice(
        spec,
        &scope,
        &node,
        value,
        kind,
        since,
        site.link_base,
        site.tz,
        site.lang,
    );
    let (subject, text) = render_notice(spec, &vars);
    // Webhook placeholders: every rule placeholder as the mail shows it (`duration`,
    // `interval`, …), with data fields where a receiver wants numbers and UTC times.
    let mut map = vars.values();
    for (k, v) in [
        ("rule", spec.name.clone()),
        ("rule_id", rule_id.to_string()),
        ("scope", scope.clone()),
        ("node", node.clone()),
        ("value", value.map(|v| v.to_string()).unwrap_or_default()),
        ("threshold", spec.threshold.to_string()),
        ("unit", spec.kind.unit().to_string()),
        ("state", kind.as_str().to_string()),
        ("status", kind.as_str().to_string()),
        ("severity", spec.severity.as_str().to_string()),
        ("started_at", since.to_rfc3339()),
        ("link", site.link_base.to_string()),
        // The evaluation round that decided this notice.
        ("at", now.to_rfc3339()),
    ] {
        map.insert(k.to_string(), v);
    }
    AlertNotice {
        subject,
        text,
        vars: map,
        lang: vars.lang,
    }
}

/// The group key of an alert no policy takes: `rule:<rule id>/<scope key>`. It cannot be a
/// policy's (`<policy id>:{…}`, a `{` right after the colon; rule ids have none), and it is
/// the same for every notice of the alert, so a receiver's dedup key (PagerDuty's) ties a
/// resolve to its trigger.
pub fn lone_group_key(rule_id: &str, scope_key: &str) -> String {
    format!("rule:{rule_id}/{scope_key}")
}

/// An alert no policy takes as a group of one (policy `""`, [`lone_group_key`], its labels as
/// the group's): `render_group` reads it as the rule's own texts, with the ack link while it
/// fires, and the presets see its labels, fingerprint and ack link as in any group.
#[allow(clippy::too_many_arguments)]
pub fn lone_notice(
    entry: &RuleEntry,
    key: &ScopeKey,
    value: Option<f64>,
    kind: NoticeKind,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    n: &AlertNotice,
    site: &Site<'_>,
) -> GroupNotice {
    let scope_key = key.as_key();
    let labels = alert_labels(entry, key, site.node_groups);
    let resolved = kind == NoticeKind::Resolved;
    let alert = NoticeAlert {
        rule_id: entry.id.clone(),
        rule_name: entry.spec.name.clone(),
        labels: labels.clone(),
        status: if resolved {
            NoticeKind::Resolved
        } else {
            NoticeKind::Firing
        },
        severity: entry.spec.severity,
        value,
        threshold: entry.spec.threshold,
        unit: entry.spec.kind.unit().to_string(),
        started_at: since,
        ended_at: resolved.then_some(now),
        subject: n.subject.clone(),
        text: n.text.clone(),
        fingerprint: fingerprint(&entry.id, &scope_key),
        ack_url: ack_url(site.link_base, &entry.id, &scope_key, since),
    };
    GroupNotice {
        policy: String::new(),
        group_key: lone_group_key(&entry.id, &scope_key),
        group_labels: labels.clone(),
        common_labels: labels,
        kind,
        alerts: vec![alert],
        lang: n.lang,
        link: site.link_base.to_string(),
        at: now,
    }
}

/// The id of a group's message to one recipient: the policy, the group key, when the group
/// began, the message's number in it, its kind and the recipient. A restart or a second
/// alerter computes the same id for the same message, and `alert_events` shows it sent.
pub fn group_notification_id(
    policy: &str,
    group_key: &str,
    group_since: DateTime<Utc>,
    seq: u64,
    kind: NoticeKind,
    to: &Recipient,
) -> Uuid {
    let name = format!(
        "group\n{policy}\n{group_key}\n{}\n{seq}\n{}\n{}\n{}",
        group_since.timestamp_micros(),
        kind.as_str(),
        to.channel(),
        to.address()
    );
    Uuid::new_v5(&NAMESPACE, name.as_bytes())
}

/// Who hears about which alerts of a group: every recipient of the policy about all of them
/// (`policy` = `Some`), else each alert's own recipients (`per_alert[i]` for alert `i`), one
/// entry per recipient listing the indices of the alerts addressed to it, in first-seen order.
pub fn addressed(
    policy: Option<&[Recipient]>,
    per_alert: &[Vec<Recipient>],
) -> Vec<(Recipient, Vec<usize>)> {
    let mut out: Vec<(Recipient, Vec<usize>)> = Vec::new();
    for (i, rs) in per_alert.iter().enumerate() {
        let rs = policy.unwrap_or(rs);
        for r in rs {
            match out.iter_mut().find(|(have, _)| have == r) {
                Some((_, idx)) => {
                    if !idx.contains(&i) {
                        idx.push(i)
                    }
                }
                None => out.push((r.clone(), vec![i])),
            }
        }
    }
    out
}

/// The labels every alert of the list shares.
pub fn common_labels(alerts: &[NoticeAlert]) -> BTreeMap<String, String> {
    let Some((first, rest)) = alerts.split_first() else {
        return BTreeMap::new();
    };
    first
        .labels
        .iter()
        .filter(|(k, v)| rest.iter().all(|a| a.labels.get(*k) == Some(*v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// One recipient's message about a group: subject and text from `render_group`, the notice
/// in `Outgoing.group`, and placeholders for webhook bodies (those of the first alert listed,
/// with the group's subject, text and kind; the group's own — `alerts_count`, `group_key`, …
/// — the webhook notifier adds from the notice, `model::alert::group::group_values`).
pub fn group_outgoing(
    notice: GroupNotice,
    first_vars: &BTreeMap<String, String>,
    id: Uuid,
) -> Outgoing {
    let (subject, text) = render_group(&notice);
    let mut vars = first_vars.clone();
    for (k, v) in [
        ("subject", subject.clone()),
        ("text", text.clone()),
        ("state", notice.kind.as_str().to_string()),
        ("status", notice.kind.as_str().to_string()),
        ("notification_id", id.to_string()),
        ("at", notice.at.to_rfc3339()),
    ] {
        vars.insert(k.to_string(), v);
    }
    Outgoing {
        subject,
        text,
        html: None,
        dedup_key: id.to_string(),
        vars,
        notification_id: id,
        group: Some(Arc::new(notice)),
    }
}

/// What the notify stage reads: the configuration, the acks, the site's settings, and this
/// alerter's name (for `alert_events.alerter`).
pub struct Ctx<'a> {
    pub sources: &'a Sources,
    pub acks: &'a [Ack],
    pub site: Site<'a>,
    pub alerter: &'a str,
}

/// What the stage decided: messages to send, and rows of notices held back (or of alerts
/// nobody could be told about).
#[derive(Default)]
pub struct Decided {
    pub sends: Vec<Send>,
    pub held: Vec<AlertEvent>,
}

/// The `alert_events` row an alert's events of a round start from.
pub fn base_event(
    entry: &RuleEntry,
    scope_key: &str,
    state: &AlertState,
    obs: &Observation,
    now: DateTime<Utc>,
    alerter: &str,
) -> AlertEvent {
    let (value, detail) = match obs {
        Observation::Value(v) => (*v, String::new()),
        Observation::Error(e) => (0.0, e.clone()),
        Observation::NoData => (0.0, String::new()),
    };
    AlertEvent {
        ts_us: now.timestamp_micros(),
        rule_id: entry.id.clone(),
        rule_version: entry.version,
        scope_key: scope_key.to_string(),
        event: String::new(),
        phase: state.phase.name().as_str().into(),
        severity: entry.spec.severity.as_str().into(),
        value,
        threshold: entry.spec.threshold,
        channel: String::new(),
        recipient: String::new(),
        notification_id: Uuid::nil(),
        attempt: 0,
        result: String::new(),
        detail,
        alerter: alerter.to_string(),
    }
}

/// A notice of an alert alone (no policy takes it, or a mute held back what its own `step`
/// decided): one send per recipient of `recipients` (the rule's, or its policy's), or — when
/// `held` says why — one `suppressed` row per recipient. `base` is the alert's row of the round.
#[allow(clippy::too_many_arguments)]
pub fn alone(
    ctx: &Ctx<'_>,
    entry: &RuleEntry,
    key: &ScopeKey,
    value: Option<f64>,
    kind: NoticeKind,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    recipients: &Recipients,
    held: Option<String>,
    base: &AlertEvent,
) -> Decided {
    let mut out = Decided::default();
    let to_all = dispatch::resolve(recipients, &ctx.sources.directory, &ctx.sources.channels);
    if to_all.is_empty() {
        let mut e = base.clone();
        e.event = "notify".into();
        e.result = if held.is_some() {
            "suppressed"
        } else {
            "failed"
        }
        .into();
        e.detail = "the rule has no recipients".into();
        out.held.push(e);
    }
    let n = alert_notice(
        &entry.id,
        &entry.spec,
        key,
        value,
        kind,
        since,
        now,
        &ctx.site,
    );
    let lone = lone_notice(entry, key, value, kind, since, now, &n, &ctx.site);
    let slot = dispatch::repeat_slot(kind, since, now, entry.spec.repeat_secs);
    for to in to_all {
        let id = dispatch::notification_id(&entry.id, key, since, kind, slot, &to);
        let mut event = base.clone();
        event.event = "notify".into();
        event.channel = to.channel().into();
        event.recipient = to.address().into();
        event.notification_id = id;
        event.detail = format!("{}: {}", kind.as_str(), event.detail)
            .trim_end_matches(": ")
            .to_string();
        match &held {
            Some(why) => {
                event.result = "suppressed".into();
                event.detail = why.clone();
                out.held.push(event);
            }
            None => out.sends.push(Send {
                events: vec![event],
                msg: group_outgoing(lone.clone(), &n.vars, id),
                to,
            }),
        }
    }
    out
}

/// What a group message needs to know of an alert this round (by fingerprint).
pub struct AlertNow {
    pub value: Option<f64>,
    pub state: AlertState,
    pub obs: Observation,
}

/// The sends of one group message (policy `gk.0`, group key `gk.1`): one per recipient,
/// listing the alerts addressed to it, firing first then resolved, each in rule then scope
/// key order. A repeat leaves acknowledged alerts out (`held`, `acknowledged by …`) and is
/// not sent to a recipient left with nothing. Every send is recorded under each alert it
/// lists, all rows with the message's id and `group <group key>` in `detail`.
#[allow(clippy::too_many_arguments)]
pub fn group_message(
    ctx: &Ctx<'_>,
    gk: &(String, String),
    policy: &NotificationPolicySpec,
    group_since: DateTime<Utc>,
    msg: &GroupMessage,
    current: &BTreeMap<String, Member>,
    seen: &HashMap<String, AlertNow>,
    now: DateTime<Utc>,
) -> Decided {
    let mut firing: Vec<&Member> = msg.firing.iter().filter_map(|fp| current.get(fp)).collect();
    firing.sort_by(|a, b| (&a.rule_id, &a.scope_key).cmp(&(&b.rule_id, &b.scope_key)));
    let mut resolved: Vec<&Member> = msg.resolved.iter().collect();
    resolved.sort_by(|a, b| (&a.rule_id, &a.scope_key).cmp(&(&b.rule_id, &b.scope_key)));
    let listed = firing
        .into_iter()
        .map(|m| (m, false))
        .chain(resolved.into_iter().map(|m| (m, true)));

    struct Row {
        alert: NoticeAlert,
        event: AlertEvent,
        vars: BTreeMap<String, String>,
        recipients: Vec<Recipient>,
        acked: Option<String>,
    }
    let mut rows: Vec<Row> = Vec::new();
    for (m, is_resolved) in listed {
        let Some(entry) = ctx.sources.rule(&m.rule_id) else {
            continue;
        };
        let key = crate::lease::parse_key(&m.scope_key);
        let fp = fingerprint(&entry.id, &m.scope_key);
        let blank = AlertNow {
            value: None,
            state: AlertState::default(),
            obs: Observation::NoData,
        };
        let now_of = seen.get(&fp).unwrap_or(&blank);
        let kind = if is_resolved {
            NoticeKind::Resolved
        } else {
            msg.kind
        };
        let n = alert_notice(
            &entry.id,
            &entry.spec,
            &key,
            now_of.value,
            kind,
            m.since,
            now,
            &ctx.site,
        );
        let acked = (msg.kind == NoticeKind::Repeat && !is_resolved)
            .then(|| mute::ack_for(ctx.acks, &m.rule_id, &m.scope_key, m.since, now))
            .flatten()
            .map(mute::ack_reason);
        let mut event = base_event(
            entry,
            &m.scope_key,
            &now_of.state,
            &now_of.obs,
            now,
            ctx.alerter,
        );
        event.event = "notify".into();
        event.detail = format!("{}: group {}", msg.kind.as_str(), gk.1);
        rows.push(Row {
            alert: NoticeAlert {
                rule_id: entry.id.clone(),
                rule_name: entry.spec.name.clone(),
                labels: alert_labels(entry, &key, ctx.site.node_groups),
                status: if is_resolved {
                    NoticeKind::Resolved
                } else {
                    NoticeKind::Firing
                },
                severity: entry.spec.severity,
                value: now_of.value,
                threshold: entry.spec.threshold,
                unit: entry.spec.kind.unit().to_string(),
                started_at: m.since,
                ended_at: is_resolved.then_some(now),
                subject: n.subject,
                text: n.text,
                fingerprint: fp,
                ack_url: ack_url(ctx.site.link_base, &entry.id, &m.scope_key, m.since),
            },
            event,
            vars: n.vars,
            recipients: dispatch::resolve(
                &entry.spec.recipients,
                &ctx.sources.directory,
                &ctx.sources.channels,
            ),
            acked,
        });
    }
    let policy_recipients = policy
        .recipients
        .as_ref()
        .map(|r| dispatch::resolve(r, &ctx.sources.directory, &ctx.sources.channels));
    let per_alert: Vec<Vec<Recipient>> = rows.iter().map(|r| r.recipients.clone()).collect();
    let lang = rows
        .first()
        .and_then(|r| ctx.sources.rule(&r.alert.rule_id))
        .map_or(ctx.site.lang, |r| r.spec.lang(ctx.site.lang));
    let group_labels = rows
        .first()
        .map(|r| group::group_of(&gk.0, policy, &r.alert.labels).1)
        .unwrap_or_default();
    let mut out = Decided::default();
    for (to, idx) in addressed(policy_recipients.as_deref(), &per_alert) {
        let id = group_notification_id(&gk.0, &gk.1, group_since, msg.seq, msg.kind, &to);
        let mut alerts = Vec::new();
        let mut events = Vec::new();
        let mut first_vars = None;
        for i in idx {
            let r = &rows[i];
            let mut e = r.event.clone();
            e.channel = to.channel().into();
            e.recipient = to.address().into();
            e.notification_id = id;
            match &r.acked {
                Some(why) => {
                    e.result = "suppressed".into();
                    e.detail = why.clone();
                    out.held.push(e);
                }
                None => {
                    first_vars.get_or_insert_with(|| r.vars.clone());
                    alerts.push(r.alert.clone());
                    events.push(e);
                }
            }
        }
        if alerts.is_empty() {
            continue;
        }
        let notice = GroupNotice {
            policy: gk.0.clone(),
            group_key: gk.1.clone(),
            group_labels: group_labels.clone(),
            common_labels: common_labels(&alerts),
            kind: msg.kind,
            alerts,
            lang,
            link: ctx.site.link_base.to_string(),
            at: now,
        };
        out.sends.push(Send {
            events,
            msg: group_outgoing(notice, &first_vars.unwrap_or_default(), id),
            to,
        });
    }
    out
}

/// "Channel X keeps failing" (`failing`) or "works again": the `alert_events` row under the
/// rule id `channel:X` (event `firing` / `resolved`), and one send to each of `recipients` on
/// another channel kind (the rule whose notice showed it; `last` is that notice's row).
/// `since` is when the channel was found failing. Each message is a group of one alert
/// (rule id and group key `channel:X`, policy `""`) with the placeholders `rule_id`, `rule`,
/// `status`, `severity` (the rule's) and `scope` (`X`), so a receiver ties the "works again"
/// to its "keeps failing" (PagerDuty: one dedup key, trigger then resolve).
pub fn channel_health(
    channel: &'static str,
    failing: bool,
    last: &AlertEvent,
    recipients: Vec<Recipient>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    link_base: &str,
) -> (AlertEvent, Vec<Send>) {
    let n = crate::engine::CHANNEL_FAILURES_TO_ALERT;
    let (subject, text) = if failing {
        (
            format!("[gatewatch] {channel} notices keep failing"),
            format!(
                "{n} {channel} notices in a row failed; the last, to {} for rule {}: {}",
                last.recipient, last.rule_id, last.detail
            ),
        )
    } else {
        (
            format!("[gatewatch] {channel} notices work again"),
            format!("a {channel} notice went out again (to {})", last.recipient),
        )
    };
    let rule_id = format!("channel:{channel}");
    let mut base = last.clone();
    base.ts_us = now.timestamp_micros();
    base.rule_id = rule_id.clone();
    base.rule_version = 0;
    base.scope_key = String::new();
    base.event = if failing { "firing" } else { "resolved" }.into();
    base.phase = if failing { "firing" } else { "ok" }.into();
    base.value = 0.0;
    base.threshold = f64::from(n);
    base.channel = channel.into();
    base.recipient = String::new();
    base.notification_id = Uuid::nil();
    base.attempt = 0;
    base.result = String::new();
    base.detail = text.clone();

    let kind = if failing {
        NoticeKind::Firing
    } else {
        NoticeKind::Resolved
    };
    let severity = match last.severity.as_str() {
        "critical" => Severity::Critical,
        _ => Severity::Warning,
    };
    let name = format!("{channel} notices");
    let labels: BTreeMap<String, String> = [
        ("alertname", name.clone()),
        ("rule", rule_id.clone()),
        ("severity", severity.as_str().to_string()),
        ("kind", "channel".to_string()),
        ("channel", channel.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let notice = GroupNotice {
        policy: String::new(),
        group_key: rule_id.clone(),
        group_labels: [("channel".to_string(), channel.to_string())].into(),
        common_labels: labels.clone(),
        kind,
        alerts: vec![NoticeAlert {
            rule_id: rule_id.clone(),
            rule_name: name.clone(),
            labels,
            status: kind,
            severity,
            value: None,
            threshold: f64::from(n),
            unit: String::new(),
            started_at: since,
            ended_at: (!failing).then_some(now),
            subject,
            text,
            fingerprint: fingerprint(&rule_id, ""),
            ack_url: String::new(),
        }],
        lang: Lang::En,
        link: link_base.to_string(),
        at: now,
    };
    let vars: BTreeMap<String, String> = [
        ("rule_id", rule_id.clone()),
        ("rule", name),
        ("scope", channel.to_string()),
        ("severity", severity.as_str().to_string()),
        ("threshold", n.to_string()),
        ("started_at", since.to_rfc3339()),
        ("link", link_base.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let sends = recipients
        .into_iter()
        .filter(|to| to.channel() != channel)
        .map(|to| {
            // Each raise or recovery is its own notice: fresh ids, nothing to deduplicate
            // (the receivers' dedup key comes from the group key, the same for both).
            let id = Uuid::new_v4();
            let mut event = base.clone();
            event.event = "notify".into();
            event.channel = to.channel().into();
            event.recipient = to.address().into();
            event.notification_id = id;
            Send {
                events: vec![event],
                msg: group_outgoing(notice.clone(), &vars, id),
                to,
            }
        })
        .collect();
    (base, sends)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::notification_id;
    use gatewatch_model::alert::RuleKind;

    #[test]
    fn fingerprints_are_16_hex_and_stable() {
        let a = fingerprint("cpu", "node=gw1");
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, fingerprint("cpu", "node=gw1"));
        assert_ne!(a, fingerprint("cpu", "node=gw2"));
    }

    #[test]
    fn ack_urls_follow_the_agreed_shape() {
        let since: DateTime<Utc> = "2026-12-07T10:00:00Z".parse().unwrap();
        assert_eq!(
            ack_url("http://dash:8090/", "cpu", "node=gw 1,mount=/var", since),
            "http://dash:8090/#/alerts/ack?rule=cpu&key=node%3Dgw%201%2Cmount%3D%2Fvar&episode=1796637600000000"
        );
        assert_eq!(ack_url("", "cpu", "", since), "");
    }

    #[test]
    fn group_ids_tell_messages_and_recipients_apart_and_repeat_for_the_same() {
        let since: DateTime<Utc> = "2026-12-07T10:00:00Z".parse().unwrap();
        let to = Recipient::Email("ops@a.tw".into());
        let id = |seq, kind, to: &Recipient| {
            group_notification_id("p", "p:{node=\"gw1\"}", since, seq, kind, to)
        };
        let a = id(0, NoticeKind::Firing, &to);
        assert_eq!(a, id(0, NoticeKind::Firing, &to));
        assert_ne!(a, id(1, NoticeKind::Firing, &to));
        assert_ne!(a, id(0, NoticeKind::Firing, &Recipient::Line("U1".into())));
        let later = group_notification_id(
            "p",
            "p:{node=\"gw1\"}",
            since + chrono::Duration::seconds(1),
            0,
            NoticeKind::Firing,
            &to,
        );
        assert_ne!(a, later, "a new life of the group");
        assert_ne!(
            a,
            notification_id("p", &ScopeKey::default(), since, NoticeKind::Firing, 0, &to)
        );
    }

    #[test]
    fn each_recipient_gets_the_alerts_addressed_to_it() {
        let (ops, dev, line) = (
            Recipient::Email("ops@a.tw".into()),
            Recipient::Email("dev@a.tw".into()),
            Recipient::Line("U1".into()),
        );
        let per = vec![
            vec![ops.clone(), line.clone()],
            vec![ops.clone(), dev.clone()],
            vec![],
        ];
        assert_eq!(
            addressed(None, &per),
            vec![
                (ops.clone(), vec![0, 1]),
                (line.clone(), vec![0]),
                (dev, vec![1])
            ]
        );
        let policy = [line.clone()];
        assert_eq!(addressed(Some(&policy), &per), vec![(line, vec![0, 1, 2])]);
    }

    #[test]
    fn an_alert_notice_renders_the_rule_template_and_placeholders() {
        let mut spec = AlertRuleSpec::new("CPU high", RuleKind::NodeCpu {}, 90.0);
        spec.language = Some(Lang::En);
        let since: DateTime<Utc> = "2026-12-07T10:00:00Z".parse().unwrap();
        let site = Site {
            tz: chrono_tz::UTC,
            lang: Lang::ZhTw,
            link_base: "http://d",
            node_groups: &std::collections::HashMap::new(),
        };
        let n = alert_notice(
            "cpu",
            &spec,
            &ScopeKey::node("gw1"),
            Some(95.0),
            NoticeKind::Firing,
            since,
            since,
            &site,
        );
        assert!(n.subject.contains("CPU high"), "{}", n.subject);
        assert_eq!(n.vars["rule_id"], "cpu");
        assert_eq!(n.vars["state"], "firing");
        assert_eq!(n.lang, Lang::En);

        // Alone (no policy takes it): a group of one, keyed by rule and scope, with the ack
        // link under the rule's own text while it fires.
        let entry = RuleEntry {
            id: "cpu".into(),
            version: 1,
            spec: spec.clone(),
        };
        let key = ScopeKey::node("gw1");
        let lone = lone_notice(
            &entry,
            &key,
            Some(95.0),
            NoticeKind::Firing,
            since,
            since,
            &n,
            &site,
        );
        let o = group_outgoing(lone, &n.vars, Uuid::nil());
        let g = o.group.as_ref().unwrap();
        assert_eq!(
            (g.policy.as_str(), g.group_key.as_str(), g.alerts.len()),
            ("", "rule:cpu/node=gw1", 1)
        );
        assert_eq!(g.alerts[0].fingerprint, fingerprint("cpu", "node=gw1"));
        assert_eq!(o.subject, n.subject);
        let ack = ack_url("http://d", "cpu", "node=gw1", since);
        assert_eq!(o.text, format!("{}\nAcknowledge: {ack}", n.text));
        assert_eq!(o.vars["notification_id"], Uuid::nil().to_string());
        assert!(
            !o.vars.contains_key("alerts"),
            "alerts_count is the group's count"
        );
        // Resolved: no ack link; without a link base: none either.
        let resolved = lone_notice(
            &entry,
            &key,
            None,
            NoticeKind::Resolved,
            since,
            since,
            &n,
            &site,
        );
        assert_eq!(render_group(&resolved).1, n.text);
        let bare = Site {
            link_base: "",
            ..site
        };
        let firing = lone_notice(
            &entry,
            &key,
            None,
            NoticeKind::Firing,
            since,
            since,
            &n,
            &bare,
        );
        assert_eq!(render_group(&firing).1, n.text);
    }

    #[test]
    fn an_alone_notice_keeps_its_notification_ids() {
        let src = sources();
        let entry = src.rule("cpu").unwrap();
        let since: DateTime<Utc> = "2026-12-07T10:00:00Z".parse().unwrap();
        let ctx = Ctx {
            sources: &src,
            acks: &[],
            site: Site {
                tz: chrono_tz::UTC,
                lang: Lang::ZhTw,
                link_base: "http://d",
                node_groups: &std::collections::HashMap::new(),
            },
            alerter: "a",
        };
        let key = ScopeKey::node("gw1");
        let st = AlertState::default();
        let base = base_event(
            entry,
            "node=gw1",
            &st,
            &Observation::Value(95.0),
            since,
            "a",
        );
        let d = alone(
            &ctx,
            entry,
            &key,
            Some(95.0),
            NoticeKind::Firing,
            since,
            since,
            &entry.spec.recipients,
            None,
            &base,
        );
        assert_eq!(d.sends.len(), 2);
        for s in &d.sends {
            // As before lone alerts carried their group: ids sent before an upgrade are known.
            let id = notification_id("cpu", &key, since, NoticeKind::Firing, 0, &s.to);
            assert_eq!(
                (s.msg.notification_id, s.events[0].notification_id),
                (id, id)
            );
            assert_eq!(s.msg.dedup_key, id.to_string());
            assert!(s.msg.group.is_some());
        }
    }

    #[test]
    fn channel_health_notices_are_one_alert_whose_trigger_and_resolve_share_a_key() {
        let since: DateTime<Utc> = "2026-12-07T10:00:00Z".parse().unwrap();
        let later = since + chrono::Duration::minutes(3);
        let mut last = base_event(
            sources().rule("cpu").unwrap(),
            "node=gw1",
            &AlertState::default(),
            &Observation::Value(95.0),
            since,
            "a",
        );
        last.recipient = "ops@a.tw".into();
        last.detail = "535 bad login".into();
        let to = vec![
            Recipient::Email("ops@a.tw".into()),
            Recipient::Line("U1".into()),
        ];
        let (raised, up) =
            channel_health("email", true, &last, to.clone(), since, since, "http://d");
        let (cleared, down) = channel_health("email", false, &last, to, since, later, "http://d");
        assert_eq!(
            (raised.rule_id.as_str(), raised.event.as_str()),
            ("channel:email", "firing")
        );
        assert_eq!(cleared.event, "resolved");
        assert_eq!((up.len(), down.len()), (1, 1), "only on the other kinds");
        let (a, b) = (&up[0].msg, &down[0].msg);
        let (ga, gb) = (a.group.as_ref().unwrap(), b.group.as_ref().unwrap());
        assert_eq!(
            (ga.group_key.as_str(), gb.group_key.as_str()),
            ("channel:email", "channel:email")
        );
        assert_eq!(
            (ga.kind, gb.kind),
            (NoticeKind::Firing, NoticeKind::Resolved)
        );
        assert_eq!(gb.alerts[0].ended_at, Some(later));
        assert_eq!(gb.alerts[0].started_at, since);
        for (m, status) in [(a, "firing"), (b, "resolved")] {
            assert_eq!(m.vars["rule_id"], "channel:email");
            assert_eq!(m.vars["status"], status);
            assert_eq!(m.vars["severity"], "warning");
            assert_eq!(m.vars["scope"], "email");
        }
        assert!(a.text.contains("535 bad login"), "{}", a.text);
    }

    fn sources() -> Sources {
        let rule = |name: &str, emails: &[&str]| {
            let mut r = AlertRuleSpec::new(name, RuleKind::NodeCpu {}, 90.0);
            r.language = Some(Lang::En);
            r.recipients.emails = emails.iter().map(|e| e.to_string()).collect();
            r
        };
        Sources {
            rules: vec![
                RuleEntry {
                    id: "cpu".into(),
                    version: 1,
                    spec: rule("CPU", &["ops@a.tw", "dev@a.tw"]),
                },
                RuleEntry {
                    id: "mem".into(),
                    version: 1,
                    spec: rule("Memory", &["ops@a.tw"]),
                },
            ],
            ..Sources::default()
        }
    }

    fn member(rule: &str, node: &str, since: DateTime<Utc>) -> (String, Member) {
        let key = format!("node={node}");
        (
            fingerprint(rule, &key),
            Member {
                rule_id: rule.into(),
                scope_key: key,
                since,
            },
        )
    }

    #[test]
    fn a_group_message_lists_each_recipients_alerts_and_leaves_acked_ones_out_of_repeats() {
        use gatewatch_store::acks::AckAction;
        let src = sources();
        let since: DateTime<Utc> = "2026-12-07T10:00:00Z".parse().unwrap();
        let now = since + chrono::Duration::minutes(5);
        let current: BTreeMap<String, Member> = [
            member("mem", "gw1", since),
            member("cpu", "gw2", since),
            member("cpu", "gw1", since),
        ]
        .into();
        let policy: NotificationPolicySpec =
            serde_json::from_value(serde_json::json!({"name": "p"})).unwrap();
        let gk = ("p".to_string(), "p:{}".to_string());
        let msg = GroupMessage {
            kind: NoticeKind::Firing,
            firing: current.keys().cloned().collect(),
            resolved: vec![member("cpu", "gw9", since).1],
            seq: 0,
        };
        let ctx = Ctx {
            sources: &src,
            acks: &[],
            site: Site {
                tz: chrono_tz::UTC,
                lang: Lang::ZhTw,
                link_base: "http://d",
                node_groups: &std::collections::HashMap::new(),
            },
            alerter: "a",
        };
        let d = group_message(
            &ctx,
            &gk,
            &policy,
            since,
            &msg,
            &current,
            &HashMap::new(),
            now,
        );
        assert!(d.held.is_empty());
        let by: Vec<(&str, Vec<String>)> = d
            .sends
            .iter()
            .map(|s| {
                let g = s.msg.group.as_ref().unwrap();
                (
                    s.to.address(),
                    g.alerts
                        .iter()
                        .map(|a| {
                            format!("{}/{}/{}", a.rule_id, a.labels["node"], a.status.as_str())
                        })
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            by,
            vec![
                (
                    "dev@a.tw",
                    vec![
                        "cpu/gw1/firing".to_string(),
                        "cpu/gw2/firing".into(),
                        "cpu/gw9/resolved".into()
                    ]
                ),
                (
                    "ops@a.tw",
                    vec![
                        "cpu/gw1/firing".to_string(),
                        "cpu/gw2/firing".into(),
                        "mem/gw1/firing".into(),
                        "cpu/gw9/resolved".into()
                    ]
                ),
            ]
        );
        let ops = &d.sends[1];
        assert_eq!(ops.events.len(), 4, "one row per alert listed");
        assert!(ops
            .events
            .iter()
            .all(|e| e.notification_id == ops.msg.notification_id
                && e.recipient == "ops@a.tw"
                && e.detail == "firing: group p:{}"));
        let g = ops.msg.group.as_ref().unwrap();
        assert_eq!(
            (
                g.lang,
                g.kind,
                g.common_labels.get("kind").map(String::as_str)
            ),
            (Lang::En, NoticeKind::Firing, Some("node_cpu"))
        );
        assert_eq!(ops.msg.subject, render_group(g).0);

        // A repeat: the acked alert is left out and recorded; a recipient left with nothing
        // gets no message.
        let ack = Ack {
            ts_us: now.timestamp_micros(),
            rule_id: "mem".into(),
            scope_key: "node=gw1".into(),
            episode_us: since.timestamp_micros(),
            action: AckAction::Ack,
            by: "olive".into(),
            until_us: 0,
            comment: String::new(),
        };
        let only_mem: BTreeMap<String, Member> = [member("mem", "gw1", since)].into();
        let repeat = GroupMessage {
            kind: NoticeKind::Repeat,
            firing: only_mem.keys().cloned().collect(),
            resolved: vec![],
            seq: 1,
        };
        let acks = [ack];
        let ctx = Ctx { acks: &acks, ..ctx };
        let d = group_message(
            &ctx,
            &gk,
            &policy,
            since,
            &repeat,
            &only_mem,
            &HashMap::new(),
            now,
        );
        assert!(d.sends.is_empty());
        assert_eq!(d.held.len(), 1);
        assert_eq!(
            (d.held[0].result.as_str(), d.held[0].detail.as_str()),
            ("suppressed", "acknowledged by olive")
        );
    }
}
