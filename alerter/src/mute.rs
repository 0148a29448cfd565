//! The **mute** stage: which alerts are held back this round, and why. Pure decisions, each
//! tested alone:
//!
//! - [`window_or_silence`]: an exception window of the rule (in its zone, else the site's) or
//!   a matching silence holds every notice of the alert back;
//! - [`inhibited`]: an inhibit rule whose source alert fires mutes the targets with equal
//!   labels (Alertmanager's inhibition); an alert never inhibits itself;
//! - [`ack_for`]: an acknowledgement of the alert's current firing episode stops its repeats
//!   (not its resolved notice; a new episode is not acknowledged).
//!
//! Windows, silences and inhibition feed `model::alert::step`'s `suppressed` (its notices are
//! recorded as `suppressed` with the reason as the detail); an ack turns a repeat `step`
//! decided to send into a `suppressed` record (`acknowledged by <who>`).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use gatewatch_model::alert::route::all_match;
use gatewatch_model::alert::{AlertRuleSpec, InhibitRuleSpec, ScopeKey, SilenceSpec};
use gatewatch_store::acks::Ack;
use std::collections::BTreeMap;

/// One alert as the mute stage sees it: its identity and labels (`model::alert::route::labels`).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRef<'a> {
    pub rule_id: &'a str,
    pub key: &'a ScopeKey,
    pub labels: &'a BTreeMap<String, String>,
}

impl AlertRef<'_> {
    fn same(&self, o: &AlertRef<'_>) -> bool {
        self.rule_id == o.rule_id && self.key == o.key
    }

    /// How a held-back notice names this alert: `<rule name> <scope key>`.
    pub fn describe(&self) -> String {
        let name = self
            .labels
            .get("alertname")
            .map(String::as_str)
            .unwrap_or(self.rule_id);
        let key = self.key.as_key();
        if key.is_empty() {
            name.to_string()
        } else {
            format!("{name} {key}")
        }
    }
}

/// The reason an exception window or a silence holds the alert's notices back, if one does.
pub fn window_or_silence(
    rule_id: &str,
    spec: &AlertRuleSpec,
    key: &ScopeKey,
    silences: &[SilenceSpec],
    site_tz: Tz,
    now: DateTime<Utc>,
) -> Option<String> {
    if spec.in_window(site_tz, now) {
        return Some("held back by an exception window".into());
    }
    silences
        .iter()
        .find(|s| s.matches(rule_id, key, now))
        .map(|s| format!("held back by a silence ({}: {})", s.who, s.why))
}

/// The first enabled inhibit rule (in id order) that mutes `target` while one of `firing`
/// fires, and that source: `inhibited by <rule name> (<source alert>)`. A rule mutes the
/// target when the target matches its `target_matchers`, a *different* firing alert matches
/// its `source_matchers`, and both have the same value (absent = empty) for every label in
/// `equal`.
pub fn inhibited(
    target: &AlertRef<'_>,
    firing: &[AlertRef<'_>],
    rules: &BTreeMap<String, InhibitRuleSpec>,
) -> Option<String> {
    let value = |l: &BTreeMap<String, String>, name: &str| l.get(name).cloned().unwrap_or_default();
    for r in rules.values().filter(|r| r.enabled) {
        if !all_match(&r.target_matchers, target.labels) {
            continue;
        }
        let source = firing.iter().find(|s| {
            !s.same(target)
                && all_match(&r.source_matchers, s.labels)
                && r.equal
                    .iter()
                    .all(|l| value(s.labels, l) == value(target.labels, l))
        });
        if let Some(s) = source {
            return Some(format!("inhibited by {} ({})", r.name, s.describe()));
        }
    }
    None
}

/// The ack that holds the episode of `rule_id`/`scope_key` that began at `since`, at `now`:
/// the newest row of that episode, if it is an ack not yet lapsed.
pub fn ack_for<'a>(
    acks: &'a [Ack],
    rule_id: &str,
    scope_key: &str,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<&'a Ack> {
    let episode = since.timestamp_micros();
    acks.iter()
        .filter(|a| a.rule_id == rule_id && a.scope_key == scope_key && a.episode_us == episode)
        .max_by_key(|a| a.ts_us)
        .filter(|a| a.holds_at(now.timestamp_micros()))
}

