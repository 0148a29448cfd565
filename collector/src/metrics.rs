//! The collector's own figures, rendered as Prometheus text on `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters and gauges, updated in one place each.
#[derive(Default)]
pub struct Metrics {
    pub requests_ok: AtomicU64,
    pub requests_partial: AtomicU64,
    pub requests_rejected: AtomicU64,
    pub requests_duplicate: AtomicU64,
    pub requests_wal_full: AtomicU64,
    /// Requests without the ingest token (401).
    pub requests_unauthorized: AtomicU64,
    /// Requests that found every decode slot taken (503).
    pub requests_busy: AtomicU64,
    /// Requests whose lines had fields this version does not know (a newer sender).
    pub requests_unknown_fields: AtomicU64,
    pub lines_accepted: AtomicU64,
    pub lines_rejected: AtomicU64,
    pub rows_inserted: AtomicU64,
    pub rows_skipped_as_stored: AtomicU64,
    pub insert_errors: AtomicU64,
    /// Batches ClickHouse refused for good, set aside in `wal/quarantine/`.
    pub batches_quarantined: AtomicU64,
    /// Rows of those batches.
    pub rows_quarantined: AtomicU64,
    pub inserts: AtomicU64,
    /// 1 while the last insert attempt failed.
    pub clickhouse_down: AtomicU64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// True while inserts are failing.
    pub fn clickhouse_down(&self) -> bool {
        self.clickhouse_down.load(Relaxed) == 1
    }

    /// Prometheus text exposition, with the WAL figures passed in.
    pub fn render(&self, wal_bytes: u64, wal_max: u64, wal_pending: u64) -> String {
        let mut s = String::with_capacity(2048);
        let c = |s: &mut String, name: &str, help: &str, kind: &str, lines: &[(&str, u64)]| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in lines {
                let _ = writeln!(s, "{name}{labels} {v}");
            }
        };
        c(
            &mut s,
            "gatewatch_collector_requests_total",
            "Ingest requests by result.",
            "counter",
            &[
                ("{result=\"ok\"}", self.requests_ok.load(Relaxed)),
                ("{result=\"partial\"}", self.requests_partial.load(Relaxed)),
                (
                    "{result=\"rejected\"}",
                    self.requests_rejected.load(Relaxed),
                ),
                (
                    "{result=\"duplicate\"}",
                    self.requests_duplicate.load(Relaxed),
                ),
                (
                    "{result=\"wal_full\"}",
                    self.requests_wal_full.load(Relaxed),
                ),
                (
                    "{result=\"unauthorized\"}",
                    self.requests_unauthorized.load(Relaxed),
                ),
                ("{result=\"busy\"}", self.requests_busy.load(Relaxed)),
            ],
        );
        c(
            &mut s,
            "gatewatch_collector_requests_with_unknown_fields_total",
            "Ingest requests whose records had fields this collector does not know (upgrade it).",
            "counter",
            &[("", self.requests_unknown_fields.load(Relaxed))],
        );
        c(
            &mut s,
            "gatewatch_collector_lines_total",
            "NDJSON lines by result.",
            "counter",
            &[
                ("{result=\"accepted\"}", self.lines_accepted.load(Relaxed)),
                ("{result=\"rejected\"}", self.lines_rejected.load(Relaxed)),
            ],
        );
        c(
            &mut s,
            "gatewatch_collector_rows_inserted_total",
            "Rows inserted into ClickHouse.",
            "counter",
            &[("", self.rows_inserted.load(Relaxed))],
        );
        c(
            &mut s,
            "gatewatch_collector_rows_skipped_total",
            "Rows not inserted because ClickHouse already had them (replays).",
            "counter",
            &[("", self.rows_skipped_as_stored.load(Relaxed))],
        );
        c(
            &mut s,
            "gatewatch_collector_inserts_total",
            "INSERT rounds that succeeded.",
            "counter",
            &[("", self.inserts.load(Relaxed))],
        );
        c(
            &mut s,
            "gatewatch_collector_insert_errors_total",
            "INSERT attempts that failed (retried, or split to find a batch ClickHouse refuses).",
            "counter",
            &[("", self.insert_errors.load(Relaxed))],
        );
        c(
            &mut s,
            "gatewatch_collector_batches_quarantined_total",
            "Batches ClickHouse refused for good (not for a passing reason), set aside in wal/quarantine/ with the error.",
            "counter",
            &[("", self.batches_quarantined.load(Relaxed))],
        );
        c(
            &mut s,
            "gatewatch_collector_rows_quarantined_total",
            "Rows of the quarantined batches.",
            "counter",
            &[("", self.rows_quarantined.load(Relaxed))],
        );
        c(
            &mut s,
            "gatewatch_collector_clickhouse_down",
            "1 while inserts are failing.",
            "gauge",
            &[("", self.clickhouse_down.load(Relaxed))],
        );
        c(
            &mut s,
            "gatewatch_collector_wal_bytes",
            "Bytes of write-ahead log on disk.",
            "gauge",
            &[("", wal_bytes)],
        );
        c(
            &mut s,
            "gatewatch_collector_wal_max_bytes",
            "Write-ahead log cap.",
            "gauge",
            &[("", wal_max)],
        );
        c(
            &mut s,
            "gatewatch_collector_wal_pending_entries",
            "Batches in the log not yet stored.",
            "gauge",
            &[("", wal_pending)],
        );
        s
    }
}
