//! The OAuth 2.0 authorization server's state (migration 0013): signing keys
//! (`oauth_keys`) and revoked tokens (`oauth_revocations`).
//!
//! Keys are versioned rows of a `ReplacingMergeTree`: [`put_key`] writes a key's next
//! version (a new key, or an old one retired) and [`keys`] reads the newest version of each.
//! Revocations are appended once per token; gateways follow them with [`revoked_since`],
//! reading from a little before their last row (writers' clocks differ) and keeping a set.

use serde::{Deserialize, Serialize};

use crate::{Result, Store};

/// One version of a signing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, clickhouse::Row)]
pub struct KeyRow {
    /// The key id (`kid` of the JWTs it signs and of its JWK).
    pub kid: String,
    /// `ES256` or `RS256`.
    pub alg: String,
    /// The public key as a JWK (JSON text), as the JWKS publishes it.
    pub public_jwk: String,
    /// The private key, sealed under the site pepper (`gatewatch_model::sealed`).
    pub private_sealed: String,
    pub created_us: i64,
    /// When the key stopped signing; 0 while it signs.
    pub retired_us: i64,
    /// A retired key is published until then (its last token's expiry); 0 while it signs.
    pub keep_until_us: i64,
    /// Higher wins among the rows of one `kid`.
    pub version: u64,
}

/// One revoked token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, clickhouse::Row)]
pub struct RevocationRow {
    pub jti: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// The token's `exp`, in microseconds: after it, the row matters no more.
    pub expires_us: i64,
    pub revoked_us: i64,
    /// Who revoked it: `client:<id>` (RFC 7009 by its owner) or `user:<name>` (an admin).
    pub revoked_by: String,
}

impl KeyRow {
    /// A fresh signing key as its first row: made for `alg`, its private part sealed under
    /// `seal`, active from `now_us`.
    pub fn generate(
        seal: &gatewatch_model::sealed::SealKey,
        alg: &str,
        now_us: i64,
    ) -> std::result::Result<KeyRow, gatewatch_model::oauth::keys::KeyError> {
        use gatewatch_model::oauth::keys;
        let k = keys::generate(alg)?;
        Ok(KeyRow {
            private_sealed: keys::seal_private(seal, &k.kid, &k.pkcs8)?,
            kid: k.kid,
            alg: k.alg.to_string(),
            public_jwk: k.public_jwk,
            created_us: now_us,
            retired_us: 0,
            keep_until_us: 0,
            version: 1,
        })
    }

    /// This key's next version, retired at `now_us` and published until `keep_until_us`.
    pub fn retired(&self, now_us: i64, keep_until_us: i64) -> KeyRow {
        KeyRow {
            retired_us: now_us,
            keep_until_us,
            version: self.version + 1,
            ..self.clone()
        }
    }
}

/// Rotation: writes `new` (an active key), then retires every other active key at
/// `now_us`, published until `keep_until_us` (their last tokens' expiry). The new key is
/// written first, so there is never a moment without an active key. The keys retired.
pub async fn rotate(
    store: &Store,
    new: &KeyRow,
    now_us: i64,
    keep_until_us: i64,
) -> Result<Vec<KeyRow>> {
    put_key(store, new).await?;
    let mut retired = Vec::new();
    for k in keys(store).await? {
        if k.kid != new.kid && k.retired_us == 0 {
            let r = k.retired(now_us, keep_until_us);
            put_key(store, &r).await?;
            retired.push(r);
        }
    }
    Ok(retired)
}

/// Writes a version of a key (a new key, or a key retired: same `kid`, higher `version`).
pub async fn put_key(store: &Store, row: &KeyRow) -> Result<()> {
    let what = "INSERT INTO oauth_keys";
    let mut ins = store
        .client()
        .insert::<KeyRow>("oauth_keys")
        .await
        .map_err(|e| store.err(what, e))?;
    ins.write(row).await.map_err(|e| store.err(what, e))?;
    ins.end().await.map_err(|e| store.err(what, e))
}

/// The newest version of every key, oldest key first.
pub async fn keys(store: &Store) -> Result<Vec<KeyRow>> {
    let sql = "SELECT ?fields FROM oauth_keys FINAL ORDER BY created_us, kid";
    store
        .client()
        .query(sql)
        .fetch_all()
        .await
        .map_err(|e| store.err(sql, e))
}

/// Records revoked tokens.
pub async fn revoke(store: &Store, rows: &[RevocationRow]) -> Result<()> {
    let what = "INSERT INTO oauth_revocations";
    let mut ins = store
        .client()
        .insert::<RevocationRow>("oauth_revocations")
        .await
        .map_err(|e| store.err(what, e))?;
    for r in rows {
        ins.write(r).await.map_err(|e| store.err(what, e))?;
    }
    ins.end().await.map_err(|e| store.err(what, e))
}

/// Revocations written at or after `since_us` whose tokens have not expired by `now_us`,
/// oldest first, at most `limit`.
pub async fn revoked_since(
    store: &Store,
    since_us: i64,
    now_us: i64,
    limit: u32,
) -> Result<Vec<RevocationRow>> {
    let sql = "SELECT ?fields FROM oauth_revocations WHERE revoked_us >= ? AND expires_us > ? \
               ORDER BY revoked_us, jti LIMIT ?";
    store
        .client()
        .query(sql)
        .bind(since_us)
        .bind(now_us)
        .bind(limit)
        .fetch_all()
        .await
        .map_err(|e| store.err(sql, e))
}

/// Revocations whose tokens have not expired by `now_us`, newest first, at most `limit`;
/// only those of `client` when it is not empty. For the admin API's list.
pub async fn recent_revocations(
    store: &Store,
    client: &str,
    now_us: i64,
    limit: u32,
) -> Result<Vec<RevocationRow>> {
    let sql = "SELECT ?fields FROM oauth_revocations WHERE expires_us > ? \
               AND (? = '' OR client_id = ?) ORDER BY revoked_us DESC, jti LIMIT ?";
    store
        .client()
        .query(sql)
        .bind(now_us)
        .bind(client)
        .bind(client)
        .bind(limit)
        .fetch_all()
        .await
        .map_err(|e| store.err(sql, e))
}