/// The detail of a repeat an ack held back.
pub fn ack_reason(a: &Ack) -> String {
    format!("acknowledged by {}", a.by)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatewatch_model::alert::route::labels;
    use gatewatch_model::alert::{RuleKind, Severity};
    use gatewatch_store::acks::AckAction;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn rule(name: &str, kind: RuleKind) -> AlertRuleSpec {
        AlertRuleSpec::new(name, kind, 90.0)
    }

    fn inhibit(json: serde_json::Value) -> BTreeMap<String, InhibitRuleSpec> {
        [("r1".to_string(), serde_json::from_value(json).unwrap())].into()
    }

    #[test]
    fn a_silent_node_mutes_that_nodes_cpu_memory_and_disk_alerts() {
        let rules = inhibit(serde_json::json!({
            "name": "node silent",
            "source_matchers": ["kind=node_silent"],
            "target_matchers": ["kind=~\"node_cpu|node_memory|disk\""],
            "equal": ["node"]
        }));
        let silent = rule("節點失聯", RuleKind::NodeSilent {});
        let cpu = rule("CPU", RuleKind::NodeCpu {});
        let (gw1, gw2) = (ScopeKey::node("gw1"), ScopeKey::node("gw2"));
        let l_silent1 = labels("silent", &silent, &gw1);
        let l_cpu1 = labels("cpu", &cpu, &gw1);
        let l_cpu2 = labels("cpu", &cpu, &gw2);
        let source = AlertRef {
            rule_id: "silent",
            key: &gw1,
            labels: &l_silent1,
        };
        let cpu1 = AlertRef {
            rule_id: "cpu",
            key: &gw1,
            labels: &l_cpu1,
        };
        let cpu2 = AlertRef {
            rule_id: "cpu",
            key: &gw2,
            labels: &l_cpu2,
        };
        let firing = [source.clone(), cpu1.clone(), cpu2.clone()];
        assert_eq!(
            inhibited(&cpu1, &firing, &rules).as_deref(),
            Some("inhibited by node silent (節點失聯 node=gw1)")
        );
        assert_eq!(inhibited(&cpu2, &firing, &rules), None, "another node");
        assert_eq!(
            inhibited(&source, &firing, &rules),
            None,
            "the source itself"
        );
        assert_eq!(
            inhibited(&cpu1, &[cpu1.clone(), cpu2], &rules),
            None,
            "no source fires"
        );
        let mut off = rules.clone();
        off.get_mut("r1").unwrap().enabled = false;
        assert_eq!(inhibited(&cpu1, &firing, &off), None, "a disabled rule");
    }

    #[test]
    fn a_database_down_alert_mutes_api_error_rate_alerts() {
        let rules = inhibit(serde_json::json!({
            "name": "database down",
            "source_matchers": ["kind=database"],
            "target_matchers": ["kind=api_error_rate"]
        }));
        let db = rule(
            "DB",
            serde_json::from_value(serde_json::json!({"type":"database","check":"failure"}))
                .unwrap(),
        );
        let err: AlertRuleSpec = rule(
            "errors",
            serde_json::from_value(serde_json::json!({"type":"api_error_rate"})).unwrap(),
        );
        let (none, orders) = (ScopeKey::default(), ScopeKey::api("orders"));
        let (ldb, lerr) = (labels("db", &db, &none), labels("err", &err, &orders));
        let d = AlertRef {
            rule_id: "db",
            key: &none,
            labels: &ldb,
        };
        let e = AlertRef {
            rule_id: "err",
            key: &orders,
            labels: &lerr,
        };
        assert_eq!(
            inhibited(&e, &[d.clone(), e.clone()], &rules).as_deref(),
            Some("inhibited by database down (DB)")
        );
        assert_eq!(inhibited(&e, std::slice::from_ref(&e), &rules), None);
        assert_eq!(inhibited(&d, &[d.clone(), e.clone()], &rules), None);
    }

    #[test]
    fn an_alert_never_inhibits_itself_even_when_it_matches_both_sides() {
        let rules = inhibit(serde_json::json!({
            "name": "critical mutes warning",
            "source_matchers": ["kind=node_cpu"],
            "target_matchers": ["kind=node_cpu"],
            "equal": ["node"]
        }));
        let mut cpu = rule("CPU", RuleKind::NodeCpu {});
        cpu.severity = Severity::Critical;
        let k = ScopeKey::node("gw1");
        let l = labels("cpu", &cpu, &k);
        let a = AlertRef {
            rule_id: "cpu",
            key: &k,
            labels: &l,
        };
        assert_eq!(inhibited(&a, std::slice::from_ref(&a), &rules), None);
    }

    #[test]
    fn windows_and_silences_say_which_held_the_notice() {
        let cpu = rule("CPU", RuleKind::NodeCpu {});
        let k = ScopeKey::node("gw1");
        let now = at("2026-12-07T10:00:00Z");
        let sil: SilenceSpec = serde_json::from_value(serde_json::json!({
            "rule": "cpu", "node": "gw1", "from": "2026-12-07T09:00:00Z",
            "until": "2026-12-07T11:00:00Z", "who": "olive", "why": "upgrade"
        }))
        .unwrap();
        let tz = chrono_tz::UTC;
        assert_eq!(window_or_silence("cpu", &cpu, &k, &[], tz, now), None);
        assert_eq!(
            window_or_silence("cpu", &cpu, &k, std::slice::from_ref(&sil), tz, now).as_deref(),
            Some("held back by a silence (olive: upgrade)")
        );
        assert_eq!(
            window_or_silence("cpu", &cpu, &ScopeKey::node("gw2"), &[sil], tz, now),
            None
        );
    }

    fn ack(ts: i64, episode: i64, action: AckAction, until: i64) -> Ack {
        Ack {
            ts_us: ts,
            rule_id: "cpu".into(),
            scope_key: "node=gw1".into(),
            episode_us: episode,
            action,
            by: "olive".into(),
            until_us: until,
            comment: String::new(),
        }
    }

    #[test]
    fn an_ack_holds_its_episode_until_it_lapses_or_is_taken_back() {
        let since = at("2026-12-07T10:00:00Z");
        let ep = since.timestamp_micros();
        let now = at("2026-12-07T10:30:00Z");
        let later = at("2026-12-07T12:00:00Z");
        let until = at("2026-12-07T11:00:00Z").timestamp_micros();
        let acks = [ack(ep + 1, ep, AckAction::Ack, until)];
        let got = ack_for(&acks, "cpu", "node=gw1", since, now).map(ack_reason);
        assert_eq!(got.as_deref(), Some("acknowledged by olive"));
        assert!(
            ack_for(&acks, "cpu", "node=gw1", since, later).is_none(),
            "lapsed"
        );
        let new_episode = at("2026-12-07T10:20:00Z");
        assert!(
            ack_for(&acks, "cpu", "node=gw1", new_episode, now).is_none(),
            "a new episode"
        );
        assert!(
            ack_for(&acks, "cpu", "node=gw2", since, now).is_none(),
            "another key"
        );
        let forever = [ack(ep + 1, ep, AckAction::Ack, 0)];
        assert!(ack_for(&forever, "cpu", "node=gw1", since, later).is_some());
        let taken_back = [
            ack(ep + 1, ep, AckAction::Ack, 0),
            ack(ep + 2, ep, AckAction::Unack, 0),
        ];
        assert!(
            ack_for(&taken_back, "cpu", "node=gw1", since, now).is_none(),
            "unacked"
        );
    }
}

