//! Which table answers an aggregate report, and the SQL pieces that differ between them.
//!
//! The narrowest table that has every dimension the report groups or filters by, for the
//! range and bucket asked:
//!
//! | the report needs | range, bucket, zone | source |
//! | --- | --- | --- |
//! | module (filter) | up to 7 days | `api_calls` (raw, exact) |
//! | module (filter) | over 7 days | refused: `TooLarge` naming `module` |
//! | client and node together | up to 7 days / over | raw / refused naming `node` |
//! | client (filter or group) | hour or day buckets, zone offsets whole hours | `client_api_1h` |
//! | client (filter or group) | minute buckets, or a zone off the hour (Asia/Kolkata) | raw up to 7 days, else refused naming `granularity` or `tz` |
//! | node (filter or group) | any | `api_calls_1m` |
//! | API, status class, outcome only | up to 2 days, or minute buckets, or a zone off the hour | `api_calls_1m` |
//! | API, status class, outcome only | over 2 days, hour or day buckets, whole-hour zone | `api_calls_1h` |
//!
//! Columns only the raw table has (upstream host, path) are read from it for ranges up to
//! 7 days; the errors report leaves those parts out beyond that and says so.
//!
//! A rollup row covers a whole minute or hour, so with a rollup the window is widened to whole
//! rows (`from` down, `to` up) and the report's `from`/`to` show the widened window: the
//! figures are exact for the window shown. Bucket edges are local (`toStartOfHour(ts, tz)`,
//! `toStartOfDay(ts, tz)`): an hour rollup serves them only where the zone's offset is a whole
//! number of hours over the whole window (DST shifts by an hour keep that).

use std::collections::HashMap;

use chrono::{DateTime, Offset, TimeZone, Utc};
use gatewatch_model::report::{Bucket, ReportParams, Window};
use gatewatch_model::FieldError;
use gatewatch_store::reports::Scope;
use gatewatch_store::Store;
use serde::de::DeserializeOwned;

use crate::error::{ReportError, Result};
use crate::queries::class::Class;
use crate::queries::filter::{filtered_dims, Dim, Source};

/// Longest range a report may read raw calls for.
pub const RAW_MAX_SECS: i64 = 7 * 86_400;
/// Longest range the minute rollup serves when an hour rollup could.
pub const MINUTE_MAX_SECS: i64 = 2 * 86_400;

/// The table chosen and the window it serves (widened to whole rows for a rollup).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub source: Source,
    pub window: Window,
}

/// Picks the source for a report grouping by `group` (besides time) under `p`'s filters.
pub fn choose(p: &ReportParams, w: &Window, group: &[Dim]) -> Result<Choice> {
    let mut dims = filtered_dims(p);
    dims.extend_from_slice(group);
    let needs = |d: Dim| dims.contains(&d);
    let whole_hours = whole_hour_offsets(w);
    let hour_rows_fit = whole_hours && w.bucket >= Bucket::Hour;
    let span = w.span_secs();
    let raw = |field: &str, why: &str| -> Result<Choice> {
        if span > RAW_MAX_SECS {
            return Err(ReportError::too_large(
                field,
                format!(
                    "{why} needs the raw calls, which are read for at most {} days; this range is {:.1} days: shorten the range",
                    RAW_MAX_SECS / 86_400,
                    span as f64 / 86_400.0
                ),
            ));
        }
        Ok(Choice {
            source: Source::Raw,
            window: *w,
        })
    };
    let source = if needs(Dim::Module) {
        return raw("module", "a module filter");
    } else if needs(Dim::Version) {
        // Each call's recorded version, not today's label of its API id: exact after a
        // label changes (the rollups are keyed by API id only).
        let field = if p.versions.is_empty() {
            "group"
        } else {
            "version"
        };
        return raw(field, "figures by API version");
    } else if needs(Dim::Client) && needs(Dim::Node) {
        return raw("node", "client and node together");
    } else if needs(Dim::Client) {
        if hour_rows_fit {
            Source::ClientHour
        } else if w.bucket == Bucket::Minute {
            return raw("granularity", "client figures per minute");
        } else {
            return raw(
                "tz",
                "client figures in a zone whose offset is not whole hours",
            );
        }
    } else if needs(Dim::Node) || span <= MINUTE_MAX_SECS || !hour_rows_fit {
        Source::Minute
    } else {
        Source::Hour
    };
    Ok(Choice {
        source,
        window: widen(w, source.grain()),
    })
}

