//! One run of a subscription: the checks that keep it to one mail, then attempts until one
//! is sent or they are used up, each recorded in `report_runs`.

use chrono::{DateTime, Utc};
use gatewatch_model::report_subscription::ReportFormat;
use gatewatch_store::alerts;
use gatewatch_store::report_runs::{self, ReportRun, FAILED, OK, RETRYING};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::subscriptions::Subscription;
use super::{letter, now_us, Shared, LEASE};
use crate::ReportError;

/// What one attempt ended with.
struct Failure {
    error: String,
    retryable: bool,
}

/// What the checks before a run found, when it is not a fresh run to send.
enum Check {
    NotHolder,
    OnRecord,
    /// Left `retrying` by a process that is gone: go on from this attempt.
    TakeOver(u16),
}

/// Tries of the checks before a run when ClickHouse does not answer, a second apart: a short
/// outage at the scheduled time does not lose the mail.
const CHECK_TRIES: u32 = 5;

/// A job fired for `slot`: send the run unless another process has it or it is on record.
pub async fn fire(shared: Arc<Shared>, sub: Arc<Subscription>, slot: DateTime<Utc>) {
    let store = &shared.store;
    let holder = &shared.config.holder;
    let secs = slot.timestamp();
    let run_id = report_runs::run_id(&sub.id, secs);
    let scheduled_for = u32::try_from(secs).unwrap_or(0);
    if !shared.claim(&run_id, secs) {
        tracing::debug!(run_id, "already fired in this process");
        return;
    }
    let mut tries = 0;
    let first_attempt = loop {
        tries += 1;
        let checked = async {
            if !alerts::holds(store, LEASE, holder, now_us()).await? {
                return Ok::<_, gatewatch_store::Error>(Some(Check::NotHolder));
            }
            match report_runs::last_attempt(store, &sub.id, scheduled_for, &run_id).await? {
                None => Ok(None),
                Some(last) if abandoned(&shared, &last, now_us()) => {
                    Ok(Some(Check::TakeOver(last.attempt.saturating_add(1))))
                }
                Some(_) => Ok(Some(Check::OnRecord)),
            }
        }
        .await;
        match checked {
            Ok(None) => break Some(1),
            Ok(Some(Check::TakeOver(attempt))) => {
                tracing::warn!(
                    run_id,
                    attempt,
                    "taking over a run its process left retrying"
                );
                break Some(u32::from(attempt));
            }
            Ok(Some(Check::OnRecord)) => {
                tracing::debug!(run_id, "run already on record; not sending again");
                break None;
            }
            Ok(Some(Check::NotHolder)) => {
                // Whoever holds the lease sends it, now or when it catches up.
                tracing::debug!(
                    run_id,
                    "not the lease holder; another reports process sends"
                );
                shared.release(&run_id);
                break None;
            }
            Err(e) if e.is_retryable() && tries < CHECK_TRIES => {
                tracing::warn!(run_id, error = %e, "cannot check the lease and runs yet; trying again");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            Err(e) => {
                tracing::error!(run_id, error = %e, "cannot check the lease and runs; not sending now");
                // The catch-up tries again once ClickHouse answers.
                shared.release(&run_id);
                break None;
            }
        }
    };
    if let Some(attempt) = first_attempt {
        run_from(&shared, &sub, slot, attempt).await;
    }
}

/// Whether `last`, the newest attempt of a run, was left `retrying` by a process that is
/// gone: its next attempt is overdue by more than the longest pause, a lease's time and a
/// minute for the attempt itself.
fn abandoned(shared: &Shared, last: &ReportRun, now_us: i64) -> bool {
    let c = &shared.config;
    let overdue = c.backoff_max + c.lease_ttl + std::time::Duration::from_secs(60);
    last.status == RETRYING
        && now_us.saturating_sub(last.finished_us)
            > i64::try_from(overdue.as_micros()).unwrap_or(i64::MAX)
}

/// Attempts the run (no lease or record check): used by [`fire`] and by "run now".
pub async fn run(shared: &Shared, sub: &Subscription, slot: DateTime<Utc>) -> &'static str {
    run_from(shared, sub, slot, 1).await
}