#[cfg(test)]
mod readme_examples {
    use super::*;
    use crate::group;
    use gatewatch_model::alert::route::labels;
    use gatewatch_model::alert::{NotificationPolicySpec, RuleKind};

    /// The bodies the README's Alerting section posts to `path` (`$A/<path> -d '…'`).
    fn bodies(path: &str) -> Vec<serde_json::Value> {
        let readme = include_str!("../../README.md");
        let needle = format!("$A/{path} -d '");
        readme
            .match_indices(&needle)
            .map(|(at, _)| {
                let rest = &readme[at + needle.len()..];
                let body = &rest[..rest.find('\'').expect("the body ends")];
                let mut v: serde_json::Value = serde_json::from_str(body).expect(body);
                v.as_object_mut().unwrap().remove("id");
                v
            })
            .collect()
    }

    /// The policy and inhibit rules of the README parse, validate, and do what it says.
    #[test]
    fn the_readme_policies_and_inhibit_rules_are_valid_and_do_what_it_says() {
        let policies: Vec<NotificationPolicySpec> = bodies("notification-policies")
            .into_iter()
            .map(|v| serde_json::from_value(v).unwrap())
            .collect();
        let rules: Vec<InhibitRuleSpec> = bodies("inhibit-rules")
            .into_iter()
            .map(|v| serde_json::from_value(v).unwrap())
            .collect();
        assert_eq!((policies.len(), rules.len()), (1, 2));
        policies.iter().for_each(|p| p.validate().unwrap());
        rules.iter().for_each(|r| r.validate().unwrap());

        let cpu = AlertRuleSpec::new("CPU", RuleKind::NodeCpu {}, 90.0);
        let silent = AlertRuleSpec::new("失聯", RuleKind::NodeSilent {}, 60.0);
        let gw1 = ScopeKey::node("gw1");
        let (lc, ls) = (labels("cpu", &cpu, &gw1), labels("silent", &silent, &gw1));
        let ps: BTreeMap<String, NotificationPolicySpec> =
            [("per-node".to_string(), policies[0].clone())].into();
        assert_eq!(group::route(&ps, &lc), ["per-node"]);
        assert_eq!(
            group::group_of("per-node", &policies[0], &lc).0,
            "per-node:{node=\"gw1\"}"
        );
        let rs: BTreeMap<String, InhibitRuleSpec> = rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| (i.to_string(), r))
            .collect();
        let target = AlertRef {
            rule_id: "cpu",
            key: &gw1,
            labels: &lc,
        };
        let source = AlertRef {
            rule_id: "silent",
            key: &gw1,
            labels: &ls,
        };
        assert_eq!(
            inhibited(&target, &[source], &rs).as_deref(),
            Some("inhibited by 節點失聯 (失聯 node=gw1)")
        );
    }
}
