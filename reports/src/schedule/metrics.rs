//! The scheduler's figures for `/metrics` ([`Figures`], read at each scrape by the role's
//! registry, see `gatewatch_listen::metrics`) and its readiness ([`Metrics::readiness`]: the
//! scheduler's loop has ticked recently).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gatewatch_listen::metrics::{self as m, Collector, DescriptorEncoder};

/// Counters for `/metrics` and `/readyz`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub subscriptions: AtomicU64,
    pub lease_held: AtomicBool,
    pub runs_ok: AtomicU64,
    pub runs_failed: AtomicU64,
    pub attempts_failed: AtomicU64,
    pub partitions_dropped: AtomicU64,
    /// Turns of the scheduler's loop (lease, subscriptions, catch-up; one every `poll`).
    pub ticks: AtomicU64,
    /// When the loop last began a turn, ms since the epoch (0: never).
    pub last_tick_ms: AtomicU64,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Metrics {
    /// The loop begins a turn.
    pub fn tick(&self) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
        self.last_tick_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// `Ok` while the scheduler's loop runs: it began a turn within `3 × poll + 30 s` (a turn
    /// waits on ClickHouse, then sleeps `poll`); else why not (the text of a 503 on `/readyz`).
    pub fn readiness(&self, poll: Duration) -> Result<(), String> {
        self.readiness_at(poll, now_ms())
    }

    fn readiness_at(&self, poll: Duration, now_ms: u64) -> Result<(), String> {
        let last = self.last_tick_ms.load(Ordering::Relaxed);
        if last == 0 {
            return Err("not ready: the report scheduler has not started".into());
        }
        let limit =
            u64::try_from((poll * 3 + Duration::from_secs(30)).as_millis()).unwrap_or(u64::MAX);
        let since = now_ms.saturating_sub(last);
        if since > limit {
            return Err(format!(
                "not ready: the report scheduler's loop has not ticked for {} s",
                since / 1000
            ));
        }
        Ok(())
    }

    /// The scheduler's families (names scraped since the first release first).
    pub fn encode(&self, enc: &mut DescriptorEncoder) -> fmt::Result {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        m::gauge(
            enc,
            "gatewatch_reports_subscriptions",
            "Enabled report subscriptions scheduled.",
            g(&self.subscriptions),
        )?;
        m::gauge(
            enc,
            "gatewatch_reports_lease_held",
            "1 while this process holds the sending lease.",
            u64::from(self.lease_held.load(Ordering::Relaxed)),
        )?;
        for (name, help, v) in [
            (
                "gatewatch_reports_runs_ok",
                "Report mails sent.",
                &self.runs_ok,
            ),
            (
                "gatewatch_reports_runs_failed",
                "Report mails given up on.",
                &self.runs_failed,
            ),
            (
                "gatewatch_reports_attempts_failed",
                "Failed send attempts (retried or not).",
                &self.attempts_failed,
            ),
            (
                "gatewatch_reports_partitions_dropped",
                "Partitions dropped by retention.",
                &self.partitions_dropped,
            ),
            (
                "gatewatch_reports_scheduler_ticks",
                "Turns of the scheduler's loop (one every poll).",
                &self.ticks,
            ),
        ] {
            m::counter(enc, name, help, g(v))?;
        }
        m::gauge(
            enc,
            "gatewatch_reports_scheduler_last_tick_seconds",
            "When the scheduler's loop last began a turn, seconds since the epoch (0: never).",
            g(&self.last_tick_ms) / 1000,
        )
    }
}

/// The scheduler's collector for its role's registry.
pub struct Figures(pub Arc<Metrics>);

impl fmt::Debug for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("reports figures")
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
    fn names_stay_and_counters_end_in_total() {
        let m = Arc::new(Metrics::default());
        m.runs_ok.store(2, Ordering::Relaxed);
        m.tick();
        let t = gatewatch_listen::metrics::text_of(Figures(m));
        for line in [
            "# TYPE gatewatch_reports_subscriptions gauge",
            "gatewatch_reports_lease_held 0",
            "# TYPE gatewatch_reports_runs_ok_total counter",
            "gatewatch_reports_runs_ok_total 2",
            "gatewatch_reports_runs_failed_total 0",
            "gatewatch_reports_attempts_failed_total 0",
            "gatewatch_reports_partitions_dropped_total 0",
            "gatewatch_reports_scheduler_ticks_total 1",
        ] {
            assert!(t.lines().any(|l| l == line), "missing {line} in\n{t}");
        }
    }

    #[test]
    fn ready_while_the_loop_ticks() {
        let m = Metrics::default();
        let poll = Duration::from_secs(5);
        assert!(m
            .readiness_at(poll, 1_000_000)
            .unwrap_err()
            .contains("not started"));
        m.last_tick_ms.store(1_000_000, Ordering::Relaxed);
        assert_eq!(m.readiness_at(poll, 1_000_000 + 45_000), Ok(()));
        let e = m.readiness_at(poll, 1_000_000 + 46_000).unwrap_err();
        assert!(e.contains("not ticked for 46 s"), "{e}");
    }
}
