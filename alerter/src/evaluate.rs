//! Observations: for one rule, a value (or no data, or an error) per [`ScopeKey`], read from
//! `store::observe` and the database probe. One [`Observer`] per evaluation round reads each
//! table once however many rules ask.
//!
//! Per kind:
//! - `node_cpu`, `node_memory`: the newest sample of each node (any role; machine-wide
//!   figures) from the last [`NODE_FRESH_SECS`]; an older one is no data (`node_silent`
//!   watches silence).
//! - `process_memory`: the largest RSS among the node's processes (roles), MB or % of
//!   `limit_mb`.
//! - `disk`: use % per (node, mount), limited to the rule's mounts when it names some.
//! - `node_silent`: seconds since the node's last sample, among nodes seen in the last
//!   [`SILENT_LOOKBACK_SECS`]; a named node not seen in that time counts as silent that long.
//! - `api_error_rate`, `api_latency`: the last `window_secs` in whole minutes from the
//!   per-minute rollup, the minute still filling included (so a failure shows within seconds,
//!   not at the next minute); client scope from the raw table over exactly `window_secs`.
//!   Fewer than `min_calls` calls: no data.
//! - `traffic_drop`: calls in the last hour (whole minutes) against the same hour a week
//!   before; a baseline under `min_calls` is no data.
//! - `database` `connect_ms` / `failure`: the probe ([`crate::probe`]); a failed probe is an
//!   error, which breaches.
//! - `backlog` (`spool_batches`, `spool_mb`, `queue_depth`) and `database` `gateway_spool`
//!   (batches in the spool: records that could not be shipped toward storage): the backlog in
//!   the node's newest samples, added up over its processes (only gateways report one).
//! - `ingest_quarantine`: batches every collector set aside in the last `window_secs`
//!   (`ingest_quarantine`, one value for the site, 0 when none).

use chrono::{DateTime, Utc};
use gatewatch_model::alert::{
    step, Action, AlertRuleSpec, AlertState, BacklogMeasure, DbCheck, MemoryUnit, Observation,
    Phase, RuleKind, Scope, ScopeKey,
};
use gatewatch_model::Backlog;
use gatewatch_store::observe::{self, CallWindow, NodeReading};
use gatewatch_store::Store;
use std::collections::{BTreeMap, HashMap};

use crate::probe::ProbeResult;

/// A node sample older than this is not a current reading.
pub const NODE_FRESH_SECS: i64 = 120;
/// How far back `node_silent` looks for nodes.
pub const SILENT_LOOKBACK_SECS: i64 = 24 * 3600;
const WEEK_SECS: i64 = 7 * 24 * 3600;

/// What one rule observed: a value per key, and the error of a failed read (keys the rule
/// had before but did not observe now get it, or no data).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Observed {
    pub values: Vec<(ScopeKey, Observation)>,
    pub error: Option<String>,
}

impl Observed {
    fn failed(e: impl ToString) -> Observed {
        Observed {
            values: Vec::new(),
            error: Some(e.to_string()),
        }
    }
}

/// Whether a rule reads the alerter's own database probe.
pub fn needs_probe(spec: &AlertRuleSpec) -> bool {
    spec.enabled
        && matches!(
            spec.kind,
            RuleKind::Database {
                check: DbCheck::ConnectMs | DbCheck::Failure
            }
        )
}

/// The earliest moment after `now` a pending alert reaches its rule's duration (`since` +
/// `for_secs`): the engine runs a round then instead of waiting for the next tick, so a
/// notice goes out at crossing + duration, not up to a round later.
pub fn next_pending_due<'a>(
    states: impl Iterator<Item = (&'a str, &'a AlertState)>,
    rules: &[crate::source::RuleEntry],
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    states
        .filter_map(|(rule_id, st)| match st.phase {
            Phase::Pending { since } => {
                let spec = &rules.iter().find(|r| r.id == rule_id)?.spec;
                let due = since + chrono::Duration::seconds(i64::try_from(spec.for_secs).ok()?);
                (due > now).then_some(due)
            }
            _ => None,
        })
        .min()
}

