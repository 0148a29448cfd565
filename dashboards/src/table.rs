//! The current configuration, cached: every entity's current row from the configuration log,
//! reloaded when `config_log::revision` changes (polled each second) and right after this
//! process writes, so reads never wait on ClickHouse.

use gatewatch_model::user::UserSpec;
use gatewatch_model::EntityKind;
use gatewatch_store::config_log::{self, ConfigLogError, Entry, Revision};
use gatewatch_store::Store;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// One snapshot of the configuration.
#[derive(Default)]
pub struct Table {
    pub revision: Revision,
    /// Current row per entity, deleted ones included (flagged), ordered by kind then id.
    pub entries: BTreeMap<(EntityKind, String), Entry>,
    /// Users that exist, parsed.
    pub users: HashMap<String, UserSpec>,
    /// Bearer token hash → (user, token id).
    pub tokens: HashMap<String, (String, String)>,
    /// Whether a load has succeeded.
    pub loaded: bool,
}

impl Table {
    fn build(revision: Revision, rows: Vec<Entry>) -> Table {
        let mut users = HashMap::new();
        let mut tokens = HashMap::new();
        let mut entries = BTreeMap::new();
        for e in rows {
            if e.kind == EntityKind::User && !e.deleted {
                match serde_json::from_str::<UserSpec>(&e.body) {
                    Ok(u) => {
                        for t in &u.tokens {
                            tokens.insert(t.hash.clone(), (e.id.clone(), t.id.clone()));
                        }
                        users.insert(e.id.clone(), u);
                    }
                    Err(err) => {
                        tracing::warn!(user = %e.id, error = %err, "user entity does not parse; ignored")
                    }
                }
            }
            entries.insert((e.kind, e.id.clone()), e);
        }
        Table {
            revision,
            entries,
            users,
            tokens,
            loaded: true,
        }
    }

    /// The current row of an entity that exists (not deleted).
    pub fn get(&self, kind: EntityKind, id: &str) -> Option<&Entry> {
        self.entries
            .get(&(kind, id.to_string()))
            .filter(|e| !e.deleted)
    }

    /// Existing entities of `kind` with an id after `cursor`, in id order.
    pub fn list<'a>(
        &'a self,
        kind: EntityKind,
        cursor: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Entry> + 'a {
        let start = (kind, cursor.unwrap_or("").to_string());
        self.entries
            .range(start..)
            .take_while(move |((k, _), _)| *k == kind)
            .filter(move |((_, id), e)| !e.deleted && cursor.is_none_or(|c| id.as_str() > c))
            .map(|(_, e)| e)
    }

    /// Whether any user row was ever written (deleted ones count: a fresh site has none).
    pub fn any_user_ever(&self) -> bool {
        self.entries.keys().any(|(k, _)| *k == EntityKind::User)
    }
}

/// The shared, refreshable snapshot.
pub struct Cache {
    store: Store,
    table: RwLock<Arc<Table>>,
    /// One reload at a time; a reload that finds a newer table already in place keeps it.
    reload: tokio::sync::Mutex<()>,
}

impl Cache {
    pub fn new(store: Store) -> Cache {
        Cache {
            store,
            table: RwLock::new(Arc::new(Table::default())),
            reload: tokio::sync::Mutex::new(()),
        }
    }

    pub fn get(&self) -> Arc<Table> {
        match self.table.read() {
            Ok(t) => t.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Reloads if the revision changed (or `force`).
    pub async fn refresh(&self, force: bool) -> Result<(), ConfigLogError> {
        let _one = self.reload.lock().await;
        let rev = config_log::revision(&self.store).await?;
        let old = self.get();
        if !force && old.loaded && old.revision == rev {
            return Ok(());
        }
        let rows = config_log::current(&self.store).await?;
        let table = Arc::new(Table::build(rev, rows));
        match self.table.write() {
            Ok(mut t) => *t = table,
            Err(p) => *p.into_inner() = table,
        }
        Ok(())
    }

    /// Polls the revision every second until `stop` resolves.
    pub async fn poll(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = tick.tick() => {}
            }
            match self.refresh(false).await {
                Ok(()) => failing = false,
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "cannot reload the configuration; serving the last one");
                }
                Err(_) => {}
            }
        }
    }
}
