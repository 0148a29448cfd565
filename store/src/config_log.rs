//! The configuration log: the one source of truth for configuration entities.
//!
//! Every change is a row in `config_log` (entity kind, id, version, change id, time, author,
//! comment, deleted flag, JSON body); nothing is updated in place. So:
//! - the **current** state of an entity is its row with the highest `(version, change_id)`
//!   ([`current`], [`get`]); a deleted entity's current row has `deleted = 1`;
//! - its **history** is all its rows ([`history`]): who changed what, when, from what to what;
//! - a **revision** ([`revision`]) — row count and newest time — tells a poller cheaply whether
//!   anything changed since it last loaded.
//!
//! Writes ([`write`]) take the versions they expect (an `If-Match`): a change whose expected
//! version is not the current one is refused with [`ConfigLogError::Conflict`] and nothing of
//! it is written. Within one process, writes are serialized by a lock, so the check is exact.
//! ClickHouse has no transactions, so two writers in *different* processes can both pass the
//! check; then both rows carry the same version and every reader picks the same one (the
//! higher `change_id`), so gateways never disagree. The writer reads back after inserting and
//! reports a conflict when it can already see that it lost; a writer that loses to a change
//! landing after its own read-back is not told (the window is one insert long). Run the admin
//! API in one process, or accept that window. The losing row stays in the history.

use gatewatch_model::call::secs_of_us;
use gatewatch_model::EntityKind;
use serde::Deserialize;
use std::collections::HashMap;
use uuid::Uuid;

use crate::query::Sql;
use crate::Store;

/// Errors of the configuration log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigLogError {
    #[error(transparent)]
    Store(#[from] crate::Error),
    /// The entity's version is not the one the change expected.
    #[error("{kind} {id:?} is at version {actual}, not {expected}: reload it and try again")]
    Conflict {
        kind: EntityKind,
        id: String,
        expected: u64,
        actual: u64,
    },
    /// The same entity appears twice in one change.
    #[error("{kind} {id:?} appears twice in one change")]
    Duplicate { kind: EntityKind, id: String },
    /// An entity id must be 1–200 characters with no control characters.
    #[error("{kind} id {id:?} must be 1–200 characters without control characters")]
    BadId { kind: EntityKind, id: String },
}

/// One entity's new state within a change.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub kind: EntityKind,
    pub id: String,
    /// The entity as JSON (ignored when `deleted`).
    pub body: String,
    pub deleted: bool,
    /// The version the writer read (0: the entity must not exist yet); `None` writes whatever
    /// the current version is.
    pub expected_version: Option<u64>,
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub change_id: Uuid,
    /// `(kind, id, new version)` per entity, in the order given.
    pub versions: Vec<(EntityKind, String, u64)>,
}

/// One row of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub kind: EntityKind,
    pub id: String,
    pub version: u64,
    pub change_id: Uuid,
    pub ts_us: i64,
    pub author: String,
    pub comment: String,
    pub deleted: bool,
    pub body: String,
}

/// A cheap marker of the log's state: equal revisions mean nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clickhouse::Row)]
pub struct Revision {
    pub rows: u64,
    pub last_ts_us: i64,
}

#[derive(Debug, clickhouse::Row, serde::Serialize)]
struct Row<'a> {
    entity: &'a str,
    id: &'a str,
    version: u64,
    #[serde(with = "clickhouse::serde::uuid")]
    change_id: Uuid,
    ts: u32,
    ts_us: i64,
    author: &'a str,
    comment: &'a str,
    deleted: u8,
    body: &'a str,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct ReadRow {
    entity: String,
    id: String,
    version: u64,
    #[serde(with = "clickhouse::serde::uuid")]
    change_id: Uuid,
    ts_us: i64,
    author: String,
    comment: String,
    deleted: u8,
    body: String,
}

