//! The reports' reads: every report query is a typed function here, its values bound.
//!
//! Which table answers which question is the reports crate's choice
//! (`gatewatch_reports::queries::source::choose`); it passes the [`Source`] it chose with the
//! caller's parameters and window in a [`Scope`], and gets typed rows back. The SQL text, the
//! conditions built from the parameters ([`filter`]) and the aggregate expressions of each
//! table ([`agg`]) live here, with every caller value bound at a `?`.
//!
//! - [`aggregate`]: counts by outcome class per group or per bucket, latency figures, API
//!   names, quota use.
//! - [`nodes`]: node sample figures and the fullest disks.
//! - [`calls`]: call search (keys, then rows), one call's detail, top-N calls and clients.
//! - [`events`]: a client's refusals and quota exhaustion, and its `config_log` and
//!   `audit_log` rows.

pub(crate) mod agg;
pub mod aggregate;
pub mod calls;
pub mod events;
pub(crate) mod filter;
pub mod nodes;

use gatewatch_model::report::{ReportParams, Window};
use gatewatch_model::Outcome;

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
    /// The API version each call recorded (`api_calls.api_version`): raw table only. The
    /// rollups are keyed by API id; mapping ids to today's version labels would move old
    /// calls when a label changes, so version figures read what each call recorded.
    Version,
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
            Source::Minute => !matches!(d, Dim::Module | Dim::Client | Dim::Version),
            Source::Hour => !matches!(d, Dim::Module | Dim::Client | Dim::Node | Dim::Version),
            Source::ClientHour => !matches!(d, Dim::Module | Dim::Node | Dim::Version),
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

    /// The table keeps the API's name (`client_api_1h` does not).
    pub fn keeps_api_name(self) -> bool {
        !matches!(self, Source::ClientHour | Source::NodeMetrics)
    }

    /// The table keeps upstream time and the slowest call (`client_api_1h` does not).
    pub fn keeps_upstream(self) -> bool {
        !matches!(self, Source::ClientHour | Source::NodeMetrics)
    }
}

/// What a report reads: the caller's parameters (filters), the window (widened to whole rows
/// for a rollup by the caller) and the table chosen.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub params: &'a ReportParams,
    pub window: &'a Window,
    pub source: Source,
}

/// The outcomes counted in each of the four class columns of a row, in the order `success`,
/// `client_error`, `server_error`, `refused` (the reports crate sorts outcomes into classes).
pub type ClassOutcomes = [Vec<Outcome>; 4];

/// The refusal outcomes (refused calls took no quota; the top clients count them apart).
pub(crate) fn refusals() -> Vec<&'static str> {
    Outcome::ALL
        .iter()
        .filter(|o| o.is_refusal())
        .map(|o| o.as_str())
        .collect()
}
