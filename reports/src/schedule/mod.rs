//! Scheduled report mail: the `reports` role's scheduler.
//!
//! - Subscriptions (entities of kind `report_subscription`) and who has which role's mail are
//!   read from the configuration log and read again when its revision moves
//!   ([`subscriptions`]); each enabled subscription is a cron job of tokio-cron-scheduler in
//!   the subscription's zone.
//! - Several `reports` processes may run; one sends. They share the lease `reports` in
//!   ClickHouse (`store::alerts::acquire`, the alerter's lease rule, under another name),
//!   renewed every `poll`. A firing job works out its slot (the schedule's time it fires for,
//!   the same in every process) and its run id (`<subscription>@<slot>`); it goes on only if
//!   this process holds the lease and `report_runs` has no row of that run ([`deliver`]).
//! - A run produces the report at its slot (so `range=yesterday` is the day before the
//!   mail), draws the chart, writes the mail ([`letter`], [`mail`]) and sends it; a failed
//!   attempt is recorded as `retrying` and tried again after a doubling pause, up to
//!   `retries` more times, then `failed`.
//! - [`http`]: the admin API's "run now" (`POST /api/v1/report-subscriptions/{id}/run`),
//!   mounted by the dashboards role.
//! - Retention ([`crate::retention`]) runs once at start and daily at 03:30 in the site's
//!   zone, by the lease holder.
//!
//! - Catch-up: a slot that fired while no process held the lease (the holder had died less
//!   than a lease's time before), or while none ran at all, is sent late by the next holder:
//!   every `poll` the holder looks at each subscription's latest slot and fires it when it is
//!   less than `catch_up` old, not older than the subscription's current version, and not on
//!   record. The cron job and the catch-up may find the same slot; `Shared::claimed` lets
//!   only the first go on in a process, `report_runs` across processes.
//!
//! - Take-over: a run whose last attempt is `retrying` and whose next attempt is overdue (by
//!   the longest pause, a lease and a minute) was left by a process that died; the holder that
//!   fires or catches up its slot goes on from the next attempt.

mod metrics;
pub use metrics::{Figures, Metrics};
pub mod deliver;
pub mod http;
pub mod letter;
pub mod mail;
pub mod subscriptions;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use gatewatch_model::report::{ReportKind, ReportParams};
use gatewatch_model::report_subscription::{parse_cron, slot_at_or_before};
use gatewatch_store::{alerts, config_log, Store};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio_cron_scheduler::{Job, JobScheduler};
use uuid::Uuid;

use crate::catalog::Report;
use crate::chart::Chart;
use crate::retention::{self, RetentionPolicy};
use mail::{Mailer, SmtpConfig};
use subscriptions::{Subscription, Subscriptions};

/// The lease's name in `alerter_lease`.
pub const LEASE: &str = "reports";

/// What the scheduler needs.
#[derive(Debug, Clone)]
pub struct ScheduleConfig {
    /// This process's name in the lease and in `report_runs` (unique per process).
    pub holder: String,
    pub site_tz: Tz,
    /// How often subscriptions are re-read (when the log moved) and the lease renewed.
    pub poll: Duration,
    pub lease_ttl: Duration,
    /// Wait after a new claim before reading who won.
    pub lease_settle: Duration,
    /// More attempts after a failed one.
    pub retries: u32,
    /// Pause before the second attempt; doubled each time, at most `backoff_max`.
    pub backoff_first: Duration,
    pub backoff_max: Duration,
    /// `None`: runs are recorded as failed ("no SMTP server").
    pub smtp: Option<SmtpConfig>,
    /// `None`: no retention.
    pub retention: Option<RetentionPolicy>,
    /// When retention runs (six-field cron in the site's zone).
    pub retention_cron: String,
    /// How late a missed slot is still sent (zero: never).
    pub catch_up: Duration,
}

