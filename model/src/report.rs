//! What a report is asked for: its kind ([`ReportKind`]) and its parameters ([`ReportParams`]):
//! a time range (absolute or relative to now, so a scheduled report always covers "yesterday"),
//! a time zone, a bucket size and filters.
//!
//! Parameters arrive as URL query pairs (`?range=24h&api=orders&api=pay&tz=Asia/Taipei`), are
//! kept the same way in report subscriptions, and are checked here, once, so the admin API, the
//! subscription editor and the scheduler refuse the same things with the same words.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::field::{bad, FieldError};
use crate::outcome::Outcome;
use crate::user::Permission;

/// The reports gatewatch serves, by URL slug (`/api/v1/reports/<slug>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReportKind {
    /// Calls per API (and module) by outcome class, with share of total.
    Usage,
    /// Calls per time bucket, stacked by outcome class.
    Traffic,
    /// Average, p50, p95, p99 per API and over time; gateway overhead vs upstream time.
    Latency,
    /// Errors by API, upstream host, outcome code; top error paths.
    Errors,
    /// Calls per client, with quota consumption.
    Clients,
    /// Calls per client × API.
    ClientApis,
    /// CPU, memory, process RSS, disk per node over time.
    Nodes,
    /// Slowest calls, biggest payloads, busiest clients.
    Top,
    /// Per client: refusals by reason, quota exhausted, key and configuration changes.
    ClientEvents,
    /// The call detail query (support): find calls, page through them, one call's detail.
    Calls,
}

impl ReportKind {
    pub const ALL: [ReportKind; 10] = [
        ReportKind::Usage,
        ReportKind::Traffic,
        ReportKind::Latency,
        ReportKind::Errors,
        ReportKind::Clients,
        ReportKind::ClientApis,
        ReportKind::Nodes,
        ReportKind::Top,
        ReportKind::ClientEvents,
        ReportKind::Calls,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            ReportKind::Usage => "usage",
            ReportKind::Traffic => "traffic",
            ReportKind::Latency => "latency",
            ReportKind::Errors => "errors",
            ReportKind::Clients => "clients",
            ReportKind::ClientApis => "client-apis",
            ReportKind::Nodes => "nodes",
            ReportKind::Top => "top",
            ReportKind::ClientEvents => "client-events",
            ReportKind::Calls => "calls",
        }
    }

    /// What a caller needs to read it: one call's masked request and response is support's
    /// business, the rest is the reports'.
    pub fn permission(self) -> Permission {
        match self {
            ReportKind::Calls => Permission::ReadCallDetail,
            _ => Permission::ReadReports,
        }
    }
}

impl fmt::Display for ReportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

impl FromStr for ReportKind {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<ReportKind, FieldError> {
        ReportKind::ALL
            .into_iter()
            .find(|k| k.slug() == s)
            .ok_or_else(|| {
                let all: Vec<_> = ReportKind::ALL.iter().map(|k| k.slug()).collect();
                FieldError::new(
                    "report",
                    format!("{s:?} is not a report ({})", all.join(", ")),
                )
            })
    }
}

/// The size of a time bucket as asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// Chosen from the range's length ([`Granularity::resolve`]).
    #[default]
    Auto,
    Minute,
    Hour,
    Day,
}

/// The size of a time bucket as served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Minute,
    Hour,
    Day,
}

impl Bucket {
    pub fn secs(self) -> i64 {
        match self {
            Bucket::Minute => 60,
            Bucket::Hour => 3_600,
            Bucket::Day => 86_400,
        }
    }
}

/// Most buckets one chart or table may have: a minute-by-minute month is refused, not drawn.
pub const MAX_BUCKETS: i64 = 2_000;

impl Granularity {
    /// Minutes up to 6 hours, hours up to 7 days, days beyond.
    pub fn resolve(self, span_secs: i64) -> Bucket {
        match self {
            Granularity::Minute => Bucket::Minute,
            Granularity::Hour => Bucket::Hour,
            Granularity::Day => Bucket::Day,
            Granularity::Auto if span_secs <= 6 * 3_600 => Bucket::Minute,
            Granularity::Auto if span_secs <= 7 * 86_400 => Bucket::Hour,
            Granularity::Auto => Bucket::Day,
        }
    }
}

