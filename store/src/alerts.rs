//! The alerter's tables (migration 0006): the event history (`alert_events`), the state of
//! each rule and scope key (`alert_state`), and the sending lease (`alerter_lease`).
//!
//! # The lease
//!
//! Several alerter processes may run; one sends. ClickHouse has no compare-and-set, so the
//! lease is a race with a fixed, shared rule for its winner:
//! - a claim is a row `(name, term, holder, expires_us)`; the **holder is the claim with the
//!   highest `(term, holder)`**, as long as its `expires_us` has not passed;
//! - the holder renews its own claim (same term, later expiry) well before it expires;
//! - a contender that finds no live holder writes a claim of the next term, waits `settle`
//!   (longer than an insert takes to become visible) and reads again: of two contenders that
//!   claimed the same term, both now see both claims and agree on the winner;
//! - the holder checks it still holds the lease right before each send, so a holder that lost
//!   a race it could not see stops at its next send.
//!
//! What is left: two senders at once for at most one send, when a claim lands between a
//! holder's check and its send. Notifications carry ids derived from what they announce, so a
//! restarted or new holder skips what `alert_events` shows as sent, and LINE deduplicates a
//! repeated retry key. Expiry compares clocks of different machines: keep them in sync (NTP);
//! the lease's time to live (seconds) is far above any sane skew.

use gatewatch_model::call::secs_of_us;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

use crate::query::Sql;
use crate::{Result, Store};

/// One row of `alert_events`: a transition, or one attempt to notify one recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub ts_us: i64,
    pub rule_id: String,
    pub rule_version: u64,
    /// Which series of the rule: `node=gw1`, `node=gw1,mount=/`, `api=orders`, or empty.
    pub scope_key: String,
    /// `pending`, `firing`, `resolved`, `ok` (transitions) or `notify` (an attempt).
    pub event: String,
    /// The phase after the event.
    pub phase: String,
    pub severity: String,
    pub value: f64,
    pub threshold: f64,
    /// For `notify`: the channel kind or id, the recipient, the attempt number and the result
    /// (`sent`, `failed`, `suppressed`), with the far end's answer in `detail`.
    pub channel: String,
    pub recipient: String,
    pub notification_id: Uuid,
    pub attempt: u16,
    pub result: String,
    pub detail: String,
    /// The alerter process that wrote the row.
    pub alerter: String,
}

#[derive(Debug, clickhouse::Row, Serialize, Deserialize)]
struct EventRow {
    ts: u32,
    ts_us: i64,
    rule_id: String,
    rule_version: u64,
    scope_key: String,
    event: String,
    phase: String,
    severity: String,
    value: f64,
    threshold: f64,
    channel: String,
    recipient: String,
    #[serde(with = "clickhouse::serde::uuid")]
    notification_id: Uuid,
    attempt: u16,
    result: String,
    detail: String,
    alerter: String,
}

impl From<&AlertEvent> for EventRow {
    fn from(e: &AlertEvent) -> EventRow {
        EventRow {
            ts: secs_of_us(e.ts_us),
            ts_us: e.ts_us,
            rule_id: e.rule_id.clone(),
            rule_version: e.rule_version,
            scope_key: e.scope_key.clone(),
            event: e.event.clone(),
            phase: e.phase.clone(),
            severity: e.severity.clone(),
            value: e.value,
            threshold: e.threshold,
            channel: e.channel.clone(),
            recipient: e.recipient.clone(),
            notification_id: e.notification_id,
            attempt: e.attempt,
            result: e.result.clone(),
            detail: e.detail.clone(),
            alerter: e.alerter.clone(),
        }
    }
}

impl From<EventRow> for AlertEvent {
    fn from(r: EventRow) -> AlertEvent {
        AlertEvent {
            ts_us: r.ts_us,
            rule_id: r.rule_id,
            rule_version: r.rule_version,
            scope_key: r.scope_key,
            event: r.event,
            phase: r.phase,
            severity: r.severity,
            value: r.value,
            threshold: r.threshold,
            channel: r.channel,
            recipient: r.recipient,
            notification_id: r.notification_id,
            attempt: r.attempt,
            result: r.result,
            detail: r.detail,
            alerter: r.alerter,
        }
    }
}