impl ScheduleConfig {
    /// The defaults: re-read every 5 s, a 15 s lease, 3 more attempts 1, 2, 4 minutes apart.
    pub fn new(holder: impl Into<String>, site_tz: Tz) -> ScheduleConfig {
        ScheduleConfig {
            holder: holder.into(),
            site_tz,
            poll: Duration::from_secs(5),
            lease_ttl: Duration::from_secs(15),
            lease_settle: Duration::from_secs(1),
            retries: 3,
            backoff_first: Duration::from_secs(60),
            backoff_max: Duration::from_secs(15 * 60),
            smtp: None,
            retention: Some(RetentionPolicy::default()),
            retention_cron: "0 30 3 * * *".into(),
            catch_up: Duration::from_secs(6 * 3600),
        }
    }

    /// The pause after `failed` failed attempts (≥ 1).
    pub fn backoff(&self, failed: u32) -> Duration {
        let factor = 1u32 << failed.saturating_sub(1).min(16);
        self.backoff_first
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

/// Where a run's report and chart come from: the catalog and the chart renderer, or a test's
/// hand-made ones.
pub trait ReportSource: Send + Sync {
    fn report<'a>(
        &'a self,
        store: &'a Store,
        kind: ReportKind,
        params: &'a ReportParams,
        now: DateTime<Utc>,
        tz: Tz,
    ) -> Pin<Box<dyn Future<Output = crate::Result<Report>> + Send + 'a>>;

    fn png(&self, chart: &Chart) -> crate::Result<Vec<u8>> {
        crate::chart::render_png(chart, crate::chart::DEFAULT_SIZE)
    }
}

/// [`crate::catalog::run`] and [`crate::chart::render_png`].
pub struct Catalog;

impl ReportSource for Catalog {
    fn report<'a>(
        &'a self,
        store: &'a Store,
        kind: ReportKind,
        params: &'a ReportParams,
        now: DateTime<Utc>,
        tz: Tz,
    ) -> Pin<Box<dyn Future<Output = crate::Result<Report>> + Send + 'a>> {
        Box::pin(crate::catalog::run(store, kind, params, now, tz))
    }
}

/// What every job shares.
pub struct Shared {
    pub store: Store,
    pub config: ScheduleConfig,
    pub mailer: Option<Mailer>,
    pub source: Arc<dyn ReportSource>,
    pub metrics: Arc<Metrics>,
    /// Addresses per role, from the last read of the configuration.
    pub subs: RwLock<Subscriptions>,
    /// Run ids this process has fired (run id → slot, in seconds), so that the cron job and
    /// the catch-up never both send one slot.
    pub claimed: Mutex<HashMap<String, i64>>,
}

impl Shared {
    /// Claims `run_id` for this process; false when it was already claimed.
    pub fn claim(&self, run_id: &str, slot_secs: i64) -> bool {
        match self.claimed.lock() {
            Ok(mut c) => c.insert(run_id.to_string(), slot_secs).is_none(),
            Err(_) => false,
        }
    }

    /// Gives a claim up (the run did not go ahead here: another may send it later).
    pub fn release(&self, run_id: &str) {
        if let Ok(mut c) = self.claimed.lock() {
            c.remove(run_id);
        }
    }
}

/// Errors starting the scheduler.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    #[error("scheduler: {0}")]
    Scheduler(#[from] tokio_cron_scheduler::JobSchedulerError),
    #[error(transparent)]
    Mail(#[from] mail::MailError),
}

/// Why [`Scheduler::run_now`] did not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunNowError {
    #[error("no report subscription {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Config(#[from] config_log::ConfigLogError),
}

/// The reports role's scheduler.
pub struct Scheduler {
    shared: Arc<Shared>,
}

