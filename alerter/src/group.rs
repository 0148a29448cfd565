//! The **group** stage: which notification policy takes an alert ([`route`]), the group it
//! joins ([`group_of`]), and when a group sends what ([`group_step`]) — Alertmanager's
//! `group_by`, `group_wait`, `group_interval`, `repeat_interval`. Pure decisions, tested alone.
//!
//! A group's state ([`GroupState`]) is kept per (policy id, group key) and saved in
//! `alert_state` under the rule id `group:<policy id>` and the group key as scope key, so a
//! restart or a change of alerter goes on where it was (no second first message).
//!
//! The rules, per round:
//! - a group begins when an alert the policy takes is firing and released (its own `step`
//!   decided to notify, no window, silence or inhibit rule holding it); its first message goes
//!   out `group_wait` after that;
//! - after a message, one about what changed (alerts added, or resolved when `send_resolved`)
//!   no sooner than `group_interval` after it; resolved alerts are listed once, as resolved;
//! - an unchanged group again every `repeat_interval` (0: never);
//! - when every alert has left, a resolved message (`send_resolved`, no sooner than
//!   `group_interval` after the last) and the group ends; a group that ends before its first
//!   message sends nothing.

use chrono::{DateTime, Utc};
use gatewatch_model::alert::route::all_match;
use gatewatch_model::alert::{NoticeKind, NotificationPolicySpec};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The `alert_state.rule_id` prefix of group states.
pub const STATE_PREFIX: &str = "group:";

/// The enabled policies that take an alert with `labels`, in order (`order`, then id): the
/// first whose matchers all hold, and after it the next ones while each taking policy has
/// `continue`. Empty: no policy takes it (it is notified alone, as before policies).
pub fn route<'a>(
    policies: &'a BTreeMap<String, NotificationPolicySpec>,
    labels: &BTreeMap<String, String>,
) -> Vec<&'a str> {
    let mut ordered: Vec<(&String, &NotificationPolicySpec)> =
        policies.iter().filter(|(_, p)| p.enabled).collect();
    ordered.sort_by_key(|(id, p)| (p.order, *id));
    let mut out = Vec::new();
    for (id, p) in ordered {
        if all_match(&p.matchers, labels) {
            out.push(id.as_str());
            if !p.continue_matching {
                break;
            }
        }
    }
    out
}

/// The group an alert joins under policy `policy_id`: its key and the group-by labels with
/// their values. The key is `<policy id>:{label="value",…}` (Alertmanager's `groupKey`
/// shape); `group_by: ["..."]` uses every label, so each alert is its own group; empty
/// `group_by` puts every alert of the policy in one group (`<policy id>:{}`).
pub fn group_of(
    policy_id: &str,
    policy: &NotificationPolicySpec,
    labels: &BTreeMap<String, String>,
) -> (String, BTreeMap<String, String>) {
    let picked: BTreeMap<String, String> = if policy.groups_by_all() {
        labels.clone()
    } else {
        policy
            .group_by
            .iter()
            .map(|l| (l.clone(), labels.get(l).cloned().unwrap_or_default()))
            .collect()
    };
    let inner: Vec<String> = picked
        .iter()
        .map(|(k, v)| format!("{k}={}", serde_json::Value::String(v.clone())))
        .collect();
    (format!("{policy_id}:{{{}}}", inner.join(",")), picked)
}

/// One alert as a group remembers it (what its last message listed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub rule_id: String,
    pub scope_key: String,
    /// The episode's start.
    pub since: DateTime<Utc>,
}

/// A group's state between rounds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupState {
    /// When the group began (its first alert seen); `None`: no group now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// When its last message went out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sent: Option<DateTime<Utc>>,
    /// Messages sent in this group's life (tells them apart in notification ids).
    #[serde(default)]
    pub seq: u64,
    /// The firing alerts its last message listed, by fingerprint.
    #[serde(default)]
    pub sent: BTreeMap<String, Member>,
}

/// A message a group sends this round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMessage {
    pub kind: NoticeKind,
    /// Fingerprints of the firing alerts it lists.
    pub firing: Vec<String>,
    /// Alerts it lists as resolved (listed by the last message, firing no more).
    pub resolved: Vec<Member>,
    /// The message's number in the group's life (0 for the first).
    pub seq: u64,
}

