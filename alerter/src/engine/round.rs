//! The round's stages as the engine runs them: observe every rule ([`crate::evaluate`]), mute
//! ([`crate::mute`]), `step`, then each alert alone or into its groups ([`crate::group`]), and
//! the notices ([`crate::notice`]). The decisions are the stage modules' pure functions; this
//! is their orchestration over the engine's state.

use chrono::{DateTime, Utc};
use gatewatch_model::alert::{
    Action, AlertState, NoticeKind, Observation, Phase, PhaseName, ScopeKey,
};
use gatewatch_store::alerts::{AlertEvent, SavedState};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering;

use super::Engine;
use crate::dispatch::Dispatcher;
use crate::evaluate::{decide, needs_probe, Observed, Observer};
use crate::group::{self, GroupState};
use crate::mute;
use crate::notice::{self, Send};
use crate::probe::{self, ProbeResult, Probed};

/// One (rule, scope key) of a round: what was observed and the state before.
struct Item {
    /// Index into the round's rules.
    rule: usize,
    key: ScopeKey,
    obs: Observation,
    prev: AlertState,
}

/// What the round gathers alert by alert for the notify and group stages.
#[derive(Default)]
struct Gathered {
    /// Notices of alerts alone.
    sends: Vec<Send>,
    /// Per (policy id, group key): the released firing alerts, by fingerprint.
    grouped: BTreeMap<(String, String), BTreeMap<String, group::Member>>,
    /// Per fingerprint: what the group stage needs to list an alert.
    seen: HashMap<String, notice::AlertNow>,
    /// Per group: its released alerts that a mute holds back now.
    muted_in: HashMap<(String, String), BTreeSet<String>>,
}

impl<D: Dispatcher> Engine<D> {
    /// Evaluates every rule at `now`; `probe` is this round's database probe if it ran
    /// already (else it runs here when a rule needs it, e.g. rules just loaded). The stages
    /// in order: observe every rule, mute (windows, silences, inhibit rules, acks), `step`,
    /// group, notify.
    pub(super) async fn evaluate(&mut self, now: DateTime<Utc>, probe: Option<Probed>) {
        let rules = self.sources.rules.clone();
        let (probe, failure) = self.probed(probe, &rules).await;
        self.last_eval = failure.map_or(now, |(_, until)| until.max(now));
        // Drop states of rules that no longer exist.
        let ids: HashSet<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        self.states.retain(|(r, _), _| ids.contains(r.as_str()));

        let items = self.observe_all(&rules, now, probe).await;
        let node_groups = if items.iter().any(|it| it.key.node.is_some()) {
            self.node_groups(now).await
        } else {
            HashMap::new()
        };
        let labels: Vec<BTreeMap<String, String>> = items
            .iter()
            .map(|it| notice::alert_labels(&rules[it.rule], &it.key, &node_groups))
            .collect();
        // Mute: which alerts fire this round (a preview of `step`, which is pure), so an
        // inhibit rule's source mutes its targets in the round it fires.
        let firing: Vec<mute::AlertRef<'_>> = items
            .iter()
            .zip(&labels)
            .filter(|(it, _)| {
                let spec = &rules[it.rule].spec;
                let (next, _) = decide(&it.prev, &it.obs, spec, false, now, failure);
                matches!(next.phase, Phase::Firing { .. })
            })
            .map(|(it, l)| mute::AlertRef {
                rule_id: &rules[it.rule].id,
                key: &it.key,
                labels: l,
            })
            .collect();

        let sources = self.sources.clone();
        let acks = std::mem::take(&mut self.acks);
        let (holder, link_base) = (self.cfg.holder.clone(), self.cfg.link_base.clone());
        let ctx = notice::Ctx {
            sources: &sources,
            acks: &acks,
            site: notice::Site {
                tz: self.cfg.site_tz,
                lang: self.cfg.site_lang,
                link_base: &link_base,
                node_groups: &node_groups,
            },
            alerter: &holder,
        };
        let mut out = Gathered::default();
        for (it, labels) in items.iter().zip(&labels) {
            let me = mute::AlertRef {
                rule_id: &rules[it.rule].id,
                key: &it.key,
                labels,
            };
            let entry = &rules[it.rule];
            self.step_alert(&ctx, entry, it, &me, &firing, failure, now, &mut out);
        }
        let mut sends = out.sends;
        sends.extend(self.groups_stage(&ctx, out.grouped, out.muted_in, &out.seen, now));
        self.acks = acks;
        self.send_all(sends, now).await;
    }