impl Scheduler {
    pub fn new(
        store: Store,
        config: ScheduleConfig,
        source: Arc<dyn ReportSource>,
    ) -> Result<Scheduler, ScheduleError> {
        let mailer = config.smtp.as_ref().map(Mailer::new).transpose()?;
        Ok(Scheduler {
            shared: Arc::new(Shared {
                store,
                config,
                mailer,
                source,
                metrics: Arc::new(Metrics::default()),
                subs: RwLock::new(Subscriptions::default()),
                claimed: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.shared.metrics.clone()
    }

    /// Sends subscription `id`'s run for `slot` now, skipping the lease and record checks
    /// (an operator's "run now", and tests): reads the configuration first; the attempts are
    /// recorded as usual. The last attempt's status.
    pub async fn run_now(
        &self,
        id: &str,
        slot: DateTime<Utc>,
    ) -> Result<&'static str, RunNowError> {
        let subs = Subscriptions::load(&self.shared.store).await?;
        let sub = subs
            .list
            .iter()
            .find(|s| s.id == id)
            .cloned()
            .ok_or_else(|| RunNowError::NotFound(id.to_string()))?;
        if let Ok(mut w) = self.shared.subs.write() {
            *w = subs;
        }
        Ok(deliver::run(&self.shared, &sub, slot).await)
    }

    /// Starts subscription `id`'s run for the current second in the background (the admin
    /// API's "run now"); its id and slot. The attempts are recorded as usual.
    pub async fn start_now(&self, id: &str) -> Result<(String, DateTime<Utc>), RunNowError> {
        let subs = Subscriptions::load(&self.shared.store).await?;
        let sub = subs
            .list
            .iter()
            .find(|s| s.id == id)
            .cloned()
            .ok_or_else(|| RunNowError::NotFound(id.to_string()))?;
        if let Ok(mut w) = self.shared.subs.write() {
            *w = subs;
        }
        let now = Utc::now();
        let slot = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
        let run_id = gatewatch_store::report_runs::run_id(id, slot.timestamp());
        let shared = self.shared.clone();
        tokio::spawn(async move { deliver::run(&shared, &sub, slot).await });
        Ok((run_id, slot))
    }

    /// Runs until `stop` resolves: renews the lease and reloads subscriptions every `poll`,
    /// fires their jobs, runs retention.
    pub async fn run(self, stop: impl Future<Output = ()>) -> Result<(), ScheduleError> {
        let shared = self.shared;
        let mut sched = JobScheduler::new().await?;
        if let Some(p) = shared.config.retention {
            let s = shared.clone();
            let job = Job::new_async_tz(
                shared.config.retention_cron.as_str(),
                shared.config.site_tz,
                move |_, _| {
                    let s = s.clone();
                    Box::pin(async move { retain(&s, &p).await })
                },
            )?;
            sched.add(job).await?;
        }
        sched.start().await?;
        let mut jobs: HashMap<String, (u64, Uuid)> = HashMap::new();
        let mut revision: Option<(u64, i64)> = None;
        let mut retained_at_start = false;
        tokio::pin!(stop);
        loop {
            // `/readyz` says the scheduler runs while this keeps moving.
            shared.metrics.tick();
            let holding = renew_lease(&shared).await;
            if holding && !retained_at_start {
                if let Some(p) = &shared.config.retention {
                    retain(&shared, p).await;
                }
                retained_at_start = true;
            }
            match config_log::revision(&shared.store).await {
                Ok(rev) if revision != Some((rev.rows, rev.last_ts_us)) => {
                    match Subscriptions::load(&shared.store).await {
                        Ok(subs) => {
                            sync_jobs(&shared, &sched, &mut jobs, &subs).await;
                            if let Ok(mut w) = shared.subs.write() {
                                *w = subs;
                            }
                            revision = Some((rev.rows, rev.last_ts_us));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot read report subscriptions; keeping the ones scheduled")
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the configuration log's revision")
                }
            }
            if holding && revision.is_some() {
                catch_up(&shared, Utc::now());
            }
            tokio::select! {
                _ = &mut stop => break,
                _ = tokio::time::sleep(shared.config.poll) => {}
            }
        }
        let _ = sched.shutdown().await;
        // Give the lease up so another process takes over at once.
        if shared.metrics.lease_held.load(Ordering::Relaxed) {
            let _ = alerts::acquire(
                &shared.store,
                LEASE,
                &shared.config.holder,
                now_us(),
                Duration::ZERO,
                Duration::ZERO,
            )
            .await;
        }
        Ok(())
    }
}

pub(crate) use gatewatch_model::call::now_us;

async fn renew_lease(shared: &Shared) -> bool {
    let c = &shared.config;
    let held = match alerts::acquire(
        &shared.store,
        LEASE,
        &c.holder,
        now_us(),
        c.lease_ttl,
        c.lease_settle,
    )
    .await
    {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "cannot renew the reports lease");
            false
        }
    };
    let was = shared.metrics.lease_held.swap(held, Ordering::Relaxed);
    if was != held {
        tracing::info!(holder = %c.holder, held, "reports sending lease");
    }
    held
}

/// Adds, replaces and removes jobs so that there is one per enabled subscription, at its
/// current version.
async fn sync_jobs(
    shared: &Arc<Shared>,
    sched: &JobScheduler,
    jobs: &mut HashMap<String, (u64, Uuid)>,
    subs: &Subscriptions,
) {
    let wanted: HashMap<&str, &Subscription> = subs
        .list
        .iter()
        .filter(|s| s.spec.enabled)
        .map(|s| (s.id.as_str(), s))
        .collect();
    let stale: Vec<String> = jobs
        .iter()
        .filter(|(id, (v, _))| wanted.get(id.as_str()).is_none_or(|s| s.version != *v))
        .map(|(id, _)| id.clone())
        .collect();
    for id in stale {
        if let Some((_, uuid)) = jobs.remove(&id) {
            if let Err(e) = sched.remove(&uuid).await {
                tracing::warn!(id, error = %e, "cannot unschedule a report subscription");
            }
        }
    }
    for (id, sub) in wanted {
        if jobs.contains_key(id) {
            continue;
        }
        match job_of(shared, sub) {
            Ok(job) => match sched.add(job).await {
                Ok(uuid) => {
                    tracing::info!(id, cron = %sub.spec.cron, tz = %sub.spec.zone(shared.config.site_tz), "report subscription scheduled");
                    jobs.insert(id.to_string(), (sub.version, uuid));
                }
                Err(e) => tracing::warn!(id, error = %e, "cannot schedule a report subscription"),
            },
            Err(e) => tracing::warn!(id, error = %e, "cannot schedule a report subscription"),
        }
    }
    shared
        .metrics
        .subscriptions
        .store(jobs.len() as u64, Ordering::Relaxed);
}

fn job_of(shared: &Arc<Shared>, sub: &Subscription) -> Result<Job, String> {
    let tz = sub.spec.zone(shared.config.site_tz);
    let schedule = sub.spec.schedule().map_err(|e| e.to_string())?;
    let cron = Arc::new(parse_cron(&sub.spec.cron)?);
    let sub = Arc::new(sub.clone());
    let shared = shared.clone();
    Job::new_async_tz(schedule.as_str(), tz, move |_, _| {
        let (shared, sub, cron) = (shared.clone(), sub.clone(), cron.clone());
        Box::pin(async move {
            // The scheduler wakes a little after the slot; every process finds the same one.
            let Some(slot) = slot_at_or_before(&cron, tz, Utc::now()) else {
                return;
            };
            tokio::spawn(deliver::fire(shared, sub, slot));
        })
    })
    .map_err(|e| e.to_string())
}

/// The slot of `sub` to catch up at `now`, if any: its latest, when that is at most
/// `window` old and not before the subscription's current version.
pub fn missed_slot(
    sub: &Subscription,
    site_tz: Tz,
    window: Duration,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if !sub.spec.enabled || window.is_zero() {
        return None;
    }
    let cron = parse_cron(&sub.spec.cron).ok()?;
    let slot = slot_at_or_before(&cron, sub.spec.zone(site_tz), now)?;
    let age = now.signed_duration_since(slot).to_std().ok()?;
    (age <= window && slot.timestamp_micros() >= sub.since_us).then_some(slot)
}

/// Fires each subscription's missed slot not yet claimed here ([`deliver::fire`] then checks
/// the lease and `report_runs`), and forgets claims too old to matter.
fn catch_up(shared: &Arc<Shared>, now: DateTime<Utc>) {
    let window = shared.config.catch_up;
    let list = match shared.subs.read() {
        Ok(s) => s.list.clone(),
        Err(_) => return,
    };
    let horizon = now.timestamp() - i64::try_from(window.as_secs()).unwrap_or(i64::MAX / 2) - 3600;
    if let Ok(mut c) = shared.claimed.lock() {
        c.retain(|_, slot| *slot >= horizon);
    }
    for sub in list {
        let Some(slot) = missed_slot(&sub, shared.config.site_tz, window, now) else {
            continue;
        };
        let run_id = gatewatch_store::report_runs::run_id(&sub.id, slot.timestamp());
        let claimed = shared
            .claimed
            .lock()
            .map(|c| c.contains_key(&run_id))
            .unwrap_or(true);
        if !claimed {
            tokio::spawn(deliver::fire(shared.clone(), Arc::new(sub), slot));
        }
    }
}

async fn retain(shared: &Shared, policy: &RetentionPolicy) {
    if !shared.metrics.lease_held.load(Ordering::Relaxed) {
        return;
    }
    match retention::enforce(&shared.store, policy, Utc::now()).await {
        Ok(dropped) => {
            shared
                .metrics
                .partitions_dropped
                .fetch_add(dropped.len() as u64, Ordering::Relaxed);
            if !dropped.is_empty() {
                tracing::info!(?dropped, "retention dropped partitions");
            }
        }
        Err(e) => tracing::error!(error = %e, "retention failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use gatewatch_model::{Entity, EntityKind};

    fn sub(cron: &str, enabled: bool, since: DateTime<Utc>) -> Subscription {
        let body = serde_json::json!({"name": "n", "report": "usage", "cron": cron,
            "enabled": enabled, "recipients": {"emails": ["a@example.tw"]}});
        let Ok(Entity::ReportSubscription(spec)) =
            Entity::parse(EntityKind::ReportSubscription, "s", &body.to_string())
        else {
            panic!("not a subscription")
        };
        Subscription {
            id: "s".into(),
            version: 1,
            since_us: since.timestamp_micros(),
            spec,
        }
    }

    #[test]
    fn the_latest_slot_is_caught_up_within_the_window_and_after_the_version() {
        let tz: Tz = "Asia/Taipei".parse().unwrap();
        // 10:00 in Taipei; the daily slot is 08:00 Taipei = 00:00 UTC.
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 2, 0, 0).unwrap();
        let slot = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
        let long_ago = now - chrono::Duration::days(3);
        let h = |n: u64| Duration::from_secs(n * 3600);
        let daily = sub("0 8 * * *", true, long_ago);
        assert_eq!(missed_slot(&daily, tz, h(6), now), Some(slot));
        assert_eq!(
            missed_slot(&daily, tz, h(2), now),
            Some(slot),
            "exactly 2 h old"
        );
        assert_eq!(
            missed_slot(&daily, tz, h(1), now),
            None,
            "older than the window"
        );
        assert_eq!(missed_slot(&daily, tz, Duration::ZERO, now), None, "off");
        let disabled = sub("0 8 * * *", false, long_ago);
        assert_eq!(missed_slot(&disabled, tz, h(6), now), None);
        let written_after = sub("0 8 * * *", true, slot + chrono::Duration::minutes(5));
        assert_eq!(missed_slot(&written_after, tz, h(6), now), None);
        let written_at = sub("0 8 * * *", true, slot);
        assert_eq!(missed_slot(&written_at, tz, h(6), now), Some(slot));
    }

    #[test]
    fn a_claim_is_taken_once_until_released() {
        let shared = Shared {
            store: Store::new(gatewatch_store::StoreConfig::default()),
            config: ScheduleConfig::new("t", chrono_tz::UTC),
            mailer: None,
            source: Arc::new(Catalog),
            metrics: Arc::new(Metrics::default()),
            subs: RwLock::new(Subscriptions::default()),
            claimed: Mutex::new(HashMap::new()),
        };
        assert!(shared.claim("s@1", 1));
        assert!(!shared.claim("s@1", 1));
        shared.release("s@1");
        assert!(shared.claim("s@1", 1));
    }
}
