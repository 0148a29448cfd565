//! The gateway's own figures, served on the admin port's `GET /metrics` through its
//! registry (see [`crate::admin`] and `gatewatch_listen::metrics`).
//!
//! Plain atomics with relaxed ordering: each is an independent counter or gauge, read only to
//! print it. The hot path ([`crate::recorder::Sink::record`]) touches the outcome counter and
//! the call's API series ([`ApiSeries`]: a counter and three lock-free histograms, reached
//! through the route the call already holds, so no label is built or hashed per call); the
//! queue-full counter only when a record is dropped.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use gatewatch_listen::metrics::{
    self as m, ConstCounter, DescriptorEncoder, EncodeMetric, Histogram,
};
use gatewatch_model::Outcome;
use prometheus_client::metrics::MetricType;

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
    /// Calls no API's route took (no route, the gateway's own endpoints): `api="(none)"`.
    pub unmatched: ApiSeries,
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
    /// Bytes of journal segments (gauge; see `journal.rs`).
    pub journal_bytes: AtomicU64,
    /// The journal's cap (`journal_max_mb`; 0 while it is off).
    pub journal_max_bytes: AtomicU64,
    /// Set while the journal refuses appends (cap reached or disk failing); `/readyz` answers
    /// 503 while it is set.
    pub journal_full: AtomicBool,
    /// Records the journal refused: shipped from memory only, lost if the gateway is killed.
    pub records_unjournalled: AtomicU64,
    /// Records read back from the journal after a restart and handed to the spool.
    pub journal_replayed: AtomicU64,
    /// Damaged stretches of journal skipped on recovery (each lost at least one record).
    pub journal_damaged: AtomicU64,
    /// Bytes in those stretches and in torn tails.
    pub journal_skipped_bytes: AtomicU64,
    /// Spans the OTLP exporter sent, and dropped (`[gateway.otlp]`; zero while it is off).
    pub otlp: std::sync::Arc<crate::trace_otlp::Stats>,
    /// Per collector (`collector_urls`), in the sender's order; set once when it starts.
    collectors: std::sync::OnceLock<Box<[CollectorStat]>>,
}

/// Reads one figure of a [`CollectorStat`].
type StatOf = fn(&CollectorStat) -> u64;

/// One collector's figures: `gatewatch_gateway_collector_up{collector}`, `…_in_use` and
/// `…_failovers_total`.
#[derive(Debug)]
struct CollectorStat {
    name: std::sync::Arc<str>,
    up: AtomicBool,
    in_use: AtomicBool,
    failovers: AtomicU64,
}

impl Metrics {
    /// Names the collectors (their base URLs, in the sender's order); each starts up and
    /// not in use. Only the first call counts.
    pub fn set_collectors(&self, names: Vec<std::sync::Arc<str>>) {
        let stats = names
            .into_iter()
            .map(|name| CollectorStat {
                name,
                up: AtomicBool::new(true),
                in_use: AtomicBool::new(false),
                failovers: AtomicU64::new(0),
            })
            .collect();
        let _ = self.collectors.set(stats);
    }

    fn collector(&self, i: usize) -> Option<&CollectorStat> {
        self.collectors.get().and_then(|c| c.get(i))
    }

    pub fn collector_up(&self, i: usize, up: bool) {
        if let Some(c) = self.collector(i) {
            c.up.store(up, Relaxed);
        }
    }

    /// Collector `i` took the last batch: it alone is "in use".
    pub fn collector_in_use(&self, i: usize) {
        for (j, c) in self.collectors.get().into_iter().flatten().enumerate() {
            c.in_use.store(i == j, Relaxed);
        }
    }

    /// A batch meant for collector `i` went to another one.
    pub fn collector_failover(&self, i: usize) {
        if let Some(c) = self.collector(i) {
            c.failovers.fetch_add(1, Relaxed);
        }
    }

