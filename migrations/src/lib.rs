//! The ClickHouse schema: numbered `.sql` files under `migrations/sql/` and the runner that
//! applies them.
//!
//! - Files are embedded in the binary, applied in number order, each once; applied versions are
//!   kept in `schema_migrations` (so `gatewatch migrate` is idempotent and `up` runs it first).
//! - Every statement is `IF NOT EXISTS`, so a run cut short by a crash is simply run again.
//! - Files use placeholders: `{db}` (the quoted database), `{on_cluster}` (empty, or
//!   ` ON CLUSTER name` for a cluster) and `{outcome_enum}` (the `Enum8` of
//!   [`gatewatch_model::Outcome`], so the schema and the code cannot disagree).
//! - Only what ClickHouse 18.16 understands (see docs/design.md, "ClickHouse versions").
//! - Statements are split at `;` ending a line; `--` comment lines are dropped. The files are
//!   ours, so no statement has a `;` inside a string.

pub mod testing;

use gatewatch_model::Outcome;
use gatewatch_store::{sql, Store};

/// One numbered schema file.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "api_calls",
        sql: include_str!("../sql/0001_api_calls.sql"),
    },
    Migration {
        version: 2,
        name: "rollups",
        sql: include_str!("../sql/0002_rollups.sql"),
    },
    Migration {
        version: 3,
        name: "node_metrics",
        sql: include_str!("../sql/0003_node_metrics.sql"),
    },
    Migration {
        version: 4,
        name: "config_log",
        sql: include_str!("../sql/0004_config_log.sql"),
    },
    Migration {
        version: 5,
        name: "outcome_refused_busy",
        sql: include_str!("../sql/0005_outcome_refused_busy.sql"),
    },
    Migration {
        version: 6,
        name: "alerts",
        sql: include_str!("../sql/0006_alerts.sql"),
    },
    Migration {
        version: 7,
        name: "node_backlog",
        sql: include_str!("../sql/0007_node_backlog.sql"),
    },
    Migration {
        version: 8,
        name: "report_runs",
        sql: include_str!("../sql/0008_report_runs.sql"),
    },
    Migration {
        version: 9,
        name: "api_calls_truncated",
        sql: include_str!("../sql/0009_api_calls_truncated.sql"),
    },
    Migration {
        version: 10,
        name: "ingest_quarantine",
        sql: include_str!("../sql/0010_ingest_quarantine.sql"),
    },
    Migration {
        version: 11,
        name: "api_calls_connection",
        sql: include_str!("../sql/0011_api_calls_connection.sql"),
    },
    Migration {
        version: 12,
        name: "api_calls_auth",
        sql: include_str!("../sql/0012_api_calls_auth.sql"),
    },
    Migration {
        version: 13,
        name: "oauth",
        sql: include_str!("../sql/0013_oauth.sql"),
    },
    Migration {
        version: 14,
        name: "api_calls_policies",
        sql: include_str!("../sql/0014_api_calls_policies.sql"),
    },
    Migration {
        version: 15,
        name: "traces_acks",
        sql: include_str!("../sql/0015_traces_acks.sql"),
    },
    Migration {
        version: 16,
        name: "versions_nodes",
        sql: include_str!("../sql/0016_versions_nodes.sql"),
    },
];

/// Errors applying the schema.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("migration {version} ({name}) failed: {source}")]
    Statement {
        version: u32,
        name: &'static str,
        #[source]
        source: gatewatch_store::Error,
    },
    #[error(transparent)]
    Store(#[from] gatewatch_store::Error),
}

/// Where and how to apply.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Cluster name for `ON CLUSTER` DDL; `None` on a single server.
    pub on_cluster: Option<String>,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Versions applied by this run.
    pub applied: Vec<u32>,
    /// Versions that were already there.
    pub already: Vec<u32>,
}

fn on_cluster_clause(opts: &Options) -> String {
    opts.on_cluster
        .as_deref()
        .map(|c| format!(" ON CLUSTER {}", sql::quote_identifier(c)))
        .unwrap_or_default()
}

