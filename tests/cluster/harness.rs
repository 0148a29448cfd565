//! The cluster harness as tests see it: the four ClickHouse 18.16 servers and ZooKeeper that
//! `ops/cluster/up.sh` starts on loopback (fixed ports, one harness per machine, shared by every
//! run), a database of each test's own on the cluster, and a lock for the tests that stop
//! servers.
//!
//! | server | shard | replica | HTTP |
//! | --- | --- | --- | --- |
//! | ch1 | 01 | ch1 | 18223 |
//! | ch2 | 01 | ch2 | 18224 |
//! | ch3 | 02 | ch3 | 18225 |
//! | ch4 | 02 | ch4 | 18226 |

#![allow(dead_code)]

use gatewatch_store::{sql, Store, StoreConfig};
use std::time::Duration;

/// The cluster's name in the servers' `remote_servers` (and `[clickhouse] cluster`).
pub const CLUSTER: &str = "gatewatch";

/// One server of the harness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Server {
    pub name: &'static str,
    /// The `{shard}` macro.
    pub shard: &'static str,
    pub http: u16,
}

impl Server {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }
}

/// The four servers, shard 01 first.
pub const SERVERS: [Server; 4] = [
    Server {
        name: "ch1",
        shard: "01",
        http: 18223,
    },
    Server {
        name: "ch2",
        shard: "01",
        http: 18224,
    },
    Server {
        name: "ch3",
        shard: "02",
        http: 18225,
    },
    Server {
        name: "ch4",
        shard: "02",
        http: 18226,
    },
];

/// The database of cluster test `name`: `<GATEWATCH_TEST_DB_PREFIX>c_<name>` (`gwt_` without
/// the variable), so two worktrees sharing the harness keep apart, and apart from their
/// single-server databases of the same name.
pub fn database(name: &str) -> String {
    gatewatch_migrations::testing::test_database(&format!("c_{name}"))
}

/// A raw client on `server`, bound to no database.
pub fn client(server: Server) -> clickhouse::Client {
    clickhouse::Client::default()
        .with_url(server.url())
        .with_validation(false)
}

/// Panics, saying how to start it, unless every server of the harness answers.
pub async fn require_up() {
    for s in SERVERS {
        let answer = tokio::time::timeout(
            Duration::from_secs(10),
            client(s).query("SELECT 1").fetch_one::<u8>(),
        )
        .await;
        if !matches!(answer, Ok(Ok(1))) {
            panic!(
                "the ClickHouse cluster harness is down ({} at {} does not answer): \
                 run ops/cluster/up.sh",
                s.name,
                s.url()
            );
        }
    }
}

/// A migrated database of the test's own on the cluster; dropped `ON CLUSTER` when the value
/// goes (also when the test fails), and before it is made (a run that died left it).
pub struct ClusterDb {
    pub name: String,
    /// A store through ch1 that knows its cluster: what every role gets from
    /// `[clickhouse] cluster = "gatewatch"`.
    pub store: Store,
}

impl ClusterDb {
    /// Drops and makes database [`database`]`(name)` on the cluster and migrates it.
    pub async fn new(name: &str) -> ClusterDb {
        require_up().await;
        let db = ClusterDb {
            name: database(name),
            store: Store::new(StoreConfig {
                url: SERVERS[0].url(),
                database: database(name),
                cluster: Some(CLUSTER.into()),
                ..StoreConfig::default()
            }),
        };
        drop_database(&db.name).await;
        {
            // One migration at a time: an `ALTER … ON CLUSTER` of a replicated table races in
            // 18.16's DDL worker (docs/cluster.md), more so when several run at once on a
            // loaded machine.
            let _one = migrate_lock().lock().await;
            gatewatch_migrations::migrate(&db.store, &gatewatch_migrations::Options::default())
                .await
                .expect("migrate on the cluster");
        }
        db
    }

    /// A store on `server` alone (no cluster): for reading one server's local tables.
    pub fn on(&self, server: Server) -> Store {
        Store::new(StoreConfig {
            url: server.url(),
            database: self.name.clone(),
            ..StoreConfig::default()
        })
    }

    /// `sql` (returning one `UInt64`) on every server, in [`SERVERS`] order.
    pub async fn each(&self, sql: &str) -> Vec<u64> {
        let mut out = Vec::new();
        for s in SERVERS {
            out.push(
                self.on(s)
                    .fetch_u64(sql)
                    .await
                    .unwrap_or_else(|e| panic!("{} {sql}: {e}", s.name)),
            );
        }
        out
    }

    /// Waits until `sql` returns `want` on every server (replication and the Distributed
    /// table's background sends take a moment); fails after `secs` with the last values.
    pub async fn each_reaches(&self, sql: &str, want: &[u64], secs: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.each(sql).await;
            if got == want {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("{sql}: wanted {want:?} on ch1..ch4, got {got:?} after {secs} s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for ClusterDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async: a thread of its own with its own runtime.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(drop_database(&name));
            }
        })
        .join();
    }
}

/// `DROP DATABASE IF EXISTS … ON CLUSTER`: every server drops its tables and its replicas'
/// ZooKeeper entries, so the next run's `CREATE` finds no stale replica.
pub async fn drop_database(name: &str) {
    let sql = format!(
        "DROP DATABASE IF EXISTS {} ON CLUSTER {}",
        sql::quote_identifier(name),
        sql::quote_identifier(CLUSTER)
    );
    if let Err(e) = client(SERVERS[0]).query(&sql).execute().await {
        eprintln!("{sql}: {e}");
    }
}

fn migrate_lock() -> &'static tokio::sync::Mutex<()> {
    static LOCK: std::sync::OnceLock<tokio::sync::Mutex<()>> = std::sync::OnceLock::new();
    LOCK.get_or_init(|| tokio::sync::Mutex::new(()))
}

/// The lock of tests that stop servers: held, no other cluster test of this process stops one
/// at the same time.
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A test that failed while holding it leaves it poisoned; the servers are back (its guard
    // ran up.sh), so the next test may go on.
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}
