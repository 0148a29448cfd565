//! Keys and revocations followed from the store, about once a second: every gateway signs
//! with the newest active key and refuses a revoked token within about a second of its
//! revocation anywhere. A gateway that finds no active key makes one (two starting at once
//! may both: both are published, the newer signs).
//!
//! The key rows are kept in `snapshot/oauth_keys.json` (public parts, and private parts as
//! stored: sealed under the pepper), so a gateway starting while ClickHouse is down still
//! signs and verifies with the site's keys. Revocations are not kept: such a gateway accepts
//! a revoked token until ClickHouse answers again.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gatewatch_model::oauth::keys::{self, KeyState, Signer, Verifier};
use gatewatch_model::sealed::SealKey;
use gatewatch_store::oauth::KeyRow;
use gatewatch_store::Store;
use tokio::sync::watch;
use tracing::{info, warn};

use super::server::now_us;
use super::{KeySet, OwnIssuer};

/// How often keys and revocations are read.
pub(crate) const INTERVAL: Duration = Duration::from_secs(1);
/// Revocations are read again from this far before the newest seen (writers' clocks and
/// inserts in flight), the set dedups.
const OVERLAP_US: i64 = 5_000_000;
/// Most revocations read per query (more are read at once after).
const PAGE: u32 = 10_000;
/// The first read at start does not hold the gateway up longer than this.
const FIRST_TIMEOUT: Duration = Duration::from_secs(3);

/// What the loop keeps between rounds.
pub(crate) struct Follower {
    own: OwnIssuer,
    store: Store,
    seal: SealKey,
    alg: String,
    since_us: i64,
    /// Where the key rows are kept for a start without the store.
    snapshot: Option<PathBuf>,
    /// The (kid, version) of the rows last written there.
    saved: Vec<(String, u64)>,
}

/// The snapshot file of the keys, in the gateway's snapshot directory.
pub(crate) const SNAPSHOT_FILE: &str = "oauth_keys.json";

impl Follower {
    pub fn new(
        own: OwnIssuer,
        store: Store,
        seal: SealKey,
        alg: &str,
        snapshot_dir: Option<PathBuf>,
    ) -> Follower {
        Follower {
            own,
            store,
            seal,
            alg: alg.to_string(),
            since_us: 0,
            snapshot: snapshot_dir.map(|d| d.join(SNAPSHOT_FILE)),
            saved: Vec::new(),
        }
    }

    /// Reads once at start (bounded in time), so the first calls already have keys.
    pub async fn first(&mut self) {
        if tokio::time::timeout(FIRST_TIMEOUT, self.round())
            .await
            .is_err()
        {
            warn!("oauth keys: the store did not answer in time; following in the background");
        }
        if self.own.keys().verifiers.is_empty() {
            self.load_snapshot().await;
        }
    }

    /// The keys as last seen, when the store gave none at start.
    async fn load_snapshot(&mut self) {
        let Some(path) = self.snapshot.clone() else {
            return;
        };
        let rows: Vec<KeyRow> = match tokio::fs::read(&path).await {
            Ok(b) => match serde_json::from_slice(&b) {
                Ok(rows) => rows,
                Err(e) => {
                    warn!(path = %path.display(), error = %e, "oauth key snapshot unreadable");
                    return;
                }
            },
            Err(_) => return,
        };
        let set = key_set(&rows, now_us(), &self.seal, None);
        info!(signing = ?set.signer.as_deref().map(Signer::kid), published = set.verifiers.len(), "oauth keys from the snapshot");
        self.own.set_keys(set);
    }

    /// Writes the rows to the snapshot when they changed.
    async fn save(&mut self, rows: &[KeyRow]) {
        let Some(path) = self.snapshot.clone() else {
            return;
        };
        let ids: Vec<(String, u64)> = rows.iter().map(|r| (r.kid.clone(), r.version)).collect();
        if ids == self.saved {
            return;
        }
        let Ok(json) = serde_json::to_vec_pretty(rows) else {
            return;
        };
        let done = tokio::task::spawn_blocking(move || {
            crate::config_source::write_atomically(&path, &json)
        })
        .await;
        match done {
            Ok(Ok(())) => self.saved = ids,
            Ok(Err(e)) => warn!(error = %e, "cannot write the oauth key snapshot"),
            Err(e) => warn!(error = %e, "cannot write the oauth key snapshot"),
        }
    }

