//! The one place report SQL takes caller values: the time window and the filters become a
//! `WHERE` condition here, every value through `store::sql::quote_string`, every number typed.
//! Tested with hostile input below and against ClickHouse in `tests/`.

use gatewatch_model::report::{Bucket, ReportParams, Window};
use gatewatch_store::sql::quote_string;

/// The tables a report can read, narrowest first (see migrations/sql/0002_rollups.sql).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `api_calls`: one row per call; every column; exact.
    Raw,
    /// `api_calls_1m`: minute × API × node × status class × outcome.
    Minute,
    /// `api_calls_1h`: hour × API × status class × outcome.
    Hour,
    /// `client_api_1h`: hour × client × API × status class × outcome.
    ClientHour,
    /// `node_metrics`: one row per node sample (the node report).
    NodeMetrics,
}

/// A dimension a filter or grouping needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    Api,
    Module,
    Client,
    Node,
    StatusClass,
    Outcome,
}

impl Source {
    pub fn table(self) -> &'static str {
        match self {
            Source::Raw => "api_calls",
            Source::Minute => "api_calls_1m",
            Source::Hour => "api_calls_1h",
            Source::ClientHour => "client_api_1h",
            Source::NodeMetrics => "node_metrics",
        }
    }

    pub fn has(self, d: Dim) -> bool {
        match self {
            Source::Raw => true,
            Source::Minute => !matches!(d, Dim::Module | Dim::Client),
            Source::Hour => !matches!(d, Dim::Module | Dim::Client | Dim::Node),
            Source::ClientHour => !matches!(d, Dim::Module | Dim::Node),
            Source::NodeMetrics => d == Dim::Node,
        }
    }

    /// Seconds per row of the table's time column (0 for the raw table).
    pub fn grain(self) -> i64 {
        match self {
            Source::Raw | Source::NodeMetrics => 0,
            Source::Minute => 60,
            Source::Hour | Source::ClientHour => 3_600,
        }
    }

    /// The status class of a row.
    pub fn status_class_expr(self) -> &'static str {
        match self {
            Source::Raw => "toUInt8(intDiv(status, 100))",
            _ => "status_class",
        }
    }
}

/// The dimensions the parameters filter on.
pub fn filtered_dims(p: &ReportParams) -> Vec<Dim> {
    let mut d = Vec::new();
    if !p.apis.is_empty() {
        d.push(Dim::Api)
    }
    if !p.modules.is_empty() {
        d.push(Dim::Module)
    }
    if !p.clients.is_empty() {
        d.push(Dim::Client)
    }
    if !p.nodes.is_empty() {
        d.push(Dim::Node)
    }
    if !p.status_classes.is_empty() {
        d.push(Dim::StatusClass)
    }
    if !p.outcomes.is_empty() {
        d.push(Dim::Outcome)
    }
    d
}

/// `ts >= … AND ts < … AND api_id IN (…) …` for `source`. A rollup's rows are whole buckets,
/// so its window is widened to the buckets that overlap it (callers say so in the report's
/// `source` note). Filters the source lacks are left out: pick a source that has them
/// ([`Source::has`]).
pub fn conditions(p: &ReportParams, w: &Window, source: Source) -> String {
    let (mut from, to) = (w.from.timestamp(), w.to.timestamp());
    if source.grain() > 0 {
        from -= from.rem_euclid(source.grain());
    }
    let mut c = vec![
        format!("ts >= toDateTime({from})"),
        format!("ts < toDateTime({to})"),
    ];
    let mut list = |dim: Dim, col: &str, vals: &[String]| {
        if !vals.is_empty() && source.has(dim) {
            c.push(format!("{col} IN ({})", quoted_list(vals)));
        }
    };
    list(Dim::Api, "api_id", &p.apis);
    list(Dim::Module, "module", &p.modules);
    list(Dim::Client, "client_id", &p.clients);
    list(Dim::Node, "node", &p.nodes);
    if !p.status_classes.is_empty() {
        let classes: Vec<String> = p.status_classes.iter().map(u8::to_string).collect();
        c.push(format!(
            "{} IN ({})",
            source.status_class_expr(),
            classes.join(", ")
        ));
    }
    if !p.outcomes.is_empty() {
        let names: Vec<String> = p.outcomes.iter().map(|o| o.as_str().to_string()).collect();
        c.push(format!("outcome IN ({})", quoted_list(&names)));
    }
    c.join(" AND ")
}

