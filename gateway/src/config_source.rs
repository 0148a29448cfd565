//! APIs and access entities from the configuration log, hot.
//!
//! At start the gateway loads the current `api`, `api_family`, `client`, `api_key`, `group`
//! and `product` entities from ClickHouse (or, when it cannot be reached, from its last snapshot on disk),
//! routes the APIs beside the file's `[[routes]]` and builds the access table from the rest.
//! Then it polls the log's revision every `config_poll`; on a change it reloads, builds a new
//! router and access table and swaps them in whole (the table first, so a newly routed API
//! finds its clients): calls in flight keep what they started with, no lock is taken on the
//! hot path. When ClickHouse is unreachable the gateway keeps serving its last configuration,
//! and enforces the same access. A bad entity is skipped with a warning naming it and the
//! field; it never takes the others down. File routes win a clash (same specificity,
//! overlapping paths and methods), and so does, among the log's APIs, the one listed first
//! (by id).
//!
//! Each new router starts its own health checks; the one swapped out is dropped and its
//! checks stop with it. Upstreams whose API, URL and health settings are unchanged keep their
//! state (checked down, ejected, calls in flight) across the swap.
//!
//! The snapshot is `snapshot/config.json`: a list of `{kind, id, version, body}`. The older
//! `snapshot/apis.json` (APIs only, no `kind`) is still read when `config.json` is missing.
//!
//! Node groups: an API whose `node_groups` shares no group with the gateway's `[gateway]
//! node_groups` (an empty list: every group) is dropped as it is loaded, before the router,
//! the access table and the snapshot see it — it answers `404 no_route` here, as if absent,
//! and this gateway's snapshot does not hold it. Clients, keys, groups and products are kept
//! whole (the access checks are unchanged); the file's `[[routes]]` are always served. Moving
//! an API between groups is an ordinary change: picked up at the next poll and swapped in
//! whole with the rest. The ids the router serves are published on [`Source::served`] (the
//! node registry's `apis`).

use gatewatch_model::{node, ApiSpec, EntityKind};
use gatewatch_store::config_log::{self, Entry, Revision};
use gatewatch_store::Store;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::access::table::{AccessTable, Raw};
use crate::proxy::Shared;
use crate::route::RouteConfig;
use crate::route::{file_apis, Api, Router};
use crate::upstream::Clients;

/// How long the first load may take before the snapshot is used instead.
const FIRST_LOAD_TIMEOUT: Duration = Duration::from_secs(3);
const SNAPSHOT_FILE: &str = "config.json";
/// The snapshot file of earlier versions (APIs only).
const OLD_SNAPSHOT_FILE: &str = "apis.json";

/// The entity kinds a gateway loads.
const KINDS: [EntityKind; 6] = [
    EntityKind::Api,
    EntityKind::ApiFamily,
    EntityKind::Client,
    EntityKind::ApiKey,
    EntityKind::Group,
    EntityKind::Product,
];

fn api_kind() -> EntityKind {
    EntityKind::Api
}

/// One entity as kept in the snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SnapshotApi {
    /// Absent in the old `apis.json`, which held APIs only.
    #[serde(default = "api_kind")]
    kind: EntityKind,
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
    /// The site's zone (clients without their own).
    pub site_tz: chrono_tz::Tz,
    /// Opens clients' sealed signing secrets (the site pepper's key).
    pub seal: gatewatch_model::sealed::SealKey,
    /// `[gateway] node_groups`: the log's APIs bound to none of them are not served here.
    pub node_groups: Vec<String>,
    /// The sorted ids of the APIs the current router serves, replaced at each swap.
    pub served: watch::Sender<Arc<[String]>>,
}

/// What a configuration load gives: the router and the access table.
pub(crate) type Loaded = (Router, AccessTable);

impl Source {
    /// The router to start with, and the revision it reflects (`None` when it came from the
    /// snapshot or the file only).
    pub async fn initial(&self) -> (Loaded, Option<Revision>) {
        let loaded = tokio::time::timeout(FIRST_LOAD_TIMEOUT, self.load()).await;
        match loaded {
            Ok(Ok((apis, rev))) => {
                self.save_snapshot(&apis).await;
                info!(
                    entities = apis.len(),
                    "configuration loaded from the configuration log"
                );
                (self.build(&apis, None), Some(rev))
            }
            Ok(Err(e)) => {
                warn!(error = %e, "configuration log unreachable; starting from the snapshot");
                (self.build(&self.read_snapshot().await, None), None)
            }
            Err(_) => {
                warn!("configuration log did not answer in time; starting from the snapshot");
                (self.build(&self.read_snapshot().await, None), None)
            }
        }
    }