    /// This round's database probe (run here when the lease check did not run it and a rule
    /// needs it), and the span of its failure: from its start (or the first call to the same
    /// server that never answered) until it gave up.
    async fn probed(
        &mut self,
        probe: Option<Probed>,
        rules: &[crate::source::RuleEntry],
    ) -> (Option<ProbeResult>, Option<(DateTime<Utc>, DateTime<Utc>)>) {
        let probe = match probe {
            Some(p) => Some(p),
            None if rules.iter().any(|r| needs_probe(&r.spec)) => {
                Some(probe::probe_timed(&self.cfg.probe, self.cfg.probe_timeout).await)
            }
            None => None,
        };
        let failure = match &probe {
            Some(
                p @ Probed {
                    result: ProbeResult::Failed(why),
                    ..
                },
            ) => {
                tracing::warn!(%why, "database probe failed");
                let same_server = self.cfg.probe.url == self.store.config().url;
                let away = self.away_since.filter(|_| same_server);
                Some(crate::evaluate::failure_span(p.started, p.ended(), away))
            }
            _ => None,
        };
        if let Some(p) = &probe {
            self.last_probe_took = p.took;
        }
        (probe.map(|p| p.result), failure)
    }

    /// One alert's round: mute it (window or silence, else an inhibit rule whose source
    /// fires), `step` it, record its transitions, send or hold back what it notifies alone
    /// (no policy takes it), and put it in its policies' groups once released.
    #[allow(clippy::too_many_arguments)]
    fn step_alert(
        &mut self,
        ctx: &notice::Ctx<'_>,
        entry: &crate::source::RuleEntry,
        it: &Item,
        me: &mute::AlertRef<'_>,
        firing: &[mute::AlertRef<'_>],
        failure: Option<(DateTime<Utc>, DateTime<Utc>)>,
        now: DateTime<Utc>,
        out: &mut Gathered,
    ) {
        let (spec, key, sources) = (&entry.spec, &it.key, ctx.sources);
        let skey = (entry.id.clone(), key.as_key());
        let window = mute::window_or_silence(
            &entry.id,
            spec,
            key,
            &sources.silences,
            self.cfg.site_tz,
            now,
        );
        let inhibit = match &window {
            None => mute::inhibited(me, firing, &sources.inhibit_rules),
            Some(_) => None,
        };
        let muted = window.or(inhibit.clone());
        let policies = group::route(&sources.policies, me.labels);
        let (next, actions) = decide(&it.prev, &it.obs, spec, muted.is_some(), now, failure);
        if next != it.prev {
            self.dirty.insert(
                skey.clone(),
                SavedState {
                    rule_id: entry.id.clone(),
                    scope_key: skey.1.clone(),
                    ts_us: now.timestamp_micros(),
                    state: serde_json::to_string(&next).unwrap_or_default(),
                },
            );
        }
        let value = match &it.obs {
            Observation::Value(v) => Some(*v),
            _ => None,
        };
        let base = notice::base_event(entry, &skey.1, &next, &it.obs, now, ctx.alerter);
        // A policy's own recipients replace the rule's for its alerts.
        let recipients = policies
            .first()
            .and_then(|p| sources.policies.get(*p))
            .and_then(|p| p.recipients.as_ref())
            .unwrap_or(&spec.recipients);
        for a in actions {
            match a {
                Action::Transition { to, .. } => {
                    tracing::info!(rule = %entry.id, key = %key, to = to.as_str(), "alert transition");
                    let mut e = base.clone();
                    e.event = to.as_str().into();
                    if to == PhaseName::Resolved {
                        e.phase = PhaseName::Ok.as_str().into();
                    }
                    self.record(e);
                }
                // An alert a policy takes is released to its group (the group stage
                // sends); only what a mute held back is recorded here.
                Action::Notify { .. } if !policies.is_empty() => {}
                Action::Notify { kind, since } | Action::Suppressed { kind, since } => {
                    let suppressed = matches!(a, Action::Suppressed { .. });
                    let mut held = suppressed.then(|| muted.clone().unwrap_or_default());
                    let acked = (held.is_none() && kind == NoticeKind::Repeat)
                        .then(|| mute::ack_for(ctx.acks, &entry.id, &skey.1, since, now))
                        .flatten();
                    if let Some(ack) = acked {
                        held = Some(mute::ack_reason(ack));
                    }
                    let d = notice::alone(
                        ctx, entry, key, value, kind, since, now, recipients, held, &base,
                    );
                    let n = d.held.len() as u64;
                    if acked.is_some() {
                        self.metrics.acknowledged.fetch_add(n, Ordering::Relaxed);
                    } else if inhibit.is_some() && suppressed {
                        self.metrics.inhibited.fetch_add(n, Ordering::Relaxed);
                    }
                    self.hold_back(d.held);
                    out.sends.extend(d.sends);
                }
            }
        }
        // Released (its own step notified) and not muted now: in its policies' groups;
        // released but muted now: kept by them, not listed.
        let fp = notice::fingerprint(&entry.id, &skey.1);
        if let Phase::Firing {
            since,
            last_sent: Some(_),
            ..
        } = &next.phase
        {
            for pid in &policies {
                let Some(p) = sources.policies.get(*pid) else {
                    continue;
                };
                let gk = (pid.to_string(), group::group_of(pid, p, me.labels).0);
                if muted.is_some() {
                    out.muted_in.entry(gk).or_default().insert(fp.clone());
                } else {
                    out.grouped.entry(gk).or_default().insert(
                        fp.clone(),
                        group::Member {
                            rule_id: entry.id.clone(),
                            scope_key: skey.1.clone(),
                            since: *since,
                        },
                    );
                }
            }
        }
        let now_of = notice::AlertNow {
            value,
            state: next.clone(),
            obs: it.obs.clone(),
        };
        out.seen.insert(fp, now_of);
        self.states.insert(skey, (key.clone(), next));
    }

    /// The group stage: every group with alerts now or a state from before steps
    /// ([`group::group_step`]); the messages due become sends ([`notice::group_message`]).
    fn groups_stage(
        &mut self,
        ctx: &notice::Ctx<'_>,
        mut grouped: BTreeMap<(String, String), BTreeMap<String, group::Member>>,
        mut muted_in: HashMap<(String, String), BTreeSet<String>>,
        seen: &HashMap<String, notice::AlertNow>,
        now: DateTime<Utc>,
    ) -> Vec<Send> {
        let mut sends = Vec::new();
        let mut keys: BTreeSet<(String, String)> = grouped.keys().cloned().collect();
        keys.extend(self.groups.keys().cloned());
        let mut due: Vec<DateTime<Utc>> = Vec::new();
        for gk in keys {
            let prev = self.groups.get(&gk).cloned().unwrap_or_default();
            let current = grouped.remove(&gk).unwrap_or_default();
            let Some(policy) = ctx.sources.policies.get(&gk.0).filter(|p| p.enabled) else {
                // The policy is gone or off: its group ends without a word.
                self.set_group(&gk, GroupState::default(), now);
                continue;
            };
            let muted = muted_in.remove(&gk).unwrap_or_default();
            let (next, msg) = group::group_step(&prev, &current, &muted, policy, now);
            due.extend(group::next_due(
                &next,
                &current.keys().cloned().collect(),
                policy,
            ));
            let group_since = prev.since.or(next.since).unwrap_or(now);
            self.set_group(&gk, next, now);
            if let Some(msg) = msg {
                self.metrics.group_messages.fetch_add(1, Ordering::Relaxed);
                let d =
                    notice::group_message(ctx, &gk, policy, group_since, &msg, &current, seen, now);
                // In a group message, only acks hold an alert back.
                self.metrics
                    .acknowledged
                    .fetch_add(d.held.len() as u64, Ordering::Relaxed);
                self.hold_back(d.held);
                sends.extend(d.sends);
            }
        }
        self.group_due = due.into_iter().filter(|d| *d > now).min();
        sends
    }

    /// Records notices held back (counted as `suppressed` when they name a recipient).
    fn hold_back(&mut self, rows: Vec<AlertEvent>) {
        for e in rows {
            if e.result == "suppressed" && !e.recipient.is_empty() {
                self.metrics.suppressed.fetch_add(1, Ordering::Relaxed);
            }
            self.record(e);
        }
    }

    /// Observes every rule (the evaluate stage's reads), one item per (rule, scope key) with
    /// its state before this round.
    /// Each node's groups from the node registry (`store::registry`, processes heard from in
    /// the last hour), joined with `,` (sorted, each once), for the `node_group` label. Read
    /// once per round, only when some alert is about a node; with ClickHouse away or slow the
    /// label is left out this round (routing then sees no `node_group`, as for a node that
    /// never registered) rather than holding the round up.
    async fn node_groups(&mut self, now: DateTime<Utc>) -> HashMap<String, String> {
        if !self.ch_up || self.away.load(Ordering::Relaxed) {
            return HashMap::new();
        }
        let since = now.timestamp_micros() - 3_600_000_000;
        let list = gatewatch_store::registry::list(&self.store, since);
        match tokio::time::timeout(self.cfg.query_timeout, list).await {
            Ok(Ok(entries)) => node_group_labels(entries),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "node registry unreadable: alerts carry no node_group this round");
                HashMap::new()
            }
            Err(_) => HashMap::new(),
        }
    }

    async fn observe_all(
        &mut self,
        rules: &[crate::source::RuleEntry],
        now: DateTime<Utc>,
        probe: Option<ProbeResult>,
    ) -> Vec<Item> {
        let store = self.store.clone();
        let mut observer = Observer::new(&store, now, probe);
        let mut items = Vec::new();
        for (i, entry) in rules.iter().enumerate() {
            let spec = &entry.spec;
            let away = !self.ch_up || self.away.load(Ordering::Relaxed);
            let observed = if !spec.enabled {
                Observed::default()
            } else if away && !spec.kind.error_breaches() {
                Observed {
                    values: Vec::new(),
                    error: Some("ClickHouse is unreachable".into()),
                }
            } else {
                match tokio::time::timeout(self.cfg.query_timeout, observer.observe(spec)).await {
                    Ok(o) => o,
                    Err(_) => {
                        // A server that hangs: the rest of the round does not wait on it.
                        self.away.store(true, Ordering::Relaxed);
                        Observed {
                            values: Vec::new(),
                            error: Some("the reads timed out".into()),
                        }
                    }
                }
            };
            if let Some(e) = &observed.error {
                tracing::debug!(rule = %entry.id, error = %e, "no observation");
            }
            // Keys the rule had before and did not observe now: no data (or the read's error).
            let mut work = observed.values;
            for ((rid, _), (k, _)) in self.states.iter() {
                if rid == &entry.id && !work.iter().any(|(w, _)| w == k) {
                    let o = match &observed.error {
                        Some(e) => Observation::Error(e.clone()),
                        None => Observation::NoData,
                    };
                    work.push((k.clone(), o));
                }
            }
            for (key, obs) in work {
                let prev = self
                    .states
                    .get(&(entry.id.clone(), key.as_key()))
                    .map(|s| s.1.clone())
                    .unwrap_or_default();
                items.push(Item {
                    rule: i,
                    key,
                    obs,
                    prev,
                });
            }
        }
        items
    }

    /// Keeps a group's state (and marks it to be saved when it changed).
    fn set_group(&mut self, gk: &(String, String), st: GroupState, now: DateTime<Utc>) {
        let prev = self.groups.get(gk).cloned().unwrap_or_default();
        if prev != st {
            self.dirty.insert(
                (format!("{}{}", group::STATE_PREFIX, gk.0), gk.1.clone()),
                SavedState {
                    rule_id: format!("{}{}", group::STATE_PREFIX, gk.0),
                    scope_key: gk.1.clone(),
                    ts_us: now.timestamp_micros(),
                    state: serde_json::to_string(&st).unwrap_or_default(),
                },
            );
        }
        if st == GroupState::default() {
            self.groups.remove(gk);
        } else {
            self.groups.insert(gk.clone(), st);
        }
    }
}