    fn encode_collectors(&self, enc: &mut DescriptorEncoder) -> fmt::Result {
        let Some(stats) = self.collectors.get() else {
            return Ok(());
        };
        let label = "collector";
        let gauges: [(&str, &str, StatOf); 2] = [
            (
                "gatewatch_gateway_collector_up",
                "1 while the collector answers (or is not tried yet), 0 from a send that found it away until one it answers.",
                |c| u64::from(c.up.load(Relaxed)),
            ),
            (
                "gatewatch_gateway_collector_in_use",
                "1 for the collector that took the last batch.",
                |c| u64::from(c.in_use.load(Relaxed)),
            ),
        ];
        for (name, help, value) in gauges {
            let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for c in stats.iter() {
                m::ConstGauge::new(value(c)).encode(m.encode_family(&[(label, &*c.name)])?)?;
            }
        }
        let values: Vec<(&str, u64)> = stats
            .iter()
            .map(|c| (&*c.name, c.failovers.load(Relaxed)))
            .collect();
        m::counter_by(
            enc,
            "gatewatch_gateway_collector_failovers",
            "Sends that found this collector away while another one could take the batch (which went there).",
            label,
            &values,
        )
    }
}

/// The position of `o` in [`Outcome::ALL`], from its code without a search (codes 1–8 and
/// 20–29, see `gatewatch_model::Outcome`).
#[inline]
fn outcome_index(o: Outcome) -> usize {
    let c = o.code() as usize;
    if c >= 20 {
        c - 20 + 8
    } else {
        c - 1
    }
}

/// The status classes of `gatewatch_gateway_api_requests_total`'s `class` label.
const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

#[inline]
fn class_index(status: u16) -> usize {
    match status / 100 {
        c @ 1..=5 => usize::from(c) - 1,
        _ => 5,
    }
}

/// One API's series: calls by outcome and status class, and latency histograms (the whole
/// call, the upstream's part, the gateway's own). Held by the API's route (and handed from a
/// route to its successor when the configuration changes), so a call reaches it without a
/// lookup. Cardinality is bounded by the configured APIs × 18 outcomes × 6 classes, and only
/// the pairs seen are rendered.
#[derive(Debug)]
pub(crate) struct ApiSeries {
    calls: [[AtomicU64; CLASSES.len()]; Outcome::ALL.len()],
    /// Whole call, µs.
    duration: Histogram,
    /// Waiting on the upstream, µs (calls that reached one).
    upstream: Histogram,
    /// The gateway's own time (the call less the upstream's part), µs.
    overhead: Histogram,
}

impl Default for ApiSeries {
    fn default() -> ApiSeries {
        ApiSeries {
            calls: Default::default(),
            duration: Histogram::new(m::LATENCY_US, 1e6),
            upstream: Histogram::new(m::LATENCY_US, 1e6),
            overhead: Histogram::new(m::OVERHEAD_US, 1e6),
        }
    }
}

impl ApiSeries {
    /// Counts one finished call. `upstream_us` is `None` when no upstream was asked.
    #[inline]
    pub fn observe(&self, outcome: Outcome, status: u16, total_us: u64, upstream_us: Option<u64>) {
        if let Some(c) = self
            .calls
            .get(outcome_index(outcome))
            .and_then(|row| row.get(class_index(status)))
        {
            c.fetch_add(1, Relaxed);
        }
        self.duration.observe(total_us);
        let up = upstream_us.unwrap_or(0).min(total_us);
        if upstream_us.is_some() {
            self.upstream.observe(up);
        }
        self.overhead.observe(total_us - up);
    }

    /// Calls counted with `outcome` and a status of `class` (for tests).
    #[cfg(test)]
    pub fn calls(&self, outcome: Outcome, status: u16) -> u64 {
        self.calls[outcome_index(outcome)][class_index(status)].load(Relaxed)
    }
}

/// Which histogram of an [`ApiSeries`] a family shows.
type Pick = fn(&ApiSeries) -> &Histogram;

