//! Shared-scope quotas: every `interval`, the counts of each shared-scope client's current
//! windows are read from ClickHouse's `api_calls` — this node's and the other nodes' apart —
//! and handed to [`super::usage::Usage`]. Never on the hot path: calls only read the last
//! counts. See [`super::quota`] for how they are combined and the overshoot bound.
//!
//! Cost: a window is split at the last whole minute that is at least a minute old. The
//! *settled* part (window start to there) is counted once a minute; only the *tail* (the last
//! one to two minutes) is counted every round, so a month window costs a month's scan once a
//! minute, not every second. Rows that reach ClickHouse more than a minute late (a spool
//! replay) are picked up by the next settled count. A round that takes long makes the next one
//! wait five times as long as it took, so the sync never keeps ClickHouse busy.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatewatch_store::{quota, Store};
use tokio::sync::watch;
use tracing::debug;

use super::quota::WINDOWS;
use super::usage::Usage;
use super::Access;

/// Rows older than this are taken as settled.
const SETTLE_S: i64 = 60;

/// Per window kind: this node's calls, the other nodes' calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Split {
    own: [u64; 4],
    others: [u64; 4],
}

/// A client's settled counts and what they cover.
struct Settled {
    starts: [i64; 4],
    until: i64,
    counts: Split,
}

/// Runs until `stop`.
pub(crate) async fn run(
    access: Arc<Access>,
    store: Store,
    node: Arc<str>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut sync = Sync::new(store, node);
    let mut wait = interval;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let started = Instant::now();
        if let Err(e) = sync
            .round(&access.usage, chrono::Utc::now().timestamp())
            .await
        {
            debug!(error = %e, "shared quota counts not refreshed; keeping the last ones");
        }
        wait = interval.max(started.elapsed() * 5);
    }
}

pub(crate) struct Sync {
    store: Store,
    node: Arc<str>,
    settled: HashMap<Arc<str>, Settled>,
}

impl Sync {
    pub fn new(store: Store, node: Arc<str>) -> Sync {
        Sync {
            store,
            node,
            settled: HashMap::new(),
        }
    }

    /// One refresh of every shared-scope client's counts, at `now_s` (Unix seconds).
    pub async fn round(&mut self, usage: &Usage, now_s: i64) -> Result<(), gatewatch_store::Error> {
        let clients = usage.shared_windows();
        self.settled
            .retain(|id, _| clients.iter().any(|c| &c.client_id == id));
        let settle_to = (now_s - SETTLE_S).div_euclid(60) * 60;
        for client in clients {
            // Four slots, one per window kind; a kind without a limit stays (0, 0).
            let mut bounds = [(0i64, 0i64); 4];
            for (w, c) in &client.windows {
                if let Some(i) = WINDOWS.iter().position(|x| x == w) {
                    bounds[i] = (c.start_s, c.end_s);
                }
            }
            let starts = bounds.map(|(s, _)| s);
            let fresh = self
                .settled
                .get(&client.client_id)
                .is_some_and(|s| s.starts == starts && s.until == settle_to);
            if !fresh {
                let part = bounds.map(|(s, e)| (s, e.min(settle_to.max(s))));
                let counts = self.count(&client.client_id, part).await?;
                self.settled.insert(
                    client.client_id.clone(),
                    Settled {
                        starts,
                        until: settle_to,
                        counts,
                    },
                );
            }
            let tail = bounds.map(|(s, e)| (s.max(settle_to).min(e), e));
            let recent = self.count(&client.client_id, tail).await?;
            let settled = self
                .settled
                .get(&client.client_id)
                .map(|s| s.counts)
                .unwrap_or_default();
            for (w, c) in &client.windows {
                if let Some(i) = WINDOWS.iter().position(|x| x == w) {
                    usage.apply_stored(
                        &client.client_id,
                        *w,
                        c.start_s,
                        settled.own[i] + recent.own[i],
                        settled.others[i] + recent.others[i],
                    );
                }
            }
        }
        Ok(())
    }