/// A time range, absolute or relative to the moment the report runs (in the report's zone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeSpec {
    /// The last N seconds up to now (`range=15m`, `24h`, `7d`).
    Last(i64),
    Today,
    Yesterday,
    /// Monday to now.
    ThisWeek,
    /// The last whole Monday-to-Monday week.
    LastWeek,
    ThisMonth,
    LastMonth,
    /// `from` (inclusive) to `to` (exclusive).
    Between(DateTime<Utc>, DateTime<Utc>),
}

impl Default for RangeSpec {
    fn default() -> RangeSpec {
        RangeSpec::Last(86_400)
    }
}

/// Longest range any report covers.
pub const MAX_RANGE_SECS: i64 = 400 * 86_400;

/// The status classes a filter may name (`status_class=5` or `5xx`).
pub const STATUS_CLASSES: [u8; 5] = [1, 2, 3, 4, 5];

/// A report's parameters as asked for (not yet resolved against a clock).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportParams {
    pub range: RangeSpec,
    /// The zone of bucket edges, relative ranges and shown times; the site's when absent.
    pub tz: Option<Tz>,
    pub granularity: Granularity,
    pub apis: Vec<String>,
    pub modules: Vec<String>,
    pub clients: Vec<String>,
    pub nodes: Vec<String>,
    pub status_classes: Vec<u8>,
    pub outcomes: Vec<Outcome>,
    /// API versions as recorded on each call (`api_version`), matched exactly
    /// (`version=v2&version=v3`; no comma splitting: a plain API's label is free text).
    pub versions: Vec<String>,
    /// What an aggregate report groups by instead of its usual key (`group=version`: the
    /// usage and latency reports per API version).
    pub group: Option<GroupBy>,
    /// Rows of a top-N or a page of calls.
    pub limit: Option<u32>,
    /// Call detail filters.
    pub call_id: Option<Uuid>,
    pub request_id: Option<String>,
    /// Calls of one W3C trace (`trace_id=<32 hex>`, as the gateway records it).
    pub trace_id: Option<String>,
    pub status: Option<u16>,
    pub path_contains: Option<String>,
    /// HTTP methods (upper case) a call search keeps (`method=GET&method=POST`).
    pub methods: Vec<String>,
    /// Calls that took at least this long in total, milliseconds (`min_latency_ms=500`).
    pub min_latency_ms: Option<u64>,
    /// Calls with a message-check finding: of a check (`finding=sqli`) or exactly one
    /// (`finding=sqli:query.q`, as the record writes it).
    pub finding: Option<String>,
    /// The keyset cursor of the next page (opaque to callers).
    pub cursor: Option<String>,
    /// Which list the top-N report ranks (`by=slowest|largest|clients`).
    pub top_by: TopBy,
}

/// An alternative grouping of an aggregate report (`group=…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// The API version each call recorded (`api_version`; empty for calls of an API without
    /// one).
    Version,
}

impl GroupBy {
    pub const ALL: [GroupBy; 1] = [GroupBy::Version];

    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Version => "version",
        }
    }
}

/// Longest `version` filter value: the longest label an API may carry (a family's versions
/// are at most 32 characters, a plain API's free-form label at most 64).
pub const MAX_VERSION_CHARS: usize = 64;

/// The lists of the top-N report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopBy {
    /// Calls by total latency, longest first.
    #[default]
    Slowest,
    /// Calls by request + response bytes, biggest first.
    Largest,
    /// Clients by number of calls, busiest first.
    Clients,
}

impl TopBy {
    pub const ALL: [TopBy; 3] = [TopBy::Slowest, TopBy::Largest, TopBy::Clients];

    pub fn as_str(self) -> &'static str {
        match self {
            TopBy::Slowest => "slowest",
            TopBy::Largest => "largest",
            TopBy::Clients => "clients",
        }
    }
}

/// Most rows a top-N or a page of calls may ask for.
pub const MAX_LIMIT: u32 = 10_000;

/// Largest `min_latency_ms` accepted: a day, far beyond any call's timeout.
pub const MAX_LATENCY_MS: u64 = 86_400_000;

/// Longest filter value accepted (ids, paths, request ids).
const MAX_VALUE_LEN: usize = 256;

