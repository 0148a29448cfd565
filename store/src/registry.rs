//! The node registry (`node_registry`, migration 16): every process of a site writes a
//! heartbeat row every few seconds — what it is (node, role, instance), its node groups, its
//! build version, where it listens, when it started and, for a gateway, the APIs it serves.
//! The newest row per (node, role, instance) is the process's entry; one whose heartbeat is
//! old has stopped reporting (or said goodbye with `stopping`).

use gatewatch_model::call::{now_us, secs_of_us};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::watch;

use crate::query::Sql;
use crate::{Result, Store};

/// One process of the site, as its newest heartbeat says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeEntry {
    /// The site's `node` setting (the host name by default).
    pub node: String,
    /// `gateway`, `collector`, `alerter`, `reports` or `dashboards`.
    pub role: String,
    /// Tells processes of one role on one node apart: the main listen address.
    pub instance: String,
    /// A gateway's `[gateway] node_groups`; empty for other roles.
    pub groups: Vec<String>,
    /// The build (`CARGO_PKG_VERSION`).
    pub version: String,
    /// Addresses the process listens on (`127.0.0.1:8080`, `https://0.0.0.0:8443`).
    pub listen: Vec<String>,
    pub started_us: i64,
    pub heartbeat_us: i64,
    /// For a gateway: the ids of the APIs its snapshot holds (sorted).
    pub apis: Vec<String>,
    /// The process said it is stopping (its last heartbeat).
    pub stopping: bool,
}

#[derive(Debug, clickhouse::Row, Serialize, Deserialize)]
struct Row {
    ts: u32,
    heartbeat_us: u64,
    node: String,
    role: String,
    instance: String,
    groups: Vec<String>,
    version: String,
    listen: Vec<String>,
    started_us: i64,
    apis: Vec<String>,
    stopping: u8,
}

impl From<Row> for NodeEntry {
    fn from(r: Row) -> NodeEntry {
        NodeEntry {
            node: r.node,
            role: r.role,
            instance: r.instance,
            groups: r.groups,
            version: r.version,
            listen: r.listen,
            started_us: r.started_us,
            heartbeat_us: i64::try_from(r.heartbeat_us).unwrap_or(i64::MAX),
            apis: r.apis,
            stopping: r.stopping != 0,
        }
    }
}

/// Writes one heartbeat.
pub async fn heartbeat(store: &Store, e: &NodeEntry) -> Result<()> {
    let what = "INSERT INTO node_registry";
    let mut ins = store
        .client()
        .insert::<Row>("node_registry")
        .await
        .map_err(|err| store.err(what, err))?;
    ins.write(&Row {
        ts: secs_of_us(e.heartbeat_us),
        heartbeat_us: u64::try_from(e.heartbeat_us).unwrap_or(0),
        node: e.node.clone(),
        role: e.role.clone(),
        instance: e.instance.clone(),
        groups: e.groups.clone(),
        version: e.version.clone(),
        listen: e.listen.clone(),
        started_us: e.started_us,
        apis: e.apis.clone(),
        stopping: u8::from(e.stopping),
    })
    .await
    .map_err(|err| store.err(what, err))?;
    ins.end().await.map_err(|err| store.err(what, err))
}

/// The newest entry of every process heard from since `since_us`, by node, role, instance.
pub async fn list(store: &Store, since_us: i64) -> Result<Vec<NodeEntry>> {
    let mut sql = Sql::new(
        "SELECT max(ts) AS t, max(heartbeat_us) AS hb, node, role, instance, \
         argMax(groups, heartbeat_us) AS g, argMax(version, heartbeat_us) AS v, \
         argMax(listen, heartbeat_us) AS l, argMax(started_us, heartbeat_us) AS s, \
         argMax(apis, heartbeat_us) AS a, argMax(stopping, heartbeat_us) AS st \
         FROM node_registry WHERE ts >= ",
    );
    sql.time(i64::from(secs_of_us(since_us)));
    sql.push(" GROUP BY node, role, instance ORDER BY node, role, instance");
    let rows: Vec<Row> = sql.fetch_all(store).await?;
    Ok(rows.into_iter().map(NodeEntry::from).collect())
}

/// Seconds between two heartbeats of a process. A process is "stopped reporting" after
/// three missed ones.
pub const HEARTBEAT_SECS: u64 = 5;

/// Longest wait for one heartbeat insert: a slow ClickHouse delays the next heartbeat, never
/// the role (the loop runs in a task of its own), and never a clean stop by more than this.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(3);

/// Writes a process's heartbeats until `stop` turns true: one at once, one every `every`
/// ([`HEARTBEAT_SECS`] in the roles), and a last one with `stopping = true` when `stop` turns
/// true (a clean stop). `entry` is asked for the process's current entry each time (a
/// gateway's served APIs change on reload); its `heartbeat_us` and `stopping` are set here.
///
/// A failed write (ClickHouse away) is logged once at warn — and again, at info, when writes
/// succeed again — and simply tried at the next beat: the registry never stops or slows the
/// role that runs this.
pub async fn run<F>(store: Store, mut entry: F, every: Duration, mut stop: watch::Receiver<bool>)
where
    F: FnMut() -> NodeEntry + Send,
{
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        let mut e = entry();
        e.heartbeat_us = now_us();
        e.stopping = false;
        // A stop arriving while an insert hangs ends the wait: the goodbye comes next.
        let written = tokio::select! {
            r = tokio::time::timeout(HEARTBEAT_TIMEOUT, heartbeat(&store, &e)) => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        match written {
            Ok(Ok(())) => {
                if std::mem::take(&mut failing) {
                    tracing::info!(role = %e.role, "node registry heartbeats written again");
                }
            }
            Ok(Err(err)) => {
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(role = %e.role, error = %err, "cannot write a node registry heartbeat; retrying every beat");
                } else {
                    tracing::debug!(role = %e.role, error = %err, "node registry heartbeat failed again");
                }
            }
            Err(_) => {
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(role = %e.role, "node registry heartbeat timed out; retrying every beat");
                }
            }
        }
    }
    let mut e = entry();
    e.heartbeat_us = now_us();
    e.stopping = true;
    match tokio::time::timeout(HEARTBEAT_TIMEOUT, heartbeat(&store, &e)).await {
        Ok(Ok(())) => tracing::debug!(role = %e.role, "node registry: said stopping"),
        Ok(Err(err)) => {
            tracing::debug!(role = %e.role, error = %err, "node registry: cannot say stopping")
        }
        Err(_) => tracing::debug!(role = %e.role, "node registry: saying stopping timed out"),
    }
}