impl ReadRow {
    fn into_entry(self) -> Option<Entry> {
        // Rows of a kind this build does not know (written by a newer version) are skipped.
        let kind = self.entity.parse().ok()?;
        Some(Entry {
            kind,
            id: self.id,
            version: self.version,
            change_id: self.change_id,
            ts_us: self.ts_us,
            author: self.author,
            comment: self.comment,
            deleted: self.deleted != 0,
            body: self.body,
        })
    }
}

static WRITE_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The current row's columns per `(entity, id)` group (`… FROM config_log [WHERE …] GROUP BY
/// entity, id`). Aliases differ from the column names: ClickHouse would otherwise read
/// `version` inside argMax as the alias `max(version)`.
pub(crate) const CURRENT_COLUMNS: &str = "entity, id, max(version) AS cur_version, \
     argMax(change_id, (version, toString(change_id))) AS cur_change_id, \
     argMax(ts_us, (version, toString(change_id))) AS cur_ts_us, \
     argMax(author, (version, toString(change_id))) AS cur_author, \
     argMax(comment, (version, toString(change_id))) AS cur_comment, \
     argMax(deleted, (version, toString(change_id))) AS cur_deleted, \
     argMax(body, (version, toString(change_id))) AS cur_body";

const COLUMNS: &str = "entity, id, version, change_id, ts_us, author, comment, deleted, body";

/// Writes one change (one or more entities) as new versions. See the module doc for the
/// version check.
pub async fn write(
    store: &Store,
    author: &str,
    comment: &str,
    changes: &[Change],
    now_us: i64,
) -> Result<Receipt, ConfigLogError> {
    let mut seen = std::collections::HashSet::new();
    for c in changes {
        if c.id.is_empty() || c.id.chars().count() > 200 || c.id.chars().any(char::is_control) {
            return Err(ConfigLogError::BadId {
                kind: c.kind,
                id: c.id.clone(),
            });
        }
        if !seen.insert((c.kind, c.id.as_str())) {
            return Err(ConfigLogError::Duplicate {
                kind: c.kind,
                id: c.id.clone(),
            });
        }
    }
    // Serialize this process's writers: the version check below is then exact here.
    let _guard = WRITE_LOCK.lock().await;
    let change_id = Uuid::now_v7();
    if changes.is_empty() {
        return Ok(Receipt {
            change_id,
            versions: Vec::new(),
        });
    }
    let current = current_winners(store, changes).await?;
    let mut versions = Vec::with_capacity(changes.len());
    for c in changes {
        let actual = current.get(&(c.kind, c.id.clone())).map_or(0, |(v, _)| *v);
        if let Some(expected) = c.expected_version {
            if expected != actual {
                return Err(ConfigLogError::Conflict {
                    kind: c.kind,
                    id: c.id.clone(),
                    expected,
                    actual,
                });
            }
        }
        versions.push((c.kind, c.id.clone(), actual + 1));
    }
    let what = "INSERT INTO config_log";
    let mut ins = store
        .client()
        .insert::<Row>("config_log")
        .await
        .map_err(|e| store.err(what, e))?;
    let ts = secs_of_us(now_us);
    for (c, (_, _, version)) in changes.iter().zip(&versions) {
        ins.write(&Row {
            entity: c.kind.as_str(),
            id: &c.id,
            version: *version,
            change_id,
            ts,
            ts_us: now_us,
            author,
            comment,
            deleted: u8::from(c.deleted),
            body: if c.deleted { "" } else { &c.body },
        })
        .await
        .map_err(|e| store.err(what, e))?;
    }
    ins.end().await.map_err(|e| store.err(what, e))?;

    // Another process may have written the same versions meanwhile: the higher change id wins.
    let winners = current_winners(store, changes).await?;
    for (kind, id, version) in &versions {
        if let Some((v, winner)) = winners.get(&(*kind, id.clone())) {
            if *v != *version || *winner != change_id {
                return Err(ConfigLogError::Conflict {
                    kind: *kind,
                    id: id.clone(),
                    expected: version - 1,
                    actual: *v,
                });
            }
        }
    }
    Ok(Receipt {
        change_id,
        versions,
    })
}

