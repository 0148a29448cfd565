//! The collector's own figures, on `/metrics` through its registry ([`Figures`] reads them
//! at each scrape; see `gatewatch_listen::metrics`).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use gatewatch_listen::metrics::{self as m, Collector, DescriptorEncoder, Histogram};
use prometheus_client::metrics::MetricType;

use crate::wal::Wal;
use crate::Batch;

/// Counters and gauges, updated in one place each; histograms of what comes in and goes out.
#[derive(Debug)]
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
    /// Requests refused whole for naming a node the registry does not know (403,
    /// `[collector] registered_nodes_only`), or while the registry was never read (503).
    pub requests_unregistered: AtomicU64,
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
    /// Records per batch written to the log, by kind ([`KINDS`]).
    pub batch_records: [Histogram; 2],
    /// Bytes (the NDJSON of the good lines, as logged) per batch, by kind.
    pub batch_bytes: [Histogram; 2],
    /// Rows per INSERT round that succeeded.
    pub insert_rows: Histogram,
    /// Time of each INSERT round that succeeded, µs (the rows, then the stored marks).
    pub insert_latency: Histogram,
}

/// The `kind` label of the batch histograms: index 0 call records, 1 node samples.
pub const KINDS: [&str; 2] = ["calls", "node_samples"];

/// Records per batch: 1 … 50 000 (the gateway ships up to a few thousand).
const RECORDS: &[u64] = &[
    1, 10, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000,
];

/// Bytes per batch: 1 KiB … 64 MiB.
const BYTES: &[u64] = &[
    1 << 10,
    4 << 10,
    16 << 10,
    64 << 10,
    256 << 10,
    1 << 20,
    4 << 20,
    16 << 20,
    64 << 20,
];

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            requests_ok: AtomicU64::new(0),
            requests_partial: AtomicU64::new(0),
            requests_rejected: AtomicU64::new(0),
            requests_duplicate: AtomicU64::new(0),
            requests_wal_full: AtomicU64::new(0),
            requests_unauthorized: AtomicU64::new(0),
            requests_busy: AtomicU64::new(0),
            requests_unregistered: AtomicU64::new(0),
            requests_unknown_fields: AtomicU64::new(0),
            lines_accepted: AtomicU64::new(0),
            lines_rejected: AtomicU64::new(0),
            rows_inserted: AtomicU64::new(0),
            rows_skipped_as_stored: AtomicU64::new(0),
            insert_errors: AtomicU64::new(0),
            batches_quarantined: AtomicU64::new(0),
            rows_quarantined: AtomicU64::new(0),
            inserts: AtomicU64::new(0),
            clickhouse_down: AtomicU64::new(0),
            batch_records: [Histogram::new(RECORDS, 1.0), Histogram::new(RECORDS, 1.0)],
            batch_bytes: [Histogram::new(BYTES, 1.0), Histogram::new(BYTES, 1.0)],
            insert_rows: Histogram::new(RECORDS, 1.0),
            insert_latency: Histogram::new(m::LATENCY_US, 1e6),
        }
    }
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// True while inserts are failing.
    pub fn clickhouse_down(&self) -> bool {
        self.clickhouse_down.load(Relaxed) == 1
    }

    /// The collector's families, with the write-ahead log's figures passed in (the names
    /// scraped since the first release, then the histograms).
    pub fn encode(
        &self,
        enc: &mut DescriptorEncoder,
        wal_bytes: u64,
        wal_max: u64,
        wal_pending: u64,
    ) -> fmt::Result {
        let g = |a: &AtomicU64| a.load(Relaxed);
        m::counter_by(
            enc,
            "gatewatch_collector_requests",
            "Ingest requests by result.",
            "result",
            &[
                ("ok", g(&self.requests_ok)),
                ("partial", g(&self.requests_partial)),
                ("rejected", g(&self.requests_rejected)),
                ("duplicate", g(&self.requests_duplicate)),
                ("wal_full", g(&self.requests_wal_full)),
                ("unauthorized", g(&self.requests_unauthorized)),
                ("busy", g(&self.requests_busy)),
                ("unregistered", g(&self.requests_unregistered)),
            ],
        )?;
        m::counter(
            enc,
            "gatewatch_collector_requests_with_unknown_fields",
            "Ingest requests whose records had fields this collector does not know (upgrade it).",
            g(&self.requests_unknown_fields),
        )?;
        m::counter_by(
            enc,
            "gatewatch_collector_lines",
            "NDJSON lines by result.",
            "result",
            &[
                ("accepted", g(&self.lines_accepted)),
                ("rejected", g(&self.lines_rejected)),
            ],
        )?;
        let counters = [
            (
                "gatewatch_collector_rows_inserted",
                "Rows inserted into ClickHouse.",
                &self.rows_inserted,
            ),
            (
                "gatewatch_collector_rows_skipped",
                "Rows not inserted because ClickHouse already had them (replays).",
                &self.rows_skipped_as_stored,
            ),
            (
                "gatewatch_collector_inserts",
                "INSERT rounds that succeeded.",
                &self.inserts,
            ),
            (
                "gatewatch_collector_insert_errors",
                "INSERT attempts that failed (retried, or split to find a batch ClickHouse refuses).",
                &self.insert_errors,
            ),
            (
                "gatewatch_collector_batches_quarantined",
                "Batches ClickHouse refused for good (not for a passing reason), set aside in wal/quarantine/ with the error.",
                &self.batches_quarantined,
            ),
            (
                "gatewatch_collector_rows_quarantined",
                "Rows of the quarantined batches.",
                &self.rows_quarantined,
            ),
        ];
        for (name, help, v) in counters {
            m::counter(enc, name, help, g(v))?;
        }
        let gauges = [
            (
                "gatewatch_collector_clickhouse_down",
                "1 while inserts are failing.",
                g(&self.clickhouse_down),
            ),
            (
                "gatewatch_collector_wal_bytes",
                "Bytes of write-ahead log on disk.",
                wal_bytes,
            ),
            (
                "gatewatch_collector_wal_max_bytes",
                "Write-ahead log cap.",
                wal_max,
            ),
            (
                "gatewatch_collector_wal_pending_entries",
                "Batches in the log not yet stored.",
                wal_pending,
            ),
        ];
        for (name, help, v) in gauges {
            m::gauge(enc, name, help, v)?;
        }
        let by_kind: [(&str, &str, &[Histogram; 2]); 2] = [
            (
                "gatewatch_collector_batch_records",
                "Records per batch written to the log, by kind.",
                &self.batch_records,
            ),
            (
                "gatewatch_collector_batch_bytes",
                "Bytes of NDJSON per batch written to the log (the good lines, decompressed), by kind.",
                &self.batch_bytes,
            ),
        ];
        for (name, help, hs) in by_kind {
            let mut fam = enc.encode_descriptor(name, help, None, MetricType::Histogram)?;
            for (kind, h) in KINDS.iter().zip(hs) {
                h.encode(fam.encode_family(&[("kind", *kind)])?)?;
            }
        }
        m::histogram(
            enc,
            "gatewatch_collector_insert_rows",
            "Rows per INSERT round that succeeded (calls and node samples together).",
            &self.insert_rows,
        )?;
        m::histogram(
            enc,
            "gatewatch_collector_insert_duration_seconds",
            "Time of each INSERT round that succeeded, the stored marks included.",
            &self.insert_latency,
        )
    }
}

