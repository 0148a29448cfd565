//! Reports: usage, traffic, latency, error, client, node and call-detail reports over
//! `api_calls`, its rollups and `node_metrics`; tables as JSON and CSV ([`table`]), charts as
//! SVG and PNG ([`chart`]); the report API ([`http`], mounted by the dashboards role); and
//! scheduled report mail ([`schedule`]) and data retention ([`retention`]), run by the `reports`
//! role.
//!
//! - [`catalog`]: which query answers which report; [`catalog::Report`], every answer's shape.
//! - [`queries`]: one module per report: which table answers it ([`queries::source`]) and
//!   how its rows become a report; the SQL and its bound values are in
//!   `gatewatch_store::reports`.
//! - What a report is asked for (kind, range, zone, bucket, filters) is
//!   `gatewatch_model::report`, shared with report subscriptions.
//! - [`doc`]: the report API's part of the OpenAPI document (parameters, answers, schemas).
//! - [`segment`]: the routes' path parameter, refused as the JSON error body when unreadable.
//! - [`i18n`]: headings, titles and chart labels in zh-TW (`lang=zh-TW`, a zh-TW subscription).

pub mod catalog;
pub mod chart;
pub mod doc;
pub mod error;
pub mod http;
pub mod i18n;
pub mod queries;
pub mod retention;
pub mod schedule;
pub mod segment;
pub mod table;

pub use catalog::{run, Report};
pub use error::{ReportError, Result};