/// Per node, the union of its processes' groups, sorted and joined with `,` (what the
/// `node_group` label of issue 18 carries; a matcher like `node_group=~".*edge.*"` picks a
/// group). Nodes whose processes have no groups are left out.
fn node_group_labels(
    entries: Vec<gatewatch_store::registry::NodeEntry>,
) -> HashMap<String, String> {
    let mut by_node: HashMap<String, BTreeSet<String>> = HashMap::new();
    for e in entries {
        by_node.entry(e.node).or_default().extend(e.groups);
    }
    by_node
        .into_iter()
        .filter(|(_, g)| !g.is_empty())
        .map(|(n, g)| (n, g.into_iter().collect::<Vec<_>>().join(",")))
        .collect()
}

#[cfg(test)]
mod node_group_tests {
    use super::*;
    use gatewatch_store::registry::NodeEntry;

    fn entry(node: &str, role: &str, groups: &[&str]) -> NodeEntry {
        NodeEntry {
            node: node.into(),
            role: role.into(),
            instance: format!("{node}:{role}"),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            version: String::new(),
            listen: vec![],
            started_us: 0,
            heartbeat_us: 0,
            apis: vec![],
            stopping: false,
        }
    }

    #[test]
    fn a_node_alert_carries_the_union_of_its_processes_groups() {
        let groups = node_group_labels(vec![
            entry("n1", "gateway", &["public", "edge"]),
            entry("n1", "collector", &[]),
            entry("n1", "gateway", &["edge", "b2b"]),
            entry("n2", "alerter", &[]),
        ]);
        assert_eq!(
            groups.get("n1").map(String::as_str),
            Some("b2b,edge,public")
        );
        assert!(!groups.contains_key("n2"));
    }
}
