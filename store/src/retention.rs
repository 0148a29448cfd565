//! What retention needs from ClickHouse: the partitions of a table (`system.parts`), dropping
//! one, and the server's zone (the one `toYYYYMMDD(ts)` partitions are cut in). Which ones to
//! drop is the reports role's decision (`gatewatch_reports::retention`).
//!
//! On a cluster a sharded table's parts are in `<t>_local` on each shard, so its partitions are
//! read from every shard (`cluster()` table function: one replica each) and dropped
//! `ON CLUSTER` from `<t>_local` (the Distributed `<t>` has no parts). A table on every server
//! is one replicated table: its partitions are the same on each server, and a `DROP PARTITION`
//! on one server reaches every replica through ZooKeeper.

use serde::Deserialize;

use crate::{layout, sql, Result, Store};

/// One partition of a table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, clickhouse::Row)]
pub struct Partition {
    /// The partition's id as `system.parts` spells it: `20261125` (day) or `202611` (month).
    pub partition: String,
    pub rows: u64,
}

/// The active partitions of `table` in gatewatch's database, oldest first (on a cluster, of
/// every shard, rows summed over the shards).
pub async fn partitions(store: &Store, table: &str) -> Result<Vec<Partition>> {
    match store.cluster() {
        Some(cluster) if layout::is_sharded(table) => {
            let sql = "SELECT partition, sum(rows) AS rows FROM cluster(?, system, parts) \
                       WHERE database = ? AND table = ? AND active \
                       GROUP BY partition ORDER BY partition";
            store
                .client()
                .query(sql)
                .bind(cluster)
                .bind(store.database())
                .bind(layout::local_name(table))
                .fetch_all()
                .await
                .map_err(|e| store.err(sql, e))
        }
        _ => {
            let sql = "SELECT partition, sum(rows) AS rows FROM system.parts \
                       WHERE database = ? AND table = ? AND active \
                       GROUP BY partition ORDER BY partition";
            store
                .client()
                .query(sql)
                .bind(store.database())
                .bind(table)
                .fetch_all()
                .await
                .map_err(|e| store.err(sql, e))
        }
    }
}

/// `ALTER TABLE … DROP PARTITION` of a numeric partition id (`20261125`, `202611`); see the
/// module's notes for a cluster.
pub async fn drop_partition(store: &Store, table: &str, partition: u32) -> Result<()> {
    store
        .execute(&drop_partition_sql(
            store.database(),
            store.cluster(),
            table,
            partition,
        ))
        .await
}

fn drop_partition_sql(
    database: &str,
    cluster: Option<&str>,
    table: &str,
    partition: u32,
) -> String {
    let db = sql::quote_identifier(database);
    match cluster {
        Some(c) if layout::is_sharded(table) => format!(
            "ALTER TABLE {db}.{}{} DROP PARTITION {partition}",
            sql::quote_identifier(&layout::local_name(table)),
            crate::on_cluster_clause(Some(c))
        ),
        _ => format!(
            "ALTER TABLE {db}.{} DROP PARTITION {partition}",
            sql::quote_identifier(table)
        ),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_reach_the_tables_holding_parts() {
        assert_eq!(
            drop_partition_sql("gw", None, "api_calls", 20261125),
            "ALTER TABLE `gw`.`api_calls` DROP PARTITION 20261125"
        );
        assert_eq!(
            drop_partition_sql("gw", Some("c"), "api_calls", 20261125),
            "ALTER TABLE `gw`.`api_calls_local` ON CLUSTER `c` DROP PARTITION 20261125"
        );
        // Replicated on every server: one server's drop reaches the others through ZooKeeper.
        assert_eq!(
            drop_partition_sql("gw", Some("c"), "node_metrics", 202611),
            "ALTER TABLE `gw`.`node_metrics` DROP PARTITION 202611"
        );
    }
}