/// A `trace_id` filter: a W3C trace id, 32 hex digits not all zero, in either case (kept in
/// lower case, as records hold it); empty is no filter.
fn parse_trace_id(k: &str, v: &str) -> Result<Option<String>, FieldError> {
    let id = v.trim().to_ascii_lowercase();
    if id.is_empty() {
        return Ok(None);
    }
    if !crate::trace::valid_hex_id(&id, crate::trace::TRACE_ID_HEX) {
        return bad(
            k,
            "must be a W3C trace id: 32 hex digits, not all zero \
             (e.g. 4bf92f3577b34da6a3ce929d0e0e4736)",
        );
    }
    Ok(Some(id))
}

/// A `finding` filter: a check's name (`sqli`), or a whole finding (`sqli:query.q`) whose
/// place is printable text without controls.
fn parse_finding(k: &str, v: &str) -> Result<String, FieldError> {
    let (check, place) = match v.split_once(':') {
        Some((c, w)) => (c, Some(w)),
        None => (v, None),
    };
    let known = [crate::policy::Check::Sqli, crate::policy::Check::Xss];
    if !known.iter().any(|c| c.name() == check) {
        return bad(
            k,
            format!("{v:?} is no finding: a check (sqli, xss), or check:place (sqli:query.q)"),
        );
    }
    if place.is_some_and(|w| w.is_empty() || w.chars().any(char::is_control)) {
        return bad(
            k,
            format!("{v:?}: the place after ':' is empty or holds controls"),
        );
    }
    Ok(v.to_string())
}