/// How one alert steps this round: at `now`, or — a rule of the database probe that observed
/// its failure, seen from `failure.0` until `failure.1` — over that span ([`step_failure`]).
pub fn decide(
    prev: &AlertState,
    obs: &Observation,
    spec: &AlertRuleSpec,
    muted: bool,
    now: DateTime<Utc>,
    failure: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> (AlertState, Vec<Action>) {
    match failure {
        Some((from, until)) if needs_probe(spec) && matches!(obs, Observation::Error(_)) => {
            step_failure(prev, obs, from, until.max(now), spec, muted)
        }
        _ => step(prev, obs, now, spec, muted),
    }
}

/// `step` for an alert whose observation is a failure seen from `from` until `until` (the
/// database probe that got no answer, or a ClickHouse call that never answered before it):
/// the condition began at `from`, not at the round that noticed it, so `for_secs` counts from
/// then and the alert fires as soon as `until` is past it (a hung server is noticed only when
/// a timeout ends). An alert not at ok steps once, at `until`.
pub fn step_failure(
    prev: &AlertState,
    obs: &Observation,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    rule: &AlertRuleSpec,
    suppressed: bool,
) -> (AlertState, Vec<Action>) {
    if prev.phase == Phase::Ok && from < until {
        let (mid, mut acts) = step(prev, obs, from, rule, suppressed);
        let (next, more) = step(&mid, obs, until, rule, suppressed);
        acts.extend(more);
        (next, acts)
    } else {
        step(prev, obs, until, rule, suppressed)
    }
}

/// When a failed probe's failure began and until when it was seen: from the probe's start, or
/// from the start of an earlier ClickHouse call that never answered (`away_since`, only when
/// the probe checks the store's own server), until the probe gave up.
pub fn failure_span(
    probe_started: DateTime<Utc>,
    probe_ended: DateTime<Utc>,
    away_since: Option<DateTime<Utc>>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let from = away_since.map_or(probe_started, |a| a.min(probe_started));
    (from, probe_ended.max(probe_started))
}

type Fetched<T> = Result<T, String>;

/// Reads for one evaluation round at `now`.
pub struct Observer<'a> {
    store: &'a Store,
    now: DateTime<Utc>,
    probe: Option<ProbeResult>,
    nodes: Option<Fetched<Vec<NodeReading>>>,
    seen: Option<Fetched<Vec<(String, i64)>>>,
    windows: HashMap<(bool, u32, u32), Fetched<Vec<CallWindow>>>,
}

fn secs(t: i64) -> u32 {
    t.clamp(0, u32::MAX as i64) as u32
}

fn wanted(scope: &Scope, node: &str) -> bool {
    match scope {
        Scope::Nodes(n) => n.iter().any(|x| x == node),
        _ => true,
    }
}

