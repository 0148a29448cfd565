//! The gateway's own figures, served as Prometheus text on `GET /metrics`.
//!
//! Plain atomics with relaxed ordering: each is an independent counter or gauge, read only to
//! print it. The hot path touches one counter per call (requests by outcome), and the
//! queue-full counter only when a record is dropped.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use gatewatch_model::Outcome;

/// Why records were lost; the `reason` label of `gatewatch_gateway_records_dropped_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropReason {
    /// The in-memory queue was full (the shipper fell behind).
    QueueFull,
    /// The spool would have passed `spool_max_bytes`.
    SpoolFull,
    /// Writing the spool file failed.
    SpoolError,
    /// The collector refused the batch as bad (400/413/415/422).
    Rejected,
    /// The record came after the shipper had stopped (a call outlived the drain timeout).
    Shutdown,
    /// The batch could not be encoded.
    Encode,
    /// One record alone was over `batch_max_bytes`, or the collector refused it alone as too
    /// large (413).
    TooLarge,
}

impl DropReason {
    const ALL: [DropReason; 7] = [
        DropReason::QueueFull,
        DropReason::SpoolFull,
        DropReason::SpoolError,
        DropReason::Rejected,
        DropReason::Shutdown,
        DropReason::Encode,
        DropReason::TooLarge,
    ];

    fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::SpoolFull => "spool_full",
            DropReason::SpoolError => "spool_error",
            DropReason::Rejected => "rejected",
            DropReason::Shutdown => "shutdown",
            DropReason::Encode => "encode",
            DropReason::TooLarge => "too_large",
        }
    }
}

/// Every figure the gateway keeps about itself.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    requests: [AtomicU64; Outcome::ALL.len()],
    dropped: [AtomicU64; DropReason::ALL.len()],
    /// Records in batches the collector acknowledged (2xx).
    pub records_shipped: AtomicU64,
    /// Records written to the spool.
    pub records_spooled: AtomicU64,
    /// Node samples the collector acknowledged.
    pub samples_shipped: AtomicU64,
    /// Node samples lost (spool full, rejected, …).
    pub samples_dropped: AtomicU64,
    /// Batches acknowledged with 200/2xx.
    pub batches_shipped: AtomicU64,
    /// Batches answered 207 (some lines refused by the collector, the rest stored).
    pub batches_partial: AtomicU64,
    /// Batches refused as bad (not resent).
    pub batches_rejected: AtomicU64,
    /// Batches the collector refused as too large (413), split in halves and resent.
    pub batches_split: AtomicU64,
    /// Sends that found the collector away (connection error, timeout, 5xx, 503).
    pub ship_errors: AtomicU64,
    /// Bytes of batch files in the spool (gauge).
    pub spool_bytes: AtomicU64,
    /// Batch files in the spool (gauge).
    pub spool_batches: AtomicU64,
    /// Spool files that failed their checksum and were moved to `corrupt/`.
    pub spool_corrupt: AtomicU64,
    /// Set while the spool refuses batches (size cap or a failing disk) and cleared when a
    /// batch is spooled or delivered again; `/readyz` answers 503 while it is set.
    pub spool_full: AtomicBool,
}

impl Metrics {
    pub fn count_request(&self, outcome: Outcome) {
        if let Some(i) = Outcome::ALL.iter().position(|o| *o == outcome) {
            self.requests[i].fetch_add(1, Relaxed);
        }
    }

    pub fn count_dropped(&self, reason: DropReason, n: u64) {
        if let Some(i) = DropReason::ALL.iter().position(|r| *r == reason) {
            self.dropped[i].fetch_add(n, Relaxed);
        }
    }

