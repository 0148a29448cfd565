//! The ClickHouse schema: numbered `.sql` files under `migrations/sql/` and the runner that
//! applies them.
//!
//! - Files are embedded in the binary, applied in number order, each once; applied versions are
//!   kept in `schema_migrations` (so `gatewatch migrate` is idempotent and `up` runs it first).
//! - Every statement is `IF NOT EXISTS`, so a run cut short by a crash is simply run again.
//! - Files use placeholders: `{db}` (the quoted database), `{on_cluster}` (empty, or
//!   ` ON CLUSTER name` for a cluster), `{engine:E}` (the engine `E` on one server, its
//!   `Replicated` form on a cluster), `{local:t}` (in a materialized view: `t` on one server,
//!   the shard's `t_local` on a cluster) and `{outcome_enum}` (the `Enum8` of
//!   [`gatewatch_model::Outcome`], so the schema and the code cannot disagree).
//! - On a cluster (`[clickhouse] cluster`) each statement is rendered for its table's layout
//!   ([`gatewatch_store::layout`]; see [`render`] and docs/cluster.md). On one server the
//!   statements are the files as written (`tests/expected/single_server.sql`).
//! - Only what ClickHouse 18.16 understands (see docs/design.md, "ClickHouse versions").
//! - Statements are split at `;` ending a line; `--` comment lines are dropped. The files are
//!   ours, so no statement has a `;` inside a string.

pub mod render;
pub mod testing;

use gatewatch_store::{sql, Store, StoreConfig};
use render::Target;

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
    /// An `ON CLUSTER` statement some server did not run within the server's
    /// `distributed_ddl_task_timeout`: it stays queued in ZooKeeper.
    #[error(
        "migration {version} ({name}): a server of the cluster did not run the statement in time \
         (distributed_ddl_task_timeout): is one down, or has its DDL worker stopped (docs/cluster.md, \
         \"If a server stops running ON CLUSTER statements\")? It stays queued; run migrate again \
         once every server is up: {source}"
    )]
    ClusterTimeout {
        version: u32,
        name: &'static str,
        #[source]
        source: gatewatch_store::Error,
    },
    #[error(transparent)]
    Store(#[from] gatewatch_store::Error),
    #[error("migration {version} ({name}): {source}")]
    Render {
        version: u32,
        name: &'static str,
        #[source]
        source: render::RenderError,
    },
}

/// Where and how to apply.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The cluster to lay the tables out on (`ON CLUSTER` DDL, `Replicated…` and `Distributed`
    /// tables); `None` on a single server, or to take the store's own
    /// ([`Store::cluster`]).
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

/// The migrations' own table, rendered like a file's statement.
const SCHEMA_MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS {db}.schema_migrations{on_cluster} \
     (version UInt32, name String, applied_at DateTime) \
     ENGINE = {engine:MergeTree} ORDER BY version";

