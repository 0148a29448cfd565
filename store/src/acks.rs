//! Acknowledgements of firing alerts (`alert_acks`, migration 15).
//!
//! An ack names one **episode** of one alert: (rule id, scope key, episode start — the
//! `since` of its firing state). It stops that episode's repeats until the episode resolves or
//! `until_us` passes; a new episode (the alert resolved and fired again) is not acknowledged.
//! Rows are appended (`ack`, `unack`); the newest row of an episode decides.

use gatewatch_model::call::secs_of_us;
use serde::{Deserialize, Serialize};

use crate::query::Sql;
use crate::{Result, Store};

/// `ack` or `unack`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckAction {
    Ack,
    Unack,
}

impl AckAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AckAction::Ack => "ack",
            AckAction::Unack => "unack",
        }
    }
}

/// One row: who acknowledged (or took back) which episode, when, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub ts_us: i64,
    pub rule_id: String,
    pub scope_key: String,
    /// The episode's start (`AlertState::since` of the firing state), microseconds.
    pub episode_us: i64,
    pub action: AckAction,
    /// The user's name.
    pub by: String,
    /// When the ack lapses and repeats resume; 0: when the episode resolves.
    pub until_us: i64,
    pub comment: String,
}

impl Ack {
    /// Whether this (newest) row keeps the episode's repeats quiet at `now_us`.
    pub fn holds_at(&self, now_us: i64) -> bool {
        self.action == AckAction::Ack && (self.until_us == 0 || now_us < self.until_us)
    }
}

#[derive(Debug, clickhouse::Row, Serialize, Deserialize)]
struct AckRow {
    ts: u32,
    ts_us: i64,
    rule_id: String,
    scope_key: String,
    episode_us: i64,
    action: String,
    by: String,
    until_us: i64,
    comment: String,
}

impl From<AckRow> for Ack {
    fn from(r: AckRow) -> Ack {
        Ack {
            ts_us: r.ts_us,
            rule_id: r.rule_id,
            scope_key: r.scope_key,
            episode_us: r.episode_us,
            action: if r.action == "unack" {
                AckAction::Unack
            } else {
                AckAction::Ack
            },
            by: r.by,
            until_us: r.until_us,
            comment: r.comment,
        }
    }
}

/// Appends one ack or unack.
pub async fn write(store: &Store, a: &Ack) -> Result<()> {
    let what = "INSERT INTO alert_acks";
    let mut ins = store
        .client()
        .insert::<AckRow>("alert_acks")
        .await
        .map_err(|e| store.err(what, e))?;
    ins.write(&AckRow {
        ts: secs_of_us(a.ts_us),
        ts_us: a.ts_us,
        rule_id: a.rule_id.clone(),
        scope_key: a.scope_key.clone(),
        episode_us: a.episode_us,
        action: a.action.as_str().into(),
        by: a.by.clone(),
        until_us: a.until_us,
        comment: a.comment.clone(),
    })
    .await
    .map_err(|e| store.err(what, e))?;
    ins.end().await.map_err(|e| store.err(what, e))
}

/// The newest row of every episode acknowledged (or taken back) since `since_us`: what the
/// alerter reads each round. Episodes are keyed by (rule id, scope key, episode start).
pub async fn newest_since(store: &Store, since_us: i64) -> Result<Vec<Ack>> {
    let mut sql = Sql::new(
        "SELECT max(ts) AS cur_ts, max(ts_us) AS cur_ts_us, rule_id, scope_key, episode_us, \
         argMax(action, ts_us) AS cur_action, argMax(by, ts_us) AS cur_by, \
         argMax(until_us, ts_us) AS cur_until, argMax(comment, ts_us) AS cur_comment \
         FROM alert_acks WHERE ts >= ",
    );
    sql.time(i64::from(secs_of_us(since_us)));
    sql.push(" GROUP BY rule_id, scope_key, episode_us ORDER BY rule_id, scope_key, episode_us");
    let rows: Vec<AckRow> = sql.fetch_all(store).await?;
    Ok(rows.into_iter().map(Ack::from).collect())
}

/// Every row of one rule's acks since `since_us`, newest first (the timeline).
pub async fn of_rule(store: &Store, rule_id: &str, since_us: i64) -> Result<Vec<Ack>> {
    let mut sql = Sql::new(
        "SELECT ts, ts_us, rule_id, scope_key, episode_us, action, by, until_us, comment \
         FROM alert_acks WHERE rule_id = ",
    );
    sql.str(rule_id).push(" AND ts >= ");
    sql.time(i64::from(secs_of_us(since_us)));
    sql.push(" ORDER BY ts_us DESC LIMIT 1000");
    let rows: Vec<AckRow> = sql.fetch_all(store).await?;
    Ok(rows.into_iter().map(Ack::from).collect())
}
