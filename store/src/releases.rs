//! Releases: named points of the whole configuration, kept in the configuration log as kind
//! `release` (id = the name, body a [`ReleaseSpec`]: the version of every live entity of
//! [`RELEASE_KINDS`] when it was made). What the release action, the diff between two points
//! and the rollback need from the log lives here, so the admin API and the command line share
//! one implementation:
//! - [`make`]: a new release of the current state (an existing name is refused);
//! - [`state`]: the bodies of every entity at a [`Point`] (a release, or `current`), read with
//!   one query for a release ([`bodies`]);
//! - [`diff`]: per entity added / removed / changed, with the changed fields as the history
//!   shows them ([`gatewatch_model::diff::changes`]: secrets named, never shown);
//! - [`plan_rollback`] and [`apply`]: one new change in the log that brings every entity back
//!   to a release, each with the version it was compared against, so a concurrent edit makes
//!   it fail with nothing written. Clients keep their current secrets.

use gatewatch_model::release::{
    check_release_name, Difference, EntityDiff, ReleaseEntry, ReleaseSpec, RELEASE_KINDS,
};
use gatewatch_model::{Entity, EntityKind, FieldError};
use serde::Deserialize;
use std::collections::BTreeMap;
use uuid::Uuid;

use crate::config_log::{self, Change, ConfigLogError, Receipt};
use crate::query::Sql;
use crate::Store;

/// Errors of the release actions.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    #[error(transparent)]
    Log(#[from] ConfigLogError),
    #[error(transparent)]
    Store(#[from] crate::Error),
    /// A bad name or comment (the field is named).
    #[error("{0}")]
    Bad(FieldError),
    /// No release of that name.
    #[error("no release {0:?}")]
    NotFound(String),
    /// A release of that name exists already (releases are never replaced).
    #[error("release {0:?} exists already: releases are never replaced, choose another name")]
    Exists(String),
    /// A stored body this build cannot read (a rollback refuses to write it).
    #[error("{kind} {id:?} (version {version}) of the release cannot be restored: {error}")]
    Unreadable {
        kind: EntityKind,
        id: String,
        version: u64,
        error: FieldError,
    },
}

/// A point of the configuration: a release, or the current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Point {
    Current,
    Release(String),
}

impl Point {
    /// `current` or a release name.
    pub fn parse(text: &str) -> Point {
        if text == "current" {
            Point::Current
        } else {
            Point::Release(text.to_string())
        }
    }
}

impl std::fmt::Display for Point {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Point::Current => f.write_str("current"),
            Point::Release(n) => f.write_str(n),
        }
    }
}

/// One release as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub name: String,
    pub created_us: i64,
    /// Who made it.
    pub author: String,
    pub spec: ReleaseSpec,
    /// The log change that stored it.
    pub change_id: Uuid,
}

/// One entity's state at a point: its version and stored body.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub version: u64,
    pub body: String,
}

/// The entities of [`RELEASE_KINDS`] at a point, by (kind, id).
pub type State = BTreeMap<(EntityKind, String), Stored>;

/// Names a release may not have.
pub const RESERVED: [&str; 2] = ["current", "diff"];

/// Checks a name and comment before anything is read.
pub fn check(name: &str, comment: &str) -> Result<(), ReleaseError> {
    check_release_name("name", name).map_err(ReleaseError::Bad)?;
    // `current` names the current state in a diff; `diff` is a path of the admin API.
    if RESERVED.contains(&name) {
        return Err(ReleaseError::Bad(FieldError::new(
            "name",
            format!("{name:?} is reserved (it names the current state or a route)"),
        )));
    }
    if comment.chars().count() > 2000 {
        return Err(ReleaseError::Bad(FieldError::new(
            "comment",
            "must be at most 2000 characters",
        )));
    }
    if comment.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ReleaseError::Bad(FieldError::new(
            "comment",
            "must not hold control characters",
        )));
    }
    Ok(())
}