/// Appends `events`.
pub async fn write_events(store: &Store, events: &[AlertEvent]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let what = "INSERT INTO alert_events";
    let mut ins = store
        .client()
        .insert::<EventRow>("alert_events")
        .await
        .map_err(|e| store.err(what, e))?;
    for e in events {
        ins.write(&EventRow::from(e))
            .await
            .map_err(|e| store.err(what, e))?;
    }
    ins.end().await.map_err(|e| store.err(what, e))
}

/// Which events to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    /// Inclusive, microseconds since the epoch.
    pub from_us: i64,
    /// Exclusive.
    pub to_us: i64,
    pub rule_id: Option<String>,
    /// At most this many, newest first.
    pub limit: u64,
}

/// Events in the window, newest first: the first page of [`page_events`].
pub async fn read_events(store: &Store, q: &EventQuery) -> Result<Vec<AlertEvent>> {
    Ok(page_events(store, q, None)
        .await?
        .into_iter()
        .map(|p| p.event)
        .collect())
}

/// Of `ids`, the notifications `alert_events` shows as sent (result `sent`) since `since_us`:
/// what a new or restarted sender must not send again.
pub async fn sent_notifications(
    store: &Store,
    ids: &[Uuid],
    since_us: i64,
) -> Result<HashSet<Uuid>> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    #[derive(clickhouse::Row, Deserialize)]
    struct Id {
        #[serde(with = "clickhouse::serde::uuid")]
        id: Uuid,
    }
    let mut sql = Sql::new(
        "SELECT DISTINCT notification_id AS id FROM alert_events \
         WHERE ts >= ",
    );
    sql.time(i64::from(secs_of_us(since_us)));
    sql.push(" AND result = ").str("sent").push(" AND ");
    sql.in_uuids("notification_id", ids);
    let rows: Vec<Id> = sql.fetch_all(store).await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// The saved state of one (rule, scope key): the alerter's state machine, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, clickhouse::Row)]
pub struct SavedState {
    pub rule_id: String,
    pub scope_key: String,
    pub ts_us: i64,
    pub state: String,
}

#[derive(Debug, clickhouse::Row, Serialize)]
struct StateRow<'a> {
    ts: u32,
    ts_us: i64,
    rule_id: &'a str,
    scope_key: &'a str,
    state: &'a str,
    alerter: &'a str,
}

/// Saves changed states (one row each; the newest row per key is the state).
pub async fn save_states(store: &Store, alerter: &str, states: &[SavedState]) -> Result<()> {
    if states.is_empty() {
        return Ok(());
    }
    let what = "INSERT INTO alert_state";
    let mut ins = store
        .client()
        .insert::<StateRow<'_>>("alert_state")
        .await
        .map_err(|e| store.err(what, e))?;
    for s in states {
        ins.write(&StateRow {
            ts: secs_of_us(s.ts_us),
            ts_us: s.ts_us,
            rule_id: &s.rule_id,
            scope_key: &s.scope_key,
            state: &s.state,
            alerter,
        })
        .await
        .map_err(|e| store.err(what, e))?;
    }
    ins.end().await.map_err(|e| store.err(what, e))
}

/// The newest state of every (rule, scope key).
pub async fn load_states(store: &Store) -> Result<Vec<SavedState>> {
    // `cur_` aliases: 18.16 lets an alias shadow the column inside the aggregate otherwise.
    let sql = "SELECT rule_id, scope_key, max(ts_us) AS cur_ts, argMax(state, ts_us) AS cur_state \
               FROM alert_state GROUP BY rule_id, scope_key ORDER BY rule_id, scope_key";
    let rows: Vec<SavedState> = store
        .client()
        .query(sql)
        .fetch_all()
        .await
        .map_err(|e| store.err(sql, e))?;
    Ok(rows)
}