/// A file's statements; `None` for `schema_migrations` itself (which records no version).
type Rendered = (Option<&'static Migration>, Vec<String>);

/// `schema_migrations`' statement, then every file's, for `target`.
fn rendered(target: Target<'_>) -> Result<Vec<Rendered>, Error> {
    let own = Migration {
        version: 0,
        name: "schema_migrations",
        sql: SCHEMA_MIGRATIONS,
    };
    let render = |m: &Migration| {
        render::render_file(m.sql, target).map_err(|source| Error::Render {
            version: m.version,
            name: m.name,
            source,
        })
    };
    let mut out = vec![(None, render(&own)?)];
    for m in MIGRATIONS {
        out.push((Some(m), render(m)?));
    }
    Ok(out)
}

/// Every statement a fresh `migrate` would run against `database`, in order: for review by a
/// DBA (`gatewatch migrate --print-sql`), and for checking the schema on other ClickHouse
/// versions. A file that cannot be rendered for the cluster (a bug, caught by the unit tests)
/// prints as a comment saying why.
pub fn all_statements(database: &str, opts: &Options) -> Vec<String> {
    let target = Target {
        database,
        cluster: opts.on_cluster.as_deref(),
    };
    let mut out = vec![format!(
        "CREATE DATABASE IF NOT EXISTS {}{}",
        sql::quote_identifier(database),
        gatewatch_store::on_cluster_clause(target.cluster)
    )];
    let plan = rendered(target).and_then(|files| {
        let mut files = files.into_iter();
        let own = files.next().map(|(_, s)| s).unwrap_or_default();
        let rest: Vec<String> = match fresh(target)? {
            Some(all) => all,
            None => files.flat_map(|(_, s)| s).collect(),
        };
        Ok(own.into_iter().chain(rest).collect::<Vec<_>>())
    });
    match plan {
        Ok(stmts) => out.extend(stmts),
        Err(e) => out.push(format!("-- {e}")),
    }
    out
}

/// On a cluster, every file's statements at once for an empty database
/// ([`render::render_fresh`]); `None` on one server.
fn fresh(target: Target<'_>) -> Result<Option<Vec<String>>, Error> {
    if target.cluster.is_none() {
        return Ok(None);
    }
    let files: Vec<&str> = MIGRATIONS.iter().map(|m| m.sql).collect();
    render::render_fresh(&files, target)
        .map(Some)
        .map_err(|source| Error::Render {
            version: 0,
            name: "every file, for a new database on a cluster",
            source,
        })
}

/// Creates the database if needed and applies every migration not yet applied. On a cluster
/// (`opts.on_cluster`, else the store's) every `CREATE` runs `ON CLUSTER`: ClickHouse queues it
/// in ZooKeeper for every server and answers when all have run it. A cluster database where
/// nothing is applied yet gets every file at once ([`render::render_fresh`]: no `ALTER … ON
/// CLUSTER` of a replicated table); one that was migrated before gets each new file's own
/// statements.
pub async fn migrate(store: &Store, opts: &Options) -> Result<Report, Error> {
    let cluster = opts.on_cluster.as_deref().or(store.cluster());
    // The store that creates the database must know the cluster too (`ON CLUSTER`).
    let own;
    let store = if cluster == store.cluster() {
        store
    } else {
        own = Store::new(StoreConfig {
            cluster: cluster.map(str::to_string),
            ..store.config().clone()
        });
        &own
    };
    let target = Target {
        database: store.database(),
        cluster,
    };
    // Rendered before anything runs: a file that cannot be rendered changes nothing.
    let mut files = rendered(target)?.into_iter();
    let fresh = fresh(target)?;
    store.create_database().await?;
    if let Some((_, own)) = files.next() {
        run(store, &own, 0, "schema_migrations").await?;
    }
    let done = applied_versions(store).await?;
    let mut report = Report::default();
    if let (Some(all), true) = (fresh, done.is_empty()) {
        // Versions are recorded once every statement ran: a run cut short starts over, and
        // every statement is safe to run again.
        run(
            store,
            &all,
            0,
            "every file, for a new database on a cluster",
        )
        .await?;
        for m in MIGRATIONS {
            gatewatch_store::schema::record_applied(store, m.version, m.name).await?;
            report.applied.push(m.version);
        }
        tracing::info!(versions = MIGRATIONS.len(), "schema created on the cluster");
        return Ok(report);
    }
    for (m, stmts) in files {
        let Some(m) = m else { continue };
        if done.contains(&m.version) {
            report.already.push(m.version);
            continue;
        }
        run(store, &stmts, m.version, m.name).await?;
        gatewatch_store::schema::record_applied(store, m.version, m.name).await?;
        tracing::info!(version = m.version, name = m.name, "migration applied");
        report.applied.push(m.version);
    }
    Ok(report)
}

/// Runs `stmts` of migration `version` (`name`) in order.
async fn run(
    store: &Store,
    stmts: &[String],
    version: u32,
    name: &'static str,
) -> Result<(), Error> {
    for stmt in stmts {
        match store.execute(stmt).await {
            Ok(()) => {}
            // A run that stopped halfway added this column already (18.16 has no
            // ADD COLUMN IF NOT EXISTS); on a cluster every server that has it says so.
            Err(e) if is_column_added_before(stmt, &e) => {
                tracing::info!(statement = %stmt, "column already there");
            }
            // 159: TIMEOUT_EXCEEDED, what the server asked answers when a server of the cluster
            // has not run an ON CLUSTER statement in time.
            Err(source) if stmt.contains(" ON CLUSTER ") && source.server_code() == Some(159) => {
                return Err(Error::ClusterTimeout {
                    version,
                    name,
                    source,
                })
            }
            Err(source) => {
                return Err(Error::Statement {
                    version,
                    name,
                    source,
                })
            }
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1);
        }
    }

    fn printed(all: &[String]) -> String {
        all.iter().map(|s| format!("{s};\n\n")).collect()
    }

    /// One server gets exactly the statements it got before clusters existed, byte for byte
    /// (the file was written by the runner as it was before the `{engine:…}`/`{local:…}`
    /// placeholders): a site upgrading runs nothing new, and a DBA's review still holds.
    #[test]
    fn one_server_gets_todays_statements() {
        let all = all_statements("gatewatch", &Options::default());
        assert_eq!(all[0], "CREATE DATABASE IF NOT EXISTS `gatewatch`");
        assert_eq!(
            printed(&all),
            include_str!("../tests/expected/single_server.sql")
        );
        assert!(all.iter().all(|s| !s.contains('{') && !s.contains("--")));
    }

    /// The cluster rendering, as `gatewatch migrate --print-sql` shows it to a DBA; a change
    /// to it is a change of the cluster's schema and shows in review as a change of this file.
    /// `GATEWATCH_BLESS=1` rewrites the file.
    #[test]
    fn a_cluster_gets_the_checked_in_layout() {
        let all = all_statements(
            "gatewatch",
            &Options {
                on_cluster: Some("gatewatch".into()),
            },
        );
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/expected/cluster.sql");
        if std::env::var_os("GATEWATCH_BLESS").is_some() {
            std::fs::write(path, printed(&all)).expect("write tests/expected/cluster.sql");
        }
        assert_eq!(printed(&all), include_str!("../tests/expected/cluster.sql"));
        assert!(
            !all.iter().any(|s| s.starts_with("--")),
            "a file failed to render"
        );
    }

    #[test]
    fn every_table_of_a_cluster_has_its_layout() {
        let all = all_statements(
            "gw",
            &Options {
                on_cluster: Some("c".into()),
            },
        );
        let created: Vec<&str> = all
            .iter()
            .filter_map(|s| s.strip_prefix("CREATE TABLE IF NOT EXISTS `gw`."))
            .filter_map(|s| s.split(' ').next())
            .collect();
        for (table, layout) in gatewatch_store::layout::TABLES {
            let local = format!("{table}_local");
            match layout {
                gatewatch_store::layout::Layout::Sharded { .. } => {
                    assert!(created.contains(&local.as_str()), "{local}");
                    let dist = all
                        .iter()
                        .find(|s| {
                            s.starts_with(&format!("CREATE TABLE IF NOT EXISTS `gw`.{table} "))
                        })
                        .unwrap_or_else(|| panic!("no Distributed {table}"));
                    assert!(dist.contains("ENGINE = Distributed(`c`, `gw`,"), "{dist}");
                }
                gatewatch_store::layout::Layout::Everywhere => {
                    assert!(created.contains(table), "{table}");
                    assert!(!created.contains(&local.as_str()), "{local}");
                }
            }
        }
        // Every CREATE runs on every server; no engine stays unreplicated.
        for s in all
            .iter()
            .filter(|s| s.starts_with("CREATE TABLE") || s.starts_with("CREATE MATERIALIZED"))
        {
            assert!(s.contains(" ON CLUSTER `c`"), "{s}");
            assert!(
                s.contains("ENGINE = Replicated")
                    || s.contains("ENGINE = Distributed")
                    || s.contains(" MATERIALIZED VIEW "),
                "{s}"
            );
        }
        // A new cluster database gets the sharded tables whole: no ALTER … ON CLUSTER of a
        // replicated table (18.16's DDL worker races on those), Distributed tables last.
        assert!(!all
            .iter()
            .any(|s| s.starts_with("ALTER") && s.contains(" ON CLUSTER ")));
        let local = all
            .iter()
            .find(|s| s.starts_with("CREATE TABLE IF NOT EXISTS `gw`.api_calls_local "))
            .expect("api_calls_local");
        assert!(
            local.contains("\n    truncated Array(String),\n"),
            "{local}"
        );
        assert!(
            local.contains("\n    api_version String\n)\nENGINE"),
            "{local}"
        );
        let first_distributed = all
            .iter()
            .position(|s| s.contains("ENGINE = Distributed("))
            .expect("Distributed tables");
        assert!(all[first_distributed..]
            .iter()
            .all(|s| s.contains("ENGINE = Distributed(")));
        // A site migrated before gets each file's own statements: the shards' tables altered
        // ON CLUSTER, the Distributed table made again (18.16 refuses ALTER … ON CLUSTER of it).
        let upgrade = render::render_file(
            MIGRATIONS[8].sql,
            render::Target {
                database: "gw",
                cluster: Some("c"),
            },
        )
        .unwrap();
        assert_eq!(
            upgrade[0],
            "ALTER TABLE `gw`.api_calls_local ON CLUSTER `c` ADD COLUMN truncated Array(String)"
        );
        assert_eq!(
            upgrade[1],
            "DROP TABLE IF EXISTS `gw`.api_calls ON CLUSTER `c`"
        );
        assert!(upgrade[2].starts_with(
            "CREATE TABLE IF NOT EXISTS `gw`.api_calls ON CLUSTER `c` AS `gw`.api_calls_local ENGINE = Distributed("
        ));
    }
}
