//! The scheduler: cron firing with two processes, retries against a failing SMTP server,
//! failures that are not retried.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use gatewatch_model::report::{ReportKind, ReportParams};
use gatewatch_model::EntityKind;
use gatewatch_reports::catalog::Report;
use gatewatch_reports::schedule::{ReportSource, Scheduler};
use gatewatch_reports::ReportError;
use gatewatch_store::report_runs::{FAILED, OK, RETRYING};
use gatewatch_store::Store;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::helpers::*;

async fn subscribe(store: &Store, id: &str, cron: &str) {
    put(
        store,
        EntityKind::ReportSubscription,
        id,
        serde_json::json!({
            "name": "every minute", "report": "traffic", "params": {"range": "15m"},
            "cron": cron, "recipients": {"emails": ["ops@example.tw"]}
        }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_send_an_every_minute_run_once() {
    let store = gatewatch_migrations::testing::migrated_store("rsched_twice").await;
    let sink = SmtpSink::start(free_port());
    subscribe(&store, "each-minute", "* * * * *").await;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    let mut metrics = Vec::new();
    for holder in ["reports-a", "reports-b"] {
        let s =
            Scheduler::new(store.clone(), config(holder, sink.port), Arc::new(HandMade)).unwrap();
        metrics.push(s.metrics());
        let mut stop = stop.clone();
        tasks.push(tokio::spawn(s.run(async move {
            let _ = stop.wait_for(|s| *s).await;
        })));
    }
    // The next minute's slot (and a margin for the lease and the send).
    let first = first_run(&store, "each-minute", OK, 75)
        .await
        .expect("no run was sent within 75 s");
    // Both processes fired at that slot; give the second every chance to send too.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = stop_tx.send(true);
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let same_run: Vec<_> = runs(&store, "each-minute")
        .await
        .into_iter()
        .filter(|r| r.run_id == first.run_id)
        .collect();
    assert_eq!(same_run.len(), 1, "{same_run:?}");
    println!(
        "slot to start of send: {} ms, send: {} ms",
        (first.started_us - i64::from(first.scheduled_for) * 1_000_000) / 1000,
        (first.finished_us - first.started_us) / 1000
    );
    assert_eq!(first.scheduled_for % 60, 0, "a slot is a whole minute");
    assert_eq!(first.run_id, format!("each-minute@{}", first.scheduled_for));
    let id = format!("<report-each-minute-{}@gatewatch>", first.scheduled_for);
    let mails: Vec<_> = sink
        .mails()
        .into_iter()
        .filter(|m| m["message_id"] == id.as_str())
        .collect();
    assert_eq!(mails.len(), 1, "{:?}", sink.mails());
    // Exactly one of the two held the lease; it scheduled the one subscription.
    let held: Vec<bool> = metrics
        .iter()
        .map(|m| m.runs_ok.load(std::sync::atomic::Ordering::Relaxed) > 0)
        .collect();
    assert_eq!(held.iter().filter(|h| **h).count(), 1, "{held:?}");
    assert!(metrics
        .iter()
        .all(|m| m.subscriptions.load(std::sync::atomic::Ordering::Relaxed) == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_smtp_server_shows_retrying_then_ok() {
    let store = gatewatch_migrations::testing::migrated_store("rsched_retry").await;
    subscribe(&store, "flaky", "0 8 * * *").await;
    let port = free_port();
    let s =
        Arc::new(Scheduler::new(store.clone(), config("t1", port), Arc::new(HandMade)).unwrap());
    let slot = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
    let run = tokio::spawn({
        let s = s.clone();
        async move { s.run_now("flaky", slot).await.unwrap() }
    });
    // Nothing listens on the port: the first attempt fails and is recorded as retrying.
    first_run(&store, "flaky", RETRYING, 20)
        .await
        .expect("no retrying attempt recorded");
    let sink = SmtpSink::start(port);
    assert_eq!(run.await.unwrap(), OK);
    let r = runs(&store, "flaky").await;
    let (last, before) = r.split_last().unwrap();
    assert_eq!(last.status, OK);
    assert!(!before.is_empty());
    for (i, a) in before.iter().enumerate() {
        assert_eq!(a.status, RETRYING, "{r:?}");
        assert_eq!(usize::from(a.attempt), i + 1);
        assert!(!a.error.is_empty(), "{a:?}");
    }
    assert_eq!(usize::from(last.attempt), before.len() + 1);
    assert!(r.iter().all(|a| a.run_id == "flaky@1795564800"));
    assert_eq!(sink.mails().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stays_down_ends_failed_after_the_retries() {
    let store = gatewatch_migrations::testing::migrated_store("rsched_down").await;
    subscribe(&store, "down", "0 8 * * *").await;
    let mut c = config("t1", free_port());
    c.retries = 2;
    c.backoff_first = Duration::from_millis(100);
    let s = Scheduler::new(store.clone(), c, Arc::new(HandMade)).unwrap();
    let slot = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
    assert_eq!(s.run_now("down", slot).await.unwrap(), FAILED);
    let statuses: Vec<(String, u16)> = runs(&store, "down")
        .await
        .into_iter()
        .map(|r| (r.status, r.attempt))
        .collect();
    assert_eq!(
        statuses,
        [
            (RETRYING.to_string(), 1),
            (RETRYING.to_string(), 2),
            (FAILED.to_string(), 3)
        ]
    );
    assert_eq!(
        s.metrics()
            .runs_failed
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

/// A report that cannot be made (a kind not built yet).
struct Missing;

impl ReportSource for Missing {
    fn report<'a>(
        &'a self,
        _: &'a Store,
        kind: ReportKind,
        _: &'a ReportParams,
        _: DateTime<Utc>,
        _: Tz,
    ) -> Pin<Box<dyn Future<Output = gatewatch_reports::Result<Report>> + Send + 'a>> {
        Box::pin(async move {
            Err(ReportError::NotFound(format!(
                "the {kind} report is not built yet"
            )))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_retry_cannot_fix_fails_at_once() {
    let store = gatewatch_migrations::testing::migrated_store("rsched_nofix").await;
    let sink = SmtpSink::start(free_port());
    subscribe(&store, "missing", "0 8 * * *").await;
    // Recipients by a role nobody has.
    put(
        &store,
        EntityKind::ReportSubscription,
        "nobody",
        serde_json::json!({"name": "x", "report": "usage", "cron": "0 8 * * *",
            "recipients": {"roles": ["support"]}}),
    )
    .await;
    let slot = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
    let s = Scheduler::new(store.clone(), config("t1", sink.port), Arc::new(Missing)).unwrap();
    assert_eq!(s.run_now("missing", slot).await.unwrap(), FAILED);
    let r = runs(&store, "missing").await;
    assert_eq!(r.len(), 1);
    assert!(r[0].error.contains("not built yet"), "{r:?}");
    let s = Scheduler::new(store.clone(), config("t1", sink.port), Arc::new(HandMade)).unwrap();
    assert_eq!(s.run_now("nobody", slot).await.unwrap(), FAILED);
    let r = runs(&store, "nobody").await;
    assert_eq!((r.len(), r[0].attempt), (1, 1));
    assert!(r[0].error.contains("no recipient"), "{r:?}");
    assert!(sink.mails().is_empty());
    assert!(matches!(
        s.run_now("nope", slot).await,
        Err(gatewatch_reports::schedule::RunNowError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_already_on_record_is_not_sent_again() {
    let store = gatewatch_migrations::testing::migrated_store("rsched_recorded").await;
    let sink = SmtpSink::start(free_port());
    subscribe(&store, "recorded", "* * * * *").await;
    // Another process already sent the next minute's run.
    let next = (Utc::now().timestamp() / 60 + 1) * 60;
    let run_id = gatewatch_store::report_runs::run_id("recorded", next);
    gatewatch_store::report_runs::record(
        &store,
        &gatewatch_store::report_runs::ReportRun {
            run_id: run_id.clone(),
            subscription: "recorded".into(),
            scheduled_for: next as u32,
            started_us: 0,
            finished_us: 0,
            status: OK.into(),
            attempt: 1,
            recipients: vec!["ops@example.tw".into()],
            error: String::new(),
            reporter: "elsewhere".into(),
        },
    )
    .await
    .unwrap();
    let s = Scheduler::new(store.clone(), config("solo", sink.port), Arc::new(HandMade)).unwrap();
    let metrics = s.metrics();
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(s.run(async move {
        let _ = stop.wait_for(|s| *s).await;
    }));
    let wait = (next + 4 - Utc::now().timestamp()).max(0) as u64;
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let _ = stop_tx.send(true);
    task.await.unwrap().unwrap();
    // It held the lease and had the job, and still sent nothing for that slot.
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(metrics.subscriptions.load(Relaxed), 1);
    assert_eq!(metrics.runs_ok.load(Relaxed), 0);
    let id = format!("<report-recorded-{next}@gatewatch>");
    assert!(
        sink.mails().iter().all(|m| m["message_id"] != id.as_str()),
        "{:?}",
        sink.mails()
    );
    let rows: Vec<_> = runs(&store, "recorded")
        .await
        .into_iter()
        .filter(|r| r.run_id == run_id)
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_changes_reach_the_running_scheduler() {
    use std::sync::atomic::Ordering::Relaxed;
    let store = gatewatch_migrations::testing::migrated_store("rsched_reload").await;
    let s = Scheduler::new(
        store.clone(),
        config("solo", free_port()),
        Arc::new(HandMade),
    )
    .unwrap();
    let m = s.metrics();
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(s.run(async move {
        let _ = stop.wait_for(|s| *s).await;
    }));
    let scheduled = |n: u64| {
        let m = m.clone();
        async move {
            eventually(10, || async {
                (m.subscriptions.load(Relaxed) == n).then_some(())
            })
            .await
            .is_some()
        }
    };
    assert!(m.subscriptions.load(Relaxed) == 0);
    subscribe(&store, "a", "0 8 * * *").await;
    subscribe(&store, "b", "0 9 * * 1").await;
    assert!(scheduled(2).await, "two subscriptions not scheduled");
    // Disabled: unscheduled. Deleted: unscheduled.
    put(
        &store,
        EntityKind::ReportSubscription,
        "a",
        serde_json::json!({"name": "a", "enabled": false, "report": "usage", "cron": "0 8 * * *",
            "recipients": {"emails": ["ops@example.tw"]}}),
    )
    .await;
    assert!(
        scheduled(1).await,
        "a disabled subscription stayed scheduled"
    );
    gatewatch_store::config_log::write(
        &store,
        "test",
        "",
        &[gatewatch_store::config_log::Change {
            kind: EntityKind::ReportSubscription,
            id: "b".into(),
            body: String::new(),
            deleted: true,
            expected_version: None,
        }],
        Utc::now().timestamp_micros(),
    )
    .await
    .unwrap();
    assert!(
        scheduled(0).await,
        "a deleted subscription stayed scheduled"
    );
    subscribe(&store, "a", "30 7 * * *").await;
    assert!(
        scheduled(1).await,
        "a re-enabled subscription was not scheduled"
    );
    assert!(m.lease_held.load(Relaxed));
    let _ = stop_tx.send(true);
    task.await.unwrap().unwrap();
}

/// A daily subscription whose slot was 30 minutes ago (in the site's zone, Asia/Taipei),
/// written `written_ago` before now.
async fn daily_half_an_hour_ago(store: &Store, id: &str, written_ago: chrono::Duration) -> i64 {
    let tz: Tz = "Asia/Taipei".parse().unwrap();
    let slot = Utc::now() - chrono::Duration::minutes(30);
    let local = slot.with_timezone(&tz);
    use chrono::Timelike;
    let cron = format!("{} {} * * *", local.minute(), local.hour());
    put_at(
        store,
        EntityKind::ReportSubscription,
        id,
        serde_json::json!({
            "name": "daily", "report": "traffic", "params": {"range": "15m"},
            "cron": cron, "recipients": {"emails": ["ops@example.tw"]}
        }),
        (Utc::now() - written_ago).timestamp_micros(),
    )
    .await;
    slot.timestamp() / 60 * 60
}

/// The first attempt of `id`'s runs with `status`, waiting up to `secs`.
async fn first_run(
    store: &Store,
    id: &str,
    status: &str,
    secs: u64,
) -> Option<gatewatch_store::report_runs::ReportRun> {
    eventually(secs, || async {
        runs(store, id)
            .await
            .into_iter()
            .find(|r| r.status == status)
    })
    .await
}

/// Waits until `holder` holds the reports lease.
async fn until_holding(store: &Store, holder: &str) {
    eventually(10, || async {
        gatewatch_store::alerts::holds(
            store,
            gatewatch_reports::schedule::LEASE,
            holder,
            Utc::now().timestamp_micros(),
        )
        .await
        .unwrap_or(false)
        .then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("{holder} never held the lease"));
}

/// Runs a scheduler `holder` until `until` returns, then stops it.
async fn with_scheduler<T>(
    store: &Store,
    holder: &str,
    port: u16,
    catch_up: Duration,
    until: impl std::future::Future<Output = T>,
) -> T {
    let mut c = config(holder, port);
    c.catch_up = catch_up;
    let s = Scheduler::new(store.clone(), c, Arc::new(HandMade)).unwrap();
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(s.run(async move {
        let _ = stop.wait_for(|s| *s).await;
    }));
    let out = until.await;
    let _ = stop_tx.send(true);
    task.await.unwrap().unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_missed_while_no_scheduler_ran_is_sent_late_exactly_once() {
    let store = gatewatch_migrations::testing::migrated_store("rsched_catchup").await;
    let sink = SmtpSink::start(free_port());
    let slot = daily_half_an_hour_ago(&store, "late", chrono::Duration::hours(2)).await;
    let six_hours = Duration::from_secs(6 * 3600);
    // The first scheduler to hold the lease sends the missed slot.
    let sent = with_scheduler(&store, "reports-a", sink.port, six_hours, async {
        first_run(&store, "late", OK, 20).await
    })
    .await
    .expect("the missed slot was not sent within 20 s");
    assert_eq!(i64::from(sent.scheduled_for), slot);
    // A restart (another process, the lease handed over) does not send it again.
    with_scheduler(&store, "reports-b", sink.port, six_hours, async {
        until_holding(&store, "reports-b").await;
        // Several polls as the holder.
        tokio::time::sleep(Duration::from_secs(2)).await;
    })
    .await;
    let rows = runs(&store, "late").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let id = format!("<report-late-{slot}@gatewatch>");
    let mails: Vec<_> = sink
        .mails()
        .into_iter()
        .filter(|m| m["message_id"] == id.as_str())
        .collect();
    assert_eq!(mails.len(), 1, "{:?}", sink.mails());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_catch_up_for_a_slot_before_the_subscription_or_when_turned_off() {
    let store = gatewatch_migrations::testing::migrated_store("rsched_nocatchup").await;
    let sink = SmtpSink::start(free_port());
    // Written now: its slot half an hour ago belongs to no subscription.
    daily_half_an_hour_ago(&store, "new", chrono::Duration::zero()).await;
    // Written long before its slot, but catching up is off.
    daily_half_an_hour_ago(&store, "old", chrono::Duration::hours(2)).await;
    with_scheduler(&store, "solo", sink.port, Duration::ZERO, async {
        until_holding(&store, "solo").await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    })
    .await;
    assert!(runs(&store, "old").await.is_empty());
    // With catching up on, the old one goes and the new one still does not.
    with_scheduler(
        &store,
        "solo",
        sink.port,
        Duration::from_secs(3600),
        async {
            first_run(&store, "old", OK, 20)
                .await
                .expect("the old subscription's missed slot was not sent");
            tokio::time::sleep(Duration::from_secs(1)).await;
        },
    )
    .await;
    assert!(runs(&store, "new").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_left_retrying_by_a_dead_process_is_finished_by_the_next_holder() {
    let store = gatewatch_migrations::testing::migrated_store("rsched_takeover").await;
    let sink = SmtpSink::start(free_port());
    let attempt_of =
        |id: &str, slot: i64, finished_us: i64| gatewatch_store::report_runs::ReportRun {
            run_id: gatewatch_store::report_runs::run_id(id, slot),
            subscription: id.into(),
            scheduled_for: slot as u32,
            started_us: finished_us - 1_000_000,
            finished_us,
            status: RETRYING.into(),
            attempt: 1,
            recipients: vec!["ops@example.tw".into()],
            error: "mail: connection refused".into(),
            reporter: "reports-dead".into(),
        };
    // Its process died 20 minutes ago, after a first failed attempt.
    let slot = daily_half_an_hour_ago(&store, "orphan", chrono::Duration::hours(2)).await;
    let died = (Utc::now() - chrono::Duration::minutes(20)).timestamp_micros();
    gatewatch_store::report_runs::record(&store, &attempt_of("orphan", slot, died))
        .await
        .unwrap();
    // This one's process failed a moment ago and is still in its pause: not taken over.
    let slot2 = daily_half_an_hour_ago(&store, "pausing", chrono::Duration::hours(2)).await;
    let now = Utc::now().timestamp_micros();
    gatewatch_store::report_runs::record(&store, &attempt_of("pausing", slot2, now))
        .await
        .unwrap();
    let done = with_scheduler(
        &store,
        "reports-next",
        sink.port,
        Duration::from_secs(3600),
        async {
            let done = first_run(&store, "orphan", OK, 20).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            done
        },
    )
    .await
    .expect("the orphaned run was not finished");
    assert_eq!(done.attempt, 2);
    assert_eq!(done.reporter, "reports-next");
    assert_eq!(runs(&store, "orphan").await.len(), 2);
    let pausing = runs(&store, "pausing").await;
    assert_eq!(pausing.len(), 1, "{pausing:?}");
}
