//! Scheduled report mail runs (migration 0008, `report_runs`): one row per send attempt.
//!
//! A run's id is derived from the subscription and its scheduled time ([`run_id`]), so every
//! reports process names a run alike; [`last_attempt`] is checked before a run starts: a run
//! with a row is not sent again, unless its last row is a `retrying` one that nobody followed
//! up (its process died), which the next lease holder takes over. [`list`] is what `GET /api/v1/report-subscriptions/{id}/runs`
//! shows.

use serde::{Deserialize, Serialize};

use crate::{Result, Store};

/// How an attempt went.
pub const OK: &str = "ok";
/// Given up (or not worth trying again): the run stays failed.
pub const FAILED: &str = "failed";
/// Failed, and another attempt follows after a pause.
pub const RETRYING: &str = "retrying";

/// One attempt of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, clickhouse::Row)]
pub struct ReportRun {
    pub run_id: String,
    pub subscription: String,
    /// Unix seconds of the schedule's slot.
    pub scheduled_for: u32,
    pub started_us: i64,
    pub finished_us: i64,
    /// [`OK`], [`FAILED`] or [`RETRYING`].
    pub status: String,
    /// 1 for the first attempt.
    pub attempt: u16,
    pub recipients: Vec<String>,
    pub error: String,
    /// Which reports process made the attempt.
    pub reporter: String,
}

/// The id of subscription `subscription`'s run for the slot at `scheduled_for` (Unix seconds).
pub fn run_id(subscription: &str, scheduled_for: i64) -> String {
    format!("{subscription}@{scheduled_for}")
}

/// Appends one attempt.
pub async fn record(store: &Store, run: &ReportRun) -> Result<()> {
    let what = "INSERT INTO report_runs";
    let mut ins = store
        .client()
        .insert::<ReportRun>("report_runs")
        .await
        .map_err(|e| store.err(what, e))?;
    ins.write(run).await.map_err(|e| store.err(what, e))?;
    ins.end().await.map_err(|e| store.err(what, e))
}

/// The newest attempt on record of run `run_id` of `subscription`, if any.
pub async fn last_attempt(
    store: &Store,
    subscription: &str,
    scheduled_for: u32,
    run_id: &str,
) -> Result<Option<ReportRun>> {
    // The subscription and slot bound the read to one partition and a short key range.
    let sql = "SELECT ?fields FROM report_runs WHERE subscription = ? AND scheduled_for = ? \
               AND run_id = ? ORDER BY attempt DESC, finished_us DESC LIMIT 1";
    store
        .client()
        .query(sql)
        .bind(subscription)
        .bind(scheduled_for)
        .bind(run_id)
        .fetch_optional()
        .await
        .map_err(|e| store.err(sql, e))
}

/// The attempts of `subscription`'s runs, newest slot first, at most `limit` rows.
pub async fn list(store: &Store, subscription: &str, limit: u32) -> Result<Vec<ReportRun>> {
    let sql = "SELECT ?fields FROM report_runs WHERE subscription = ? \
               ORDER BY scheduled_for DESC, run_id, attempt DESC LIMIT ?";
    store
        .client()
        .query(sql)
        .bind(subscription)
        .bind(limit)
        .fetch_all()
        .await
        .map_err(|e| store.err(sql, e))
}
