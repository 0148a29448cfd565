//! APIs from the configuration log, hot.
//!
//! At start the gateway loads the current `api` entities from ClickHouse (or, when it cannot
//! be reached, from its last snapshot on disk) and routes them beside the file's `[[routes]]`.
//! Then it polls the log's revision every `config_poll`; on a change it reloads, builds a new
//! router and swaps it in whole: calls in flight keep the router they started with, no lock
//! is taken on the hot path. When ClickHouse is unreachable the gateway keeps serving its last
//! configuration. A bad API entity is skipped with a warning naming it and the field; it never
//! takes the others down. File routes win a clash (same specificity, overlapping paths and
//! methods), and so does, among the log's APIs, the one listed first (by id).
//!
//! Each new router starts its own health checks; the one swapped out is dropped and its
//! checks stop with it. Upstreams whose API, URL and health settings are unchanged keep their
//! state (checked down, ejected, calls in flight) across the swap.

use gatewatch_model::{ApiSpec, EntityKind};
use gatewatch_store::config_log::{self, Entry, Revision};
use gatewatch_store::Store;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::RouteConfig;
use crate::proxy::Shared;
use crate::route::{file_apis, Api, Router};
use crate::upstream::Clients;

/// How long the first load may take before the snapshot is used instead.
const FIRST_LOAD_TIMEOUT: Duration = Duration::from_secs(3);
const SNAPSHOT_FILE: &str = "apis.json";

/// One API as kept in the snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SnapshotApi {
    id: String,
    version: u64,
    body: String,
}

pub(crate) struct Source {
    pub store: Store,
    pub file_routes: Vec<RouteConfig>,
    pub clients: Clients,
    pub snapshot_dir: Option<PathBuf>,
    pub poll: Duration,
}

impl Source {
    /// The router to start with, and the revision it reflects (`None` when it came from the
    /// snapshot or the file only).
    pub async fn initial(&self) -> (Router, Option<Revision>) {
        let loaded = tokio::time::timeout(FIRST_LOAD_TIMEOUT, self.load()).await;
        match loaded {
            Ok(Ok((apis, rev))) => {
                self.save_snapshot(&apis).await;
                info!(apis = apis.len(), "APIs loaded from the configuration log");
                (self.router(&apis, None), Some(rev))
            }
            Ok(Err(e)) => {
                warn!(error = %e, "configuration log unreachable; starting from the snapshot");
                (self.router(&self.read_snapshot().await, None), None)
            }
            Err(_) => {
                warn!("configuration log did not answer in time; starting from the snapshot");
                (self.router(&self.read_snapshot().await, None), None)
            }
        }
    }

    /// Polls for changes and swaps the router in until `stop`.
    pub async fn run(
        self,
        shared: Arc<Shared>,
        mut seen: Option<Revision>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(self.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let rev = match config_log::revision(&self.store).await {
                Ok(r) => r,
                Err(e) => {
                    // Keep serving what we have.
                    tracing::debug!(error = %e, "configuration log unreachable");
                    continue;
                }
            };
            if seen == Some(rev) {
                continue;
            }
            match self.load().await {
                Ok((apis, rev)) => {
                    let mut router = self.router(&apis, Some(&shared.router.load()));
                    router.start_checks(&self.clients);
                    // The old router drops here (once no lookup holds it): its checks stop.
                    shared.router.store(Arc::new(router));
                    self.save_snapshot(&apis).await;
                    info!(
                        apis = apis.len(),
                        rows = rev.rows,
                        "configuration changed; routes reloaded"
                    );
                    seen = Some(rev);
                }
                Err(e) => warn!(error = %e, "cannot reload the configuration log"),
            }
        }
    }

    async fn load(&self) -> Result<(Vec<SnapshotApi>, Revision), config_log::ConfigLogError> {
        // Revision first: a change landing between the two reads is picked up next poll.
        let rev = config_log::revision(&self.store).await?;
        let apis = config_log::current(&self.store)
            .await?
            .into_iter()
            .filter(|e| e.kind == EntityKind::Api && !e.deleted)
            .map(|e: Entry| SnapshotApi {
                id: e.id,
                version: e.version,
                body: e.body,
            })
            .collect();
        Ok((apis, rev))
    }

    /// File routes, then every valid, enabled API of the log that does not clash with one
    /// before it (see [`crate::route`]); the state of unchanged upstreams is taken from
    /// `previous`. Health checks are not started here.
    fn router(&self, apis: &[SnapshotApi], previous: Option<&Router>) -> Router {
        let mut entries = match file_apis(&self.file_routes) {
            Ok(e) => e,
            Err(e) => {
                // Cannot happen: the file's routes were checked before the gateway started.
                warn!(error = %e, "the file's routes are invalid; serving the log's APIs only");
                Vec::new()
            }
        };
        for api in apis {
            let spec: ApiSpec = match serde_json::from_str(&api.body) {
                Ok(s) => s,
                Err(e) => {
                    warn!(api = %api.id, version = api.version, error = %e, "API entity is not valid JSON for an API; skipped");
                    continue;
                }
            };
            if let Err(e) = spec.validate() {
                warn!(api = %api.id, version = api.version, field = %e.field, error = %e.message, "API entity skipped");
                continue;
            }
            if !spec.enabled {
                continue;
            }
            entries.push(Api {
                id: api.id.clone(),
                spec: Arc::new(spec),
                origin: String::new(),
            });
        }
        let (router, refused) = Router::build(entries, &self.clients, previous);
        for (api, e) in refused {
            warn!(api = %api.id, origin = %api.origin, error = %e, "API skipped");
        }
        router
    }

    fn snapshot_path(&self) -> Option<PathBuf> {
        self.snapshot_dir.as_ref().map(|d| d.join(SNAPSHOT_FILE))
    }

    async fn save_snapshot(&self, apis: &[SnapshotApi]) {
        let Some(path) = self.snapshot_path() else {
            return;
        };
        let Ok(json) = serde_json::to_vec_pretty(apis) else {
            return;
        };
        let result = tokio::task::spawn_blocking(move || write_atomically(&path, &json)).await;
        if let Ok(Err(e)) = result {
            warn!(error = %e, "cannot write the configuration snapshot");
        }
    }

    async fn read_snapshot(&self) -> Vec<SnapshotApi> {
        let Some(path) = self.snapshot_path() else {
            return Vec::new();
        };
        match tokio::fs::read(&path).await {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                warn!(path = %path.display(), error = %e, "configuration snapshot unreadable; starting with the file's routes");
                Vec::new()
            }),
            Err(_) => Vec::new(),
        }
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let f = std::fs::File::create(&tmp)?;
    std::io::Write::write_all(&mut &f, bytes)?;
    f.sync_data()?;
    std::fs::rename(&tmp, path)
}
