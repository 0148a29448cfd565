//! What every role's `/metrics` is made of: one [`Registry`] (prometheus-client) per role, with
//! the role's own figures registered as collectors, the `process_*` figures of this process
//! ([`crate::process`]), `gatewatch_build_info` and `gatewatch_up`; rendered by the crate's
//! encoders in the Prometheus text format 0.0.4 (the default, what `curl` and the tests read)
//! or in OpenMetrics text when the scraper asks for it (`Accept: application/openmetrics-text`,
//! as Prometheus does). The series' names are the same in both: a counter's samples end in
//! `_total` either way (OpenMetrics only names the family without it in `# TYPE`).
//!
//! Roles keep their figures in plain atomics (the hot paths add to them with relaxed
//! ordering) and read them at scrape time through a [`Collector`]: no global registry, no lock
//! taken by the proxy. [`Histogram`] is the lock-free histogram of those hot paths
//! (prometheus-client's own takes a mutex per observation).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub use prometheus_client::collector::Collector;
use prometheus_client::encoding::{prometheus_text, text, NoLabelSet};
pub use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
pub use prometheus_client::metrics::counter::ConstCounter;
pub use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
pub use prometheus_client::registry::Registry;

/// The Prometheus text format's `Content-Type` (version 0.0.4), the default answer.
pub const TEXT_CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// OpenMetrics text's `Content-Type`, answered when the scraper's `Accept` names it.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The version every role reports in `gatewatch_build_info` (the workspace's).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A role's registry: `gatewatch_up{role}`, `gatewatch_build_info{version, role, os, arch}`
/// and the `process_*` figures; the role registers its own collectors after.
pub fn registry(role: &'static str) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(Up(role)));
    // Registry::register adds the full stop to the help text.
    r.register(
        "gatewatch_build",
        "The build of this gatewatch process (value 1)",
        Info::new(vec![
            ("version", VERSION),
            ("role", role),
            ("os", std::env::consts::OS),
            ("arch", std::env::consts::ARCH),
        ]),
    );
    r.register_collector(Box::new(crate::process::Process));
    r
}

/// `gatewatch_up{role} 1`: the series every role had before the registry (kept for the
/// dashboards and alerts that look for it).
#[derive(Debug)]
struct Up(&'static str);

impl Collector for Up {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let mut m = enc.encode_descriptor(
            "gatewatch_up",
            "1 while the role runs.",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(1u64).encode(m.encode_family(&[("role", self.0)])?)
    }
}

/// The exposition of `registry` for a scraper that sent `accept`: `(Content-Type, body)`.
pub fn render(registry: &Registry, accept: Option<&str>) -> (&'static str, String) {
    let mut body = String::with_capacity(8192);
    let open = accept.is_some_and(wants_openmetrics);
    // Writing into a String cannot fail; a collector's error would only cut the text short.
    let r = if open {
        text::encode(&mut body, registry)
    } else {
        prometheus_text::encode(&mut body, registry)
    };
    if let Err(e) = r {
        tracing::warn!(error = %e, "rendering /metrics failed; the text is cut short");
    }
    let ctype = if open {
        OPENMETRICS_CONTENT_TYPE
    } else {
        TEXT_CONTENT_TYPE
    };
    (ctype, body)
}

/// Whether an `Accept` header asks for OpenMetrics text (with a weight above zero).
fn wants_openmetrics(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let mut it = part.split(';').map(str::trim);
        let kind = it.next().unwrap_or("");
        kind.eq_ignore_ascii_case("application/openmetrics-text")
            && !it.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            })
    })
}

/// A counter without labels, read at scrape time. `name` without `_total` (the encoder adds
/// it to the samples).
pub fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> fmt::Result {
    let m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(v).encode(m)
}

/// A gauge without labels.
pub fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> fmt::Result {
    let m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(v).encode(m)
}

/// A counter with one label: `values` are `(label value, count)`.
pub fn counter_by(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &str,
    values: &[(&str, u64)],
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (value, n) in values {
        ConstCounter::new(*n).encode(m.encode_family(&[(label, *value)])?)?;
    }
    Ok(())
}

/// Prometheus text of what `f` encodes, for unit tests of one collector.
pub fn text_of(c: impl Collector) -> String {
    let mut r = Registry::default();
    r.register_collector(Box::new(c));
    render(&r, None).1
}

/// A histogram with fixed upper bounds, observed with two relaxed atomic adds and no lock
/// (many proxy workers observe one API's histogram at once). Values are integers in the
/// unit the caller counts in (µs, records, bytes); `divisor` turns them into the exposed unit
/// (1e6 for µs → seconds, 1 for counts).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [u64],
    divisor: f64,
    /// One per bound, then the +Inf bucket; not cumulative (the encoder sums them).
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
}

