//! The alert state machine, as one pure decision function: [`step`].
//!
//! Per rule and [`super::ScopeKey`] the evaluator keeps an [`AlertState`], and at every
//! evaluation calls `step(prev, observation, now, rule, suppressed)`, gets the new state and
//! the [`Action`]s to carry out (record transitions, send or record held-back notices), and
//! persists the state (it is serde) so a restart resumes where it was.
//!
//! The rules:
//! - **ok → pending** when the value breaches the threshold; **pending → firing** once it has
//!   breached for `for_secs` (measured from the first breaching evaluation); a value that stops
//!   breaching the *threshold* while pending goes back to ok. `for_secs` 0 fires at once
//!   (ok → firing).
//! - **firing → resolved (→ ok)** only when the value crosses the *recovery* line
//!   (hysteresis): between recovery and threshold it stays firing.
//! - **Notices**: the first (`firing`) as soon as it fires, then `repeat` no more often than
//!   every `repeat_secs` (0 = never) counted from the last notice actually sent, then
//!   `resolved` (when `send_resolved`) — but only if a firing or repeat notice was actually
//!   sent in that episode.
//! - **Suppressed** (`suppressed` = an exception window or a silence holds): a notice that
//!   would go out is recorded as [`Action::Suppressed`] instead, at most once per repeat
//!   interval (once, with `repeat_secs` 0). A firing notice held back is sent when the
//!   suppression ends if the alert still fires. An alert that fired and resolved entirely
//!   while suppressed sends nothing — not even a resolved notice, as nobody heard of it; its
//!   transitions and suppressed notices are still recorded. A resolved notice held back after a
//!   firing notice did go out is owed, and sent at the first evaluation with data once the
//!   suppression ends (dropped if the alert fires again first).
//! - **No data** ([`Observation::NoData`], and [`Observation::Error`] except for the database
//!   kinds): the state is kept as it is and nothing is sent: no transition, no repeat. A gap
//!   does not reset a pending duration (a breach after the gap may fire at once), nor resolve
//!   a firing alert. Absence of samples is what `node_silent` watches: the evaluator feeds
//!   it the seconds since the node's last sample as a value, so it never sees no-data.
//! - For `database` rules (`connect_ms`, `failure`), a failed probe is a breach.
//! - A disabled rule goes quietly to ok (a transition, no notice).
//! - Time going backwards (a clock step) counts as no time passed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::rule::AlertRuleSpec;
use super::template::NoticeKind;

/// Where an alert is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum Phase {
    #[default]
    Ok,
    /// Breaching since `since`, not yet for `for_secs`.
    Pending { since: DateTime<Utc> },
    Firing {
        /// When the condition began (the pending start).
        since: DateTime<Utc>,
        /// When it fired.
        fired_at: DateTime<Utc>,
        /// Last notice actually sent (firing or repeat) in this episode.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_sent: Option<DateTime<Utc>>,
        /// Last notice held back and recorded as suppressed in this episode.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_held: Option<DateTime<Utc>>,
    },
}

/// A phase's name, as recorded in transitions. `Resolved` is the end of a firing episode; the
/// state after it is `Ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseName {
    Ok,
    Pending,
    Firing,
    Resolved,
}

impl PhaseName {
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseName::Ok => "ok",
            PhaseName::Pending => "pending",
            PhaseName::Firing => "firing",
            PhaseName::Resolved => "resolved",
        }
    }
}

impl Phase {
    pub fn name(&self) -> PhaseName {
        match self {
            Phase::Ok => PhaseName::Ok,
            Phase::Pending { .. } => PhaseName::Pending,
            Phase::Firing { .. } => PhaseName::Firing,
        }
    }
}

/// The state of one rule for one scope key. Persist it whole.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertState {
    pub phase: Phase,
    /// A resolved notice held back by a suppression: the start of the episode it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owed_resolved: Option<DateTime<Utc>>,
}

/// What one evaluation saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Observation {
    Value(f64),
    /// No samples / no calls to compute a value from.
    NoData,
    /// The measurement failed (a query or the database probe), with why.
    Error(String),
}