impl ReportParams {
    /// From URL query pairs. Repeated keys add to a filter (`api=a&api=b`); a comma list works
    /// too (`api=a,b`). An unknown key is an error, so a typo does not silently widen a report.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: &[(K, V)],
    ) -> Result<ReportParams, FieldError> {
        let mut p = ReportParams::default();
        let mut from: Option<DateTime<Utc>> = None;
        let mut to: Option<DateTime<Utc>> = None;
        let mut range_seen = false;
        for (k, v) in pairs {
            let (k, v) = (k.as_ref(), v.as_ref().trim());
            if v.len() > MAX_VALUE_LEN {
                return bad(k, format!("must be at most {MAX_VALUE_LEN} bytes"));
            }
            match k {
                "range" => {
                    p.range = parse_range(v)?;
                    range_seen = true;
                }
                "from" => from = Some(parse_time("from", v)?),
                "to" => to = Some(parse_time("to", v)?),
                "tz" => {
                    p.tz = Some(v.parse::<Tz>().map_err(|_| {
                        FieldError::new("tz", format!("{v:?} is not an IANA time zone"))
                    })?)
                }
                "granularity" => {
                    p.granularity = match v {
                        "auto" => Granularity::Auto,
                        "minute" => Granularity::Minute,
                        "hour" => Granularity::Hour,
                        "day" => Granularity::Day,
                        _ => return bad(k, format!("{v:?} is not auto, minute, hour or day")),
                    }
                }
                "api" => push_ids(k, v, &mut p.apis)?,
                "module" => push_ids(k, v, &mut p.modules)?,
                "client" => push_ids(k, v, &mut p.clients)?,
                "node" => push_ids(k, v, &mut p.nodes)?,
                "version" => {
                    // Exact labels, whole values: a plain API's version is free text (up to
                    // 64 characters) and may hold a comma.
                    if v.is_empty() {
                        // No filter, like an empty `api=`.
                        continue;
                    }
                    if v.chars().count() > MAX_VERSION_CHARS {
                        return bad(k, format!("must be at most {MAX_VERSION_CHARS} characters"));
                    }
                    if v.chars().any(char::is_control) {
                        return bad(k, "must not contain control characters");
                    }
                    if !p.versions.iter().any(|x| x == v) {
                        p.versions.push(v.to_string());
                    }
                }
                "group" => {
                    p.group = Some(
                        GroupBy::ALL
                            .into_iter()
                            .find(|g| g.as_str() == v)
                            .ok_or_else(|| {
                                FieldError::new(k, format!("{v:?} is not a grouping (version)"))
                            })?,
                    )
                }
                "status_class" => {
                    for part in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        let digit = part.strip_suffix("xx").unwrap_or(part);
                        match digit.parse::<u8>() {
                            Ok(c) if STATUS_CLASSES.contains(&c) => {
                                if !p.status_classes.contains(&c) {
                                    p.status_classes.push(c)
                                }
                            }
                            _ => {
                                return bad(
                                    k,
                                    format!("{part:?} is not a status class (1xx to 5xx)"),
                                )
                            }
                        }
                    }
                }
                "outcome" => {
                    for part in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        let o: Outcome =
                            serde_json::from_value(serde_json::Value::String(part.to_string()))
                                .map_err(|_| {
                                    FieldError::new(k, format!("{part:?} is not an outcome code"))
                                })?;
                        if !p.outcomes.contains(&o) {
                            p.outcomes.push(o)
                        }
                    }
                }
                "limit" => match v.parse::<u32>() {
                    Ok(n) if (1..=MAX_LIMIT).contains(&n) => p.limit = Some(n),
                    _ => return bad(k, format!("must be a whole number from 1 to {MAX_LIMIT}")),
                },
                "call_id" => {
                    p.call_id = Some(
                        Uuid::parse_str(v)
                            .map_err(|_| FieldError::new(k, format!("{v:?} is not a UUID")))?,
                    )
                }
                "request_id" => p.request_id = non_empty(k, v)?,
                "trace_id" => p.trace_id = parse_trace_id(k, v)?,
                "status" => match v.parse::<u16>() {
                    Ok(s) if (100..=599).contains(&s) => p.status = Some(s),
                    _ => return bad(k, format!("{v:?} is not an HTTP status (100 to 599)")),
                },
                "path_contains" => p.path_contains = non_empty(k, v)?,
                "method" => {
                    for part in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        // An HTTP method is a token; upper case is how the gateway records it.
                        let m = part.to_ascii_uppercase();
                        if m.len() > 16 || !m.bytes().all(|b| b.is_ascii_uppercase()) {
                            return bad(
                                k,
                                format!("{part:?} is not an HTTP method (e.g. GET, POST)"),
                            );
                        }
                        if !p.methods.contains(&m) {
                            p.methods.push(m)
                        }
                    }
                }
                "min_latency_ms" => match v.parse::<u64>() {
                    Ok(n) if n <= MAX_LATENCY_MS => p.min_latency_ms = Some(n),
                    _ => {
                        return bad(
                            k,
                            format!(
                                "must be a whole number of milliseconds from 0 to {MAX_LATENCY_MS}"
                            ),
                        )
                    }
                },
                "finding" => p.finding = Some(parse_finding(k, v)?),
                "cursor" => p.cursor = non_empty(k, v)?,
                "by" => {
                    p.top_by = TopBy::ALL
                        .into_iter()
                        .find(|b| b.as_str() == v)
                        .ok_or_else(|| {
                            FieldError::new(k, format!("{v:?} is not slowest, largest or clients"))
                        })?
                }
                // Output choices read by the HTTP layer, not filters.
                "format" | "width" | "height" | "lang" => {}
                _ => return bad(k, "is not a report parameter"),
            }
        }
        match (from, to) {
            (Some(f), Some(t)) => {
                if range_seen {
                    return bad("range", "give either range or from and to, not both");
                }
                p.range = RangeSpec::Between(f, t)
            }
            (Some(_), None) => return bad("to", "is required with from"),
            (None, Some(_)) => return bad("from", "is required with to"),
            (None, None) => {}
        }
        if let RangeSpec::Between(f, t) = p.range {
            if t <= f {
                return bad("to", "must be after from");
            }
            if (t - f).num_seconds() > MAX_RANGE_SECS {
                return bad(
                    "to",
                    format!(
                        "the range may span at most {} days",
                        MAX_RANGE_SECS / 86_400
                    ),
                );
            }
        }
        Ok(p)
    }

    /// Back to query pairs (for subscriptions and links), in a stable order.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut put = |k: &str, v: String| out.push((k.to_string(), v));
        match &self.range {
            RangeSpec::Between(f, t) => {
                put("from", f.to_rfc3339());
                put("to", t.to_rfc3339());
            }
            r => put("range", range_name(r)),
        }
        if let Some(tz) = self.tz {
            put("tz", tz.name().to_string());
        }
        match self.granularity {
            Granularity::Auto => {}
            Granularity::Minute => put("granularity", "minute".into()),
            Granularity::Hour => put("granularity", "hour".into()),
            Granularity::Day => put("granularity", "day".into()),
        }
        for (k, list) in [
            ("api", &self.apis),
            ("module", &self.modules),
            ("client", &self.clients),
            ("node", &self.nodes),
        ] {
            for v in list {
                put(k, v.clone());
            }
        }
        for v in &self.versions {
            put("version", v.clone());
        }
        if let Some(g) = self.group {
            put("group", g.as_str().to_string());
        }
        for c in &self.status_classes {
            put("status_class", format!("{c}xx"));
        }
        for o in &self.outcomes {
            put("outcome", o.as_str().to_string());
        }
        if let Some(n) = self.limit {
            put("limit", n.to_string());
        }
        if let Some(id) = self.call_id {
            put("call_id", id.to_string());
        }
        if let Some(v) = &self.request_id {
            put("request_id", v.clone());
        }
        if let Some(v) = &self.trace_id {
            put("trace_id", v.clone());
        }
        if let Some(s) = self.status {
            put("status", s.to_string());
        }
        if let Some(v) = &self.path_contains {
            put("path_contains", v.clone());
        }
        for m in &self.methods {
            put("method", m.clone());
        }
        if let Some(n) = self.min_latency_ms {
            put("min_latency_ms", n.to_string());
        }
        if let Some(v) = &self.finding {
            put("finding", v.clone());
        }
        if let Some(v) = &self.cursor {
            put("cursor", v.clone());
        }
        if self.top_by != TopBy::default() {
            put("by", self.top_by.as_str().to_string());
        }
        out
    }

    /// The concrete window and bucket at `now`, in `tz` or else the site's zone.
    pub fn resolve(&self, now: DateTime<Utc>, site_tz: Tz) -> Result<Window, FieldError> {
        let tz = self.tz.unwrap_or(site_tz);
        let local_now = now.with_timezone(&tz);
        let today = local_now.date_naive();
        let midnight = |d: NaiveDate| local_midnight(tz, d);
        let (from, to) = match &self.range {
            RangeSpec::Last(secs) => (now - Duration::seconds(*secs), now),
            RangeSpec::Today => (midnight(today), now),
            RangeSpec::Yesterday => (midnight(today - Duration::days(1)), midnight(today)),
            RangeSpec::ThisWeek => {
                let monday =
                    today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
                (midnight(monday), now)
            }
            RangeSpec::LastWeek => {
                let monday =
                    today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
                (midnight(monday - Duration::days(7)), midnight(monday))
            }
            RangeSpec::ThisMonth => (midnight(today.with_day(1).unwrap_or(today)), now),
            RangeSpec::LastMonth => {
                let first = today.with_day(1).unwrap_or(today);
                let prev = (first - Duration::days(1)).with_day(1).unwrap_or(first);
                (midnight(prev), midnight(first))
            }
            RangeSpec::Between(f, t) => (*f, *t),
        };
        let span = (to - from).num_seconds().max(1);
        let bucket = self.granularity.resolve(span);
        let buckets = (span + bucket.secs() - 1) / bucket.secs();
        if buckets > MAX_BUCKETS {
            return bad(
                "granularity",
                format!(
                    "{buckets} {bucket:?} buckets is more than {MAX_BUCKETS}: choose a coarser granularity or a shorter range"
                )
                .to_lowercase(),
            );
        }
        Ok(Window {
            from,
            to,
            tz,
            bucket,
        })
    }
}