/// The per-API families, over `apis` (each `(api id, series)`, ids unique).
pub(crate) fn encode_apis<'a>(
    enc: &mut DescriptorEncoder,
    apis: &[(&'a str, &'a ApiSeries)],
) -> fmt::Result {
    {
        let mut fam = enc.encode_descriptor(
            "gatewatch_gateway_api_requests",
            "Calls per API, by outcome and HTTP status class (api=\"(none)\": no API's route).",
            None,
            MetricType::Counter,
        )?;
        for (api, s) in apis {
            for (oi, row) in s.calls.iter().enumerate() {
                for (ci, c) in row.iter().enumerate() {
                    let n = c.load(Relaxed);
                    if n == 0 {
                        continue;
                    }
                    let labels = [
                        ("api", *api),
                        ("outcome", Outcome::ALL[oi].as_str()),
                        ("class", CLASSES[ci]),
                    ];
                    ConstCounter::new(n).encode(fam.encode_family(&labels)?)?;
                }
            }
        }
    }
    let hists: [(&str, &str, Pick); 3] = [
        (
            "gatewatch_gateway_api_request_duration_seconds",
            "Whole calls per API, from the request head to the response's last byte.",
            |s| &s.duration,
        ),
        (
            "gatewatch_gateway_api_upstream_duration_seconds",
            "Time per API spent waiting on the upstream (calls that reached one).",
            |s| &s.upstream,
        ),
        (
            "gatewatch_gateway_api_overhead_seconds",
            "The gateway's own time per call and API (the call less the upstream's part).",
            |s| &s.overhead,
        ),
    ];
    for (name, help, pick) in hists {
        let mut fam = enc.encode_descriptor(name, help, None, MetricType::Histogram)?;
        for (api, s) in apis {
            pick(s).encode(fam.encode_family(&[("api", *api)])?)?;
        }
    }
    Ok(())
}

impl Metrics {
    #[inline]
    pub fn count_request(&self, outcome: Outcome) {
        if let Some(c) = self.requests.get(outcome_index(outcome)) {
            c.fetch_add(1, Relaxed);
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

    /// The gateway's own families (the names scraped since the first release). `queue_depth`
    /// is read from the channel by the caller.
    pub fn encode(
        &self,
        enc: &mut DescriptorEncoder,
        queue_depth: usize,
        queue_capacity: usize,
        spool_max_bytes: u64,
    ) -> fmt::Result {
        let mut requests_total = 0u64;
        let requests: Vec<(&str, u64)> = Outcome::ALL
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let n = self.requests[i].load(Relaxed);
                requests_total += n;
                (o.as_str(), n)
            })
            .collect();
        m::counter_by(
            enc,
            "gatewatch_gateway_requests",
            "Proxied calls by outcome.",
            "outcome",
            &requests,
        )?;
        let dropped_before_queue =
            self.dropped(DropReason::QueueFull) + self.dropped(DropReason::Shutdown);
        m::counter(
            enc,
            "gatewatch_gateway_records_queued",
            "Call records accepted into the in-memory queue.",
            requests_total.saturating_sub(dropped_before_queue),
        )?;
        m::gauge(
            enc,
            "gatewatch_gateway_queue_depth",
            "Call records waiting in the in-memory queue.",
            queue_depth as u64,
        )?;
        m::gauge(
            enc,
            "gatewatch_gateway_queue_capacity",
            "Capacity of the in-memory record queue.",
            queue_capacity as u64,
        )?;
        m::counter(
            enc,
            "gatewatch_gateway_records_shipped",
            "Call records in batches the collector acknowledged.",
            self.records_shipped.load(Relaxed),
        )?;
        m::counter(
            enc,
            "gatewatch_gateway_records_spooled",
            "Call records written to the disk spool.",
            self.records_spooled.load(Relaxed),
        )?;
        let dropped: Vec<(&str, u64)> = DropReason::ALL
            .iter()
            .enumerate()
            .map(|(i, r)| (r.as_str(), self.dropped[i].load(Relaxed)))
            .collect();
        m::counter_by(
            enc,
            "gatewatch_gateway_records_dropped",
            "Call records lost, by reason.",
            "reason",
            &dropped,
        )?;
        m::counter(
            enc,
            "gatewatch_gateway_samples_shipped",
            "Node samples the collector acknowledged.",
            self.samples_shipped.load(Relaxed),
        )?;
        m::counter(
            enc,
            "gatewatch_gateway_samples_dropped",
            "Node samples lost.",
            self.samples_dropped.load(Relaxed),
        )?;
        m::counter_by(
            enc,
            "gatewatch_gateway_batches",
            "Batches the collector answered, by result.",
            "result",
            &[
                ("ok", self.batches_shipped.load(Relaxed)),
                ("partial", self.batches_partial.load(Relaxed)),
                ("rejected", self.batches_rejected.load(Relaxed)),
            ],
        )?;
        m::counter(
            enc,
            "gatewatch_gateway_batches_split",
            "Batches the collector refused as too large (413), split in halves and sent again.",
            self.batches_split.load(Relaxed),
        )?;
        m::counter(
            enc,
            "gatewatch_gateway_ship_errors",
            "Sends that found the collector away (connection error, timeout, 5xx).",
            self.ship_errors.load(Relaxed),
        )?;
        m::gauge(
            enc,
            "gatewatch_gateway_spool_bytes",
            "Bytes of batch files waiting in the spool.",
            self.spool_bytes.load(Relaxed),
        )?;
        m::gauge(
            enc,
            "gatewatch_gateway_spool_max_bytes",
            "Size cap of the spool.",
            spool_max_bytes,
        )?;
        m::gauge(
            enc,
            "gatewatch_gateway_spool_batches",
            "Batch files waiting in the spool.",
            self.spool_batches.load(Relaxed),
        )?;
        m::counter(
            enc,
            "gatewatch_gateway_spool_corrupt",
            "Spool files that failed their checksum and were moved to corrupt/.",
            self.spool_corrupt.load(Relaxed),
        )?;
        m::gauge(
            enc,
            "gatewatch_gateway_spool_full",
            "1 while the spool refuses batches for its size cap.",
            u64::from(self.spool_full.load(Relaxed)),
        )?;
        m::gauge(
            enc,
            "gatewatch_gateway_journal_bytes",
            "Bytes of journal segments (records not yet handed to a collector or the spool).",
            self.journal_bytes.load(Relaxed),
        )?;
        m::gauge(
            enc,
            "gatewatch_gateway_journal_max_bytes",
            "Size cap of the journal (journal_max_mb; 0: off).",
            self.journal_max_bytes.load(Relaxed),
        )?;
        m::gauge(
            enc,
            "gatewatch_gateway_journal_full",
            "1 while the journal refuses records (size cap or a failing disk).",
            u64::from(self.journal_full.load(Relaxed)),
        )?;
        m::counter(
            enc,
            "gatewatch_gateway_records_unjournalled",
            "Records the journal refused: shipped from memory only, lost if the gateway is killed.",
            self.records_unjournalled.load(Relaxed),
        )?;
        m::counter(
            enc,
            "gatewatch_gateway_journal_replayed",
            "Records read back from the journal after a restart and handed to the spool.",
            self.journal_replayed.load(Relaxed),
        )?;
        m::counter(
            enc,
            "gatewatch_gateway_journal_damaged",
            "Damaged stretches of journal skipped on recovery (a CRC or frame that failed).",
            self.journal_damaged.load(Relaxed),
        )?;
        m::counter(
            enc,
            "gatewatch_gateway_journal_skipped_bytes",
            "Bytes of journal skipped on recovery: damaged stretches and torn tails.",
            self.journal_skipped_bytes.load(Relaxed),
        )?;
        self.encode_collectors(enc)?;
        m::counter_by(
            enc,
            "gatewatch_gateway_otlp_spans",
            "Spans of calls for the OTLP receiver ([gateway.otlp]), by result: exported, or dropped (queue full, batch not taken).",
            "result",
            &[
                ("exported", self.otlp.exported.load(Relaxed)),
                ("dropped", self.otlp.dropped.load(Relaxed)),
            ],
        )
    }