    /// The client's calls in each `[start, end)`, this node's and the others' apart.
    async fn count(
        &self,
        client_id: &str,
        bounds: [(i64, i64); 4],
    ) -> Result<Split, gatewatch_store::Error> {
        // Refused calls never took quota (the store leaves them out).
        let rows = quota::client_calls(&self.store, &self.node, client_id, bounds).await?;
        let mut split = Split::default();
        for r in rows {
            let target = if r.mine == 1 {
                &mut split.own
            } else {
                &mut split.others
            };
            for (i, v) in [r.c0, r.c1, r.c2, r.c3].into_iter().enumerate() {
                target[i] += v;
            }
        }
        Ok(split)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::table::ClientEntry;
    use chrono::{TimeZone, Utc};
    use gatewatch_model::{CallRecord, Outcome};
    use gatewatch_store::rows::ApiCallRow;

    async fn insert(store: &Store, rows: &[(i64, &str, &str, Outcome)]) {
        let records: Vec<CallRecord> = rows
            .iter()
            .map(|(ts, node, client, outcome)| {
                let mut r =
                    CallRecord::new(uuid::Uuid::now_v7(), ts * 1_000_000, node, "GET", "/x");
                r.client_id = client.to_string();
                r.outcome = *outcome;
                r
            })
            .collect();
        let mut insert = gatewatch_migrations::testing::raw_client(store)
            .insert::<ApiCallRow>("api_calls")
            .await
            .unwrap();
        for r in &records {
            insert
                .write(&ApiCallRow::new(r, uuid::Uuid::nil()))
                .await
                .unwrap();
        }
        insert.end().await.unwrap();
    }

    #[tokio::test]
    async fn counts_of_this_node_and_the_others_reach_the_windows() {
        let store = gatewatch_migrations::testing::migrated_store("gateway_quota_sync").await;
        let mut spec = gatewatch_model::ClientSpec::named("t");
        spec.quota.per_minute = Some(100);
        spec.quota.per_day = Some(1000);
        spec.quota.scope = gatewatch_model::client::LimitScope::Shared;
        let client = ClientEntry::new("team", spec, chrono_tz::Asia::Taipei);
        let usage = Usage::default();
        // 2026-11-25 10:30:30 UTC = 18:30:30 in Taipei.
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 10, 30, 30).unwrap();
        let t = now.timestamp();
        usage.take_client(&client, now, 0).unwrap();
        insert(
            &store,
            &[
                (t - 10, "gw-a", "team", Outcome::Ok), // this minute, mine
                (t - 20, "gw-b", "team", Outcome::Ok), // this minute, other
                (t - 25, "gw-b", "team", Outcome::ClientError), // counts: it was admitted
                (t - 5, "gw-b", "team", Outcome::RefusedQuota), // refused: not counted
                (t - 3600, "gw-b", "team", Outcome::Ok), // today (settled), other
                (t - 7200, "gw-a", "team", Outcome::Ok), // today (settled), mine
                (t - 86_400, "gw-b", "team", Outcome::Ok), // yesterday: outside
                (t - 10, "gw-b", "other", Outcome::Ok), // another client
            ],
        )
        .await;
        let mut sync = Sync::new(store.clone(), Arc::from("gw-a"));
        sync.round(&usage, t).await.unwrap();
        let windows = usage.shared_windows();
        let w = &windows[0].windows;
        assert_eq!(w[0].0, gatewatch_model::client::QuotaWindow::Minute);
        assert_eq!((w[0].1.own_stored, w[0].1.others), (1, 2));
        assert_eq!((w[1].1.own_stored, w[1].1.others), (2, 3));
        // A second round uses the settled counts and only re-reads the tail.
        insert(&store, &[(t - 1, "gw-b", "team", Outcome::Ok)]).await;
        sync.round(&usage, t).await.unwrap();
        let w = usage.shared_windows()[0].windows.clone();
        assert_eq!((w[0].1.others, w[1].1.others), (3, 4));
    }
}