/// Raw-only columns (upstream host, path) may be read for this window.
pub fn raw_allowed(w: &Window) -> bool {
    w.span_secs() <= RAW_MAX_SECS
}

/// `w` with `from` down and `to` up to whole `grain` seconds (unchanged for 0).
pub fn widen(w: &Window, grain: i64) -> Window {
    if grain <= 0 {
        return *w;
    }
    let (f, t) = (w.from.timestamp(), w.to.timestamp());
    let f = f - f.rem_euclid(grain);
    let t = t + (grain - t.rem_euclid(grain)) % grain;
    Window {
        from: Utc.timestamp_opt(f, 0).single().unwrap_or(w.from),
        to: Utc.timestamp_opt(t, 0).single().unwrap_or(w.to),
        ..*w
    }
}

/// True when the zone's offset is a whole number of hours all through the window (checked at
/// each end and every 6 hours between: offsets change at most a few times a year).
pub fn whole_hour_offsets(w: &Window) -> bool {
    let (f, t) = (w.from.timestamp(), w.to.timestamp());
    let mut s = f;
    loop {
        let at = Utc.timestamp_opt(s.min(t), 0).single().unwrap_or(w.from);
        let off = w.tz.offset_from_utc_datetime(&at.naive_utc()).fix();
        if off.local_minus_utc() % 3_600 != 0 {
            return false;
        }
        if s >= t {
            return true;
        }
        s += 6 * 3_600;
    }
}

/// The start of every bucket of the window, in order, as Unix seconds — the same edges as
/// the store's bucket expression gives rows, so missing buckets can be zero-filled.
pub fn bucket_starts(w: &Window) -> Vec<i64> {
    let (from, to) = (w.from.timestamp(), w.to.timestamp());
    let mut out = Vec::new();
    let mut b = bucket_of(w, from);
    while b < to && out.len() <= gatewatch_model::report::MAX_BUCKETS as usize + 2 {
        out.push(b);
        b = next_bucket(w, b);
    }
    out
}

/// The start of the bucket holding `t`.
pub fn bucket_of(w: &Window, t: i64) -> i64 {
    let at = Utc.timestamp_opt(t, 0).single().unwrap_or(w.from);
    let off = i64::from(
        w.tz.offset_from_utc_datetime(&at.naive_utc())
            .fix()
            .local_minus_utc(),
    );
    match w.bucket {
        Bucket::Minute => t - t.rem_euclid(60),
        // The local hour: whole-hour zones share UTC's hours, others are shifted.
        Bucket::Hour => {
            let local = t + off;
            local - local.rem_euclid(3_600) - off
        }
        Bucket::Day => {
            let date = at.with_timezone(&w.tz).date_naive();
            local_midnight(w, date)
        }
    }
}

fn next_bucket(w: &Window, b: i64) -> i64 {
    match w.bucket {
        Bucket::Minute => b + 60,
        Bucket::Hour => bucket_of(w, b + 3_600).max(b + 1),
        Bucket::Day => {
            let at = Utc.timestamp_opt(b, 0).single().unwrap_or(w.from);
            let date = at.with_timezone(&w.tz).date_naive();
            match date.succ_opt() {
                Some(d) => local_midnight(w, d).max(b + 1),
                None => i64::MAX,
            }
        }
    }
}

fn local_midnight(w: &Window, d: chrono::NaiveDate) -> i64 {
    let mut t = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    // A zone that skips midnight on its DST day starts the day at the first instant it has.
    for _ in 0..8 {
        if let Some(x) = w.tz.from_local_datetime(&t).earliest() {
            return x.timestamp();
        }
        t += chrono::Duration::minutes(30);
    }
    t.and_utc().timestamp()
}

/// The counts of one group by outcome class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub calls: u64,
    pub success: u64,
    pub client_error: u64,
    pub server_error: u64,
    pub refused: u64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.calls += o.calls;
        self.success += o.success;
        self.client_error += o.client_error;
        self.server_error += o.server_error;
        self.refused += o.refused;
    }

    pub fn get(&self, c: Class) -> u64 {
        match c {
            Class::Success => self.success,
            Class::ClientError => self.client_error,
            Class::ServerError => self.server_error,
            Class::Refused => self.refused,
        }
    }

    /// Every call but a success.
    pub fn errors(&self) -> u64 {
        self.calls - self.success
    }
}

