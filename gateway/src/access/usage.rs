//! What each client has used on this gateway: its token bucket and quota counts, and the quota
//! counts of each key × product. Kept apart from the access table so a configuration change
//! does not reset anybody's limits.
//!
//! Each client's state sits behind its own small mutex, found through a map that is only
//! written the first time a client calls; the locks are held for a few arithmetic operations
//! and never across an await.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use gatewatch_model::client::{LimitScope, Quota, QuotaWindow};

use super::limits::TokenBucket;
use super::quota::{QuotaCounter, WindowCount};
use super::refusal::Refusal;
use super::table::ClientEntry;

#[derive(Debug, Default)]
struct ClientUsage {
    bucket: Option<TokenBucket>,
    quota: QuotaCounter,
    /// The client's quota and zone as last seen (for the shared-quota sync).
    spec: Quota,
    tz: Option<Tz>,
}

type Shared<K, V> = RwLock<HashMap<K, Arc<Mutex<V>>>>;

fn entry<K: std::hash::Hash + Eq + Clone, V: Default>(map: &Shared<K, V>, k: &K) -> Arc<Mutex<V>> {
    if let Some(e) = map.read().unwrap_or_else(|e| e.into_inner()).get(k) {
        return e.clone();
    }
    map.write()
        .unwrap_or_else(|e| e.into_inner())
        .entry(k.clone())
        .or_default()
        .clone()
}

fn lock<V>(m: &Mutex<V>) -> std::sync::MutexGuard<'_, V> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// See the module doc.
#[derive(Default)]
pub(crate) struct Usage {
    clients: Shared<Arc<str>, ClientUsage>,
    products: Shared<(Arc<str>, Arc<str>), QuotaCounter>,
}

/// A shared-scope client's windows, for the sync.
pub(crate) struct SharedWindows {
    pub client_id: Arc<str>,
    pub windows: Vec<(QuotaWindow, WindowCount)>,
}

impl Usage {
    /// TPS, then the client's quota; counts the call when both allow it.
    pub fn take_client(
        &self,
        client: &ClientEntry,
        now: DateTime<Utc>,
        mono_ns: u64,
    ) -> Result<(), Refusal> {
        let spec = &client.spec;
        if spec.tps.is_none() && spec.quota.is_empty() {
            return Ok(());
        }
        let e = entry(&self.clients, &client.id);
        let mut u = lock(&e);
        if let Some(rate) = &spec.tps {
            let burst = rate.burst();
            let bucket = u
                .bucket
                .get_or_insert_with(|| TokenBucket::new(rate.per_second, burst, mono_ns));
            bucket
                .try_take(rate.per_second, burst, mono_ns)
                .map_err(|retry_after| Refusal::RateLimited { retry_after })?;
        }
        if !spec.quota.is_empty() {
            if u.spec != spec.quota {
                u.spec = spec.quota.clone();
            }
            u.tz = Some(client.tz);
            u.quota
                .try_take(&spec.quota, now, client.tz)
                .map_err(|retry_after| Refusal::QuotaExceeded { retry_after })?;
        }
        Ok(())
    }

    /// The quota of a product on one key (counted per gateway process).
    pub fn take_product(
        &self,
        key_id: &Arc<str>,
        product_id: &Arc<str>,
        quota: &Quota,
        tz: Tz,
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        if quota.is_empty() {
            return Ok(());
        }
        let e = entry(&self.products, &(key_id.clone(), product_id.clone()));
        let result = lock(&e).try_take(quota, now, tz);
        result.map_err(|retry_after| Refusal::QuotaExceeded { retry_after })
    }

    /// Gives back the quota counts of a call refused after they were taken.
    pub fn refund(&self, client: &ClientEntry, product: Option<(&Arc<str>, &Arc<str>, &Quota)>) {
        if !client.spec.quota.is_empty() {
            let e = entry(&self.clients, &client.id);
            lock(&e).quota.refund(&client.spec.quota);
        }
        if let Some((key, product, quota)) = product {
            if !quota.is_empty() {
                let e = entry(&self.products, &(key.clone(), product.clone()));
                lock(&e).refund(quota);
            }
        }
    }

    /// Shared-scope clients that called here, with their current windows.
    pub fn shared_windows(&self) -> Vec<SharedWindows> {
        let map = self.clients.read().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .filter_map(|(id, e)| {
                let u = lock(e);
                (u.spec.scope == LimitScope::Shared && !u.spec.is_empty()).then(|| SharedWindows {
                    client_id: id.clone(),
                    windows: u.quota.windows(&u.spec),
                })
            })
            .collect()
    }

    /// Applies ClickHouse's counts for one client's window.
    pub fn apply_stored(
        &self,
        client_id: &Arc<str>,
        w: QuotaWindow,
        start_s: i64,
        own: u64,
        others: u64,
    ) {
        let found = self
            .clients
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(client_id)
            .cloned();
        if let Some(e) = found {
            lock(&e).quota.apply_stored(w, start_s, own, others);
        }
    }
}