/// A claim of the lease.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, clickhouse::Row)]
pub struct Lease {
    pub term: u64,
    pub holder: String,
    pub expires_us: i64,
}

#[derive(Debug, clickhouse::Row, Serialize)]
struct LeaseRow<'a> {
    name: &'a str,
    term: u64,
    holder: &'a str,
    ts_us: i64,
    expires_us: i64,
}

/// The winning claim of lease `name` (highest term, then holder), expired or not.
pub async fn top_claim(store: &Store, name: &str) -> Result<Option<Lease>> {
    let sql = "SELECT term, holder, argMax(expires_us, ts_us) AS cur_expires FROM alerter_lease \
               WHERE name = ? GROUP BY term, holder ORDER BY term DESC, holder DESC LIMIT 1";
    let rows: Vec<Lease> = store
        .client()
        .query(sql)
        .bind(name)
        .fetch_all()
        .await
        .map_err(|e| store.err(sql, e))?;
    Ok(rows.into_iter().next())
}

async fn write_claim(store: &Store, name: &str, claim: &Lease, now_us: i64) -> Result<()> {
    let what = "INSERT INTO alerter_lease";
    let mut ins = store
        .client()
        .insert::<LeaseRow<'_>>("alerter_lease")
        .await
        .map_err(|e| store.err(what, e))?;
    ins.write(&LeaseRow {
        name,
        term: claim.term,
        holder: &claim.holder,
        ts_us: now_us,
        expires_us: claim.expires_us,
    })
    .await
    .map_err(|e| store.err(what, e))?;
    ins.end().await.map_err(|e| store.err(what, e))
}

/// Takes, keeps or leaves lease `name` for `holder` (see the module doc): `true` when
/// `holder` holds it for `ttl` from `now_us`. `settle` is the wait after a new claim.
pub async fn acquire(
    store: &Store,
    name: &str,
    holder: &str,
    now_us: i64,
    ttl: Duration,
    settle: Duration,
) -> Result<bool> {
    let expires_us = now_us.saturating_add(i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX));
    let top = top_claim(store, name).await?;
    let term = match &top {
        Some(l) if l.holder == holder && l.expires_us > now_us => {
            // Ours and alive: renew in place.
            let renewed = Lease {
                expires_us,
                ..l.clone()
            };
            write_claim(store, name, &renewed, now_us).await?;
            return Ok(true);
        }
        Some(l) if l.expires_us > now_us => return Ok(false),
        Some(l) => l.term + 1,
        None => 1,
    };
    let claim = Lease {
        term,
        holder: holder.to_string(),
        expires_us,
    };
    write_claim(store, name, &claim, now_us).await?;
    tokio::time::sleep(settle).await;
    Ok(top_claim(store, name)
        .await?
        .is_some_and(|l| l.holder == holder && l.term == term))
}

/// Whether `holder` still holds lease `name` at `now_us` (checked before each send).
pub async fn holds(store: &Store, name: &str, holder: &str, now_us: i64) -> Result<bool> {
    Ok(top_claim(store, name)
        .await?
        .is_some_and(|l| l.holder == holder && l.expires_us > now_us))
}

/// Where a page of [`page_events`] ended (the rows of one evaluation share their `ts_us`,
/// hence the tie-breaker).
pub type EventCursor = crate::cursor::TimeCursor;

/// An event with its place in the newest-first order.
#[derive(Debug, Clone, PartialEq)]
pub struct PagedEvent {
    pub event: AlertEvent,
    pub cursor: EventCursor,
}

/// The tie-breaker of [`EventCursor`], computed by the server.
const TIE: &str = "cityHash64(rule_id, scope_key, event, channel, recipient, attempt, result, \
                   toString(notification_id), detail)";