/// Makes release `name` of the current state.
pub async fn make(
    store: &Store,
    name: &str,
    comment: &str,
    author: &str,
    now_us: i64,
) -> Result<(Release, Receipt), ReleaseError> {
    check(name, comment)?;
    let mut entities: Vec<ReleaseEntry> = config_log::current(store)
        .await?
        .into_iter()
        .filter(|e| !e.deleted && RELEASE_KINDS.contains(&e.kind))
        .map(|e| ReleaseEntry {
            kind: e.kind,
            id: e.id,
            version: e.version,
        })
        .collect();
    entities.sort();
    let spec = ReleaseSpec {
        comment: comment.to_string(),
        created_us: now_us,
        entities,
    };
    spec.validate().map_err(ReleaseError::Bad)?;
    let body = serde_json::to_string(&spec).map_err(|e| {
        ReleaseError::Bad(FieldError::new(
            "",
            format!("cannot encode the release: {e}"),
        ))
    })?;
    let change = Change {
        kind: EntityKind::Release,
        id: name.to_string(),
        body,
        deleted: false,
        // 0: the name must be new. The write's version check makes a second release of the
        // same name (even a concurrent one in this process) fail.
        expected_version: Some(0),
    };
    let comment_line = format!("release {name}");
    let receipt = match config_log::write(store, author, &comment_line, &[change], now_us).await {
        Ok(r) => r,
        Err(ConfigLogError::Conflict { .. }) => return Err(ReleaseError::Exists(name.into())),
        Err(e) => return Err(e.into()),
    };
    Ok((
        Release {
            name: name.to_string(),
            created_us: now_us,
            author: author.to_string(),
            spec,
            change_id: receipt.change_id,
        },
        receipt,
    ))
}

fn to_release(e: config_log::Entry) -> Option<Release> {
    if e.deleted {
        return None;
    }
    let spec: ReleaseSpec = serde_json::from_str(&e.body).ok()?;
    Some(Release {
        name: e.id,
        created_us: spec.created_us,
        author: e.author,
        spec,
        change_id: e.change_id,
    })
}

/// Every release, newest first.
pub async fn list(store: &Store) -> Result<Vec<Release>, ReleaseError> {
    let mut q = Sql::new("SELECT ");
    q.push(config_log::CURRENT_COLUMNS)
        .push(" FROM config_log WHERE entity = ")
        .str(EntityKind::Release.as_str())
        .push(" GROUP BY entity, id");
    let mut out: Vec<Release> = config_log::fetch(store, &q)
        .await?
        .into_iter()
        .filter_map(to_release)
        .collect();
    out.sort_by(|a, b| b.created_us.cmp(&a.created_us).then(a.name.cmp(&b.name)));
    Ok(out)
}

/// One release.
pub async fn get(store: &Store, name: &str) -> Result<Release, ReleaseError> {
    if check_release_name("name", name).is_err() {
        return Err(ReleaseError::NotFound(name.to_string()));
    }
    config_log::get(store, EntityKind::Release, name)
        .await?
        .and_then(to_release)
        .ok_or_else(|| ReleaseError::NotFound(name.to_string()))
}

/// The stored bodies of the given `(kind, id, version)` rows, in one query (rows that are gone
/// or deleted are absent).
pub async fn bodies(
    store: &Store,
    rows: &[ReleaseEntry],
) -> Result<BTreeMap<(EntityKind, String, u64), String>, ReleaseError> {
    #[derive(clickhouse::Row, Deserialize)]
    struct B {
        entity: String,
        id: String,
        version: u64,
        body: String,
    }
    let mut out = BTreeMap::new();
    // Chunks keep one statement well under the server's query size limit.
    for chunk in rows.chunks(2000) {
        let mut q = Sql::new(
            "SELECT entity, id, version, argMax(body, toString(change_id)) AS cur_body \
             FROM config_log WHERE deleted = 0 AND (entity, id, version) IN (",
        );
        for (i, r) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push("(")
                .str(r.kind.as_str())
                .push(", ")
                .str(&r.id)
                .push(", ")
                .u64(r.version)
                .push(")");
        }
        q.push(") GROUP BY entity, id, version");
        let got: Vec<B> = q.fetch_all(store).await?;
        for b in got {
            if let Ok(kind) = b.entity.parse() {
                out.insert((kind, b.id, b.version), b.body);
            }
        }
    }
    Ok(out)
}