/// A resolved range: `from` inclusive, `to` exclusive, UTC; bucket edges and shown times in `tz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub tz: Tz,
    pub bucket: Bucket,
}

impl Window {
    pub fn span_secs(&self) -> i64 {
        (self.to - self.from).num_seconds()
    }
}

/// The first instant of a local date (the next valid instant when midnight does not exist).
fn local_midnight(tz: Tz, d: NaiveDate) -> DateTime<Utc> {
    let mut t = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    // Some zones skip midnight on their DST day; step forward to the first instant that exists.
    for _ in 0..48 {
        if let Some(x) = tz.from_local_datetime(&t).earliest() {
            return x.with_timezone(&Utc);
        }
        t += Duration::minutes(30);
    }
    Utc.from_utc_datetime(&t)
}

fn parse_range(v: &str) -> Result<RangeSpec, FieldError> {
    let named = match v {
        "today" => Some(RangeSpec::Today),
        "yesterday" => Some(RangeSpec::Yesterday),
        "this_week" => Some(RangeSpec::ThisWeek),
        "last_week" => Some(RangeSpec::LastWeek),
        "this_month" => Some(RangeSpec::ThisMonth),
        "last_month" => Some(RangeSpec::LastMonth),
        _ => None,
    };
    if let Some(r) = named {
        return Ok(r);
    }
    let err = || {
        FieldError::new(
            "range",
            format!("{v:?} is not a range (e.g. 15m, 24h, 7d, today, yesterday, this_week, last_week, this_month, last_month)"),
        )
    };
    let unit = v.chars().last().ok_or_else(err)?;
    let n: i64 = v[..v.len() - unit.len_utf8()].parse().map_err(|_| err())?;
    let secs = match unit {
        'm' => n * 60,
        'h' => n * 3_600,
        'd' => n * 86_400,
        _ => return Err(err()),
    };
    if secs <= 0 || secs > MAX_RANGE_SECS {
        return bad(
            "range",
            format!("must be from 1m to {}d", MAX_RANGE_SECS / 86_400),
        );
    }
    Ok(RangeSpec::Last(secs))
}

