//! The catalogue: the published APIs, read from the configuration log (kinds `api` and
//! `api_family`) through `store`, kept in memory and reloaded when the log's revision changes
//! (polled each second), so pages never wait on ClickHouse.
//!
//! Only APIs with `portal.published = true` are in it; an unpublished, deleted or unknown id
//! is simply absent, so every route answers the same 404 for all three. Descriptions are
//! rendered and sanitized once, when the catalogue is built ([`crate::markdown`]).

use gatewatch_model::portal::PortalInfo;
use gatewatch_model::version::{ApiFamilySpec, Deprecation};
use gatewatch_model::{ApiSpec, EntityKind};
use gatewatch_store::config_log::{self, ConfigLogError, Entry, Revision};
use gatewatch_store::Store;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Longest search query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

/// One published API.
#[derive(Debug, Clone)]
pub struct Published {
    pub id: String,
    pub spec: ApiSpec,
    pub portal: PortalInfo,
    /// The family's display name, when the API is a version of one.
    pub family_name: String,
    /// `portal.description`, rendered and sanitized.
    pub description_html: String,
    /// The operations of `portal.openapi`, read once here rather than on every page view.
    pub reference: Option<crate::openapi::Reference>,
    /// Name, summary and tags, lower case: what a search reads.
    haystack: String,
}

/// How an API stands, for its callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Deprecated,
    Retired,
    /// Published but disabled: not routed now.
    Unavailable,
}

impl Published {
    pub fn status(&self) -> Status {
        if self.spec.retired {
            Status::Retired
        } else if !self.spec.enabled {
            Status::Unavailable
        } else if self.spec.deprecation.is_some() {
            Status::Deprecated
        } else {
            Status::Active
        }
    }

    /// The catalogue row.
    pub fn summary(&self) -> ApiSummary<'_> {
        ApiSummary {
            id: &self.id,
            name: &self.spec.name,
            summary: &self.portal.summary,
            category: &self.portal.category,
            tags: &self.portal.tags,
            version: &self.spec.version,
            family: &self.spec.family,
            family_name: &self.family_name,
            status: self.status(),
            deprecation: self.spec.deprecation.as_deref(),
            has_openapi: self.portal.openapi.is_some(),
        }
    }

    /// Whether every word of the query is in the name, summary or tags (case-insensitive;
    /// Chinese matches as written, without spaces between words).
    pub fn matches(&self, words: &[String]) -> bool {
        words.iter().all(|w| self.haystack.contains(w.as_str()))
    }

    /// Where a match stands in the results: 0 when every word is in the name, 1 otherwise
    /// (summary or tags), so an API named for the search comes first.
    pub fn rank(&self, words: &[String]) -> u8 {
        let name = self.spec.name.to_lowercase();
        u8::from(!words.iter().all(|w| name.contains(w.as_str())))
    }
}

/// What the catalogue lists of an API.
#[derive(Debug, Serialize)]
pub struct ApiSummary<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub summary: &'a str,
    pub category: &'a str,
    pub tags: &'a [String],
    pub version: &'a str,
    pub family: &'a str,
    pub family_name: &'a str,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deprecation: Option<&'a Deprecation>,
    pub has_openapi: bool,
}

/// The words of a query, lower case.
pub fn words(q: &str) -> Vec<String> {
    q.split_whitespace().map(str::to_lowercase).collect()
}

/// One snapshot of the published APIs.
#[derive(Default)]
pub struct Catalogue {
    pub revision: Revision,
    /// Published APIs by id.
    pub apis: BTreeMap<String, Published>,
    /// Whether a load has succeeded.
    pub loaded: bool,
}

impl Catalogue {
    /// Builds the catalogue from current rows of `api` and `api_family`; rows that do not
    /// parse are skipped with a warning (the admin API validated them on save).
    pub fn build(revision: Revision, rows: &[Entry]) -> Catalogue {
        let mut families = BTreeMap::new();
        for e in rows
            .iter()
            .filter(|e| e.kind == EntityKind::ApiFamily && !e.deleted)
        {
            if let Ok(f) = serde_json::from_str::<ApiFamilySpec>(&e.body) {
                families.insert(e.id.clone(), f.name);
            }
        }
        let mut apis = BTreeMap::new();
        for e in rows
            .iter()
            .filter(|e| e.kind == EntityKind::Api && !e.deleted)
        {
            let spec: ApiSpec = match serde_json::from_str(&e.body) {
                Ok(s) => s,
                Err(err) => {
                    tracing::warn!(api = %e.id, error = %err, "API entity does not parse; not in the catalogue");
                    continue;
                }
            };
            let Some(portal) = spec.portal.as_deref().filter(|p| p.published).cloned() else {
                continue;
            };
            let mut haystack = spec.name.to_lowercase();
            for s in std::iter::once(&portal.summary).chain(&portal.tags) {
                haystack.push('\n');
                haystack.push_str(&s.to_lowercase());
            }
            apis.insert(
                e.id.clone(),
                Published {
                    id: e.id.clone(),
                    family_name: families.get(&spec.family).cloned().unwrap_or_default(),
                    description_html: crate::markdown::render(&portal.description),
                    reference: portal.openapi.as_ref().map(crate::openapi::read),
                    haystack,
                    portal,
                    spec,
                },
            );
        }
        Catalogue {
            revision,
            apis,
            loaded: true,
        }
    }

