//! The alerter's figures for `/metrics` ([`Figures`], read at each scrape by the role's
//! registry, see `gatewatch_listen::metrics`) and its readiness ([`Metrics::readiness`]).
//!
//! The engine adds to the fields directly (`metrics.sent.fetch_add(1, Relaxed)`): they are
//! its interface, and plain atomics keep the evaluation round free of locks.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use gatewatch_listen::metrics::{self as m, Collector, DescriptorEncoder};

/// Counters and gauges for `/metrics` and `/readyz`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub evaluations: AtomicU64,
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub suppressed: AtomicU64,
    pub lease_held: AtomicU64,
    pub rules: AtomicU64,
    pub buffered_events: AtomicU64,
    pub dropped_events: AtomicU64,
    /// Notices an inhibit rule held back (issue 18; each also counts in `suppressed`).
    pub inhibited: AtomicU64,
    /// Repeats an acknowledgement held back (each also counts in `suppressed`).
    pub acknowledged: AtomicU64,
    /// Messages of notification-policy groups decided (one per group message, whatever the
    /// number of recipients).
    pub group_messages: AtomicU64,
    /// 1 once the rules came from the snapshot or from ClickHouse (readiness).
    pub rules_loaded: AtomicU64,
    /// 1 while a snapshot of the rules is on disk (read at start, or written since): the
    /// alerter can keep evaluating without ClickHouse.
    pub snapshot: AtomicU64,
    /// 1 while ClickHouse answered the last round's check-in; set each round.
    pub clickhouse_up: AtomicU64,
    /// Rounds begun (0 until the first; readiness waits for one).
    pub rounds: AtomicU64,
}

impl Metrics {
    fn get(a: &AtomicU64) -> u64 {
        a.load(Ordering::Relaxed)
    }

    /// `Ok` when the alerter can do its work, else why not (the text of a 503 on `/readyz`):
    /// a lease holder needs its rules loaded (from ClickHouse or the snapshot) and ClickHouse
    /// or the snapshot to read them from; a standby needs ClickHouse (it loads the rules from
    /// there when it takes the lease, and cannot take it without).
    pub fn readiness(&self) -> Result<(), String> {
        let g = Self::get;
        if g(&self.rounds) == 0 {
            return Err("not ready: the first evaluation round has not run yet".into());
        }
        let ch = g(&self.clickhouse_up) == 1;
        if g(&self.lease_held) == 0 {
            return if ch {
                Ok(())
            } else {
                Err("not ready: standby, and ClickHouse does not answer".into())
            };
        }
        if g(&self.rules_loaded) == 0 {
            return Err(
                "not ready: the alert rules are not loaded yet (no snapshot, ClickHouse not read)"
                    .into(),
            );
        }
        if !ch && g(&self.snapshot) == 0 {
            return Err(
                "not ready: ClickHouse does not answer and there is no snapshot of the rules"
                    .into(),
            );
        }
        Ok(())
    }

    /// The alerter's families (names scraped since the first release first).
    pub fn encode(&self, enc: &mut DescriptorEncoder) -> fmt::Result {
        let g = Self::get;
        m::counter(
            enc,
            "gatewatch_alerter_evaluations",
            "Evaluation rounds run as lease holder.",
            g(&self.evaluations),
        )?;
        m::counter_by(
            enc,
            "gatewatch_alerter_notifications",
            "Notice attempts per recipient, by result.",
            "result",
            &[
                ("sent", g(&self.sent)),
                ("failed", g(&self.failed)),
                ("suppressed", g(&self.suppressed)),
            ],
        )?;
        m::gauge(
            enc,
            "gatewatch_alerter_lease_held",
            "1 while this process holds the sending lease.",
            g(&self.lease_held),
        )?;
        m::gauge(
            enc,
            "gatewatch_alerter_rules",
            "Alert rules loaded.",
            g(&self.rules),
        )?;
        m::gauge(
            enc,
            "gatewatch_alerter_buffered_events",
            "Events waiting for ClickHouse.",
            g(&self.buffered_events),
        )?;
        m::counter(
            enc,
            "gatewatch_alerter_dropped_events",
            "Events dropped from a full buffer.",
            g(&self.dropped_events),
        )?;
        m::counter_by(
            enc,
            "gatewatch_alerter_held_back",
            "Notices held back, by why (each also counts as a suppressed notification).",
            "reason",
            &[
                ("inhibited", g(&self.inhibited)),
                ("acknowledged", g(&self.acknowledged)),
            ],
        )?;
        m::counter(
            enc,
            "gatewatch_alerter_group_messages",
            "Messages of notification-policy groups decided (one per message, whatever the recipients).",
            g(&self.group_messages),
        )?;
        m::gauge(
            enc,
            "gatewatch_alerter_clickhouse_up",
            "1 while ClickHouse answered the last round's check-in.",
            g(&self.clickhouse_up),
        )?;
        m::gauge(
            enc,
            "gatewatch_alerter_rules_loaded",
            "1 once the alert rules came from the snapshot or from ClickHouse.",
            g(&self.rules_loaded),
        )?;
        m::gauge(
            enc,
            "gatewatch_alerter_ready",
            "1 while /readyz answers 200.",
            u64::from(self.readiness().is_ok()),
        )
    }
}

/// The alerter's collector for its role's registry.
pub struct Figures(pub Arc<Metrics>);

impl fmt::Debug for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("alerter figures")
    }
}

impl Collector for Figures {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        self.0.encode(&mut enc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_as_prometheus_text() {
        let m = Arc::new(Metrics::default());
        m.sent.fetch_add(2, Ordering::Relaxed);
        m.lease_held.store(1, Ordering::Relaxed);
        let t = gatewatch_listen::metrics::text_of(Figures(m));
        for line in [
            "# TYPE gatewatch_alerter_evaluations_total counter",
            "gatewatch_alerter_evaluations_total 0",
            "# TYPE gatewatch_alerter_notifications_total counter",
            "gatewatch_alerter_notifications_total{result=\"sent\"} 2",
            "gatewatch_alerter_notifications_total{result=\"failed\"} 0",
            "gatewatch_alerter_notifications_total{result=\"suppressed\"} 0",
            "# TYPE gatewatch_alerter_lease_held gauge",
            "gatewatch_alerter_lease_held 1",
            "gatewatch_alerter_rules 0",
            "gatewatch_alerter_buffered_events 0",
            "gatewatch_alerter_dropped_events_total 0",
            "gatewatch_alerter_ready 0",
        ] {
            assert!(t.lines().any(|l| l == line), "missing {line} in\n{t}");
        }
    }

    #[test]
    fn readiness_says_why_not() {
        let m = Metrics::default();
        let set = |a: &AtomicU64, v| a.store(v, Ordering::Relaxed);
        assert!(m
            .readiness()
            .unwrap_err()
            .contains("first evaluation round"));
        set(&m.rounds, 1);
        assert!(m.readiness().unwrap_err().contains("standby"));
        set(&m.clickhouse_up, 1);
        assert_eq!(m.readiness(), Ok(()));
        set(&m.lease_held, 1);
        assert!(m.readiness().unwrap_err().contains("rules are not loaded"));
        set(&m.rules_loaded, 1);
        assert_eq!(m.readiness(), Ok(()));
        // ClickHouse away: the snapshot carries the rules.
        set(&m.clickhouse_up, 0);
        assert!(m.readiness().unwrap_err().contains("no snapshot"));
        set(&m.snapshot, 1);
        assert_eq!(m.readiness(), Ok(()));
    }
}