fn range_name(r: &RangeSpec) -> String {
    match r {
        RangeSpec::Last(s) if s % 86_400 == 0 => format!("{}d", s / 86_400),
        RangeSpec::Last(s) if s % 3_600 == 0 => format!("{}h", s / 3_600),
        RangeSpec::Last(s) => format!("{}m", s / 60),
        RangeSpec::Today => "today".into(),
        RangeSpec::Yesterday => "yesterday".into(),
        RangeSpec::ThisWeek => "this_week".into(),
        RangeSpec::LastWeek => "last_week".into(),
        RangeSpec::ThisMonth => "this_month".into(),
        RangeSpec::LastMonth => "last_month".into(),
        RangeSpec::Between(f, t) => format!("{}..{}", f.to_rfc3339(), t.to_rfc3339()),
    }
}

/// RFC 3339 (`2026-11-25T08:00:00+08:00`), or a Unix time in seconds.
fn parse_time(field: &str, v: &str) -> Result<DateTime<Utc>, FieldError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(secs) = v.parse::<i64>() {
        if let Some(t) = DateTime::from_timestamp(secs, 0) {
            return Ok(t);
        }
    }
    // A naive time is ambiguous without a zone: say so instead of guessing.
    if NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S").is_ok()
        || NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok()
    {
        return bad(
            field,
            format!(
                "{v:?} has no zone offset: write it as RFC 3339, e.g. 2026-11-25T00:00:00+08:00"
            ),
        );
    }
    bad(
        field,
        format!("{v:?} is not a time (RFC 3339, e.g. 2026-11-25T00:00:00+08:00, or Unix seconds)"),
    )
}

fn push_ids(field: &str, v: &str, into: &mut Vec<String>) -> Result<(), FieldError> {
    for part in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if part.chars().any(char::is_control) {
            return bad(field, "must not contain control characters");
        }
        if !into.iter().any(|x| x == part) {
            into.push(part.to_string());
        }
    }
    Ok(())
}

