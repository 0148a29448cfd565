//! The one place report SQL takes caller values: the time window and the filters become a
//! `WHERE` condition here, every value bound at a `?`, every number typed. Tested with hostile
//! input below and against ClickHouse in the reports crate's tests and the e2e tests.

use gatewatch_model::report::{Bucket, ReportParams, Window};

use super::{Dim, Scope, Source};
use crate::query::Sql;

/// `ts >= … AND ts < … AND api_id IN (…) …` for the scope's source. A rollup's rows are
/// whole buckets, so its window is widened to the buckets that overlap it (callers say so in
/// the report's `source` note). Filters the source lacks are left out: the caller picks a
/// source that has them ([`Source::has`]).
pub(crate) fn conditions(s: &Scope<'_>) -> Sql {
    let (p, source) = (s.params, s.source);
    let (mut from, to) = (s.window.from.timestamp(), s.window.to.timestamp());
    if source.grain() > 0 {
        from -= from.rem_euclid(source.grain());
    }
    let mut c = Sql::new("ts >= ");
    c.time(from).push(" AND ts < ").time(to);
    let mut list = |dim: Dim, col: &str, vals: &[String]| {
        if !vals.is_empty() && source.has(dim) {
            c.push(" AND ").in_strs(col, vals);
        }
    };
    list(Dim::Api, "api_id", &p.apis);
    list(Dim::Module, "module", &p.modules);
    list(Dim::Client, "client_id", &p.clients);
    list(Dim::Node, "node", &p.nodes);
    list(Dim::Version, "api_version", &p.versions);
    if !p.status_classes.is_empty() {
        c.push(" AND ")
            .push(status_class_expr(source))
            .push(" IN (");
        for (i, class) in p.status_classes.iter().enumerate() {
            if i > 0 {
                c.push(", ");
            }
            c.u64(u64::from(*class));
        }
        c.push(")");
    }
    if !p.outcomes.is_empty() {
        let names: Vec<&str> = p.outcomes.iter().map(|o| o.as_str()).collect();
        c.push(" AND ").in_strs("outcome", &names);
    }
    c
}

/// The status class of a row.
fn status_class_expr(source: Source) -> &'static str {
    match source {
        Source::Raw => "toUInt8(intDiv(status, 100))",
        _ => "status_class",
    }
}

/// The start of a row's bucket as Unix seconds (`UInt32`), in the window's zone for hours and
/// days (zones with half-hour offsets and DST get their own edges).
pub(crate) fn bucket_expr(w: &Window) -> Sql {
    let mut s = Sql::default();
    match w.bucket {
        Bucket::Minute => s.push("toUInt32(intDiv(toUInt32(ts), 60) * 60)"),
        Bucket::Hour => s
            .push("toUInt32(toStartOfHour(ts, ")
            .str(w.tz.name())
            .push("))"),
        Bucket::Day => s
            .push("toUInt32(toStartOfDay(ts, ")
            .str(w.tz.name())
            .push("))"),
    };
    s
}

/// Call search filters beyond [`conditions`]: call id, request id, trace id, exact status, path
/// substring, methods, least total latency, each ` AND …`; empty when none is set.
pub(crate) fn call_conditions(p: &ReportParams) -> Sql {
    let mut c = Sql::default();
    if let Some(id) = p.call_id {
        c.push(" AND call_id = ").uuid(&id);
    }
    if let Some(r) = &p.request_id {
        c.push(" AND request_id = ").str(r);
    }
    if let Some(t) = &p.trace_id {
        c.push(" AND trace_id = ").str(t);
    }
    if let Some(s) = p.status {
        c.push(" AND status = ").u64(u64::from(s));
    }
    if let Some(sub) = &p.path_contains {
        // `position`, not `LIKE`: `%` and `_` are characters like any other.
        c.push(" AND positionUTF8(path, ").str(sub).push(") > 0");
    }
    if !p.methods.is_empty() {
        c.push(" AND ").in_strs("method", &p.methods);
    }
    if let Some(ms) = p.min_latency_ms {
        c.push(" AND latency_us >= ").u64(ms.saturating_mul(1_000));
    }
    if let Some(f) = &p.finding {
        if f.contains(':') {
            c.push(" AND has(findings, ").str(f).push(")");
        } else {
            // A check's name: any finding written `<check>:<place>`.
            c.push(" AND arrayExists(x -> position(x, ")
                .str(&format!("{f}:"))
                .push(") = 1, findings)");
        }
    }
    c
}

