//! The audit log (`audit_log`): who did what, when, from where — every configuration change,
//! key action and login (successful or not). Rows are only ever appended.

use gatewatch_model::call::secs_of_us;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Store;

/// One audit row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Microseconds since the epoch, UTC.
    pub ts_us: i64,
    /// The user who acted (for a failed login: the name that was tried).
    pub actor: String,
    /// `create`, `update`, `delete`, `key.create`, `login`, `login.failed`, …
    pub action: String,
    /// Entity kind (`api`, `client`, …), empty for logins.
    pub entity: String,
    pub id: String,
    /// The configuration log change, when the action wrote one (nil otherwise).
    pub change_id: Uuid,
    pub client_ip: String,
    /// JSON: the new version, the reason of a failure, …
    pub detail: String,
}

#[derive(Debug, clickhouse::Row, Serialize, Deserialize)]
struct Row {
    ts: u32,
    ts_us: i64,
    actor: String,
    action: String,
    entity: String,
    id: String,
    #[serde(with = "clickhouse::serde::uuid")]
    change_id: Uuid,
    client_ip: String,
    detail: String,
}

/// Appends `events`.
pub async fn write(store: &Store, events: &[AuditEvent]) -> crate::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let what = "INSERT INTO audit_log";
    let mut ins = store
        .client()
        .insert::<Row>("audit_log")
        .await
        .map_err(|e| store.err(what, e))?;
    for e in events {
        ins.write(&Row {
            ts: secs_of_us(e.ts_us),
            ts_us: e.ts_us,
            actor: e.actor.clone(),
            action: e.action.clone(),
            entity: e.entity.clone(),
            id: e.id.clone(),
            change_id: e.change_id,
            client_ip: e.client_ip.clone(),
            detail: e.detail.clone(),
        })
        .await
        .map_err(|e| store.err(what, e))?;
    }
    ins.end().await.map_err(|e| store.err(what, e))
}

/// Which rows to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// Inclusive, microseconds since the epoch.
    pub from_us: i64,
    /// Exclusive, microseconds since the epoch.
    pub to_us: i64,
    /// Only this actor, when set.
    pub actor: Option<String>,
    /// Only this action (`login`, `update`, …), when set.
    pub action: Option<String>,
    /// At most this many rows, newest first.
    pub limit: u64,
}

/// Where a page of [`page`] ended.
pub type AuditCursor = crate::cursor::TimeCursor;

/// A row of [`page`] with the cursor just after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagedAudit {
    pub cursor: AuditCursor,
    pub event: AuditEvent,
}

/// The tie-breaker of [`AuditCursor`] (rows of one change share a time), computed by the
/// server from the row's content.
const TIE: &str = "cityHash64(actor, action, entity, id, toString(change_id), client_ip, detail)";

/// Rows in the window, newest first.
pub async fn read(store: &Store, q: &AuditQuery) -> crate::Result<Vec<AuditEvent>> {
    Ok(page(store, q, None)
        .await?
        .into_iter()
        .map(|p| p.event)
        .collect())
}

/// Rows in the window, newest first (then by tie-breaker), after `after`: keyset paging, so
/// a page does not shift when newer rows arrive.
pub async fn page(
    store: &Store,
    q: &AuditQuery,
    after: Option<AuditCursor>,
) -> crate::Result<Vec<PagedAudit>> {
    #[derive(Debug, clickhouse::Row, Deserialize)]
    struct Paged {
        ts_us: i64,
        actor: String,
        action: String,
        entity: String,
        id: String,
        #[serde(with = "clickhouse::serde::uuid")]
        change_id: Uuid,
        client_ip: String,
        detail: String,
        tie: u64,
    }
    // `ts` bounds prune partitions; `ts_us` makes the window exact.
    let mut sql = format!(
        "SELECT ts_us, actor, action, entity, id, change_id, client_ip, detail, {TIE} AS tie \
         FROM audit_log WHERE ts >= toDateTime(?) AND ts <= toDateTime(?) \
         AND ts_us >= ? AND ts_us < ?"
    );
    if q.actor.is_some() {
        sql.push_str(" AND actor = ?");
    }
    if q.action.is_some() {
        sql.push_str(" AND action = ?");
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
    if let Some(a) = &q.actor {
        query = query.bind(a.as_str());
    }
    if let Some(a) = &q.action {
        query = query.bind(a.as_str());
    }
    if let Some(c) = after {
        query = c.bind(query);
    }
    let rows: Vec<Paged> = query
        .bind(q.limit)
        .fetch_all()
        .await
        .map_err(|e| store.err(&sql, e))?;
    Ok(rows
        .into_iter()
        .map(|r| PagedAudit {
            cursor: AuditCursor {
                ts_us: r.ts_us,
                tie: r.tie,
            },
            event: AuditEvent {
                ts_us: r.ts_us,
                actor: r.actor,
                action: r.action,
                entity: r.entity,
                id: r.id,
                change_id: r.change_id,
                client_ip: r.client_ip,
                detail: r.detail,
            },
        })
        .collect())
}
