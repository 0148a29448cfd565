//! Shared-scope quotas: every `interval`, the counts of each shared-scope client's current
//! windows are read from ClickHouse's `api_calls` — this node's and the other nodes' apart —
//! and handed to [`super::usage::Usage`]. Never on the hot path: calls only read the last
//! counts. See [`super::quota`] for how they are combined and the overshoot bound.
//!
//! Cost: one query per shared-scope client that called this gateway in its current windows,
//! each reading `api_calls` over the client's widest window (partition-pruned on `ts`). When a
//! round takes long (month windows on a big table), the next one waits five times as long as
//! it took, so the sync never loads ClickHouse more than about a fifth of the time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatewatch_model::Outcome;
use gatewatch_store::{sql, Store};
use serde::Deserialize;
use tokio::sync::watch;
use tracing::debug;

use super::quota::WINDOWS;
use super::Access;

#[derive(Debug, Deserialize, clickhouse::Row)]
struct Counts {
    mine: u8,
    c0: u64,
    c1: u64,
    c2: u64,
    c3: u64,
}

/// Runs until `stop`.
pub(crate) async fn run(
    access: Arc<Access>,
    store: Store,
    node: Arc<str>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut wait = interval;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let started = Instant::now();
        if let Err(e) = round(&access, &store, &node).await {
            debug!(error = %e, "shared quota counts not refreshed; keeping the last ones");
        }
        wait = interval.max(started.elapsed() * 5);
    }
}

async fn round(access: &Access, store: &Store, node: &str) -> Result<(), gatewatch_store::Error> {
    let not_counted: Vec<String> = Outcome::ALL
        .iter()
        .filter(|o| o.is_refusal())
        .map(|o| sql::quote_string(o.as_str()))
        .collect();
    let not_counted = not_counted.join(", ");
    for client in access.usage.shared_windows() {
        // Four columns, one per window kind; windows without a limit count nothing.
        let mut bounds = [(0i64, 0i64); 4];
        for (w, c) in &client.windows {
            if let Some(i) = WINDOWS.iter().position(|x| x == w) {
                bounds[i] = (c.start_s, c.end_s);
            }
        }
        let Some(from) = client.windows.iter().map(|(_, c)| c.start_s).min() else {
            continue;
        };
        let to = client
            .windows
            .iter()
            .map(|(_, c)| c.end_s)
            .max()
            .unwrap_or(from);
        let cols: Vec<String> = bounds
            .iter()
            .enumerate()
            .map(|(i, (s, e))| {
                format!("countIf(ts >= toDateTime({s}) AND ts < toDateTime({e})) AS c{i}")
            })
            .collect();
        let q = format!(
            "SELECT toUInt8(node = {node}) AS mine, {cols} FROM api_calls \
             WHERE ts >= toDateTime({from}) AND ts < toDateTime({to}) AND client_id = {client} \
             AND outcome NOT IN ({not_counted}) GROUP BY mine",
            node = sql::quote_string(node),
            cols = cols.join(", "),
            client = sql::quote_string(&client.client_id),
        );
        let rows: Vec<Counts> = store
            .client()
            .query(&q)
            .fetch_all()
            .await
            .map_err(|e| store.err(&q, e))?;
        let (mut own, mut others) = ([0u64; 4], [0u64; 4]);
        for r in rows {
            let target = if r.mine == 1 { &mut own } else { &mut others };
            for (i, v) in [r.c0, r.c1, r.c2, r.c3].into_iter().enumerate() {
                target[i] += v;
            }
        }
        for (w, c) in &client.windows {
            if let Some(i) = WINDOWS.iter().position(|x| x == w) {
                access
                    .usage
                    .apply_stored(&client.client_id, *w, c.start_s, own[i], others[i]);
            }
        }
    }
    Ok(())
}