impl<'a> Observer<'a> {
    /// `probe`: the database probe of this round, if a rule needs it.
    pub fn new(store: &'a Store, now: DateTime<Utc>, probe: Option<ProbeResult>) -> Observer<'a> {
        Observer {
            store,
            now,
            probe,
            nodes: None,
            seen: None,
            windows: HashMap::new(),
        }
    }

    async fn nodes(&mut self) -> Fetched<Vec<NodeReading>> {
        if self.nodes.is_none() {
            let since = secs(self.now.timestamp() - NODE_FRESH_SECS);
            self.nodes = Some(
                observe::latest_node_readings(self.store, since)
                    .await
                    .map_err(|e| e.to_string()),
            );
        }
        self.nodes.clone().unwrap_or_else(|| Ok(Vec::new()))
    }

    async fn seen(&mut self) -> Fetched<Vec<(String, i64)>> {
        if self.seen.is_none() {
            let since = secs(self.now.timestamp() - SILENT_LOOKBACK_SECS);
            self.seen = Some(
                observe::node_last_seen(self.store, since)
                    .await
                    .map_err(|e| e.to_string()),
            );
        }
        self.seen.clone().unwrap_or_else(|| Ok(Vec::new()))
    }

    async fn windows(&mut self, clients: bool, from: i64, to: i64) -> Fetched<Vec<CallWindow>> {
        let k = (clients, secs(from), secs(to));
        if !self.windows.contains_key(&k) {
            let r = if clients {
                observe::client_windows(self.store, k.1, k.2).await
            } else {
                observe::api_windows(self.store, k.1, k.2).await
            };
            self.windows.insert(k, r.map_err(|e| e.to_string()));
        }
        self.windows
            .get(&k)
            .cloned()
            .unwrap_or_else(|| Ok(Vec::new()))
    }

    /// The rule's observations at this round.
    pub async fn observe(&mut self, rule: &AlertRuleSpec) -> Observed {
        let scope = rule.scope();
        match &rule.kind {
            RuleKind::NodeCpu {}
            | RuleKind::NodeMemory {}
            | RuleKind::ProcessMemory { .. }
            | RuleKind::Backlog { .. }
            | RuleKind::Database {
                check: DbCheck::GatewaySpool,
            } => {
                let rows = match self.nodes().await {
                    Ok(r) => r,
                    Err(e) => return Observed::failed(e),
                };
                // Per node: the newest reading for machine figures, the largest RSS, the
                // backlogs of its processes added up.
                let mut per: BTreeMap<&str, (&NodeReading, u64, Backlog)> = BTreeMap::new();
                for r in rows.iter().filter(|r| wanted(&scope, &r.node)) {
                    let e =
                        per.entry(r.node.as_str())
                            .or_insert((r, r.rss_bytes, Backlog::default()));
                    if r.ts_us > e.0.ts_us {
                        e.0 = r;
                    }
                    e.1 = e.1.max(r.rss_bytes);
                    e.2.queue_depth += r.backlog.queue_depth;
                    e.2.spool_bytes += r.backlog.spool_bytes;
                    e.2.spool_batches += r.backlog.spool_batches;
                }
                let mut values: Vec<(ScopeKey, Observation)> = per
                    .into_iter()
                    .map(|(node, (r, rss, backlog))| {
                        let v = match &rule.kind {
                            RuleKind::NodeCpu {} => Some(f64::from(r.cpu_pct)),
                            RuleKind::NodeMemory {} => (r.mem_total_bytes > 0).then(|| {
                                100.0 * r.mem_used_bytes as f64 / r.mem_total_bytes as f64
                            }),
                            RuleKind::ProcessMemory { unit, limit_mb } => {
                                let mb = rss as f64 / (1024.0 * 1024.0);
                                match (unit, limit_mb) {
                                    (MemoryUnit::Percent, Some(l)) if *l > 0 => {
                                        Some(100.0 * mb / *l as f64)
                                    }
                                    (MemoryUnit::Percent, _) => None,
                                    (MemoryUnit::Mb, _) => Some(mb),
                                }
                            }
                            RuleKind::Backlog { measure } => Some(match measure {
                                BacklogMeasure::SpoolBatches => backlog.spool_batches as f64,
                                BacklogMeasure::SpoolMb => {
                                    backlog.spool_bytes as f64 / (1024.0 * 1024.0)
                                }
                                BacklogMeasure::QueueDepth => backlog.queue_depth as f64,
                            }),
                            RuleKind::Database { .. } => Some(backlog.spool_batches as f64),
                            _ => None,
                        };
                        (
                            ScopeKey::node(node),
                            v.map_or(Observation::NoData, Observation::Value),
                        )
                    })
                    .collect();
                named_nodes_without_data(&scope, &mut values);
                Observed {
                    values,
                    error: None,
                }
            }
            RuleKind::Disk { mounts } => {
                let rows = match self.nodes().await {
                    Ok(r) => r,
                    Err(e) => return Observed::failed(e),
                };
                let mut per: BTreeMap<&str, &NodeReading> = BTreeMap::new();
                for r in rows.iter().filter(|r| wanted(&scope, &r.node)) {
                    let e = per.entry(r.node.as_str()).or_insert(r);
                    if r.ts_us > e.ts_us {
                        *e = r;
                    }
                }
                let mut values = Vec::new();
                for (node, r) in per {
                    for d in &r.disks {
                        if !mounts.is_empty() && !mounts.contains(&d.mount) {
                            continue;
                        }
                        let key = ScopeKey {
                            mount: Some(d.mount.clone()),
                            ..ScopeKey::node(node)
                        };
                        let obs = if d.total_bytes == 0 {
                            Observation::NoData
                        } else {
                            Observation::Value(100.0 * d.used_bytes as f64 / d.total_bytes as f64)
                        };
                        values.push((key, obs));
                    }
                }
                Observed {
                    values,
                    error: None,
                }
            }
            RuleKind::NodeSilent {} => {
                let seen = match self.seen().await {
                    Ok(r) => r,
                    Err(e) => return Observed::failed(e),
                };
                let now_us = self.now.timestamp_micros();
                let mut values: Vec<(ScopeKey, Observation)> = seen
                    .iter()
                    .filter(|(n, _)| wanted(&scope, n))
                    .map(|(n, last)| {
                        let silent = (now_us - last).max(0) as f64 / 1e6;
                        (ScopeKey::node(n), Observation::Value(silent.floor()))
                    })
                    .collect();
                if let Scope::Nodes(named) = &scope {
                    for n in named {
                        if !seen.iter().any(|(s, _)| s == n) {
                            values.push((
                                ScopeKey::node(n),
                                Observation::Value(SILENT_LOOKBACK_SECS as f64),
                            ));
                        }
                    }
                }
                Observed {
                    values,
                    error: None,
                }
            }
            RuleKind::ApiErrorRate {
                window_secs,
                min_calls,
            }
            | RuleKind::ApiLatency {
                window_secs,
                min_calls,
                ..
            } => {
                let clients = matches!(scope, Scope::Client(_));
                let now = self.now.timestamp();
                let w = *window_secs as i64;
                let (from, to) = if clients {
                    (now - w, now + 1)
                } else {
                    // Whole minutes, the one filling now included.
                    let to = (now.div_euclid(60) + 1) * 60;
                    (to - w.div_euclid(60).max(1) * 60, to)
                };
                let rows = match self.windows(clients, from, to).await {
                    Ok(r) => r,
                    Err(e) => return Observed::failed(e),
                };
                let value = |c: &CallWindow| {
                    if c.calls < *min_calls {
                        return Observation::NoData;
                    }
                    Observation::Value(match &rule.kind {
                        RuleKind::ApiLatency { quantile, .. } => match quantile {
                            gatewatch_model::alert::Quantile::P95 => c.p95_us / 1000.0,
                            gatewatch_model::alert::Quantile::P99 => c.p99_us / 1000.0,
                        },
                        _ => c.error_rate_pct(),
                    })
                };
                per_call_scope(&scope, &rows, value)
            }
            RuleKind::TrafficDrop { min_calls } => {
                let clients = matches!(scope, Scope::Client(_));
                let to = self.now.timestamp().div_euclid(60) * 60;
                let from = to - 3600;
                let cur = match self.windows(clients, from, to).await {
                    Ok(r) => r,
                    Err(e) => return Observed::failed(e),
                };
                let base = match self
                    .windows(clients, from - WEEK_SECS, to - WEEK_SECS)
                    .await
                {
                    Ok(r) => r,
                    Err(e) => return Observed::failed(e),
                };
                // Keys come from the baseline: an API with no calls now has dropped 100%.
                let value = |b: &CallWindow| {
                    if b.calls < *min_calls || b.calls == 0 {
                        return Observation::NoData;
                    }
                    let now_calls = cur.iter().find(|c| c.key == b.key).map_or(0, |c| c.calls);
                    let drop = 100.0 * (1.0 - now_calls as f64 / b.calls as f64);
                    Observation::Value(drop.max(0.0))
                };
                per_call_scope(&scope, &base, value)
            }
            RuleKind::IngestQuarantine { window_secs } => {
                let since = secs(self.now.timestamp() - *window_secs as i64);
                match gatewatch_store::ingest::quarantined_since(self.store, since).await {
                    Ok(n) => Observed {
                        values: vec![(ScopeKey::default(), Observation::Value(n as f64))],
                        error: None,
                    },
                    Err(e) => Observed::failed(e),
                }
            }
            RuleKind::Database { check } => match check {
                DbCheck::ConnectMs | DbCheck::Failure => match &self.probe {
                    Some(p) => Observed {
                        values: vec![(
                            ScopeKey::default(),
                            p.observation(*check == DbCheck::Failure),
                        )],
                        error: None,
                    },
                    None => Observed::default(),
                },
                // Per node, above.
                DbCheck::GatewaySpool => Observed::default(),
            },
        }
    }
}

/// Named nodes with no current reading are observed as no data (so their key exists).
fn named_nodes_without_data(scope: &Scope, values: &mut Vec<(ScopeKey, Observation)>) {
    if let Scope::Nodes(named) = scope {
        for n in named {
            let k = ScopeKey::node(n);
            if !values.iter().any(|(v, _)| *v == k) {
                values.push((k, Observation::NoData));
            }
        }
    }
}

/// Values of a call-family scope from per-key windows (`key` = API id, or client id).
fn per_call_scope(
    scope: &Scope,
    rows: &[CallWindow],
    value: impl Fn(&CallWindow) -> Observation,
) -> Observed {
    let one = |id: &str, key: ScopeKey| {
        let obs = rows
            .iter()
            .find(|c| c.key == id)
            .map_or(Observation::NoData, &value);
        vec![(key, obs)]
    };
    let values = match scope {
        Scope::Api(id) => one(id, ScopeKey::api(id)),
        Scope::Client(id) => one(id, ScopeKey::client(id)),
        _ => rows
            .iter()
            .filter(|c| !c.key.is_empty())
            .map(|c| (ScopeKey::api(&c.key), value(c)))
            .collect(),
    };
    Observed {
        values,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatewatch_model::alert::{NoticeKind, PhaseName};

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + secs, 0).unwrap()
    }

