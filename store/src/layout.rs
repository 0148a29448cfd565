//! Where each table lives on a ClickHouse cluster (`[clickhouse] cluster`); on one server every
//! table is a plain table under its own name and none of this applies.
//!
//! Two layouts (docs/cluster.md says why each table has the one it has):
//!
//! - [`Layout::Sharded`]: the big tables, `api_calls` and the rollups its materialized views
//!   fill. Each shard holds `<t>_local`, a `Replicated…MergeTree` whose ZooKeeper path names the
//!   shard (`{shard}` macro), and every server holds `<t>`, a `Distributed` table over the
//!   `_local` tables of all shards: reads and the collector's inserts use `<t>`, the views and
//!   the few statements that must touch stored parts (retention's `DROP PARTITION`) use
//!   `<t>_local`.
//! - [`Layout::Everywhere`]: the small tables (configuration, audit, leases, batch markers,
//!   node samples, alert state, …): one `Replicated…MergeTree` under the plain name whose
//!   ZooKeeper path has no `{shard}`, so every server of the cluster is a replica of it and any
//!   server reads every row locally, even while a whole shard is down.

/// Where a table lives on a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `<t>_local` on each shard and a `Distributed` `<t>` on every server.
    Sharded {
        /// The `Distributed` table's sharding expression; `None` for tables that only
        /// materialized views write (on each shard, into `_local`), so an insert into the
        /// `Distributed` table fails instead of scattering rows a view already wrote.
        key: Option<&'static str>,
    },
    /// One replicated shard: every server holds every row under the plain name.
    Everywhere,
}

/// Suffix of a sharded table's per-shard table.
pub const LOCAL_SUFFIX: &str = "_local";

/// Every table of the schema and its layout on a cluster. The migrations refuse to render a
/// table missing here (a test checks every `CREATE TABLE` of every migration).
pub const TABLES: &[(&str, Layout)] = &[
    // A call's shard is a hash of its id: calls spread evenly whatever their API, client or
    // time. Of the text form: 18.16 hashes no UUID ("Unexpected type UUID of argument of
    // function sipHash64").
    (
        "api_calls",
        Layout::Sharded {
            key: Some("sipHash64(toString(call_id))"),
        },
    ),
    ("api_calls_1m", Layout::Sharded { key: None }),
    ("api_calls_1h", Layout::Sharded { key: None }),
    ("client_api_1h", Layout::Sharded { key: None }),
    ("schema_migrations", Layout::Everywhere),
    ("ingest_batches", Layout::Everywhere),
    ("ingest_quarantine", Layout::Everywhere),
    ("node_metrics", Layout::Everywhere),
    ("node_registry", Layout::Everywhere),
    ("config_log", Layout::Everywhere),
    ("audit_log", Layout::Everywhere),
    ("alert_events", Layout::Everywhere),
    ("alert_state", Layout::Everywhere),
    ("alerter_lease", Layout::Everywhere),
    ("alert_acks", Layout::Everywhere),
    ("report_runs", Layout::Everywhere),
    ("oauth_keys", Layout::Everywhere),
    ("oauth_revocations", Layout::Everywhere),
];

/// The layout of `table`, if it is one of gatewatch's.
pub fn of(table: &str) -> Option<Layout> {
    TABLES.iter().find(|(t, _)| *t == table).map(|(_, l)| *l)
}

/// True for a sharded table (its rows are in `<table>_local` on each shard).
pub fn is_sharded(table: &str) -> bool {
    matches!(of(table), Some(Layout::Sharded { .. }))
}

/// The per-shard table of sharded `table` (`api_calls` → `api_calls_local`).
pub fn local_name(table: &str) -> String {
    format!("{table}{LOCAL_SUFFIX}")
}

/// The ZooKeeper path of a replicated table: `/clickhouse/tables/{shard}/<db>/<t>_local` for a
/// shard's part of a sharded table, `/clickhouse/tables/all/<db>/<t>` for a table on every
/// server. `{shard}` is the server's macro, expanded by ClickHouse, not by us.
pub fn zookeeper_path(database: &str, table: &str) -> Option<String> {
    match of(table)? {
        Layout::Sharded { .. } => Some(format!(
            "/clickhouse/tables/{{shard}}/{database}/{}",
            local_name(table)
        )),
        Layout::Everywhere => Some(format!("/clickhouse/tables/all/{database}/{table}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        assert!(is_sharded("api_calls") && is_sharded("client_api_1h"));
        assert!(!is_sharded("config_log") && !is_sharded("nope"));
        assert_eq!(local_name("api_calls"), "api_calls_local");
        assert_eq!(
            zookeeper_path("gw", "api_calls_1m").as_deref(),
            Some("/clickhouse/tables/{shard}/gw/api_calls_1m_local")
        );
        assert_eq!(
            zookeeper_path("gw", "audit_log").as_deref(),
            Some("/clickhouse/tables/all/gw/audit_log")
        );
        assert_eq!(zookeeper_path("gw", "nope"), None);
        let mut names: Vec<&str> = TABLES.iter().map(|(t, _)| *t).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TABLES.len(), "a table declared twice");
    }
}