fn non_empty(field: &str, v: &str) -> Result<Option<String>, FieldError> {
    if v.chars().any(char::is_control) {
        return bad(field, "must not contain control characters");
    }
    Ok((!v.is_empty()).then(|| v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &[(&str, &str)]) -> Result<ReportParams, FieldError> {
        ReportParams::from_pairs(s)
    }

    #[test]
    fn filters_repeat_and_split_on_commas() {
        let p = pairs(&[("api", "a,b"), ("api", "c"), ("status_class", "5xx,4")]).unwrap();
        assert_eq!(p.apis, ["a", "b", "c"]);
        assert_eq!(p.status_classes, [5, 4]);
    }

    #[test]
    fn bad_values_name_their_field() {
        for (k, v, field) in [
            ("range", "3w", "range"),
            ("tz", "Mars/Olympus", "tz"),
            ("granularity", "second", "granularity"),
            ("status_class", "6xx", "status_class"),
            ("outcome", "nope", "outcome"),
            ("limit", "0", "limit"),
            ("call_id", "x", "call_id"),
            ("trace_id", "4bf92f3577b34da6a3ce929d0e0e473", "trace_id"),
            ("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736a", "trace_id"),
            ("trace_id", "00000000000000000000000000000000", "trace_id"),
            ("trace_id", "4bf92f3577b34da6-3ce929d0e0e4736", "trace_id"),
            ("trace_id", "' OR 1=1 --", "trace_id"),
            ("status", "700", "status"),
            ("clinet", "a", "clinet"),
            ("from", "2026-11-25", "from"),
            ("by", "fastest", "by"),
            ("method", "GE T", "method"),
            ("method", "get;drop", "method"),
            ("min_latency_ms", "-1", "min_latency_ms"),
            ("min_latency_ms", "fast", "min_latency_ms"),
            ("finding", "rce", "finding"),
            ("finding", "SQLI", "finding"),
            ("finding", "sqli:", "finding"),
            ("finding", "xss:query.q\u{0}", "finding"),
            ("finding", "sqli%", "finding"),
            ("version", "v1\u{0}", "version"),
            ("group", "api", "group"),
            ("group", "Version", "group"),
        ] {
            let e = pairs(&[(k, v)]).unwrap_err();
            assert_eq!(e.field, field, "{k}={v}: {e}");
        }
        assert_eq!(pairs(&[("from", "1")]).unwrap_err().field, "to");
        let long = "v".repeat(65);
        assert_eq!(pairs(&[("version", &long)]).unwrap_err().field, "version");
        assert_eq!(
            pairs(&[("version", "")]).unwrap().versions,
            Vec::<String>::new()
        );
        let e = pairs(&[("from", "100"), ("to", "50")]).unwrap_err();
        assert_eq!(e.field, "to");
    }

    #[test]
    fn pairs_round_trip() {
        let p = pairs(&[
            ("range", "yesterday"),
            ("tz", "Asia/Taipei"),
            ("api", "訂單"),
            ("status_class", "5xx"),
            ("outcome", "timeout"),
            ("limit", "20"),
            ("by", "clients"),
            ("method", "get,POST"),
            ("min_latency_ms", "250"),
            ("finding", "sqli:body.items[2].note"),
            ("version", "v2"),
            ("version", "2024-01, beta 版"),
            ("group", "version"),
        ])
        .unwrap();
        assert_eq!(p.versions, ["v2", "2024-01, beta 版"]);
        assert_eq!(p.group, Some(GroupBy::Version));
        assert_eq!(p.finding.as_deref(), Some("sqli:body.items[2].note"));
        assert_eq!(p.top_by, TopBy::Clients);
        assert_eq!(p.methods, ["GET", "POST"]);
        assert_eq!(p.min_latency_ms, Some(250));
        assert_eq!(ReportParams::from_pairs(&p.to_pairs()).unwrap(), p);
    }

    #[test]
    fn yesterday_is_the_local_day() {
        let p = pairs(&[("range", "yesterday"), ("tz", "Asia/Taipei")]).unwrap();
        // 2026-11-25 01:00 in Taipei is 2026-11-24 17:00 UTC.
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 17, 0, 0).unwrap();
        let w = p.resolve(now, chrono_tz::UTC).unwrap();
        assert_eq!(
            w.from,
            Utc.with_ymd_and_hms(2026, 11, 23, 16, 0, 0).unwrap()
        );
        assert_eq!(w.to, Utc.with_ymd_and_hms(2026, 11, 24, 16, 0, 0).unwrap());
        assert_eq!(w.bucket, Bucket::Hour);
    }

    #[test]
    fn too_many_buckets_is_refused() {
        let p = pairs(&[("range", "30d"), ("granularity", "minute")]).unwrap();
        let e = p.resolve(Utc::now(), chrono_tz::UTC).unwrap_err();
        assert_eq!(e.field, "granularity");
        let p = pairs(&[("range", "30d")]).unwrap();
        assert_eq!(
            p.resolve(Utc::now(), chrono_tz::UTC).unwrap().bucket,
            Bucket::Day
        );
    }

    #[test]
    fn kinds_parse_by_slug() {
        for k in ReportKind::ALL {
            assert_eq!(k.slug().parse::<ReportKind>().unwrap(), k);
        }
        assert_eq!("nope".parse::<ReportKind>().unwrap_err().field, "report");
    }
}