    fn db(for_secs: u64) -> AlertRuleSpec {
        let mut r = AlertRuleSpec::new(
            "db",
            RuleKind::Database {
                check: DbCheck::Failure,
            },
            0.0,
        );
        r.for_secs = for_secs;
        r
    }

    #[test]
    fn a_failure_seen_over_a_timeout_counts_from_when_it_began() {
        let failed = Observation::Error("no answer within 3000 ms".into());
        // Not answering since 5 s, seen until 8 s: 3 s ≥ for_secs 2, so it fires now.
        let (st, acts) = step_failure(&AlertState::default(), &failed, at(5), at(8), &db(2), false);
        assert!(matches!(st.phase, Phase::Firing { since, .. } if since == at(5)));
        assert_eq!(
            acts,
            vec![
                Action::Transition {
                    from: PhaseName::Ok,
                    to: PhaseName::Pending
                },
                Action::Transition {
                    from: PhaseName::Pending,
                    to: PhaseName::Firing
                },
                Action::Notify {
                    kind: NoticeKind::Firing,
                    since: at(5)
                },
            ]
        );
        // Not long enough yet: pending since the start.
        let (st, _) = step_failure(&AlertState::default(), &failed, at(5), at(6), &db(2), false);
        assert_eq!(st.phase, Phase::Pending { since: at(5) });
        // Already pending: one step at the end of the span.
        let (st2, acts) = step_failure(&st, &failed, at(5), at(7), &db(2), false);
        assert!(matches!(st2.phase, Phase::Firing { since, .. } if since == at(5)));
        assert_eq!(acts.len(), 2);
    }

    #[test]
    fn a_failure_span_starts_at_the_earliest_unanswered_call() {
        assert_eq!(failure_span(at(5), at(8), None), (at(5), at(8)));
        assert_eq!(failure_span(at(5), at(8), Some(at(1))), (at(1), at(8)));
        assert_eq!(failure_span(at(5), at(8), Some(at(7))), (at(5), at(8)));
    }

    #[test]
    fn the_next_pending_due_is_the_earliest_future_one() {
        let rules = vec![crate::source::RuleEntry {
            id: "db".into(),
            version: 1,
            spec: db(10),
        }];
        let p = |s| AlertState {
            phase: Phase::Pending { since: at(s) },
            owed_resolved: None,
        };
        let (a, b, ok) = (p(0), p(3), AlertState::default());
        let states = [("db", &a), ("db", &b), ("db", &ok), ("gone", &a)];
        assert_eq!(
            next_pending_due(states.into_iter(), &rules, at(5)),
            Some(at(10))
        );
        assert_eq!(
            next_pending_due(states.into_iter(), &rules, at(10)),
            Some(at(13))
        );
        assert_eq!(next_pending_due(states.into_iter(), &rules, at(13)), None);
    }
}