    /// Every [`INTERVAL`] until `stop`.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(INTERVAL) => {}
                _ = crate::ship::stopped(&mut stop) => return,
            }
            self.round().await;
        }
    }

    async fn round(&mut self) {
        if let Err(e) = self.keys().await {
            warn!(error = %e, "oauth keys not read");
        }
        if let Err(e) = self.revocations().await {
            warn!(error = %e, "oauth revocations not read");
        }
    }

    async fn keys(&mut self) -> Result<(), String> {
        let now = now_us();
        let mut rows = gatewatch_store::oauth::keys(&self.store)
            .await
            .map_err(|e| e.to_string())?;
        if !rows
            .iter()
            .any(|r| KeyState::of(r.retired_us, r.keep_until_us, now) == KeyState::Active)
        {
            let row = KeyRow::generate(&self.seal, &self.alg, now).map_err(|e| e.to_string())?;
            gatewatch_store::oauth::put_key(&self.store, &row)
                .await
                .map_err(|e| e.to_string())?;
            info!(kid = %row.kid, alg = %row.alg, "oauth signing key made");
            rows.push(row);
        }
        self.save(&rows).await;
        let current = self.own.keys();
        let set = key_set(&rows, now, &self.seal, current.signer.as_ref());
        if set.fingerprint() != current.fingerprint() {
            info!(signing = ?set.signer.as_deref().map(Signer::kid), published = set.verifiers.len(), "oauth keys changed");
            drop(current);
            self.own.set_keys(set);
        }
        Ok(())
    }

    async fn revocations(&mut self) -> Result<(), String> {
        loop {
            let now = now_us();
            let from = self.since_us.saturating_sub(OVERLAP_US);
            let rows = gatewatch_store::oauth::revoked_since(&self.store, from, now, PAGE)
                .await
                .map_err(|e| e.to_string())?;
            for r in &rows {
                self.own.revoke(&r.jti, r.expires_us);
                self.since_us = self.since_us.max(r.revoked_us);
            }
            self.own.prune_revoked(now);
            // A full page: more may follow at the same instant; read past it.
            if rows.len() < PAGE as usize {
                return Ok(());
            }
            self.since_us = self.since_us.saturating_add(OVERLAP_US + 1);
        }
    }
}

/// A new key is published this long before it signs (and a retired one signs this long
/// after it is retired), so every gateway knows a key before the first token it signs: two
/// rounds of every gateway's poll.
pub(crate) const PUBLISH_FIRST_US: i64 = 2 * INTERVAL.as_micros() as i64;

/// Whether `r` was the signing kind of key (made, not retired) at `at_us`.
fn signs(r: &KeyRow, at_us: i64) -> bool {
    r.created_us <= at_us && (r.retired_us == 0 || r.retired_us > at_us)
}

/// The published keys of `rows` at `now_us` and the signer: the newest key that was active
/// [`PUBLISH_FIRST_US`] ago (so every gateway has published it by now), else the newest
/// active one; the current signer kept when it is still that key; a key that does not open
/// is skipped.
pub(crate) fn key_set(
    rows: &[KeyRow],
    now_us: i64,
    seal: &SealKey,
    current: Option<&Arc<Signer>>,
) -> KeySet {
    let mut verifiers = HashMap::new();
    let mut jwks = Vec::new();
    let mut newest: Option<&KeyRow> = None;
    for r in rows {
        let state = KeyState::of(r.retired_us, r.keep_until_us, now_us);
        if state == KeyState::Expired {
            continue;
        }
        match Verifier::from_jwk(&r.kid, &r.alg, &r.public_jwk) {
            Ok(v) => {
                verifiers.insert(r.kid.clone(), v);
                jwks.push(r.public_jwk.as_str());
            }
            Err(e) => {
                warn!(kid = %r.kid, error = %e, "oauth key skipped");
                continue;
            }
        }
        if signs(r, now_us - PUBLISH_FIRST_US)
            && newest.is_none_or(|n| (r.created_us, &r.kid) > (n.created_us, &n.kid))
        {
            newest = Some(r);
        }
    }
    // A site's first key signs at once: there is no other.
    if newest.is_none() {
        newest = rows
            .iter()
            .filter(|r| KeyState::of(r.retired_us, r.keep_until_us, now_us) == KeyState::Active)
            .max_by(|a, b| (a.created_us, &a.kid).cmp(&(b.created_us, &b.kid)));
    }
    let signer = newest.and_then(|r| match current {
        Some(s) if s.kid() == r.kid => Some(s.clone()),
        _ => match keys::open_private(seal, &r.kid, &r.private_sealed)
            .and_then(|der| Signer::new(&r.kid, &r.alg, &der))
        {
            Ok(s) => Some(Arc::new(s)),
            Err(e) => {
                warn!(kid = %r.kid, error = %e, "oauth signing key does not open");
                None
            }
        },
    });
    KeySet {
        signer,
        verifiers,
        jwks: keys::jwks(jwks).into(),
    }
}