/// `'a', 'b'` — each value one quoted literal.
pub fn quoted_list(vals: &[String]) -> String {
    vals.iter()
        .map(|v| quote_string(v))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The start of a row's bucket as Unix seconds, in the window's zone for hours and days
/// (zones with half-hour offsets and DST get their own edges).
pub fn bucket_expr(w: &Window) -> String {
    let tz = quote_string(w.tz.name());
    match w.bucket {
        Bucket::Minute => "intDiv(toUInt32(ts), 60) * 60".to_string(),
        Bucket::Hour => format!("toUInt32(toStartOfHour(ts, {tz}))"),
        Bucket::Day => format!("toUInt32(toStartOfDay(ts, {tz}))"),
    }
}

/// Call search filters beyond [`conditions`]: call id, request id, exact status, path
/// substring, methods, least total latency. Each is one condition; an empty list when none is set.
pub fn call_conditions(p: &ReportParams) -> Vec<String> {
    let mut c = Vec::new();
    if let Some(id) = p.call_id {
        c.push(format!("call_id = {}", uuids(&[id])));
    }
    if let Some(r) = &p.request_id {
        c.push(format!("request_id = {}", quote_string(r)));
    }
    if let Some(s) = p.status {
        c.push(format!("status = {s}"));
    }
    if let Some(sub) = &p.path_contains {
        c.push(format!("positionUTF8(path, {}) > 0", quote_string(sub)));
    }
    if !p.methods.is_empty() {
        c.push(format!("method IN ({})", quoted_list(&p.methods)));
    }
    if let Some(ms) = p.min_latency_ms {
        c.push(format!("latency_us >= {}", ms.saturating_mul(1_000)));
    }
    c
}

/// Rows strictly older than the keyset position `(ts_us, call_id)` in the order
/// `ts_us DESC, toString(call_id) DESC` (the text of a UUID sorts as its bytes do); the `ts`
/// bound lets ClickHouse skip newer partitions.
pub fn before_position(ts_us: i64, call_id: &uuid::Uuid) -> String {
    format!(
        "ts <= toDateTime({secs}) AND (ts_us < {ts_us} OR (ts_us = {ts_us} AND toString(call_id) < {id}))",
        secs = ts_us.div_euclid(1_000_000).max(0),
        id = quote_string(&call_id.to_string()),
    )
}

/// One quoted literal (a client id, a zone name).
pub fn literal(v: &str) -> String {
    quote_string(v)
}

/// `toUUID('…'), …` for an `IN (…)` list.
pub fn uuids(ids: &[uuid::Uuid]) -> String {
    gatewatch_store::sql::uuid_list(ids)
}

/// `(positionUTF8(col, 'a') > 0 OR …)`: the column's text contains one of `needles`
/// (a prefilter; callers check the match exactly). `0` when there are none.
pub fn contains_any(col: &str, needles: &[String]) -> String {
    if needles.is_empty() {
        return "0".into();
    }
    let parts: Vec<String> = needles
        .iter()
        .map(|n| format!("positionUTF8({col}, {}) > 0", quote_string(n)))
        .collect();
    format!("({})", parts.join(" OR "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn window() -> Window {
        Window {
            from: chrono::Utc.timestamp_opt(1_000_030, 0).unwrap(),
            to: chrono::Utc.timestamp_opt(1_003_600, 0).unwrap(),
            tz: chrono_tz::Asia::Taipei,
            bucket: Bucket::Minute,
        }
    }

    #[test]
    fn hostile_values_stay_literals() {
        let p = ReportParams::from_pairs(&[
            ("api", "x') OR 1=1 --"),
            ("client", "a\\' UNION SELECT"),
            ("status_class", "5xx"),
        ])
        .unwrap();
        let c = conditions(&p, &window(), Source::Raw);
        assert!(c.contains(r"api_id IN ('x\') OR 1=1 --')"), "{c}");
        assert!(c.contains(r"client_id IN ('a\\\' UNION SELECT')"), "{c}");
        assert!(c.contains("toUInt8(intDiv(status, 100)) IN (5)"), "{c}");
    }

    #[test]
    fn rollups_widen_to_whole_buckets_and_skip_missing_dims() {
        let p = ReportParams::from_pairs(&[("client", "c1"), ("node", "n1")]).unwrap();
        let c = conditions(&p, &window(), Source::Minute);
        assert!(
            c.starts_with("ts >= toDateTime(1000020) AND ts < toDateTime(1003600)"),
            "{c}"
        );
        assert!(!c.contains("client_id"));
        assert!(c.contains("node IN ('n1')"));
    }

    #[test]
    fn call_filters_quote_paths_and_request_ids() {
        let p = ReportParams::from_pairs(&[
            ("path_contains", "/a' OR '1'='1"),
            ("request_id", "r\\'; DROP TABLE api_calls"),
            ("status", "504"),
            ("method", "post,get"),
            ("min_latency_ms", "250"),
        ])
        .unwrap();
        let c = call_conditions(&p).join(" AND ");
        assert!(c.contains("method IN ('POST', 'GET')"), "{c}");
        assert!(c.contains("latency_us >= 250000"), "{c}");
        assert!(
            c.contains(r"positionUTF8(path, '/a\' OR \'1\'=\'1') > 0"),
            "{c}"
        );
        assert!(
            c.contains(r"request_id = 'r\\\'; DROP TABLE api_calls'"),
            "{c}"
        );
        assert!(c.contains("status = 504"), "{c}");
    }

    #[test]
    fn contains_any_quotes_each_needle() {
        assert_eq!(contains_any("body", &[]), "0");
        assert_eq!(
            contains_any("body", &["a'b".into(), "c".into()]),
            r"(positionUTF8(body, 'a\'b') > 0 OR positionUTF8(body, 'c') > 0)"
        );
    }
}
