//! The **notify** stage's decisions (the sending itself is the engine's I/O): what an alert's
//! notice says ([`AlertNotice`]: the rule's template, the webhook placeholders), who gets it
//! (the rule's or the policy's recipients, [`addressed`]), the deterministic notification ids
//! ([`crate::dispatch::notification_id`] for an alert alone, [`group_notification_id`] for a
//! group's message), and a group's [`GroupNotice`] turned into one [`Outgoing`] per recipient
//! ([`group_outgoing`]). Pure, tested alone.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use gatewatch_model::alert::{
    render_group, render_notice, AlertRuleSpec, GroupNotice, Lang, NoticeAlert, NoticeKind,
    ScopeKey, Vars,
};
use gatewatch_store::alerts::AlertEvent;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

use crate::dispatch::{Outgoing, Recipient};

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

/// The message of an alert alone (no policy takes it) for one recipient; `id` from
/// [`crate::dispatch::notification_id`].
pub fn alone_outgoing(n: &AlertNotice, id: Uuid) -> Outgoing {
    let mut vars = n.vars.clone();
    vars.insert("notification_id".into(), id.to_string());
    Outgoing {
        subject: n.subject.clone(),
        text: n.text.clone(),
        html: None,
        dedup_key: id.to_string(),
        vars,
        notification_id: id,
        group: None,
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
/// with the group's subject, text and kind).
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
        ("group_key", notice.group_key.clone()),
        ("alerts", notice.alerts.len().to_string()),
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
        let id = Uuid::nil();
        let o = alone_outgoing(&n, id);
        assert_eq!(
            (o.group, o.vars["notification_id"].as_str()),
            (None, "00000000-0000-0000-0000-000000000000")
        );
    }
}