/// `part` of `whole` in percent, to two decimals (0 of nothing is 0).
pub fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        round2(part as f64 * 100.0 / whole as f64)
    }
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Microseconds summed over `n` calls as a mean in milliseconds, to the microsecond.
pub fn mean_ms(sum_us: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| (sum_us as f64 / n as f64).round() / 1_000.0)
}

/// A t-digest estimate in microseconds as milliseconds, to the microsecond.
pub fn q_ms(us: f32) -> f64 {
    (f64::from(us)).round() / 1_000.0
}

impl Choice {
    /// What the store reads for this choice: the caller's filters over the chosen table and
    /// window.
    pub fn scope<'a>(&'a self, p: &'a ReportParams) -> Scope<'a> {
        Scope {
            params: p,
            window: &self.window,
            source: self.source,
        }
    }
}

/// Refuses filters a report cannot apply (the node report has no API), naming the first.
pub fn refuse_filters(p: &ReportParams, report: &str, dims: &[Dim]) -> Result<()> {
    for d in filtered_dims(p) {
        if dims.contains(&d) {
            let field = match d {
                Dim::Api => "api",
                Dim::Module => "module",
                Dim::Client => "client",
                Dim::Node => "node",
                Dim::StatusClass => "status_class",
                Dim::Outcome => "outcome",
                Dim::Version => "version",
            };
            return Err(FieldError::new(
                field,
                format!("the {report} report has no {field} filter"),
            )
            .into());
        }
    }
    Ok(())
}

/// Refuses the call-search parameters (`status`, `path_contains`, …) an aggregate report would
/// otherwise ignore silently, and `limit` where the report has no top-N.
pub fn refuse_search_params(p: &ReportParams, report: &str, takes_limit: bool) -> Result<()> {
    crate::queries::top::refuse_by(p, report)?;
    let given = [
        ("call_id", p.call_id.is_some()),
        ("request_id", p.request_id.is_some()),
        ("trace_id", p.trace_id.is_some()),
        ("status", p.status.is_some()),
        ("path_contains", p.path_contains.is_some()),
        ("method", !p.methods.is_empty()),
        ("min_latency_ms", p.min_latency_ms.is_some()),
        ("finding", p.finding.is_some()),
        ("cursor", p.cursor.is_some()),
        ("limit", p.limit.is_some() && !takes_limit),
    ];

    match given.iter().find(|(_, set)| *set) {
        Some((field, _)) => Err(FieldError::new(
            *field,
            format!("the {report} report has no {field} parameter (it is for call search)"),
        )
        .into()),
        None => Ok(()),
    }
}

/// Current configuration entities of one kind, by id (deleted ones left out).
pub async fn config_of<T: DeserializeOwned>(
    store: &Store,
    kind: gatewatch_model::EntityKind,
) -> Result<HashMap<String, T>> {
    use gatewatch_store::config_log::{self, ConfigLogError};
    let entries = config_log::current(store).await.map_err(|e| match e {
        ConfigLogError::Store(e) => ReportError::Store(e),
        other => ReportError::NotFound(other.to_string()),
    })?;
    Ok(entries
        .into_iter()
        .filter(|e| e.kind == kind && !e.deleted)
        .filter_map(|e| Some((e.id, serde_json::from_str(&e.body).ok()?)))
        .collect())
}

