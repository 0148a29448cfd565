//! The migrations' own table, `schema_migrations`: which versions are applied. The DDL itself
//! is fixed text the migrations crate runs with [`crate::Store::execute`].

use serde::Deserialize;

use crate::query::Sql;
use crate::{Result, Store};

#[derive(Debug, clickhouse::Row, Deserialize)]
struct VersionRow {
    version: u32,
}

/// Versions recorded in `schema_migrations`, ascending.
pub async fn applied_versions(store: &Store) -> Result<Vec<u32>> {
    let rows: Vec<VersionRow> =
        Sql::new("SELECT DISTINCT version FROM schema_migrations ORDER BY version")
            .fetch_all(store)
            .await?;
    Ok(rows.into_iter().map(|r| r.version).collect())
}

/// Records migration `version` (`name`) as applied now.
pub async fn record_applied(store: &Store, version: u32, name: &str) -> Result<()> {
    let mut s = Sql::new("INSERT INTO schema_migrations (version, name, applied_at) VALUES (");
    s.u64(u64::from(version))
        .push(", ")
        .str(name)
        .push(", now())");
    s.query(store.client())
        .execute()
        .await
        .map_err(|e| store.err(s.text(), e))
}