/// The collector's collector: its [`Metrics`] and the log's figures, read at each scrape.
pub(crate) struct Figures {
    pub metrics: std::sync::Arc<Metrics>,
    pub wal: Wal<Batch>,
}

impl fmt::Debug for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("collector figures")
    }
}

impl Collector for Figures {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let pending = self.wal.durable().saturating_sub(self.wal.acked());
        self.metrics.encode(
            &mut enc,
            self.wal.disk_bytes(),
            self.wal.max_bytes(),
            pending,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Just(std::sync::Arc<Metrics>);

    impl Collector for Just {
        fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
            self.0.encode(&mut enc, 10, 100, 2)
        }
    }

    #[test]
    fn counters_keep_their_names_and_histograms_have_buckets() {
        let m = std::sync::Arc::new(Metrics::default());
        Metrics::add(&m.requests_ok, 3);
        Metrics::add(&m.rows_inserted, 700);
        m.batch_records[0].observe(500);
        m.batch_records[1].observe(1);
        m.batch_bytes[0].observe(200_000);
        m.insert_rows.observe(501);
        m.insert_latency.observe(12_000);
        let t = m::text_of(Just(m));
        for line in [
            "# TYPE gatewatch_collector_requests_total counter",
            "gatewatch_collector_requests_total{result=\"ok\"} 3",
            "gatewatch_collector_requests_total{result=\"busy\"} 0",
            "gatewatch_collector_requests_with_unknown_fields_total 0",
            "gatewatch_collector_lines_total{result=\"accepted\"} 0",
            "gatewatch_collector_rows_inserted_total 700",
            "gatewatch_collector_insert_errors_total 0",
            "gatewatch_collector_batches_quarantined_total 0",
            "# TYPE gatewatch_collector_clickhouse_down gauge",
            "gatewatch_collector_wal_bytes 10",
            "gatewatch_collector_wal_max_bytes 100",
            "gatewatch_collector_wal_pending_entries 2",
            "# TYPE gatewatch_collector_batch_records histogram",
            "gatewatch_collector_batch_records_bucket{kind=\"calls\",le=\"250\"} 0",
            "gatewatch_collector_batch_records_bucket{kind=\"calls\",le=\"500\"} 1",
            "gatewatch_collector_batch_records_bucket{kind=\"node_samples\",le=\"1\"} 1",
            "gatewatch_collector_batch_records_count{kind=\"calls\"} 1",
            "gatewatch_collector_batch_bytes_bucket{kind=\"calls\",le=\"262144\"} 1",
            "gatewatch_collector_batch_bytes_sum{kind=\"calls\"} 200000.0",
            "gatewatch_collector_insert_rows_bucket{le=\"1000\"} 1",
            "# TYPE gatewatch_collector_insert_duration_seconds histogram",
            "gatewatch_collector_insert_duration_seconds_bucket{le=\"0.01\"} 0",
            "gatewatch_collector_insert_duration_seconds_bucket{le=\"0.025\"} 1",
            "gatewatch_collector_insert_duration_seconds_sum 0.012",
        ] {
            assert!(t.lines().any(|l| l == line), "missing {line} in\n{t}");
        }
    }
}
