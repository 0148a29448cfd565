//! `GET /api/v1/report-subscriptions/{id}/runs`: how the scheduled mails of a subscription
//! went, read from `report_runs` (written by the reports role). One item per run, newest slot
//! first; its `status` is its latest attempt's, and every attempt is listed; `next_run` is the
//! next scheduled slot in the subscription's zone (null when it is disabled).

use crate::extract::{Path, Query};
use axum::extract::State;
use axum::Json;
use gatewatch_model::EntityKind;
use gatewatch_store::report_runs::{self, ReportRun};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::answer::time_of;
use crate::error::ApiError;
use crate::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsParams {
    /// Runs to show, newest first, 1 to 10000 (default 200).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 10000)]
    limit: Option<String>,
}

/// One attempt of a run.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Attempt {
    pub attempt: u16,
    pub status: String,
    pub started: String,
    pub finished: String,
    pub error: String,
    pub reporter: String,
}

/// One run: a subscription's mail for one scheduled time.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Run {
    pub run_id: String,
    pub scheduled_for: String,
    /// The latest attempt's: `ok`, `failed` or `retrying`.
    pub status: String,
    pub recipients: Vec<String>,
    pub error: String,
    /// Latest first.
    pub attempts: Vec<Attempt>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunsPage {
    pub items: Vec<Run>,
    /// When the next scheduled mail goes (RFC 3339, UTC); null when the subscription is
    /// disabled or its schedule never fires again.
    pub next_run: Option<String>,
}

/// The subscription's next slot after now, in its zone (the site's when it names none).
fn next_run(body: &str, site_tz: &str) -> Option<String> {
    use gatewatch_model::report_subscription::{next_slot_after, parse_cron};
    let spec: gatewatch_model::report_subscription::ReportSubscriptionSpec =
        serde_json::from_str(body).ok()?;
    if !spec.enabled {
        return None;
    }
    let site: chrono_tz::Tz = site_tz.parse().unwrap_or(chrono_tz::UTC);
    let cron = parse_cron(&spec.cron).ok()?;
    next_slot_after(&cron, spec.zone(site), chrono::Utc::now()).map(|t| t.to_rfc3339())
}

/// Groups attempt rows (newest slot first, attempts latest first) into runs.
pub fn group(rows: Vec<ReportRun>) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    for r in rows {
        let attempt = Attempt {
            attempt: r.attempt,
            status: r.status.clone(),
            started: time_of(r.started_us),
            finished: time_of(r.finished_us),
            error: r.error.clone(),
            reporter: r.reporter.clone(),
        };
        match out.last_mut() {
            Some(run) if run.run_id == r.run_id => run.attempts.push(attempt),
            _ => out.push(Run {
                run_id: r.run_id,
                scheduled_for: time_of(i64::from(r.scheduled_for) * 1_000_000),
                status: r.status,
                recipients: r.recipients,
                error: r.error,
                attempts: vec![attempt],
            }),
        }
    }
    out
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(p): Query<RunsParams>,
) -> Result<Json<RunsPage>, ApiError> {
    let limit = match p.limit.as_deref() {
        None | Some("") => 200,
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| ApiError::invalid("limit", format!("{s:?} must be 1 to 10000")))?,
    };
    let body = match state.cache.get().get(EntityKind::ReportSubscription, &id) {
        Some(e) => e.body.clone(),
        None => {
            return Err(ApiError::not_found(format!(
                "no report_subscription {id:?}"
            )))
        }
    };
    let rows = report_runs::list(&state.store, &id, limit).await?;
    Ok(Json(RunsPage {
        items: group(rows),
        next_run: next_run(&body, &state.config.site_timezone),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(run: &str, slot: u32, attempt: u16, status: &str) -> ReportRun {
        ReportRun {
            run_id: run.into(),
            subscription: "s".into(),
            scheduled_for: slot,
            started_us: 0,
            finished_us: 0,
            status: status.into(),
            attempt,
            recipients: vec!["a@b.tw".into()],
            error: if status == "ok" { "" } else { "down" }.into(),
            reporter: "r".into(),
        }
    }

    #[test]
    fn next_run_follows_the_schedule_and_not_a_disabled_one() {
        let body = r#"{"name":"n","report":"usage","cron":"*/5 * * * *","recipients":{"emails":["a@b.tw"]}}"#;
        let next = next_run(body, "Asia/Taipei").expect("a next run");
        let t = chrono::DateTime::parse_from_rfc3339(&next).unwrap();
        let ahead = t.signed_duration_since(chrono::Utc::now()).num_seconds();
        assert!((0..=300).contains(&ahead), "{next} is {ahead} s ahead");
        let off = body.replace(r#""name":"n""#, r#""name":"n","enabled":false"#);
        assert_eq!(next_run(&off, "Asia/Taipei"), None);
    }

    #[test]
    fn attempts_group_under_their_run_and_the_latest_decides() {
        // As the store reads them: newest slot first, latest attempt first.
        let runs = group(vec![
            row("s@120", 120, 2, "ok"),
            row("s@120", 120, 1, "retrying"),
            row("s@60", 60, 1, "failed"),
        ]);
        assert_eq!(runs.len(), 2);
        assert_eq!((runs[0].status.as_str(), runs[0].attempts.len()), ("ok", 2));
        assert_eq!(runs[0].scheduled_for, "1970-01-01T00:02:00.000000Z");
        assert_eq!(runs[0].attempts[1].status, "retrying");
        assert_eq!(
            (runs[1].status.as_str(), runs[1].error.as_str()),
            ("failed", "down")
        );
    }
}