    /// A published API.
    pub fn get(&self, id: &str) -> Option<&Published> {
        self.apis.get(id)
    }

    /// The other published versions of an API's family, by version label.
    pub fn versions<'a>(&'a self, api: &'a Published) -> Vec<&'a Published> {
        if api.spec.family.is_empty() {
            return Vec::new();
        }
        let mut v: Vec<&Published> = self
            .apis
            .values()
            .filter(|p| p.spec.family == api.spec.family && p.id != api.id)
            .collect();
        v.sort_by(|a, b| a.spec.version.cmp(&b.spec.version).then(a.id.cmp(&b.id)));
        v
    }

    /// Categories of the published APIs with their counts, by name; APIs without one are
    /// not counted.
    pub fn categories(&self) -> Vec<(&str, usize)> {
        let mut m: BTreeMap<&str, usize> = BTreeMap::new();
        for p in self.apis.values() {
            if !p.portal.category.is_empty() {
                *m.entry(p.portal.category.as_str()).or_default() += 1;
            }
        }
        m.into_iter().collect()
    }
}

/// The shared, refreshable catalogue.
pub struct Cache {
    store: Store,
    current: RwLock<Arc<Catalogue>>,
    reload: tokio::sync::Mutex<()>,
}

impl Cache {
    pub fn new(store: Store) -> Cache {
        Cache {
            store,
            current: RwLock::new(Arc::new(Catalogue::default())),
            reload: tokio::sync::Mutex::new(()),
        }
    }

    pub fn get(&self) -> Arc<Catalogue> {
        match self.current.read() {
            Ok(t) => t.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Reloads if the log's revision changed (or `force`).
    pub async fn refresh(&self, force: bool) -> Result<(), ConfigLogError> {
        let _one = self.reload.lock().await;
        let rev = config_log::revision(&self.store).await?;
        let old = self.get();
        if !force && old.loaded && old.revision == rev {
            return Ok(());
        }
        let rows =
            config_log::current_of(&self.store, &[EntityKind::Api, EntityKind::ApiFamily]).await?;
        let next = Arc::new(Catalogue::build(rev, &rows));
        match self.current.write() {
            Ok(mut t) => *t = next,
            Err(p) => *p.into_inner() = next,
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
                    tracing::warn!(error = %e, "cannot reload the catalogue; serving the last one");
                }
                Err(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(kind: EntityKind, id: &str, body: serde_json::Value) -> Entry {
        Entry {
            kind,
            id: id.into(),
            version: 1,
            change_id: uuid::Uuid::nil(),
            ts_us: 0,
            author: "t".into(),
            comment: String::new(),
            deleted: false,
            body: body.to_string(),
        }
    }

    fn api(name: &str, portal: serde_json::Value) -> serde_json::Value {
        json!({"name": name, "prefix": "/x", "upstreams": ["http://127.0.0.1:1"], "portal": portal})
    }

    #[test]
    fn only_published_apis_are_listed_and_searched() {
        let rows = vec![
            entry(
                EntityKind::Api,
                "pay",
                api(
                    "支付服務",
                    json!({"published": true,
                "summary": "收款與退款", "tags": ["金流", "Payments"], "category": "金融"}),
                ),
            ),
            entry(
                EntityKind::Api,
                "hidden",
                api("Hidden 支付", json!({"published": false})),
            ),
            entry(EntityKind::Api, "plain", api("Plain", json!(null))),
            entry(
                EntityKind::Api,
                "weather",
                api(
                    "Weather",
                    json!({"published": true,
                "summary": "Forecasts", "category": "公共"}),
                ),
            ),
        ];
        let c = Catalogue::build(Revision::default(), &rows);
        assert_eq!(c.apis.keys().collect::<Vec<_>>(), ["pay", "weather"]);
        let hits = |q: &str| -> Vec<&str> {
            let w = words(q);
            c.apis
                .values()
                .filter(|p| p.matches(&w))
                .map(|p| p.id.as_str())
                .collect()
        };
        assert_eq!(hits("支付"), ["pay"]);
        assert_eq!(hits("退款"), ["pay"]);
        assert_eq!(hits("金流"), ["pay"]);
        assert_eq!(hits("PAYMENTS"), ["pay"]);
        assert_eq!(hits("forecast"), ["weather"]);
        assert_eq!(hits("支付 forecast"), Vec::<&str>::new());
        let w = words("weather");
        assert_eq!(c.get("weather").unwrap().rank(&w), 0);
        assert_eq!(c.get("pay").unwrap().rank(&words("payments")), 1);
        assert_eq!(hits(""), ["pay", "weather"]);
        assert_eq!(c.categories(), [("公共", 1), ("金融", 1)]);
    }
}