/// What the evaluator must do after a step. Every action is recorded (`alert_events`);
/// `Notify` is also sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Transition {
        from: PhaseName,
        to: PhaseName,
    },
    /// Send this notice. `since`: when the episode's condition began (`{{started_at}}`).
    Notify {
        kind: NoticeKind,
        since: DateTime<Utc>,
    },
    /// A notice an exception window or silence held back (record it, do not send).
    Suppressed {
        kind: NoticeKind,
        since: DateTime<Utc>,
    },
}

fn secs_between(a: DateTime<Utc>, b: DateTime<Utc>) -> u64 {
    u64::try_from((b - a).num_seconds()).unwrap_or(0)
}

/// One evaluation: the new state and what to do. Pure; see the module doc for the rules.
pub fn step(
    prev: &AlertState,
    obs: &Observation,
    now: DateTime<Utc>,
    rule: &AlertRuleSpec,
    suppressed: bool,
) -> (AlertState, Vec<Action>) {
    let mut st = prev.clone();
    let mut acts = Vec::new();
    let from = st.phase.name();
    if !rule.enabled {
        if from != PhaseName::Ok {
            acts.push(Action::Transition {
                from,
                to: PhaseName::Ok,
            });
        }
        return (AlertState::default(), acts);
    }
    let (breach, recovered) = match obs {
        Observation::Value(v) if v.is_finite() => (rule.breaches(*v), rule.recovered(*v)),
        Observation::Error(_) if rule.kind.error_breaches() => (true, false),
        _ => return (st, acts),
    };

    let mut just_resolved = false;
    match st.phase.clone() {
        Phase::Ok if breach => {
            if rule.for_secs == 0 {
                st.phase = firing(now, now);
                acts.push(Action::Transition {
                    from,
                    to: PhaseName::Firing,
                });
            } else {
                st.phase = Phase::Pending { since: now };
                acts.push(Action::Transition {
                    from,
                    to: PhaseName::Pending,
                });
            }
        }
        Phase::Ok => {}
        Phase::Pending { .. } if !breach => {
            st.phase = Phase::Ok;
            acts.push(Action::Transition {
                from,
                to: PhaseName::Ok,
            });
        }
        Phase::Pending { since } => {
            if secs_between(since, now) >= rule.for_secs {
                st.phase = firing(since, now);
                acts.push(Action::Transition {
                    from,
                    to: PhaseName::Firing,
                });
            }
        }
        Phase::Firing {
            since, last_sent, ..
        } if recovered => {
            st.phase = Phase::Ok;
            just_resolved = true;
            acts.push(Action::Transition {
                from,
                to: PhaseName::Resolved,
            });
            if rule.send_resolved && last_sent.is_some() {
                if suppressed {
                    acts.push(Action::Suppressed {
                        kind: NoticeKind::Resolved,
                        since,
                    });
                    st.owed_resolved = Some(since);
                } else {
                    acts.push(Action::Notify {
                        kind: NoticeKind::Resolved,
                        since,
                    });
                }
            }
        }
        Phase::Firing { .. } => {}
    }

    match &mut st.phase {
        Phase::Firing {
            since,
            last_sent,
            last_held,
            ..
        } => {
            st.owed_resolved = None;
            let every = rule.repeat_secs;
            let due = |last: Option<DateTime<Utc>>| match last {
                None => true,
                Some(t) => every > 0 && secs_between(t, now) >= every,
            };
            if due(*last_sent) {
                let kind = if last_sent.is_none() {
                    NoticeKind::Firing
                } else {
                    NoticeKind::Repeat
                };
                if !suppressed {
                    acts.push(Action::Notify {
                        kind,
                        since: *since,
                    });
                    *last_sent = Some(now);
                } else if due(*last_held) {
                    acts.push(Action::Suppressed {
                        kind,
                        since: *since,
                    });
                    *last_held = Some(now);
                }
            }
        }
        _ if !just_resolved && !suppressed => {
            if let Some(since) = st.owed_resolved.take() {
                acts.push(Action::Notify {
                    kind: NoticeKind::Resolved,
                    since,
                });
            }
        }
        _ => {}
    }
    (st, acts)
}