    /// Drops the APIs of other node groups (see the module doc). An API whose body does not
    /// parse is kept: the router skips it with a warning naming it.
    fn for_groups(&self, entities: Vec<SnapshotApi>) -> Vec<SnapshotApi> {
        /// Only the field this needs; the rest of the body is read by the router.
        #[derive(Deserialize)]
        struct Groups {
            #[serde(default)]
            node_groups: Vec<String>,
        }
        let (mut served, mut skipped) = (0usize, 0usize);
        let kept: Vec<SnapshotApi> = entities
            .into_iter()
            .filter(|e| {
                if e.kind != EntityKind::Api {
                    return true;
                }
                let keep = serde_json::from_str::<Groups>(&e.body)
                    .map_or(true, |g| node::serves(&self.node_groups, &g.node_groups));
                if keep {
                    served += 1;
                } else {
                    skipped += 1;
                }
                keep
            })
            .collect();
        info!(
            groups = ?self.node_groups,
            apis = served,
            skipped_other_groups = skipped,
            "APIs of the configuration log for this gateway's node groups"
        );
        kept
    }

    fn build(&self, entities: &[SnapshotApi], previous: Option<&Router>) -> Loaded {
        let table = AccessTable::build_sealed(
            entities.iter().map(|e| Raw {
                kind: e.kind,
                id: &e.id,
                version: e.version,
                body: &e.body,
            }),
            self.site_tz,
            Some(&self.seal),
        );
        (self.router(entities, previous), table)
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
                    let (mut router, table) = self.build(&apis, Some(&shared.router.load()));
                    router.start_checks(&self.clients);
                    let served = served_ids(&router);
                    shared.access.table.store(Arc::new(table));
                    // The old router drops here (once no lookup holds it): its checks stop.
                    shared.router.store(Arc::new(router));
                    self.served.send_replace(served);
                    self.save_snapshot(&apis).await;
                    info!(
                        entities = apis.len(),
                        rows = rev.rows,
                        "configuration changed; routes and access reloaded"
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
            .filter(|e| KINDS.contains(&e.kind) && !e.deleted)
            .map(|e: Entry| SnapshotApi {
                kind: e.kind,
                id: e.id,
                version: e.version,
                body: e.body,
            })
            .collect();
        Ok((self.for_groups(apis), rev))
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
        let families = crate::route::version::families(
            apis.iter()
                .filter(|e| e.kind == EntityKind::ApiFamily)
                .map(|e| (e.id.as_str(), e.version, e.body.as_str())),
        );
        for api in apis.iter().filter(|e| e.kind == EntityKind::Api) {
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
                family: families.get(&spec.family).cloned(),
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

    /// The snapshot's entities for this gateway's node groups: one written under other groups
    /// (a gateway moved to another group) holds APIs this gateway must not serve.
    async fn read_snapshot(&self) -> Vec<SnapshotApi> {
        let Some(mut path) = self.snapshot_path() else {
            return Vec::new();
        };
        if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
            path = path.with_file_name(OLD_SNAPSHOT_FILE);
        }
        let entities = match tokio::fs::read(&path).await {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                warn!(path = %path.display(), error = %e, "configuration snapshot unreadable; starting with the file's routes");
                Vec::new()
            }),
            Err(_) => Vec::new(),
        };
        self.for_groups(entities)
    }
}