    /// Records dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().map(|d| d.load(Relaxed)).sum()
    }

    pub fn dropped(&self, reason: DropReason) -> u64 {
        DropReason::ALL
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.dropped[i].load(Relaxed))
    }

    /// The Prometheus text exposition. `queue_depth` is read from the channel by the caller.
    pub fn render(
        &self,
        queue_depth: usize,
        queue_capacity: usize,
        spool_max_bytes: u64,
    ) -> String {
        let mut out = String::with_capacity(4096);
        let mut requests_total = 0u64;
        header(
            &mut out,
            "gatewatch_gateway_requests_total",
            "counter",
            "Proxied calls by outcome.",
        );
        for (i, o) in Outcome::ALL.iter().enumerate() {
            let n = self.requests[i].load(Relaxed);
            requests_total += n;
            let _ = writeln!(
                out,
                "gatewatch_gateway_requests_total{{outcome=\"{o}\"}} {n}"
            );
        }
        let dropped_before_queue =
            self.dropped(DropReason::QueueFull) + self.dropped(DropReason::Shutdown);
        counter(
            &mut out,
            "gatewatch_gateway_records_queued_total",
            "Call records accepted into the in-memory queue.",
            requests_total.saturating_sub(dropped_before_queue),
        );
        gauge(
            &mut out,
            "gatewatch_gateway_queue_depth",
            "Call records waiting in the in-memory queue.",
            queue_depth as u64,
        );
        gauge(
            &mut out,
            "gatewatch_gateway_queue_capacity",
            "Capacity of the in-memory record queue.",
            queue_capacity as u64,
        );
        counter(
            &mut out,
            "gatewatch_gateway_records_shipped_total",
            "Call records in batches the collector acknowledged.",
            self.records_shipped.load(Relaxed),
        );
        counter(
            &mut out,
            "gatewatch_gateway_records_spooled_total",
            "Call records written to the disk spool.",
            self.records_spooled.load(Relaxed),
        );
        header(
            &mut out,
            "gatewatch_gateway_records_dropped_total",
            "counter",
            "Call records lost, by reason.",
        );
        for (i, r) in DropReason::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "gatewatch_gateway_records_dropped_total{{reason=\"{}\"}} {}",
                r.as_str(),
                self.dropped[i].load(Relaxed)
            );
        }
        counter(
            &mut out,
            "gatewatch_gateway_samples_shipped_total",
            "Node samples the collector acknowledged.",
            self.samples_shipped.load(Relaxed),
        );
        counter(
            &mut out,
            "gatewatch_gateway_samples_dropped_total",
            "Node samples lost.",
            self.samples_dropped.load(Relaxed),
        );
        header(
            &mut out,
            "gatewatch_gateway_batches_total",
            "counter",
            "Batches the collector answered, by result.",
        );
        for (result, v) in [
            ("ok", &self.batches_shipped),
            ("partial", &self.batches_partial),
            ("rejected", &self.batches_rejected),
        ] {
            let _ = writeln!(
                out,
                "gatewatch_gateway_batches_total{{result=\"{result}\"}} {}",
                v.load(Relaxed)
            );
        }
        counter(
            &mut out,
            "gatewatch_gateway_batches_split_total",
            "Batches the collector refused as too large (413), split in halves and sent again.",
            self.batches_split.load(Relaxed),
        );
        counter(
            &mut out,
            "gatewatch_gateway_ship_errors_total",
            "Sends that found the collector away (connection error, timeout, 5xx).",
            self.ship_errors.load(Relaxed),
        );
        gauge(
            &mut out,
            "gatewatch_gateway_spool_bytes",
            "Bytes of batch files waiting in the spool.",
            self.spool_bytes.load(Relaxed),
        );
        gauge(
            &mut out,
            "gatewatch_gateway_spool_max_bytes",
            "Size cap of the spool.",
            spool_max_bytes,
        );
        gauge(
            &mut out,
            "gatewatch_gateway_spool_batches",
            "Batch files waiting in the spool.",
            self.spool_batches.load(Relaxed),
        );
        counter(
            &mut out,
            "gatewatch_gateway_spool_corrupt_total",
            "Spool files that failed their checksum and were moved to corrupt/.",
            self.spool_corrupt.load(Relaxed),
        );
        gauge(
            &mut out,
            "gatewatch_gateway_spool_full",
            "1 while the spool refuses batches for its size cap.",
            u64::from(self.spool_full.load(Relaxed)),
        );
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn counter(out: &mut String, name: &str, help: &str, v: u64) {
    header(out, name, "counter", help);
    let _ = writeln!(out, "{name} {v}");
}

fn gauge(out: &mut String, name: &str, help: &str, v: u64) {
    header(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {v}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_lists_outcomes_and_drop_reasons() {
        let m = Metrics::default();
        m.count_request(Outcome::Ok);
        m.count_request(Outcome::Ok);
        m.count_request(Outcome::NoRoute);
        m.count_dropped(DropReason::QueueFull, 1);
        m.count_dropped(DropReason::SpoolFull, 7);
        let text = m.render(3, 10, 100);
        for line in [
            "gatewatch_gateway_requests_total{outcome=\"ok\"} 2",
            "gatewatch_gateway_requests_total{outcome=\"no_route\"} 1",
            "gatewatch_gateway_records_queued_total 2",
            "gatewatch_gateway_records_dropped_total{reason=\"queue_full\"} 1",
            "gatewatch_gateway_records_dropped_total{reason=\"spool_full\"} 7",
            "gatewatch_gateway_queue_depth 3",
            "gatewatch_gateway_spool_max_bytes 100",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }
}
