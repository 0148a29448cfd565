//! The aggregate expressions of each table: the raw table counts rows, a rollup merges states.

use super::{ClassOutcomes, Source};
use crate::query::Sql;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Agg(pub Source);

impl Agg {
    pub fn calls(self) -> &'static str {
        match self.0 {
            Source::Raw => "count()",
            _ => "countMerge(calls)",
        }
    }

    /// `calls, success, client_error, server_error, refused` as `c_calls, c_success, …`.
    pub fn class_counts(self, classes: &ClassOutcomes) -> Sql {
        let mut s = Sql::new(self.calls());
        s.push(" AS c_calls");
        let keys = ["success", "client_error", "server_error", "refused"];
        for (key, outcomes) in keys.iter().zip(classes) {
            let names: Vec<&str> = outcomes.iter().map(|o| o.as_str()).collect();
            match self.0 {
                Source::Raw => s.push(", countIf("),
                _ => s.push(", countMergeIf(calls, "),
            };
            s.in_strs("outcome", &names).push(") AS c_").push(key);
        }
        s
    }

    pub fn latency_sum(self) -> &'static str {
        match self.0 {
            Source::Raw => "sum(latency_us)",
            _ => "sumMerge(latency_sum)",
        }
    }

    /// Upstream time; `toUInt64(0)` where the table does not keep it.
    pub fn upstream_sum(self) -> &'static str {
        match self.0 {
            Source::Raw => "sum(upstream_latency_us)",
            Source::Minute | Source::Hour => "sumMerge(upstream_latency_sum)",
            _ => "toUInt64(0)",
        }
    }

    /// Slowest call; `toUInt64(0)` where the table does not keep it.
    pub fn latency_max(self) -> &'static str {
        match self.0 {
            Source::Raw => "max(latency_us)",
            Source::Minute | Source::Hour => "maxMerge(latency_max)",
            _ => "toUInt64(0)",
        }
    }

    /// p50, p95, p99 as `Array(Float32)` (t-digest estimates on every table).
    pub fn quantiles(self) -> &'static str {
        match self.0 {
            Source::Raw => "quantilesTDigest(0.5, 0.95, 0.99)(latency_us)",
            _ => "quantilesTDigestMerge(0.5, 0.95, 0.99)(latency_q)",
        }
    }

    /// The API's name as last recorded; `''` where the table does not keep it.
    pub fn api_name(self) -> &'static str {
        match self.0 {
            Source::Raw => "anyLast(api_name)",
            Source::Minute | Source::Hour => "anyLastMerge(api_name)",
            _ => "''",
        }
    }
}