    /// The text of [`Metrics::encode`] alone (unit tests).
    #[cfg(test)]
    pub fn render(
        self: &std::sync::Arc<Self>,
        queue_depth: usize,
        queue_capacity: usize,
        spool_max_bytes: u64,
    ) -> String {
        #[derive(Debug)]
        struct Just(std::sync::Arc<Metrics>, usize, usize, u64);
        impl m::Collector for Just {
            fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
                self.0.encode(&mut enc, self.1, self.2, self.3)
            }
        }
        m::text_of(Just(
            self.clone(),
            queue_depth,
            queue_capacity,
            spool_max_bytes,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collectors_are_listed_with_their_state() {
        let m = std::sync::Arc::new(Metrics::default());
        assert!(!m.render(0, 1, 1).contains("collector_up"));
        m.set_collectors(vec!["http://c1:8091".into(), "https://c2:8091".into()]);
        m.collector_up(0, false);
        m.collector_failover(0);
        m.collector_in_use(1);
        m.collector_in_use(1);
        let text = m.render(0, 1, 1);
        for line in [
            "gatewatch_gateway_collector_up{collector=\"http://c1:8091\"} 0",
            "gatewatch_gateway_collector_up{collector=\"https://c2:8091\"} 1",
            "gatewatch_gateway_collector_in_use{collector=\"http://c1:8091\"} 0",
            "gatewatch_gateway_collector_in_use{collector=\"https://c2:8091\"} 1",
            "gatewatch_gateway_collector_failovers_total{collector=\"http://c1:8091\"} 1",
            "gatewatch_gateway_collector_failovers_total{collector=\"https://c2:8091\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }

    #[test]
    fn render_lists_outcomes_and_drop_reasons() {
        let m = std::sync::Arc::new(Metrics::default());
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
            "gatewatch_gateway_otlp_spans_total{result=\"dropped\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }

    #[test]
    fn outcome_index_is_the_position_in_all() {
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(outcome_index(*o), i, "{o:?}");
        }
        assert_eq!(
            [100, 204, 302, 404, 499, 503, 0, 600].map(class_index),
            [0, 1, 2, 3, 3, 4, 5, 5]
        );
    }

    #[test]
    fn api_series_render_counters_and_histograms_by_api() {
        #[derive(Debug)]
        struct Apis(std::sync::Arc<ApiSeries>, std::sync::Arc<ApiSeries>);
        impl m::Collector for Apis {
            fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
                encode_apis(&mut enc, &[("orders", &self.0), ("(none)", &self.1)])
            }
        }
        let orders = std::sync::Arc::new(ApiSeries::default());
        let none = std::sync::Arc::new(ApiSeries::default());
        // 3 ms in all, 2.5 ms of it upstream; 40 ms, 39.9 upstream; a refusal: no upstream.
        orders.observe(Outcome::Ok, 200, 3_000, Some(2_500));
        orders.observe(Outcome::UpstreamError, 502, 40_000, Some(39_900));
        orders.observe(Outcome::RefusedRate, 429, 80, None);
        none.observe(Outcome::NoRoute, 404, 20, None);
        assert_eq!(orders.calls(Outcome::Ok, 204), 1);
        let t = m::text_of(Apis(orders, none));
        for line in [
            "# TYPE gatewatch_gateway_api_requests_total counter",
            "gatewatch_gateway_api_requests_total{api=\"orders\",outcome=\"ok\",class=\"2xx\"} 1",
            "gatewatch_gateway_api_requests_total{api=\"orders\",outcome=\"upstream_error\",class=\"5xx\"} 1",
            "gatewatch_gateway_api_requests_total{api=\"orders\",outcome=\"refused_rate\",class=\"4xx\"} 1",
            "gatewatch_gateway_api_requests_total{api=\"(none)\",outcome=\"no_route\",class=\"4xx\"} 1",
            "# TYPE gatewatch_gateway_api_request_duration_seconds histogram",
            "gatewatch_gateway_api_request_duration_seconds_bucket{api=\"orders\",le=\"0.001\"} 1",
            "gatewatch_gateway_api_request_duration_seconds_bucket{api=\"orders\",le=\"0.005\"} 2",
            "gatewatch_gateway_api_request_duration_seconds_bucket{api=\"orders\",le=\"0.05\"} 3",
            "gatewatch_gateway_api_request_duration_seconds_bucket{api=\"orders\",le=\"+Inf\"} 3",
            "gatewatch_gateway_api_request_duration_seconds_count{api=\"orders\"} 3",
            "# TYPE gatewatch_gateway_api_upstream_duration_seconds histogram",
            "gatewatch_gateway_api_upstream_duration_seconds_bucket{api=\"orders\",le=\"0.0025\"} 1",
            "gatewatch_gateway_api_upstream_duration_seconds_count{api=\"orders\"} 2",
            "gatewatch_gateway_api_upstream_duration_seconds_sum{api=\"orders\"} 0.0424",
            "gatewatch_gateway_api_upstream_duration_seconds_count{api=\"(none)\"} 0",
            "# TYPE gatewatch_gateway_api_overhead_seconds histogram",
            "gatewatch_gateway_api_overhead_seconds_bucket{api=\"orders\",le=\"0.0001\"} 2",
            "gatewatch_gateway_api_overhead_seconds_bucket{api=\"orders\",le=\"0.0005\"} 3",
            "gatewatch_gateway_api_overhead_seconds_sum{api=\"orders\"} 0.00068",
            "gatewatch_gateway_api_overhead_seconds_count{api=\"(none)\"} 1",
        ] {
            assert!(t.lines().any(|l| l == line), "missing {line} in\n{t}");
        }
        // Pairs never seen are not rendered.
        assert!(!t.contains("outcome=\"timeout\""), "{t}");
    }
}
