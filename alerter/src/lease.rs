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
}