/// [`run`] from attempt `first` (a run taken over after earlier attempts elsewhere).
async fn run_from(
    shared: &Shared,
    sub: &Subscription,
    slot: DateTime<Utc>,
    first: u32,
) -> &'static str {
    let secs = slot.timestamp();
    let run_id = report_runs::run_id(&sub.id, secs);
    let max = shared.config.retries + 1;
    let mut attempt = first;
    loop {
        let started_us = now_us();
        let recipients = shared
            .subs
            .read()
            .map(|s| s.recipients(&sub.spec))
            .unwrap_or_else(|_| sub.spec.recipients.emails.clone());
        let outcome = attempt_once(shared, sub, slot, &recipients).await;
        let (status, error) = match &outcome {
            Ok(()) => (OK, String::new()),
            Err(f) if f.retryable && attempt < max => (RETRYING, f.error.clone()),
            Err(f) => (FAILED, f.error.clone()),
        };
        let row = ReportRun {
            run_id: run_id.clone(),
            subscription: sub.id.clone(),
            scheduled_for: u32::try_from(secs).unwrap_or(0),
            started_us,
            finished_us: now_us(),
            status: status.to_string(),
            attempt: u16::try_from(attempt).unwrap_or(u16::MAX),
            recipients,
            error,
            reporter: shared.config.holder.clone(),
        };
        if let Err(e) = report_runs::record(&shared.store, &row).await {
            tracing::error!(run_id, status, attempt, error = %e, detail = %row.error, "cannot record a report run");
        }
        let m = &shared.metrics;
        match status {
            OK => {
                m.runs_ok.fetch_add(1, Ordering::Relaxed);
                tracing::info!(run_id, attempt, "report mail sent");
                return OK;
            }
            RETRYING => {
                m.attempts_failed.fetch_add(1, Ordering::Relaxed);
                let wait = shared.config.backoff(attempt);
                tracing::warn!(run_id, attempt, error = %row.error, wait_ms = wait.as_millis() as u64, "report mail failed; trying again");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            _ => {
                m.attempts_failed.fetch_add(1, Ordering::Relaxed);
                m.runs_failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(run_id, attempt, error = %row.error, "report mail failed; giving up");
                return FAILED;
            }
        }
    }
}

async fn attempt_once(
    shared: &Shared,
    sub: &Subscription,
    slot: DateTime<Utc>,
    recipients: &[String],
) -> Result<(), Failure> {
    let fail = |error: String, retryable: bool| Failure { error, retryable };
    let Some(mailer) = &shared.mailer else {
        return Err(fail(
            "no SMTP server is configured ([reports.smtp] or [alerter.smtp])".into(),
            false,
        ));
    };
    if recipients.is_empty() {
        return Err(fail(
            "no recipient: no address, and no enabled user of the roles has one".into(),
            false,
        ));
    }
    let params = sub
        .spec
        .report_params()
        .map_err(|e| fail(e.to_string(), false))?;
    let tz = sub.spec.zone(shared.config.site_tz);
    let mut report = shared
        .source
        .report(&shared.store, sub.spec.report, &params, slot, tz)
        .await
        .map_err(|e| {
            let retryable = matches!(&e, ReportError::Store(s) if s.is_retryable());
            fail(format!("report: {e}"), retryable)
        })?;
    // The mail's chart and CSV headings in the subscription's language, like its summary.
    crate::i18n::localise(&mut report, sub.spec.lang);
    let png = match report.chart.clone() {
        Some(chart) if sub.spec.formats.contains(&ReportFormat::Chart) => {
            // Rasterising takes milliseconds of CPU: off the async workers.
            let source = shared.source.clone();
            match tokio::task::spawn_blocking(move || source.png(&chart)).await {
                Ok(Ok(p)) => Some(p),
                Ok(Err(e)) => {
                    // The figures still go out; the mail just has no picture.
                    tracing::warn!(id = %sub.id, error = %e, "cannot draw the report's chart; sending without it");
                    None
                }
                Err(e) => {
                    tracing::warn!(id = %sub.id, error = %e, "the chart drawing task failed; sending without it");
                    None
                }
            }
        }
        _ => None,
    };
    let letter = letter::letter(&sub.id, &sub.spec, &report, png, slot);
    mailer
        .send(recipients, &letter)
        .await
        .map_err(|e| fail(format!("mail: {e}"), e.is_retryable()))
}