/// Events in the window, newest first (then by tie-breaker), after `after` (keyset paging:
/// a page is the same whatever is written meanwhile, except for newer rows).
pub async fn page_events(
    store: &Store,
    q: &EventQuery,
    after: Option<EventCursor>,
) -> Result<Vec<PagedEvent>> {
    #[derive(Debug, clickhouse::Row, Deserialize)]
    struct Row {
        ts: u32,
        ts_us: i64,
        rule_id: String,
        rule_version: u64,
        scope_key: String,
        event: String,
        phase: String,
        severity: String,
        value: f64,
        threshold: f64,
        channel: String,
        recipient: String,
        #[serde(with = "clickhouse::serde::uuid")]
        notification_id: Uuid,
        attempt: u16,
        result: String,
        detail: String,
        alerter: String,
        tie: u64,
    }
    let mut sql = format!(
        "SELECT ts, ts_us, rule_id, rule_version, scope_key, event, phase, severity, value, \
         threshold, channel, recipient, notification_id, attempt, result, detail, alerter, \
         {TIE} AS tie FROM alert_events WHERE ts >= toDateTime(?) AND ts <= toDateTime(?) \
         AND ts_us >= ? AND ts_us < ?"
    );
    if q.rule_id.is_some() {
        sql.push_str(" AND rule_id = ?");
    }
    if after.is_some() {
        sql.push_str(&crate::cursor::TimeCursor::after_sql(TIE));
    }
    sql.push_str(crate::cursor::NEWEST_FIRST);
    let mut query = store
        .client()
        .query(&sql)
        .bind(secs_of_us(q.from_us))
        .bind(secs_of_us(q.to_us))
        .bind(q.from_us)
        .bind(q.to_us);
    if let Some(r) = &q.rule_id {
        query = query.bind(r.as_str());
    }
    if let Some(c) = after {
        query = c.bind(query);
    }
    let rows: Vec<Row> = query
        .bind(q.limit)
        .fetch_all()
        .await
        .map_err(|e| store.err(&sql, e))?;
    Ok(rows
        .into_iter()
        .map(|r| PagedEvent {
            cursor: EventCursor {
                ts_us: r.ts_us,
                tie: r.tie,
            },
            event: AlertEvent::from(EventRow {
                ts: r.ts,
                ts_us: r.ts_us,
                rule_id: r.rule_id,
                rule_version: r.rule_version,
                scope_key: r.scope_key,
                event: r.event,
                phase: r.phase,
                severity: r.severity,
                value: r.value,
                threshold: r.threshold,
                channel: r.channel,
                recipient: r.recipient,
                notification_id: r.notification_id,
                attempt: r.attempt,
                result: r.result,
                detail: r.detail,
                alerter: r.alerter,
            }),
        })
        .collect())
}

/// The newest recorded value of a (rule, scope key): what the alerter last saw.
#[derive(Debug, Clone, PartialEq, Deserialize, clickhouse::Row)]
pub struct LastValue {
    pub rule_id: String,
    pub scope_key: String,
    pub ts_us: i64,
    pub value: f64,
}

/// Per (rule, scope key) of `rules`, the value of its newest event since `since_us`
/// (transitions and notices carry the evaluation's value; 0 when there was none, e.g. a
/// failed probe).
pub async fn last_values(store: &Store, rules: &[String], since_us: i64) -> Result<Vec<LastValue>> {
    if rules.is_empty() {
        return Ok(Vec::new());
    }
    // `cur_` aliases: 18.16 lets an alias shadow the column inside the aggregate otherwise.
    let mut sql = Sql::new(
        "SELECT rule_id, scope_key, max(ts_us) AS cur_ts, argMax(value, ts_us) AS cur_value \
         FROM alert_events WHERE ts >= ",
    );
    sql.time(i64::from(secs_of_us(since_us)));
    sql.push(" AND ts_us >= ").i64(since_us).push(" AND ");
    sql.in_strs("rule_id", rules);
    sql.push(" GROUP BY rule_id, scope_key ORDER BY rule_id, scope_key");
    let rows: Vec<LastValue> = sql.fetch_all(store).await?;
    Ok(rows)
}