/// The entities of [`RELEASE_KINDS`] at `point`.
pub async fn state(store: &Store, point: &Point) -> Result<State, ReleaseError> {
    match point {
        Point::Current => Ok(current_state(&config_log::current(store).await?)),
        Point::Release(name) => {
            let r = get(store, name).await?;
            let found = bodies(store, &r.spec.entities).await?;
            let mut out = State::new();
            for e in r.spec.entities {
                let body = found
                    .get(&(e.kind, e.id.clone(), e.version))
                    .cloned()
                    .ok_or_else(|| ReleaseError::Unreadable {
                        kind: e.kind,
                        id: e.id.clone(),
                        version: e.version,
                        error: FieldError::new("", "its row is missing from the log"),
                    })?;
                out.insert(
                    (e.kind, e.id),
                    Stored {
                        version: e.version,
                        body,
                    },
                );
            }
            Ok(out)
        }
    }
}

fn current_state(entries: &[config_log::Entry]) -> State {
    entries
        .iter()
        .filter(|e| !e.deleted && RELEASE_KINDS.contains(&e.kind))
        .map(|e| {
            (
                (e.kind, e.id.clone()),
                Stored {
                    version: e.version,
                    body: e.body.clone(),
                },
            )
        })
        .collect()
}

/// What differs from `from` to `to`, in [`RELEASE_KINDS`] order, then by id.
pub fn diff(from: &State, to: &State) -> Vec<EntityDiff> {
    let mut keys: Vec<&(EntityKind, String)> = from.keys().chain(to.keys()).collect();
    let order = |k: EntityKind| RELEASE_KINDS.iter().position(|x| *x == k).unwrap_or(99);
    keys.sort_by(|a, b| order(a.0).cmp(&order(b.0)).then(a.1.cmp(&b.1)));
    keys.dedup();
    let mut out = Vec::new();
    for key in keys {
        let (a, b) = (from.get(key), to.get(key));
        // Compared as this build writes them (defaults filled in), so a body stored before
        // a field got its default does not show as changed.
        let (na, nb) = (
            a.map(|s| normalized(key, &s.body)),
            b.map(|s| normalized(key, &s.body)),
        );
        let fields = gatewatch_model::diff::changes(key.0, na.as_deref(), nb.as_deref());
        let change = match (a, b) {
            (None, Some(_)) => Difference::Added,
            (Some(_), None) => Difference::Removed,
            (Some(_), Some(_)) if !fields.is_empty() => Difference::Changed,
            _ => continue,
        };
        out.push(EntityDiff {
            kind: key.0,
            id: key.1.clone(),
            change,
            from_version: a.map(|s| s.version),
            to_version: b.map(|s| s.version),
            fields,
        });
    }
    out
}

/// A body as [`Entity::to_json`] writes it, or as stored when this build cannot read it.
fn normalized(key: &(EntityKind, String), body: &str) -> String {
    Entity::parse(key.0, &key.1, body).map_or_else(|_| body.to_string(), |e| e.to_json())
}

/// A rollback worked out against the log as read: the diff from the current state to what the
/// rollback writes, and the change itself (every entity with the version it was compared
/// against).
#[derive(Debug, Clone)]
pub struct RollbackPlan {
    pub release: String,
    pub diff: Vec<EntityDiff>,
    pub changes: Vec<Change>,
}

