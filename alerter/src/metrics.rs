//! The alerter's counters for `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters for `/metrics`.
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
}

impl Metrics {
    /// Prometheus text.
    pub fn render(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "# HELP gatewatch_alerter_evaluations_total Evaluation rounds run as lease holder.\n\
             # TYPE gatewatch_alerter_evaluations_total counter\n\
             gatewatch_alerter_evaluations_total {}\n\
             # HELP gatewatch_alerter_notifications_total Notice attempts per recipient, by result.\n\
             # TYPE gatewatch_alerter_notifications_total counter\n\
             gatewatch_alerter_notifications_total{{result=\"sent\"}} {}\n\
             gatewatch_alerter_notifications_total{{result=\"failed\"}} {}\n\
             gatewatch_alerter_notifications_total{{result=\"suppressed\"}} {}\n\
             # HELP gatewatch_alerter_lease_held 1 while this process holds the sending lease.\n\
             # TYPE gatewatch_alerter_lease_held gauge\n\
             gatewatch_alerter_lease_held {}\n\
             # HELP gatewatch_alerter_rules Alert rules loaded.\n\
             # TYPE gatewatch_alerter_rules gauge\n\
             gatewatch_alerter_rules {}\n\
             # HELP gatewatch_alerter_buffered_events Events waiting for ClickHouse.\n\
             # TYPE gatewatch_alerter_buffered_events gauge\n\
             gatewatch_alerter_buffered_events {}\n\
             # HELP gatewatch_alerter_dropped_events_total Events dropped from a full buffer.\n\
             # TYPE gatewatch_alerter_dropped_events_total counter\n\
             gatewatch_alerter_dropped_events_total {}\n",
            g(&self.evaluations),
            g(&self.sent),
            g(&self.failed),
            g(&self.suppressed),
            g(&self.lease_held),
            g(&self.rules),
            g(&self.buffered_events),
            g(&self.dropped_events),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_as_prometheus_text() {
        let m = Metrics::default();
        m.sent.fetch_add(2, Ordering::Relaxed);
        m.lease_held.store(1, Ordering::Relaxed);
        let t = m.render();
        assert!(t.contains("gatewatch_alerter_notifications_total{result=\"sent\"} 2\n"));
        assert!(t.contains("gatewatch_alerter_lease_held 1\n"));
    }
}