/// The sorted, distinct ids of the APIs `router` serves (file routes included).
pub(crate) fn served_ids(router: &Router) -> Arc<[String]> {
    let mut ids: Vec<String> = router.routes().iter().map(|r| r.api_id.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into()
}

pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    // The snapshot holds key and secret hashes: readable by the gateway's user only.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let f = options.open(&tmp)?;
    std::io::Write::write_all(&mut &f, bytes)?;
    f.sync_data()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(dir: &Path) -> Source {
        Source {
            store: Store::new(Default::default()),
            file_routes: Vec::new(),
            clients: Clients::new(Duration::from_secs(1)),
            snapshot_dir: Some(dir.to_path_buf()),
            poll: Duration::from_secs(1),
            site_tz: chrono_tz::Asia::Taipei,
            seal: gatewatch_model::sealed::SealKey::from_pepper(b"test pepper"),
            node_groups: vec!["edge".into()],
            served: watch::channel(Arc::from(Vec::new())).0,
        }
    }

    #[tokio::test]
    async fn the_old_apis_only_snapshot_is_still_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(OLD_SNAPSHOT_FILE),
            r#"[{"id":"orders","version":3,"body":"{\"name\":\"o\",\"prefix\":\"/orders\",\"upstreams\":[\"http://127.0.0.1:9\"]}"}]"#,
        )
        .unwrap();
        let s = source(dir.path());
        let read = s.read_snapshot().await;
        assert_eq!(read.len(), 1);
        assert_eq!((read[0].kind, read[0].version), (EntityKind::Api, 3));
        let (router, _) = s.build(&read, None);
        assert!(router.find("/orders/x").is_some());

        // Once written, the new snapshot (all kinds) is the one read.
        let client = SnapshotApi {
            kind: EntityKind::Client,
            id: "acme".into(),
            version: 1,
            body: r#"{"name":"Acme"}"#.into(),
        };
        s.save_snapshot(&[read[0].clone(), client]).await;
        let read = s.read_snapshot().await;
        assert_eq!(read.len(), 2);
        let (_, table) = s.build(&read, None);
        assert!(table.clients.contains_key("acme"));
    }

    fn api(id: &str, prefix: &str, groups: &str) -> SnapshotApi {
        SnapshotApi {
            kind: EntityKind::Api,
            id: id.into(),
            version: 1,
            body: format!(
                r#"{{"name":"{id}","prefix":"{prefix}","upstreams":["http://127.0.0.1:9"],"node_groups":{groups}}}"#
            ),
        }
    }

    #[tokio::test]
    async fn apis_of_other_node_groups_are_neither_routed_nor_kept_in_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let s = source(dir.path()); // an `edge` gateway
        let client = SnapshotApi {
            kind: EntityKind::Client,
            id: "acme".into(),
            version: 1,
            body: r#"{"name":"Acme"}"#.into(),
        };
        let all = vec![
            api("core-only", "/core", r#"["core"]"#),
            api("edge-only", "/edge", r#"["edge"]"#),
            api("both", "/both", r#"["core","edge"]"#),
            api("anywhere", "/any", "[]"),
            client,
        ];
        let kept = s.for_groups(all.clone());
        let ids: Vec<&str> = kept.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["edge-only", "both", "anywhere", "acme"]);
        let (router, table) = s.build(&kept, None);
        assert!(router.find("/core/x").is_none());
        for p in ["/edge/x", "/both/x", "/any/x"] {
            assert!(router.find(p).is_some(), "{p}");
        }
        assert!(
            table.clients.contains_key("acme"),
            "access entities are kept whole"
        );
        assert_eq!(&*served_ids(&router), ["anywhere", "both", "edge-only"]);

        // The snapshot holds what was kept; a snapshot written under other groups (all of
        // them) is filtered again when read.
        s.save_snapshot(&kept).await;
        assert_eq!(s.read_snapshot().await.len(), 4);
        s.save_snapshot(&all).await;
        let again = s.read_snapshot().await;
        assert!(again.iter().all(|e| e.id != "core-only"));
    }

    #[tokio::test]
    async fn api_families_are_loaded_with_their_versions_and_kept_in_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let s = source(dir.path());
        let e = |kind, id: &str, body: &str| SnapshotApi {
            kind,
            id: id.into(),
            version: 1,
            body: body.into(),
        };
        let up = r#""upstreams":["http://127.0.0.1:9"]"#;
        let entities = vec![
            e(
                EntityKind::ApiFamily,
                "orders",
                r#"{"name":"Orders","default_version":"v1"}"#,
            ),
            e(
                EntityKind::Api,
                "o1",
                &format!(
                    r#"{{"name":"o1","prefix":"/orders",{up},"family":"orders","version":"v1"}}"#
                ),
            ),
            e(
                EntityKind::Api,
                "o2",
                &format!(
                    r#"{{"name":"o2","prefix":"/orders",{up},"family":"orders","version":"v2"}}"#
                ),
            ),
            // A family that does not validate is skipped: its versions have no family.
            e(
                EntityKind::ApiFamily,
                "bad",
                r#"{"name":" ","default_version":"v1"}"#,
            ),
            e(
                EntityKind::Api,
                "b1",
                &format!(r#"{{"name":"b1","prefix":"/bad",{up},"family":"bad","version":"v1"}}"#),
            ),
        ];
        s.save_snapshot(&entities).await;
        let (router, _) = s.build(&s.read_snapshot().await, None);
        assert_eq!(router.families.len(), 1);
        let names: Vec<&str> = router.families[0]
            .versions
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(names, ["v1", "v2"]);
        assert!(router.find("/orders/x").is_some());
        assert!(router.find("/bad/x").is_none());
    }
}