/// Works out the rollback to release `name` (nothing is written).
///
/// Entities changed since get the release's body, those made since are deleted, those deleted
/// since are restored. A client keeps its current `secret_hash` and `signing_secret` (a
/// rollback must not bring back a secret rotated away); one restored after its deletion comes
/// back without secrets (its old ones were revoked with it: issue new ones). Every body is
/// checked with [`Entity::parse`] first: one this build cannot read is refused by name.
pub async fn plan_rollback(store: &Store, name: &str) -> Result<RollbackPlan, ReleaseError> {
    let target = state(store, &Point::Release(name.to_string())).await?;
    let entries = config_log::current(store).await?;
    // The version each entity is at now (deleted ones too: a restore expects that version).
    let versions: BTreeMap<(EntityKind, String), (u64, bool)> = entries
        .iter()
        .filter(|e| RELEASE_KINDS.contains(&e.kind))
        .map(|e| ((e.kind, e.id.clone()), (e.version, e.deleted)))
        .collect();
    let now = current_state(&entries);
    let mut wanted = State::new();
    for ((kind, id), stored) in &target {
        let mut body: serde_json::Value =
            serde_json::from_str(&stored.body).map_err(|e| ReleaseError::Unreadable {
                kind: *kind,
                id: id.clone(),
                version: stored.version,
                error: FieldError::new("", e.to_string()),
            })?;
        let managed = kind.managed_fields();
        if let Some(o) = body.as_object_mut() {
            let live = now
                .get(&(*kind, id.clone()))
                .and_then(|s| serde_json::from_str::<serde_json::Value>(&s.body).ok());
            for f in managed {
                o.remove(*f);
                if let Some(v) = live.as_ref().and_then(|l| l.get(*f)) {
                    o.insert(f.to_string(), v.clone());
                }
            }
        }
        let text = body.to_string();
        let entity = Entity::parse(*kind, id, &text).map_err(|error| ReleaseError::Unreadable {
            kind: *kind,
            id: id.clone(),
            version: stored.version,
            error,
        })?;
        wanted.insert(
            (*kind, id.clone()),
            Stored {
                version: stored.version,
                body: entity.to_json(),
            },
        );
    }
    let diff = diff(&now, &wanted);
    let mut changes = Vec::new();
    // Written in RELEASE_KINDS order (the diff's): groups and products before what names them.
    for d in &diff {
        let key = (d.kind, d.id.clone());
        let expected = versions.get(&key).map_or(0, |(v, _)| *v);
        let body = match d.change {
            Difference::Removed => None,
            _ => wanted.get(&key).map(|s| s.body.clone()),
        };
        changes.push(Change {
            kind: d.kind,
            id: d.id.clone(),
            deleted: body.is_none(),
            body: body.unwrap_or_default(),
            expected_version: Some(expected),
        });
    }
    // The versions the diff shows: the current one, and the release's.
    Ok(RollbackPlan {
        release: name.to_string(),
        diff,
        changes,
    })
}

/// Writes a planned rollback as one change (`rollback to NAME`). A plan with nothing to change
/// writes nothing (`None`). A concurrent edit of any entity of the plan since it was read makes
/// the write fail with [`ConfigLogError::Conflict`], and nothing of it is written.
pub async fn apply(
    store: &Store,
    plan: &RollbackPlan,
    author: &str,
    now_us: i64,
) -> Result<Option<Receipt>, ReleaseError> {
    if plan.changes.is_empty() {
        return Ok(None);
    }
    let comment = format!("rollback to {}", plan.release);
    Ok(Some(
        config_log::write(store, author, &comment, &plan.changes, now_us).await?,
    ))
}

/// The audit rows of an applied rollback: one `release.rollback` row naming the release and
/// the counts, and one `update`/`create`/`delete` row per entity, all with the change id.
pub fn audit_events(
    plan: &RollbackPlan,
    receipt: &Receipt,
    actor: &str,
    client_ip: &str,
    now_us: i64,
) -> Vec<crate::audit::AuditEvent> {
    let count = |d: Difference| plan.diff.iter().filter(|x| x.change == d).count();
    let mut events = vec![crate::audit::AuditEvent {
        ts_us: now_us,
        actor: actor.to_string(),
        action: "release.rollback".into(),
        entity: EntityKind::Release.as_str().into(),
        id: plan.release.clone(),
        change_id: receipt.change_id,
        client_ip: client_ip.to_string(),
        detail: serde_json::json!({
            "comment": format!("rollback to {}", plan.release),
            "changed": count(Difference::Changed),
            "restored": count(Difference::Added),
            "deleted": count(Difference::Removed),
        })
        .to_string(),
    }];
    for ((kind, id, version), c) in receipt.versions.iter().zip(&plan.changes) {
        let action = if c.deleted {
            "delete"
        } else if *version == 1 {
            "create"
        } else {
            "update"
        };
        events.push(crate::audit::AuditEvent {
            ts_us: now_us,
            actor: actor.to_string(),
            action: action.into(),
            entity: kind.as_str().into(),
            id: id.clone(),
            change_id: receipt.change_id,
            client_ip: client_ip.to_string(),
            detail:
                serde_json::json!({"version": version, "via": "rollback", "release": plan.release})
                    .to_string(),
        });
    }
    events
}