fn firing(since: DateTime<Utc>, now: DateTime<Utc>) -> Phase {
    Phase::Firing {
        since,
        fired_at: now,
        last_sent: None,
        last_held: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::RuleKind;
    use proptest::prelude::*;

    const T0: i64 = 1_790_000_000;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(T0 + secs, 0).unwrap()
    }

    fn rule(threshold: f64, recovery: f64, for_secs: u64, repeat_secs: u64) -> AlertRuleSpec {
        let mut r = AlertRuleSpec::new("cpu", RuleKind::NodeCpu {}, threshold);
        r.recovery = Some(recovery);
        r.for_secs = for_secs;
        r.repeat_secs = repeat_secs;
        r
    }

    /// Runs values at `(secs, value, suppressed)`; returns the state and every action with
    /// its time.
    fn run(
        r: &AlertRuleSpec,
        obs: impl IntoIterator<Item = (i64, Observation, bool)>,
    ) -> (AlertState, Vec<(i64, Action)>) {
        let mut st = AlertState::default();
        let mut all = Vec::new();
        for (t, o, sup) in obs {
            let (next, acts) = step(&st, &o, at(t), r, sup);
            all.extend(acts.into_iter().map(|a| (t, a)));
            st = next;
        }
        (st, all)
    }

    fn every(from: i64, until: i64, dt: i64, v: f64) -> Vec<(i64, Observation, bool)> {
        (from..until)
            .step_by(dt as usize)
            .map(|t| (t, Observation::Value(v), false))
            .collect()
    }

    fn notices(acts: &[(i64, Action)]) -> Vec<(i64, NoticeKind)> {
        acts.iter()
            .filter_map(|(t, a)| match a {
                Action::Notify { kind, .. } => Some((*t, *kind)),
                _ => None,
            })
            .collect()
    }

    fn held(acts: &[(i64, Action)]) -> Vec<(i64, NoticeKind)> {
        acts.iter()
            .filter_map(|(t, a)| match a {
                Action::Suppressed { kind, .. } => Some((*t, *kind)),
                _ => None,
            })
            .collect()
    }

    fn transitions(acts: &[(i64, Action)]) -> Vec<(i64, PhaseName, PhaseName)> {
        acts.iter()
            .filter_map(|(t, a)| match a {
                Action::Transition { from, to } => Some((*t, *from, *to)),
                _ => None,
            })
            .collect()
    }

    use NoticeKind::*;
    use PhaseName as P;

    #[test]
    fn fires_only_after_the_condition_held_for_the_duration() {
        let r = rule(90.0, 90.0, 180, 0);
        let (st, acts) = run(&r, every(0, 180, 5, 95.0));
        assert_eq!(st.phase, Phase::Pending { since: at(0) });
        assert_eq!(transitions(&acts), vec![(0, P::Ok, P::Pending)]);
        assert!(notices(&acts).is_empty());
        let (_, acts) = run(&r, every(0, 185, 5, 95.0));
        assert_eq!(
            transitions(&acts),
            vec![(0, P::Ok, P::Pending), (180, P::Pending, P::Firing)]
        );
        assert_eq!(notices(&acts), vec![(180, Firing)]);
        // `for_secs` 0: at once.
        let (_, acts) = run(&rule(90.0, 90.0, 0, 0), every(0, 1, 5, 95.0));
        assert_eq!(transitions(&acts), vec![(0, P::Ok, P::Firing)]);
        assert_eq!(notices(&acts), vec![(0, Firing)]);
    }

    #[test]
    fn a_dip_below_the_threshold_while_pending_starts_over() {
        let r = rule(90.0, 80.0, 60, 0);
        let mut obs = every(0, 50, 5, 95.0);
        // 85 is above recovery but not over the threshold: pending resets.
        obs.push((50, Observation::Value(85.0), false));
        obs.extend(every(55, 115, 5, 95.0));
        let (st, acts) = run(&r, obs.clone());
        assert_eq!(st.phase, Phase::Pending { since: at(55) });
        assert!(notices(&acts).is_empty());
        obs.push((115, Observation::Value(95.0), false));
        let (_, acts) = run(&r, obs);
        assert_eq!(notices(&acts), vec![(115, Firing)]);
    }

    #[test]
    fn hysteresis_keeps_an_oscillating_value_from_flapping() {
        let wave = |r: &AlertRuleSpec| {
            let obs = (0..200).map(|i| {
                let v = if i % 2 == 0 { 92.0 } else { 85.0 };
                (i * 5, Observation::Value(v), false)
            });
            run(r, obs)
        };
        let (st, acts) = wave(&rule(90.0, 80.0, 0, 0));
        assert_eq!(transitions(&acts), vec![(0, P::Ok, P::Firing)]);
        assert_eq!(notices(&acts), vec![(0, Firing)]);
        assert!(matches!(st.phase, Phase::Firing { .. }));
        // Without a recovery line the same wave flaps on every sample.
        let (_, acts) = wave(&rule(90.0, 90.0, 0, 0));
        assert_eq!(notices(&acts).len(), 200);
        // Crossing the recovery line resolves, once.
        let mut obs = every(0, 100, 5, 92.0);
        obs.extend(every(100, 200, 5, 79.0));
        let (st, acts) = run(&rule(90.0, 80.0, 0, 0), obs);
        assert_eq!(st, AlertState::default());
        assert_eq!(notices(&acts), vec![(0, Firing), (100, Resolved)]);
        assert_eq!(
            transitions(&acts),
            vec![(0, P::Ok, P::Firing), (100, P::Firing, P::Resolved)]
        );
    }

    #[test]
    fn repeats_no_more_often_than_the_interval() {
        let r = rule(90.0, 90.0, 0, 180);
        let (_, acts) = run(&r, every(0, 600, 7, 95.0));
        let ts: Vec<i64> = notices(&acts).iter().map(|n| n.0).collect();
        assert_eq!(ts, vec![0, 182, 364, 546]);
        assert!(ts.windows(2).all(|w| w[1] - w[0] >= 180));
        let kinds: Vec<_> = notices(&acts).iter().map(|n| n.1).collect();
        assert_eq!(kinds, vec![Firing, Repeat, Repeat, Repeat]);
        // 0 = never repeat.
        let (_, acts) = run(&rule(90.0, 90.0, 0, 0), every(0, 3600, 5, 95.0));
        assert_eq!(notices(&acts), vec![(0, Firing)]);
    }

    proptest! {
        /// Over a firing period of `d` seconds evaluated every `e` seconds with a repeat
        /// interval that is a multiple of `e`, exactly ceil(d / repeat) notices go out.
        #[test]
        fn notices_over_a_firing_period_are_ceil_duration_over_repeat(
            e in prop::sample::select(vec![1i64, 5, 10, 15]),
            k in 1i64..40,
            d in 1i64..20_000,
        ) {
            let repeat = e * k;
            let r = rule(90.0, 90.0, 0, repeat as u64);
            let mut obs = every(0, d, e, 95.0);
            let end = obs.last().map_or(0, |o| o.0) + e;
            obs.push((end, Observation::Value(10.0), false));
            let (st, acts) = run(&r, obs);
            let n = notices(&acts);
            let sent = n.iter().filter(|x| x.1 != Resolved).count() as i64;
            let span = end; // firing from 0 until the resolving evaluation
            prop_assert_eq!(sent, (span + repeat - 1) / repeat);
            prop_assert_eq!(n.last().map(|x| x.1), Some(Resolved));
            prop_assert_eq!(st, AlertState::default());
        }

        /// Whatever the values, the machine never notifies a resolution it did not announce,
        /// and never sends two notices closer than the repeat interval.
        #[test]
        fn random_values_keep_the_invariants(
            vals in prop::collection::vec((0u8..100, any::<bool>(), 0u8..10), 1..300),
        ) {
            let r = rule(60.0, 40.0, 20, 60);
            let obs = vals.iter().enumerate().map(|(i, (v, sup, gap))| {
                let o = if *gap == 0 { Observation::NoData } else { Observation::Value(f64::from(*v)) };
                (i as i64 * 5, o, *sup)
            });
            let (_, acts) = run(&r, obs);
            let mut announced = false;
            let mut last: Option<i64> = None;
            for (t, k) in notices(&acts) {
                match k {
                    Resolved => { prop_assert!(announced); announced = false; }
                    Firing | Repeat => {
                        if let Some(l) = last.filter(|_| k == Repeat) { prop_assert!(t - l >= 60); }
                        announced = true;
                        last = Some(t);
                    }
                }
            }
        }
    }

    #[test]
    fn firing_entirely_inside_a_window_sends_nothing_but_records_it() {
        let r = rule(90.0, 90.0, 0, 60);
        let mut obs: Vec<_> = (0..40)
            .map(|i| (i * 5, Observation::Value(95.0), true))
            .collect();
        obs.push((200, Observation::Value(50.0), true));
        obs.push((205, Observation::Value(50.0), false));
        let (_, acts) = run(&r, obs);
        assert!(notices(&acts).is_empty(), "{acts:?}");
        assert_eq!(
            held(&acts),
            vec![(0, Firing), (60, Firing), (120, Firing), (180, Firing)]
        );
        assert_eq!(
            transitions(&acts),
            vec![(0, P::Ok, P::Firing), (200, P::Firing, P::Resolved)]
        );
    }

    #[test]
    fn repeats_inside_a_window_are_recorded_once_per_interval_and_resume_after() {
        let r = rule(90.0, 90.0, 0, 60);
        let obs = (0..100).map(|i| {
            let t = i * 5;
            (t, Observation::Value(95.0), (100..400).contains(&t))
        });
        let (_, acts) = run(&r, obs);
        assert_eq!(
            notices(&acts),
            vec![(0, Firing), (60, Repeat), (400, Repeat), (460, Repeat)]
        );
        assert_eq!(
            held(&acts),
            vec![
                (120, Repeat),
                (180, Repeat),
                (240, Repeat),
                (300, Repeat),
                (360, Repeat)
            ]
        );
    }

    #[test]
    fn a_held_firing_notice_goes_out_when_the_window_ends() {
        let r = rule(90.0, 90.0, 0, 0);
        let obs = (0..10).map(|i| (i * 5, Observation::Value(95.0), i < 4));
        let (_, acts) = run(&r, obs);
        assert_eq!(held(&acts), vec![(0, Firing)]);
        assert_eq!(notices(&acts), vec![(20, Firing)]);
    }

    #[test]
    fn a_held_resolved_notice_is_owed_until_the_window_ends() {
        let r = rule(90.0, 90.0, 0, 0);
        let obs = vec![
            (0, Observation::Value(95.0), false),
            (5, Observation::Value(95.0), true),
            (10, Observation::Value(50.0), true),
            (15, Observation::Value(50.0), true),
            (20, Observation::NoData, false),
            (25, Observation::Value(50.0), false),
            (30, Observation::Value(50.0), false),
        ];
        let (st, acts) = run(&r, obs);
        assert_eq!(held(&acts), vec![(10, Resolved)]);
        assert_eq!(notices(&acts), vec![(0, Firing), (25, Resolved)]);
        assert_eq!(st, AlertState::default());
        // Firing again before the window ends drops the owed notice.
        let obs = vec![
            (0, Observation::Value(95.0), false),
            (10, Observation::Value(50.0), true),
            (15, Observation::Value(95.0), true),
            (20, Observation::Value(95.0), false),
        ];
        let (_, acts) = run(&r, obs);
        assert_eq!(notices(&acts), vec![(0, Firing), (20, Firing)]);
        // No resolved notice when the rule does not want them.
        let mut quiet = r.clone();
        quiet.send_resolved = false;
        let (_, acts) = run(
            &quiet,
            every(0, 5, 5, 95.0).into_iter().chain(every(5, 10, 5, 1.0)),
        );
        assert_eq!(notices(&acts), vec![(0, Firing)]);
    }

    #[test]
    fn no_data_keeps_the_state_and_sends_nothing() {
        let r = rule(90.0, 90.0, 60, 10);
        let mut obs = every(0, 30, 5, 95.0);
        obs.extend(
            (30..300)
                .step_by(5)
                .map(|t| (t, Observation::NoData, false)),
        );
        obs.push((300, Observation::Error("timeout".into()), false));
        let (st, acts) = run(&r, obs.clone());
        assert_eq!(st.phase, Phase::Pending { since: at(0) });
        assert_eq!(acts.len(), 1);
        // A breach after the gap fires (the pending start is kept).
        obs.push((305, Observation::Value(95.0), false));
        let (st, acts) = run(&r, obs.clone());
        assert!(matches!(st.phase, Phase::Firing { since, .. } if since == at(0)));
        assert_eq!(notices(&acts), vec![(305, Firing)]);
        // While firing, a gap sends no repeats and does not resolve.
        obs.extend(
            (310..400)
                .step_by(5)
                .map(|t| (t, Observation::NoData, false)),
        );
        let (st, acts) = run(&r, obs);
        assert!(matches!(st.phase, Phase::Firing { .. }));
        assert_eq!(notices(&acts), vec![(305, Firing)]);
    }

    #[test]
    fn a_failed_database_probe_breaches() {
        let mut r = AlertRuleSpec::new(
            "db",
            RuleKind::Database {
                check: crate::alert::DbCheck::ConnectMs,
            },
            500.0,
        );
        r.for_secs = 10;
        let obs = (0..4).map(|i| (i * 5, Observation::Error("refused".into()), false));
        let (st, acts) = run(&r, obs);
        assert!(matches!(st.phase, Phase::Firing { .. }));
        assert_eq!(notices(&acts), vec![(10, Firing)]);
        let (st, _) = step(&st, &Observation::Value(20.0), at(30), &r, false);
        assert_eq!(st, AlertState::default());
    }

    #[test]
    fn state_survives_a_restart_through_json() {
        let r = rule(90.0, 90.0, 180, 180);
        let (st, _) = run(&r, every(0, 100, 5, 95.0));
        let json = serde_json::to_string(&st).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"phase":{{"name":"pending","since":"{}"}}}}"#,
                at(0).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            )
        );
        let back: AlertState = serde_json::from_str(&json).unwrap();
        // The pending duration is not forgotten: it fires at 180, not 100 + 180.
        let (fired, acts) = step(&back, &Observation::Value(95.0), at(180), &r, false);
        assert_eq!(
            notices(&acts.into_iter().map(|a| (180, a)).collect::<Vec<_>>()),
            vec![(180, Firing)]
        );
        // And a firing notice already sent is not sent again after a restart.
        let back: AlertState =
            serde_json::from_str(&serde_json::to_string(&fired).unwrap()).unwrap();
        assert_eq!(back, fired);
        let (_, acts) = step(&back, &Observation::Value(95.0), at(200), &r, false);
        assert!(acts.is_empty(), "{acts:?}");
        let (_, acts) = step(&back, &Observation::Value(95.0), at(360), &r, false);
        assert_eq!(
            acts,
            vec![Action::Notify {
                kind: Repeat,
                since: at(0)
            }]
        );
    }

    #[test]
    fn disabling_a_rule_quietly_returns_to_ok() {
        let mut r = rule(90.0, 90.0, 0, 0);
        let (st, _) = run(&r, every(0, 5, 5, 95.0));
        r.enabled = false;
        let (st, acts) = step(&st, &Observation::Value(95.0), at(10), &r, false);
        assert_eq!(st, AlertState::default());
        assert_eq!(
            acts,
            vec![Action::Transition {
                from: P::Firing,
                to: P::Ok
            }]
        );
    }

    #[test]
    fn a_clock_step_backwards_counts_as_no_time() {
        let r = rule(90.0, 90.0, 60, 0);
        let (st, _) = run(&r, every(100, 101, 5, 95.0));
        let (st, acts) = step(&st, &Observation::Value(95.0), at(0), &r, false);
        assert!(acts.is_empty());
        assert_eq!(st.phase, Phase::Pending { since: at(100) });
    }
}