/// ` AND …`: rows strictly older than the keyset position `(ts_us, call_id)` in the order
/// `ts_us DESC, toString(call_id) DESC` (the text of a UUID sorts as its bytes do); the `ts`
/// bound lets ClickHouse skip newer partitions.
pub(crate) fn before_position(ts_us: i64, call_id: &uuid::Uuid) -> Sql {
    let mut c = Sql::new(" AND ts <= ");
    c.time(ts_us.div_euclid(1_000_000).max(0));
    c.push(" AND (ts_us < ").i64(ts_us);
    c.push(" OR (ts_us = ").i64(ts_us);
    c.push(" AND toString(call_id) < ")
        .str(&call_id.to_string());
    c.push("))");
    c
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

    fn scope<'a>(p: &'a ReportParams, w: &'a Window, source: Source) -> Scope<'a> {
        Scope {
            params: p,
            window: w,
            source,
        }
    }

    #[test]
    fn hostile_values_are_bound_not_written_into_the_text() {
        let hostile = "x') OR 1=1 -- ? ?? {} \\ \" % _ 查詢";
        let p = ReportParams::from_pairs(&[
            ("api", hostile),
            ("client", "a\\' UNION SELECT"),
            ("status_class", "5xx"),
            ("request_id", hostile),
            ("trace_id", "4BF92F3577B34DA6A3CE929D0E0E4736"),
            ("path_contains", hostile),
            ("method", "post,get"),
            ("min_latency_ms", "250"),
            ("status", "504"),
            ("finding", "sqli:body.note') OR 1=1 --"),
            ("version", "v2') OR 1=1 --"),
            ("version", "v1"),
        ])
        .unwrap();
        let w = window();
        let c = conditions(&scope(&p, &w, Source::Raw));
        assert_eq!(
            c.text(),
            "ts >= toDateTime(?) AND ts < toDateTime(?) AND api_id IN (?) AND client_id IN (?) \
             AND api_version IN (?, ?) AND toUInt8(intDiv(status, 100)) IN (?)"
        );
        assert!(
            c.rendered()
                .contains(r"api_version IN ('v2\') OR 1=1 --', 'v1')"),
            "{}",
            c.rendered()
        );
        let r = c.rendered();
        assert!(r.contains(r"api_id IN ('x\') OR 1=1 -- ? ?? {} \\ "), "{r}");
        assert!(r.contains(r"client_id IN ('a\\\' UNION SELECT')"), "{r}");
        assert!(r.contains("toUInt8(intDiv(status, 100)) IN (5)"), "{r}");
        let c = call_conditions(&p);
        assert_eq!(
            c.text(),
            " AND request_id = ? AND trace_id = ? AND status = ? AND positionUTF8(path, ?) > 0 \
             AND method IN (?, ?) AND latency_us >= ? AND has(findings, ?)"
        );
        let r = c.rendered();
        assert!(
            r.contains(r"has(findings, 'sqli:body.note\') OR 1=1 --')"),
            "{r}"
        );
        let p = ReportParams::from_pairs(&[("finding", "xss")]).unwrap();
        assert_eq!(
            call_conditions(&p).rendered(),
            " AND arrayExists(x -> position(x, 'xss:') = 1, findings)"
        );
        assert!(r.contains("method IN ('POST', 'GET')"), "{r}");
        assert!(r.contains("latency_us >= 250000"), "{r}");
        assert!(r.contains("status = 504"), "{r}");
        assert!(
            r.contains("trace_id = '4bf92f3577b34da6a3ce929d0e0e4736'"),
            "{r}"
        );
    }

    #[test]
    fn rollups_widen_to_whole_buckets_and_skip_missing_dims() {
        let p = ReportParams::from_pairs(&[("client", "c1"), ("node", "n1")]).unwrap();
        let w = window();
        let c = conditions(&scope(&p, &w, Source::Minute)).rendered();
        assert!(
            c.starts_with("ts >= toDateTime(1000020) AND ts < toDateTime(1003600)"),
            "{c}"
        );
        assert!(!c.contains("client_id"));
        assert!(c.contains("node IN ('n1')"));
    }

    #[test]
    fn buckets_name_the_zone_as_a_bound_literal() {
        let w = Window {
            bucket: Bucket::Day,
            ..window()
        };
        assert_eq!(
            bucket_expr(&w).rendered(),
            "toUInt32(toStartOfDay(ts, 'Asia/Taipei'))"
        );
    }
}