fn elapsed(since: DateTime<Utc>, now: DateTime<Utc>, secs: u64) -> bool {
    (now - since).num_milliseconds() >= i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// One round of a group: `current` are its firing, released alerts now (fingerprint →
/// member); `muted` the fingerprints of its alerts that still fire but a window, silence or
/// inhibit rule holds back now: they are not listed, and their leaving is not news (not
/// "resolved"; back, they are not "added"). Returns the new state and the message to send,
/// if one is due. Pure.
pub fn group_step(
    st: &GroupState,
    current: &BTreeMap<String, Member>,
    muted: &BTreeSet<String>,
    p: &NotificationPolicySpec,
    now: DateTime<Utc>,
) -> (GroupState, Option<GroupMessage>) {
    // Alerts of the last message that fire on, muted.
    let kept: BTreeMap<String, Member> = st
        .sent
        .iter()
        .filter(|(k, _)| muted.contains(*k) && !current.contains_key(*k))
        .map(|(k, m)| (k.clone(), m.clone()))
        .collect();
    let with_kept = || {
        let mut all = current.clone();
        all.extend(kept.clone());
        all
    };
    let mut next = st.clone();
    let since = match st.since {
        Some(s) => s,
        None if current.is_empty() => return (GroupState::default(), None),
        None => {
            next = GroupState {
                since: Some(now),
                ..GroupState::default()
            };
            now
        }
    };
    let send = |next: &mut GroupState, kind: NoticeKind, resolved: Vec<Member>| {
        let msg = GroupMessage {
            kind,
            firing: current.keys().cloned().collect(),
            resolved,
            seq: next.seq,
        };
        next.seq += 1;
        next.last_sent = Some(now);
        next.sent = with_kept();
        Some(msg)
    };
    let Some(last) = st.last_sent else {
        if current.is_empty() {
            // Every alert left before the first message: nobody heard of the group.
            return (GroupState::default(), None);
        }
        if elapsed(since, now, p.group_wait_secs) {
            let m = send(&mut next, NoticeKind::Firing, Vec::new());
            return (next, m);
        }
        return (next, None);
    };
    let added = current.keys().any(|k| !st.sent.contains_key(k));
    let gone: Vec<Member> = st
        .sent
        .iter()
        .filter(|(k, _)| !current.contains_key(*k) && !kept.contains_key(*k))
        .map(|(_, m)| m.clone())
        .collect();
    let interval_passed = elapsed(last, now, p.group_interval_secs);
    if current.is_empty() && !kept.is_empty() {
        // Every alert left is muted: nothing to say, and the group is not over.
        return (next, None);
    }
    if current.is_empty() {
        if !interval_passed {
            return (next, None);
        }
        if p.send_resolved {
            let m = send(&mut next, NoticeKind::Resolved, gone);
            // The group ends with its resolved message; its seq stays in the message id.
            return (GroupState::default(), m);
        }
        return (GroupState::default(), None);
    }
    if added || (p.send_resolved && !gone.is_empty()) {
        if interval_passed {
            let resolved = if p.send_resolved { gone } else { Vec::new() };
            let m = send(&mut next, NoticeKind::Firing, resolved);
            return (next, m);
        }
        return (next, None);
    }
    if !gone.is_empty() {
        // Resolved alerts nobody is told about: forget them quietly.
        next.sent = with_kept();
        return (next, None);
    }
    if p.repeat_interval_secs > 0 && elapsed(last, now, p.repeat_interval_secs) {
        let m = send(&mut next, NoticeKind::Repeat, Vec::new());
        return (next, m);
    }
    (next, None)
}

/// When a group next has something to decide (for the engine's wake-up): the end of
/// `group_wait`, of `group_interval` after a change, or of `repeat_interval`.
pub fn next_due(
    st: &GroupState,
    current: &BTreeSet<String>,
    p: &NotificationPolicySpec,
) -> Option<DateTime<Utc>> {
    let secs = |s: u64| chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 2_000));
    let since = st.since?;
    let Some(last) = st.last_sent else {
        return Some(since + secs(p.group_wait_secs));
    };
    let changed =
        current.len() != st.sent.len() || current.iter().any(|k| !st.sent.contains_key(k));
    if changed {
        Some(last + secs(p.group_interval_secs))
    } else if p.repeat_interval_secs > 0 {
        Some(last + secs(p.repeat_interval_secs))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: BTreeSet<String> = BTreeSet::new();

    fn policy(json: serde_json::Value) -> NotificationPolicySpec {
        serde_json::from_value(json).unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + secs, 0).unwrap()
    }

    fn members(names: &[&str]) -> BTreeMap<String, Member> {
        names
            .iter()
            .map(|n| {
                (
                    n.to_string(),
                    Member {
                        rule_id: "cpu".into(),
                        scope_key: format!("node={n}"),
                        since: at(0),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn the_first_matching_policy_takes_an_alert_and_continue_passes_it_on() {
        let ps: BTreeMap<String, NotificationPolicySpec> = [
            ("a-cpu".to_string(), policy(serde_json::json!({"name":"cpu","order":1,"matchers":["kind=node_cpu"]}))),
            ("b-crit".to_string(), policy(serde_json::json!({"name":"crit","order":0,"matchers":["severity=critical"],"continue":true}))),
            ("c-all".to_string(), policy(serde_json::json!({"name":"all","order":2}))),
            ("d-off".to_string(), policy(serde_json::json!({"name":"off","order":-1,"enabled":false}))),
        ]
        .into();
        let cpu_crit = labels(&[("kind", "node_cpu"), ("severity", "critical")]);
        let cpu_warn = labels(&[("kind", "node_cpu"), ("severity", "warning")]);
        let disk = labels(&[("kind", "disk"), ("severity", "warning")]);
        assert_eq!(route(&ps, &cpu_crit), ["b-crit", "a-cpu"]);
        assert_eq!(route(&ps, &cpu_warn), ["a-cpu"]);
        assert_eq!(route(&ps, &disk), ["c-all"]);
        let none: BTreeMap<String, NotificationPolicySpec> = [(
            "x".to_string(),
            policy(serde_json::json!({"name":"x","matchers":["kind=disk"]})),
        )]
        .into();
        assert!(
            route(&none, &cpu_warn).is_empty(),
            "no policy: alone, as before"
        );
    }

    #[test]
    fn group_keys_hold_the_policy_and_the_group_by_values() {
        let l = labels(&[
            ("alertname", "CPU"),
            ("node", "gw1"),
            ("severity", "warning"),
        ]);
        let by_node = policy(serde_json::json!({"name":"n","group_by":["node"]}));
        assert_eq!(group_of("p1", &by_node, &l).0, "p1:{node=\"gw1\"}");
        let by_api = policy(serde_json::json!({"name":"n","group_by":["api","node"]}));
        let (key, gl) = group_of("p1", &by_api, &l);
        assert_eq!(key, "p1:{api=\"\",node=\"gw1\"}");
        assert_eq!(gl, labels(&[("api", ""), ("node", "gw1")]));
        let one = policy(serde_json::json!({"name":"n"}));
        assert_eq!(group_of("p1", &one, &l).0, "p1:{}");
        let all = policy(serde_json::json!({"name":"n","group_by":["..."]}));
        assert_eq!(
            group_of("p1", &all, &l).0,
            "p1:{alertname=\"CPU\",node=\"gw1\",severity=\"warning\"}"
        );
        let quoted = labels(&[("node", "a\",b=\"c")]);
        assert_ne!(
            group_of("p1", &by_node, &quoted).0,
            "p1:{node=\"a\",b=\"c\"}",
            "values are escaped"
        );
    }

    #[test]
    fn a_group_waits_then_paces_changes_repeats_and_resolves() {
        let p = policy(
            serde_json::json!({"name":"n","group_wait_secs":30,"group_interval_secs":300,"repeat_interval_secs":3600}),
        );
        let none = BTreeMap::new();
        let (st, m) = group_step(&GroupState::default(), &none, &NONE, &p, at(0));
        assert_eq!(
            (st.clone(), m),
            (GroupState::default(), None),
            "no alerts, no group"
        );
        let one = members(&["gw1"]);
        let (st, m) = group_step(&st, &one, &NONE, &p, at(0));
        assert_eq!((st.since, m), (Some(at(0)), None), "waits group_wait");
        let two = members(&["gw1", "gw2"]);
        let (st, m) = group_step(&st, &two, &NONE, &p, at(29));
        assert_eq!(m, None);
        let (st, m) = group_step(&st, &two, &NONE, &p, at(30));
        let m = m.expect("first message after group_wait");
        assert_eq!((m.kind, m.firing.len(), m.seq), (NoticeKind::Firing, 2, 0));
        // A third alert: no sooner than group_interval after the first message.
        let three = members(&["gw1", "gw2", "gw3"]);
        let (st, m) = group_step(&st, &three, &NONE, &p, at(100));
        assert_eq!(m, None);
        assert_eq!(
            next_due(&st, &three.keys().cloned().collect(), &p),
            Some(at(330))
        );
        let (st, m) = group_step(&st, &three, &NONE, &p, at(330));
        let m = m.expect("the change");
        assert_eq!((m.kind, m.firing.len(), m.seq), (NoticeKind::Firing, 3, 1));
        // Unchanged: a repeat after repeat_interval only.
        let (st, m) = group_step(&st, &three, &NONE, &p, at(1000));
        assert_eq!(m, None);
        let (st, m) = group_step(&st, &three, &NONE, &p, at(330 + 3600));
        assert_eq!(m.map(|m| (m.kind, m.seq)), Some((NoticeKind::Repeat, 2)));
        // One resolves: listed as resolved in the next message.
        let (st, m) = group_step(&st, &two, &NONE, &p, at(330 + 3600 + 300));
        let m = m.unwrap();
        assert_eq!((m.kind, m.firing.len()), (NoticeKind::Firing, 2));
        assert_eq!(
            m.resolved
                .iter()
                .map(|r| r.scope_key.as_str())
                .collect::<Vec<_>>(),
            ["node=gw3"]
        );
        // All resolve: a resolved message, and the group ends.
        let t = 330 + 3600 + 300;
        let (st2, m) = group_step(&st, &none, &NONE, &p, at(t + 10));
        assert_eq!(m, None, "group_interval");
        let (st2, m) = group_step(&st2, &none, &NONE, &p, at(t + 300));
        let m = m.unwrap();
        assert_eq!(
            (m.kind, m.resolved.len(), m.seq),
            (NoticeKind::Resolved, 2, 4)
        );
        assert_eq!(st2, GroupState::default());
        // Without send_resolved: it ends quietly, and a resolved alert alone sends nothing.
        let quiet = NotificationPolicySpec {
            send_resolved: false,
            ..p.clone()
        };
        let (st3, m) = group_step(&st, &members(&["gw1"]), &NONE, &quiet, at(t + 600));
        assert_eq!(m, None);
        assert_eq!(st3.sent.len(), 1);
        let (st3, m) = group_step(&st3, &none, &NONE, &quiet, at(t + 900));
        assert_eq!((st3, m), (GroupState::default(), None));
    }

    #[test]
    fn a_group_whose_alerts_leave_before_its_first_message_sends_nothing() {
        let p = policy(serde_json::json!({"name":"n","group_wait_secs":30}));
        let (st, _) = group_step(&GroupState::default(), &members(&["gw1"]), &NONE, &p, at(0));
        let (st, m) = group_step(&st, &BTreeMap::new(), &NONE, &p, at(40));
        assert_eq!((st, m), (GroupState::default(), None));
    }

    #[test]
    fn group_wait_zero_sends_at_once_and_repeat_zero_never_repeats() {
        let p =
            policy(serde_json::json!({"name":"n","group_wait_secs":0,"repeat_interval_secs":0}));
        let one = members(&["gw1"]);
        let (st, m) = group_step(&GroupState::default(), &one, &NONE, &p, at(0));
        assert_eq!(m.map(|m| m.kind), Some(NoticeKind::Firing));
        let (_, m) = group_step(&st, &one, &NONE, &p, at(100_000));
        assert_eq!(m, None);
        assert_eq!(next_due(&st, &one.keys().cloned().collect(), &p), None);
    }

    #[test]
    fn a_muted_alert_leaves_quietly_and_comes_back_unannounced() {
        let p = policy(
            serde_json::json!({"name":"n","group_wait_secs":0,"group_interval_secs":60,"repeat_interval_secs":0}),
        );
        let two = members(&["gw1", "gw2"]);
        let (st, m) = group_step(&GroupState::default(), &two, &NONE, &p, at(0));
        assert!(m.is_some());
        // gw2 is silenced: not resolved, no message.
        let muted: BTreeSet<String> = ["gw2".to_string()].into();
        let one = members(&["gw1"]);
        let (st, m) = group_step(&st, &one, &muted, &p, at(100));
        assert_eq!(m, None);
        assert_eq!(st.sent.len(), 2, "gw2 is kept");
        // Both muted: the group is not over.
        let all: BTreeSet<String> = ["gw1".to_string(), "gw2".to_string()].into();
        let (st, m) = group_step(&st, &BTreeMap::new(), &all, &p, at(200));
        assert_eq!((m, st.since.is_some()), (None, true));
        // Back: not news.
        let (st, m) = group_step(&st, &two, &NONE, &p, at(300));
        assert_eq!((m, st.sent.len()), (None, 2));
    }
}
