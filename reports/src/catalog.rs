//! Which query answers which report, and what every report answer carries.

use chrono::{DateTime, Utc};
use gatewatch_model::report::{ReportKind, ReportParams, Window};
use gatewatch_store::Store;
use serde_json::{Map, Value};

use crate::chart::Chart;
use crate::error::Result;
use crate::queries::Source;
use crate::table::Table;

/// What a report query reads from: the store, the parameters, and the window they resolved to.
pub struct Ctx<'a> {
    pub store: &'a Store,
    pub params: &'a ReportParams,
    pub window: Window,
}

/// One report's answer.
#[derive(Debug, Clone)]
pub struct Report {
    pub kind: ReportKind,
    pub title: String,
    pub window: Window,
    /// The table that served it (a rollup or the raw calls), shown so a reader knows whether
    /// figures are exact or bucketed.
    pub source: Source,
    /// Totals and other single figures (`{"calls": 123, "error_rate_pct": 1.5}`).
    pub summary: Map<String, Value>,
    pub table: Table,
    /// The report's main chart, when it has one.
    pub chart: Option<Chart>,
    /// Keyset cursor of the next page (call search).
    pub next_cursor: Option<String>,
}

impl Report {
    /// The UI's JSON: the request echoed, the summary, the table.
    pub fn to_json(&self) -> Value {
        let mut v = self.table.to_json();
        let time = |t: DateTime<Utc>| t.with_timezone(&self.window.tz).to_rfc3339();
        if let Value::Object(m) = &mut v {
            m.insert("report".into(), Value::from(self.kind.slug()));
            m.insert("title".into(), Value::from(self.title.clone()));
            m.insert("from".into(), Value::from(time(self.window.from)));
            m.insert("to".into(), Value::from(time(self.window.to)));
            m.insert("tz".into(), Value::from(self.window.tz.name()));
            m.insert(
                "bucket".into(),
                serde_json::to_value(self.window.bucket).unwrap_or(Value::Null),
            );
            m.insert("source".into(), Value::from(self.source.table()));
            m.insert("summary".into(), Value::Object(self.summary.clone()));
            m.insert(
                "next_cursor".into(),
                self.next_cursor.clone().map_or(Value::Null, Value::from),
            );
        }
        v
    }
}

/// Runs one report.
pub async fn run(
    store: &Store,
    kind: ReportKind,
    params: &ReportParams,
    now: DateTime<Utc>,
    site_tz: chrono_tz::Tz,
) -> Result<Report> {
    let window = params.resolve(now, site_tz)?;
    let ctx = Ctx {
        store,
        params,
        window,
    };
    // One arm per report, added as its query lands.
    match kind {
        ReportKind::Usage => crate::queries::usage::run(&ctx).await,
        ReportKind::Traffic => crate::queries::traffic::run(&ctx).await,
        ReportKind::Latency => crate::queries::latency::run(&ctx).await,
        ReportKind::Errors => crate::queries::errors::run(&ctx).await,
        ReportKind::Clients => crate::queries::clients::clients(&ctx).await,
        ReportKind::ClientApis => crate::queries::clients::client_apis(&ctx).await,
        ReportKind::Nodes => crate::queries::nodes::run(&ctx).await,
        ReportKind::Top => crate::queries::top::run(&ctx).await,
        ReportKind::ClientEvents => crate::queries::client_events::run(&ctx).await,
        ReportKind::Calls => crate::queries::calls::run(&ctx).await,
    }
}