/// A local time in the window's zone as chart text.
pub fn label_of(w: &Window, secs: i64) -> String {
    let fmt = match w.bucket {
        Bucket::Minute | Bucket::Hour => "%m-%d %H:%M",
        Bucket::Day => "%Y-%m-%d",
    };
    DateTime::<Utc>::from_timestamp(secs, 0)
        .map(|t| t.with_timezone(&w.tz).format(fmt).to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win(from: &str, to: &str, tz: chrono_tz::Tz, bucket: Bucket) -> Window {
        Window {
            from: DateTime::parse_from_rfc3339(from)
                .unwrap()
                .with_timezone(&Utc),
            to: DateTime::parse_from_rfc3339(to)
                .unwrap()
                .with_timezone(&Utc),
            tz,
            bucket,
        }
    }

    fn params(pairs: &[(&str, &str)]) -> ReportParams {
        ReportParams::from_pairs(pairs).unwrap()
    }

    #[test]
    fn the_choice_table() {
        use chrono_tz::{Asia, UTC};
        let day = win(
            "2026-11-01T00:00:00Z",
            "2026-11-02T00:00:00Z",
            UTC,
            Bucket::Hour,
        );
        let month = win(
            "2026-10-01T00:00:00Z",
            "2026-11-01T00:00:00Z",
            UTC,
            Bucket::Day,
        );
        let kolkata = Window {
            tz: Asia::Kolkata,
            ..month
        };
        let minute = Window {
            bucket: Bucket::Minute,
            ..day
        };
        let none = params(&[]);
        let c = |p: &ReportParams, w: &Window, g: &[Dim]| choose(p, w, g).map(|c| c.source);
        assert_eq!(c(&none, &day, &[Dim::Api]).unwrap(), Source::Minute);
        assert_eq!(c(&none, &month, &[Dim::Api]).unwrap(), Source::Hour);
        assert_eq!(c(&none, &kolkata, &[Dim::Api]).unwrap(), Source::Minute);
        assert_eq!(c(&none, &month, &[Dim::Node]).unwrap(), Source::Minute);
        assert_eq!(
            c(&none, &month, &[Dim::Client]).unwrap(),
            Source::ClientHour
        );
        assert_eq!(c(&none, &minute, &[Dim::Client]).unwrap(), Source::Raw);
        let by_module = params(&[("module", "m")]);
        assert_eq!(c(&by_module, &day, &[]).unwrap(), Source::Raw);
        match c(&by_module, &month, &[]) {
            Err(ReportError::TooLarge { field, message }) => {
                assert_eq!(field, "module");
                assert!(message.contains("at most 7 days"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let e = c(&none, &kolkata, &[Dim::Client]).unwrap_err();
        assert!(
            matches!(e, ReportError::TooLarge { ref field, .. } if field == "tz"),
            "{e}"
        );
        let both = params(&[("client", "c"), ("node", "n")]);
        assert_eq!(c(&both, &day, &[]).unwrap(), Source::Raw);
    }

    #[test]
    fn rollups_widen_the_window_to_whole_rows() {
        let w = win(
            "2026-11-01T00:00:30Z",
            "2026-11-01T05:59:10Z",
            chrono_tz::UTC,
            Bucket::Minute,
        );
        let c = choose(&params(&[]), &w, &[]).unwrap();
        assert_eq!(c.window.from.to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(c.window.to.to_rfc3339(), "2026-11-01T06:00:00+00:00");
    }

    #[test]
    fn bucket_edges_follow_the_zone() {
        // Taipei days start at 16:00 UTC.
        let w = win(
            "2026-10-31T00:00:00Z",
            "2026-11-02T00:00:00Z",
            chrono_tz::Asia::Taipei,
            Bucket::Day,
        );
        let b: Vec<String> = bucket_starts(&w)
            .iter()
            .map(|s| DateTime::from_timestamp(*s, 0).unwrap().to_rfc3339())
            .collect();
        assert_eq!(
            b,
            [
                "2026-10-30T16:00:00+00:00",
                "2026-10-31T16:00:00+00:00",
                "2026-11-01T16:00:00+00:00"
            ]
        );
        // New York leaves DST on 2026-11-01: that local day has 25 hours.
        let w = Window {
            tz: chrono_tz::America::New_York,
            to: w.to + chrono::Duration::days(1),
            ..w
        };
        let b = bucket_starts(&w);
        assert_eq!(b.len(), 4);
        assert_eq!(b[2] - b[1], 24 * 3_600);
        assert_eq!(b[3] - b[2], 25 * 3_600);
        // Kolkata's hours start at half past.
        let w = win(
            "2026-11-01T00:00:00Z",
            "2026-11-01T02:00:00Z",
            chrono_tz::Asia::Kolkata,
            Bucket::Hour,
        );
        let b = bucket_starts(&w);
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].rem_euclid(3_600), 1_800);
    }
}
