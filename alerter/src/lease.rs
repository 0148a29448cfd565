//! The **lease** stage: who sends. One alerter of a site holds the sending lease
//! (`store::alerts::acquire`, renewed every round, given up on stop); the others idle. The
//! I/O is the engine's; what a check's outcome means is decided here ([`after_check`]), and
//! tested alone:
//!
//! - ClickHouse answered: hold it or not as it says; a process that newly holds it loads the
//!   saved states first (pending durations and what was sent survive a change of holder);
//! - ClickHouse did not answer: a process that held the lease at its last successful check
//!   **keeps acting as holder** (nobody can take it over without ClickHouse either: claims are
//!   rows in it), so the database rule still fires; one that did not hold it stays idle.
//!
//! A new holder goes on from the saved states ([`restore`]).

use crate::group::{self, GroupState};
use gatewatch_model::alert::{AlertState, ScopeKey};
use gatewatch_store::alerts::SavedState;
use std::collections::HashMap;

/// What the engine knows about the lease and ClickHouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseView {
    /// Held the lease at the last successful check (or keeps acting as holder, see above).
    pub holder: bool,
    /// ClickHouse answered the last call.
    pub ch_up: bool,
}

/// What changed with one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    pub view: LeaseView,
    /// Newly holding: load the saved states before evaluating.
    pub load_states: bool,
    /// Holding no more (another alerter holds it): drop the states in memory.
    pub lost: bool,
}

/// The outcome of a lease check: `Ok(held)` when ClickHouse answered, `Err` when it did not.
pub fn after_check(prev: LeaseView, outcome: &Result<bool, String>) -> Checked {
    match outcome {
        Ok(held) => Checked {
            view: LeaseView {
                holder: *held,
                ch_up: true,
            },
            load_states: *held && !prev.holder,
            lost: !*held && prev.holder,
        },
        Err(_) => Checked {
            view: LeaseView {
                holder: prev.holder,
                ch_up: false,
            },
            load_states: false,
            lost: false,
        },
    }
}

/// Parses a scope key's text form (`node=gw1,mount=/var`), as `alert_state` keeps it.
pub fn parse_key(s: &str) -> ScopeKey {
    let mut k = ScopeKey::default();
    for part in s.split(',') {
        if let Some((name, v)) = part.split_once('=') {
            let v = Some(v.to_string());
            match name {
                "node" => k.node = v,
                "mount" => k.mount = v,
                "api" => k.api = v,
                "client" => k.client = v,
                _ => {}
            }
        }
    }
    k
}

/// Alert states per (rule id, scope key text): the key and the state.
pub type AlertStates = HashMap<(String, String), (ScopeKey, AlertState)>;
/// Group states per (policy id, group key).
pub type GroupStates = HashMap<(String, String), GroupState>;

/// What a new holder goes on from: the saved rows read back, alerts' and groups' (rule id
/// `group:<policy id>`); a row that does not read is skipped (and logged), an ended group's
/// row (its default state) is not kept.
pub fn restore(saved: Vec<SavedState>) -> (AlertStates, GroupStates) {
    let (mut states, mut groups) = (HashMap::new(), HashMap::new());
    for s in saved {
        if let Some(policy) = s.rule_id.strip_prefix(group::STATE_PREFIX) {
            match serde_json::from_str::<GroupState>(&s.state) {
                Ok(g) if g != GroupState::default() => {
                    groups.insert((policy.to_string(), s.scope_key), g);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(group = %s.scope_key, error = %e, "ignoring a saved group state")
                }
            }
            continue;
        }
        match serde_json::from_str::<AlertState>(&s.state) {
            Ok(st) => {
                let k = parse_key(&s.scope_key);
                states.insert((s.rule_id, s.scope_key), (k, st));
            }
            Err(e) => {
                tracing::warn!(rule = %s.rule_id, key = %s.scope_key, error = %e, "ignoring a saved state")
            }
        }
    }
    (states, groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOLDER_UP: LeaseView = LeaseView {
        holder: true,
        ch_up: true,
    };
    const IDLE_UP: LeaseView = LeaseView {
        holder: false,
        ch_up: true,
    };

    #[test]
    fn a_new_holder_loads_states_and_a_lost_lease_drops_them() {
        let c = after_check(IDLE_UP, &Ok(true));
        assert_eq!((c.view, c.load_states, c.lost), (HOLDER_UP, true, false));
        let c = after_check(HOLDER_UP, &Ok(true));
        assert_eq!((c.view, c.load_states, c.lost), (HOLDER_UP, false, false));
        let c = after_check(HOLDER_UP, &Ok(false));
        assert_eq!((c.view, c.load_states, c.lost), (IDLE_UP, false, true));
    }

    #[test]
    fn with_clickhouse_away_the_holder_keeps_acting_and_others_stay_idle() {
        let away = Err("no answer within 4000 ms".to_string());
        let c = after_check(HOLDER_UP, &away);
        assert_eq!(
            c.view,
            LeaseView {
                holder: true,
                ch_up: false
            }
        );
        assert!(!c.lost && !c.load_states);
        let c = after_check(IDLE_UP, &away);
        assert_eq!(
            c.view,
            LeaseView {
                holder: false,
                ch_up: false
            }
        );
        // Back: the usual check decides again.
        let c = after_check(
            LeaseView {
                holder: true,
                ch_up: false,
            },
            &Ok(false),
        );
        assert_eq!((c.view, c.lost), (IDLE_UP, true));
    }

    #[test]
    fn scope_keys_read_back_from_their_text() {
        for k in [
            ScopeKey::default(),
            ScopeKey::node("gw1"),
            ScopeKey {
                mount: Some("/var/lib".into()),
                ..ScopeKey::node("gw1")
            },
            ScopeKey::api("orders"),
            ScopeKey::client("acme"),
        ] {
            assert_eq!(parse_key(&k.as_key()), k);
        }
    }

    #[test]
    fn saved_states_restore_alerts_and_groups_and_skip_what_does_not_read() {
        let row = |rule: &str, key: &str, state: String| SavedState {
            rule_id: rule.into(),
            scope_key: key.into(),
            ts_us: 0,
            state,
        };
        let alert = serde_json::to_string(&AlertState::default()).unwrap();
        let group = GroupState {
            seq: 2,
            ..GroupState::default()
        };
        let (states, groups) = restore(vec![
            row("cpu", "node=gw1", alert.clone()),
            row("mem", "node=gw1", "not json".into()),
            row("group:p", "p:{}", serde_json::to_string(&group).unwrap()),
            row(
                "group:q",
                "q:{}",
                serde_json::to_string(&GroupState::default()).unwrap(),
            ),
        ]);
        assert_eq!(states.len(), 1);
        assert_eq!(
            states[&("cpu".to_string(), "node=gw1".to_string())].0,
            ScopeKey::node("gw1")
        );
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[&("p".to_string(), "p:{}".to_string())], group);
    }
}