fn schema_migrations_ddl(db: &str, on_cluster: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {db}.schema_migrations{on_cluster} \
         (version UInt32, name String, applied_at DateTime) \
         ENGINE = MergeTree ORDER BY version"
    )
}

/// Every statement a fresh `migrate` would run against `database`, in order: for review by a
/// DBA, and for checking the schema on other ClickHouse versions.
pub fn all_statements(database: &str, opts: &Options) -> Vec<String> {
    let on_cluster = on_cluster_clause(opts);
    let db = sql::quote_identifier(database);
    let mut out = vec![
        format!("CREATE DATABASE IF NOT EXISTS {db}{on_cluster}"),
        schema_migrations_ddl(&db, &on_cluster),
    ];
    for m in MIGRATIONS {
        out.extend(statements(&render(m.sql, &db, &on_cluster)));
    }
    out
}

/// Creates the database if needed and applies every migration not yet applied.
pub async fn migrate(store: &Store, opts: &Options) -> Result<Report, Error> {
    store.create_database().await?;
    let on_cluster = on_cluster_clause(opts);
    let db = sql::quote_identifier(store.database());
    store
        .execute(&schema_migrations_ddl(&db, &on_cluster))
        .await?;
    let done = applied_versions(store).await?;
    let mut report = Report::default();
    for m in MIGRATIONS {
        if done.contains(&m.version) {
            report.already.push(m.version);
            continue;
        }
        for stmt in statements(&render(m.sql, &db, &on_cluster)) {
            match store.execute(&stmt).await {
                Ok(()) => {}
                // A run that stopped halfway added this column already (18.16 has no
                // ADD COLUMN IF NOT EXISTS).
                Err(e) if is_column_added_before(&stmt, &e) => {
                    tracing::info!(version = m.version, statement = %stmt, "column already there");
                }
                Err(source) => {
                    return Err(Error::Statement {
                        version: m.version,
                        name: m.name,
                        source,
                    })
                }
            }
        }
        gatewatch_store::schema::record_applied(store, m.version, m.name).await?;
        tracing::info!(version = m.version, name = m.name, "migration applied");
        report.applied.push(m.version);
    }
    Ok(report)
}

fn is_column_added_before(stmt: &str, e: &gatewatch_store::Error) -> bool {
    stmt.starts_with("ALTER TABLE")
        && stmt.contains(" ADD COLUMN ")
        && e.to_string().contains("already exists")
}

/// Versions recorded in `schema_migrations`.
pub async fn applied_versions(store: &Store) -> Result<Vec<u32>, Error> {
    Ok(gatewatch_store::schema::applied_versions(store).await?)
}

fn render(sql_text: &str, db: &str, on_cluster: &str) -> String {
    sql_text
        .replace("{db}", db)
        .replace("{on_cluster}", on_cluster)
        .replace("{outcome_enum}", &Outcome::clickhouse_enum())
}

fn statements(sql_text: &str) -> Vec<String> {
    let without_comments: String = sql_text
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(";\n")
        .map(|s| s.trim().trim_end_matches(';').trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1);
        }
    }

    #[test]
    fn all_statements_start_with_the_database() {
        let all = all_statements("gw", &Options::default());
        assert_eq!(all[0], "CREATE DATABASE IF NOT EXISTS `gw`");
        assert!(all[1].contains("`gw`.schema_migrations"));
        assert_eq!(all.len(), 44);
    }

    #[test]
    fn renders_and_splits() {
        let all: Vec<String> = MIGRATIONS
            .iter()
            .flat_map(|m| statements(&render(m.sql, "`db`", "")))
            .collect();
        assert!(all.iter().all(|s| !s.contains('{')), "placeholder left");
        assert!(all
            .iter()
            .all(|s| s.starts_with("CREATE") || s.starts_with("ALTER TABLE")));
        assert_eq!(all.len(), 42);
        let cl = render(MIGRATIONS[0].sql, "`db`", " ON CLUSTER `c`");
        assert!(cl.contains("`db`.api_calls ON CLUSTER `c`"));
    }
}