impl Histogram {
    /// `bounds` ascending (bucket `le` = bound / divisor).
    pub fn new(bounds: &'static [u64], divisor: f64) -> Histogram {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        Histogram {
            bounds,
            divisor,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    /// Counts `v` in the first bucket whose bound is at least `v` (`le`).
    #[inline]
    pub fn observe(&self, v: u64) {
        let i = self.bounds.partition_point(|b| *b < v);
        if let Some(b) = self.buckets.get(i) {
            b.fetch_add(1, Relaxed);
        }
        self.sum.fetch_add(v, Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }

    /// Sum of the observed values, in the caller's unit.
    pub fn sum(&self) -> u64 {
        self.sum.load(Relaxed)
    }

    /// The `_bucket`, `_sum` and `_count` samples (`m` from [`DescriptorEncoder`] with
    /// `MetricType::Histogram`, or a family of it).
    pub fn encode(&self, mut m: MetricEncoder) -> fmt::Result {
        let mut buckets = Vec::with_capacity(self.buckets.len());
        let mut count = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            let n = b.load(Relaxed);
            count += n;
            let le = self
                .bounds
                .get(i)
                .map_or(f64::INFINITY, |b| *b as f64 / self.divisor);
            buckets.push((le, n));
        }
        let sum = self.sum.load(Relaxed) as f64 / self.divisor;
        m.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }
}

/// A histogram without labels.
pub fn histogram(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    h: &Histogram,
) -> fmt::Result {
    h.encode(enc.encode_descriptor(name, help, None, MetricType::Histogram)?)
}

/// Latency buckets of a call or an upstream, in µs: 1 ms … 30 s.
pub const LATENCY_US: &[u64] = &[
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000, 30_000_000,
];

/// Buckets of the gateway's own time per call, in µs: 50 µs … 100 ms.
pub const OVERHEAD_US: &[u64] = &[
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct One(std::sync::Arc<Histogram>);

    impl Collector for One {
        fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
            histogram(&mut enc, "t_seconds", "A test histogram.", &self.0)?;
            counter(&mut enc, "t_calls", "Calls.", 3)?;
            gauge(&mut enc, "t_depth", "Depth.", 2)
        }
    }

    #[test]
    fn histogram_buckets_are_cumulative_with_le_in_seconds() {
        let h = std::sync::Arc::new(Histogram::new(&[1_000, 5_000, 100_000], 1e6));
        for v in [10, 1_000, 1_001, 6_000, 2_000_000] {
            h.observe(v);
        }
        assert_eq!(h.count(), 5);
        let t = text_of(One(h));
        for line in [
            "# TYPE t_seconds histogram",
            "t_seconds_bucket{le=\"0.001\"} 2",
            "t_seconds_bucket{le=\"0.005\"} 3",
            "t_seconds_bucket{le=\"0.1\"} 4",
            "t_seconds_bucket{le=\"+Inf\"} 5",
            "t_seconds_sum 2.008011",
            "t_seconds_count 5",
            "# TYPE t_calls_total counter",
            "t_calls_total 3",
            "# TYPE t_depth gauge",
            "t_depth 2",
        ] {
            assert!(t.lines().any(|l| l == line), "missing {line} in\n{t}");
        }
    }

    #[test]
    fn the_role_registry_has_up_build_info_and_process_figures() {
        let r = registry("testrole");
        let (ctype, t) = render(&r, None);
        assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
        assert!(t.contains("gatewatch_up{role=\"testrole\"} 1\n"), "{t}");
        assert!(t.contains("# TYPE gatewatch_build_info gauge\n"), "{t}");
        assert!(
            t.contains(&format!(
                "gatewatch_build_info{{version=\"{VERSION}\",role=\"testrole\",os=\""
            )),
            "{t}"
        );
        if cfg!(target_os = "linux") {
            for name in [
                "# TYPE process_cpu_seconds_total counter",
                "# TYPE process_resident_memory_bytes gauge",
                "# TYPE process_open_fds gauge",
                "# TYPE process_max_fds gauge",
                "# TYPE process_start_time_seconds gauge",
                "# TYPE process_threads gauge",
                "# TYPE process_virtual_memory_bytes gauge",
            ] {
                assert!(t.lines().any(|l| l == name), "missing {name} in\n{t}");
            }
        }
        let (ctype, om) = render(
            &r,
            Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
        );
        assert!(ctype.starts_with("application/openmetrics-text"));
        assert!(om.ends_with("# EOF\n"), "{om}");
        assert!(om.contains("# TYPE gatewatch_build info\n"), "{om}");
        assert!(om.contains("gatewatch_build_info{version="), "{om}");
    }

    #[test]
    fn accept_negotiation() {
        assert!(wants_openmetrics(
            "application/openmetrics-text; version=1.0.0"
        ));
        assert!(wants_openmetrics(
            "text/plain;q=0.5, Application/OpenMetrics-Text"
        ));
        assert!(!wants_openmetrics("application/openmetrics-text;q=0"));
        assert!(!wants_openmetrics("text/plain;version=0.0.4"));
        assert!(!wants_openmetrics("*/*"));
    }
}