/// `(version, change_id)` of the current row of each changed entity that exists.
async fn current_winners(
    store: &Store,
    changes: &[Change],
) -> Result<HashMap<(EntityKind, String), (u64, Uuid)>, ConfigLogError> {
    #[derive(clickhouse::Row, Deserialize)]
    struct W {
        entity: String,
        id: String,
        version: u64,
        #[serde(with = "clickhouse::serde::uuid")]
        change_id: Uuid,
    }
    let mut q = Sql::new(
        "SELECT entity, id, max(version) AS cur_version, \
         argMax(change_id, (version, toString(change_id))) AS cur_change_id \
         FROM config_log WHERE (entity, id) IN (",
    );
    for (i, c) in changes.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.push("(")
            .str(c.kind.as_str())
            .push(", ")
            .str(&c.id)
            .push(")");
    }
    q.push(") GROUP BY entity, id");
    let rows: Vec<W> = q.fetch_all(store).await?;
    Ok(rows
        .into_iter()
        .filter_map(|w| Some(((w.entity.parse().ok()?, w.id), (w.version, w.change_id))))
        .collect())
}

/// The current row of every entity (deleted ones included, flagged), ordered by kind and id.
pub async fn current(store: &Store) -> Result<Vec<Entry>, ConfigLogError> {
    let mut q = Sql::new("SELECT ");
    q.push(CURRENT_COLUMNS)
        .push(" FROM config_log GROUP BY entity, id ORDER BY entity, id");
    fetch_entries(store, &q).await
}

/// The current row of every entity of the given kinds (deleted ones included, flagged),
/// ordered by kind and id: a reader that needs only some kinds (the portal reads APIs and
/// families) never loads the others (users, keys).
pub async fn current_of(store: &Store, kinds: &[EntityKind]) -> Result<Vec<Entry>, ConfigLogError> {
    let mut q = Sql::new("SELECT ");
    q.push(CURRENT_COLUMNS)
        .push(" FROM config_log WHERE entity IN (");
    for (i, k) in kinds.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.str(k.as_str());
    }
    if kinds.is_empty() {
        q.str("");
    }
    q.push(") GROUP BY entity, id ORDER BY entity, id");
    fetch_entries(store, &q).await
}

/// The current row of one entity, if it was ever written.
pub async fn get(
    store: &Store,
    kind: EntityKind,
    id: &str,
) -> Result<Option<Entry>, ConfigLogError> {
    Ok(history(store, kind, id).await?.pop())
}

/// Every row of one entity, oldest first.
pub async fn history(
    store: &Store,
    kind: EntityKind,
    id: &str,
) -> Result<Vec<Entry>, ConfigLogError> {
    let mut q = Sql::new("SELECT ");
    q.push(COLUMNS).push(" FROM config_log WHERE entity = ");
    q.str(kind.as_str()).push(" AND id = ").str(id);
    q.push(" ORDER BY version, toString(change_id)");
    fetch_entries(store, &q).await
}

/// The log's revision marker.
pub async fn revision(store: &Store) -> Result<Revision, ConfigLogError> {
    let q = "SELECT count() AS rows, max(ts_us) AS last_ts_us FROM config_log";
    store
        .client()
        .query(q)
        .fetch_one::<Revision>()
        .await
        .map_err(|e| store.err(q, e).into())
}

/// Rows of a query selecting [`COLUMNS`] or [`CURRENT_COLUMNS`].
pub(crate) async fn fetch(store: &Store, q: &Sql) -> Result<Vec<Entry>, ConfigLogError> {
    fetch_entries(store, q).await
}

async fn fetch_entries(store: &Store, q: &Sql) -> Result<Vec<Entry>, ConfigLogError> {
    let rows: Vec<ReadRow> = q.fetch_all(store).await?;
    Ok(rows.into_iter().filter_map(ReadRow::into_entry).collect())
}
