//! Helpers for tests that need a real, migrated ClickHouse database of their own.
//!
//! The server is the one `ops/test.sh` starts (`GATEWATCH_CLICKHOUSE_URL`, default
//! `http://127.0.0.1:8123`). Each test names its own database, so tests run in parallel.

use gatewatch_store::{sql, Store, StoreConfig};

/// The ClickHouse URL tests use.
pub fn clickhouse_url() -> String {
    std::env::var("GATEWATCH_CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

/// The database of test `name`: `gwt_<name>`, or `<GATEWATCH_TEST_DB_PREFIX><name>`, so two
/// runs of the suite against one server (two worktrees, or a run beside CI) keep apart.
pub fn test_database(name: &str) -> String {
    let prefix = std::env::var("GATEWATCH_TEST_DB_PREFIX").unwrap_or_else(|_| "gwt_".into());
    format!("{prefix}{name}")
}

/// Drops and re-creates database [`test_database`]`(name)` and applies the schema.
pub async fn migrated_store(name: &str) -> Store {
    let store = Store::new(StoreConfig {
        url: clickhouse_url(),
        database: test_database(name),
        ..StoreConfig::default()
    });
    server_client(&store)
        .query_raw(&format!(
            "DROP DATABASE IF EXISTS {}",
            sql::quote_identifier(store.database())
        ))
        .execute()
        .await
        .expect("ClickHouse must be running (ops/test.sh starts it)");
    crate::migrate(&store, &crate::Options::default())
        .await
        .expect("migrate");
    store
}

/// A raw client on `store`'s database, for tests that seed or inspect tables directly
/// (the store's own client is private: production code goes through its typed functions).
pub fn raw_client(store: &Store) -> clickhouse::Client {
    server_client(store).with_database(store.database())
}

/// A raw client on `store`'s server, bound to no database.
pub fn server_client(store: &Store) -> clickhouse::Client {
    let c = store.config();
    let mut client = clickhouse::Client::default()
        .with_url(c.url.clone())
        .with_user(c.user.clone())
        .with_validation(false);
    if !c.password.is_empty() {
        client = client.with_password(c.password.clone());
    }
    client
}
