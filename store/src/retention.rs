//! What retention needs from ClickHouse: the partitions of a table (`system.parts`), dropping
//! one, and the server's zone (the one `toYYYYMMDD(ts)` partitions are cut in). Which ones to
//! drop is the reports role's decision (`gatewatch_reports::retention`).

use serde::Deserialize;

use crate::{sql, Result, Store};

/// One partition of a table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, clickhouse::Row)]
pub struct Partition {
    /// The partition's id as `system.parts` spells it: `20261125` (day) or `202611` (month).
    pub partition: String,
    pub rows: u64,
}

/// The active partitions of `table` in gatewatch's database, oldest first.
pub async fn partitions(store: &Store, table: &str) -> Result<Vec<Partition>> {
    let sql = "SELECT partition, sum(rows) AS rows FROM system.parts \
               WHERE database = ? AND table = ? AND active GROUP BY partition ORDER BY partition";
    store
        .client()
        .query(sql)
        .bind(store.database())
        .bind(table)
        .fetch_all()
        .await
        .map_err(|e| store.err(sql, e))
}

/// `ALTER TABLE … DROP PARTITION` of a numeric partition id (`20261125`, `202611`).
pub async fn drop_partition(store: &Store, table: &str, partition: u32) -> Result<()> {
    let sql = format!(
        "ALTER TABLE {}.{} DROP PARTITION {partition}",
        sql::quote_identifier(store.database()),
        sql::quote_identifier(table)
    );
    store.execute(&sql).await
}

/// The server's zone name (`SELECT timezone()`): the zone `toYYYYMMDD(ts)` cuts days in.
pub async fn server_timezone(store: &Store) -> Result<String> {
    let sql = "SELECT timezone()";
    store
        .client()
        .query(sql)
        .fetch_one::<String>()
        .await
        .map_err(|e| store.err(sql, e))
}
