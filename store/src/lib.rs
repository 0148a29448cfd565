//! The one way into ClickHouse.
//!
//! - [`Store`]: client setup with the settings every supported server accepts (18.16 from
//!   Debian and current releases), version detection, database creation.
//! - [`rows`]: the typed rows of the shared tables (`api_calls`, `node_metrics`,
//!   `ingest_batches`) and their conversion from the model.
//! - [`ingest`]: the reads and writes that make "inserted once" hold: which batches are stored,
//!   which rows of a half-stored batch are there.
//! - [`config_log`]: the configuration source: versioned entity changes, current state,
//!   history, a revision marker for pollers.
//! - [`audit`]: the audit log — changes, key actions and logins, appended and read by window
//!   (keyset pages for the admin API).
//! - [`alerts`]: the alerter's event history, saved rule states and its sending lease; the
//!   reads of the admin API's alert pages (keyset pages of events, newest values per key).
//! - [`observe`]: what alert rules are evaluated on: latest node samples, last seen per node,
//!   calls, failures and latency per API or client over a window.
//! - [`report_runs`]: attempts of scheduled report mail, by a run id every reports process
//!   derives alike.
//! - [`retention`]: partitions of a table, dropping one, the server's zone.
//! - [`reports`]: every report's reads (aggregates from the table the reports crate chose,
//!   call search, detail and top-N, node figures, client events).
//! - [`quota`]: the gateway's shared-quota counts.
//! - [`layout`]: where each table lives on a ClickHouse cluster (sharded or on every server).
//! - [`schema`]: the migrations' own table (`schema_migrations`).
//! - [`shards`]: call records into a cluster, shard by shard (which server is which shard's
//!   replica, the sharding key's hash, inserts deduplicated by block, a replica's complete read).
//! - [`sql`]: the one tested function for quoting identifiers and literals.
//! - [`tls`]: ClickHouse over `https://`, trusting the system's roots and `[clickhouse] ca_file`.
//!
//! Every value that reaches SQL is bound at a `?` (`query.rs` keeps text and values apart);
//! see the crate's README for the rule.

pub mod acks;
pub mod alerts;
pub mod audit;
pub mod config_log;
pub mod cursor;
pub mod ingest;
pub mod layout;
pub mod oauth;
pub mod observe;
pub(crate) mod query;
pub mod quota;
pub mod registry;
pub mod releases;
pub mod report_runs;
pub mod reports;
pub mod retention;
pub mod rows;
pub mod schema;
pub mod shards;
pub mod sql;
pub mod tls;

use serde::Deserialize;
use std::fmt;

/// Errors talking to ClickHouse.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server could not be reached or the connection broke: worth retrying.
    #[error("ClickHouse at {url} is unreachable: {source}{cause}")]
    Unreachable {
        url: String,
        #[source]
        source: clickhouse::error::Error,
        /// `": "` and the innermost cause (a refused certificate, a refused connection), which
        /// the crate's own message hides; empty when there is none.
        cause: String,
    },
    /// The server answered with an error (bad SQL, type mismatch, …).
    #[error("ClickHouse rejected `{what}`: {source}")]
    Rejected {
        what: String,
        #[source]
        source: clickhouse::error::Error,
    },
    /// The server's version string could not be read.
    #[error("cannot parse ClickHouse version '{0}'")]
    BadVersion(String),
}

impl Error {
    /// Sorts a crate error: network trouble and timeouts are retryable, the rest are not.
    pub fn from_clickhouse(url: &str, what: &str, source: clickhouse::error::Error) -> Error {
        use clickhouse::error::Error as E;
        match source {
            E::Network(_) | E::TimedOut => Error::Unreachable {
                url: url.to_string(),
                cause: root_cause(&source),
                source,
            },
            _ => Error::Rejected {
                what: what.to_string(),
                source,
            },
        }
    }

    /// The server's exception code (`Code: 53` in its answer), when it sent one.
    pub fn server_code(&self) -> Option<u32> {
        match self {
            Error::Rejected {
                source: clickhouse::error::Error::BadResponse(text),
                ..
            } => code_of(text),
            _ => None,
        }
    }

    /// True when the same request may succeed later: the server away or overloaded, a
    /// timeout, memory, too many parts, replica or keeper trouble, or an answer that is not
    /// ClickHouse's at all (a proxy's, a server restarting mid-request).
    pub fn is_retryable(&self) -> bool {
        use clickhouse::error::Error as E;
        match self {
            Error::Unreachable { .. } => true,
            Error::Rejected { source, .. } => match source {
                E::BadResponse(text) => match code_of(text) {
                    None => true,
                    // One code for two things: "too many parts" passes as merges catch up,
                    // "too many partitions for single INSERT block" never will.
                    Some(codes::TOO_MANY_PARTS) => !too_many_partitions(text),
                    Some(c) => codes::TRANSIENT.contains(&c),
                },
                E::Compression(_) | E::Decompression(_) | E::Other(_) => true,
                _ => false,
            },
            Error::BadVersion(_) => false,
        }
    }

    /// True when the server refuses every request of this kind until an operator acts, whatever
    /// the data: a table or column missing (not migrated), no right to insert, read-only, disk
    /// full, an unknown setting. Not the data's fault: a writer waits, it does not set data
    /// aside.
    pub fn is_setup_problem(&self) -> bool {
        self.server_code()
            .is_some_and(|c| codes::SETUP.contains(&c))
    }

    /// True when ClickHouse refused this data and would refuse it again: a value of the wrong
    /// type or out of range, a row an expression or check throws on, an insert spread over too
    /// many partitions (`max_partitions_per_insert_block`, code 252 with that message), a
    /// syntax error. What the collector splits a round for and sets aside, instead of retrying
    /// it forever.
    pub fn is_permanent(&self) -> bool {
        use clickhouse::error::Error as E;
        match self {
            Error::Rejected { source, .. } => match source {
                E::BadResponse(_) => !self.is_retryable() && !self.is_setup_problem(),
                // A row that cannot be written as the server's types: the data's fault.
                E::Custom(_)
                | E::SequenceMustHaveLength
                | E::InvalidTagEncoding(_)
                | E::InvalidUtf8Encoding(_)
                | E::VariantDiscriminatorIsOutOfBound(_) => true,
                // The client's own setup (parameters, URL, schema): the same for every batch.
                _ => false,
            },
            _ => false,
        }
    }
}

/// `": "` and the last source of `e`'s chain, when it has one.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = None;
    let mut at = e.source();
    while let Some(inner) = at {
        last = Some(inner);
        at = inner.source();
    }
    last.map_or(String::new(), |l| format!(": {l}"))
}

/// ClickHouse exception codes the store sorts errors by (`src/Common/ErrorCodes.cpp`).
pub mod codes {
    pub const TOO_MANY_PARTS: u32 = 252;
    /// Transient: timeouts (159, 209), overload (202, 203, 439), memory (241), too many parts
    /// (252, unless about partitions), network (210, 1000), replicas and keeper (225, 242, 285,
    /// 319, 999), aborted or cancelled (236, 394), system errors (425).
    pub const TRANSIENT: &[u32] = &[
        159, 202, 203, 209, 210, 225, 236, 241, 242, 252, 285, 319, 394, 425, 439, 999, 1000,
    ];
    /// The server's setup, not the data: unsupported method or format (1, 73), no such column
    /// (8, 10, 16, 47), unknown table or database (60, 81), unknown setting (115), read-only
    /// (164), users and rights (192–195, 497, 516), disk full (243).
    pub const SETUP: &[u32] = &[
        1, 8, 10, 16, 47, 60, 73, 81, 115, 164, 192, 193, 194, 195, 243, 497, 516,
    ];
}

/// `N` of the first `Code: N` in a server's answer.
fn code_of(text: &str) -> Option<u32> {
    let at = text.find("Code: ")? + "Code: ".len();
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Whether a code-252 answer is about partitions (never passes) rather than parts (passes).
fn too_many_partitions(text: &str) -> bool {
    text.contains("max_partitions_per_insert_block") || text.contains("Too many partitions")
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether inserts are LZ4-compressed on the wire.
///
/// LZ4 is the default even for a server on loopback: turning it off there was measured slower
/// end to end (ops/bench/ingest.sh: 125–147k records/s without, 164–167k with), because
/// ClickHouse spends more CPU taking an uncompressed body than the collector saves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WireCompression {
    #[default]
    Lz4,
    None,
}

/// Where ClickHouse is and who to log in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// HTTP URL, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// Database holding gatewatch's tables.
    pub database: String,
    pub user: String,
    pub password: String,
    pub compression: WireCompression,
    /// CA certificates trusted for an `https://` URL beside the system's roots (`[clickhouse]
    /// ca_file`, read when the configuration is checked).
    pub ca: Option<tls::CaPem>,
    /// The ClickHouse cluster gatewatch's tables are spread over (`[clickhouse] cluster`), or
    /// `None` on one server. Decides the layout of every table ([`layout`]) and which
    /// statements name `<t>_local` tables `ON CLUSTER` (retention).
    pub cluster: Option<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: "http://127.0.0.1:8123".into(),
            database: "gatewatch".into(),
            user: "default".into(),
            password: String::new(),
            compression: WireCompression::Lz4,
            ca: None,
            cluster: None,
        }
    }
}

/// A ClickHouse server version, e.g. 18.16.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl ServerVersion {
    /// Parses `SELECT version()` output such as `18.16.1` or `24.8.4.13`.
    pub fn parse(s: &str) -> Result<ServerVersion> {
        let mut it = s.trim().split('.').map(|p| p.parse::<u32>());
        match (it.next(), it.next(), it.next()) {
            (Some(Ok(major)), Some(Ok(minor)), Some(Ok(patch))) => Ok(ServerVersion {
                major,
                minor,
                patch,
            }),
            _ => Err(Error::BadVersion(s.to_string())),
        }
    }

    /// Servers from 20.x on understand `TTL`, codecs and non-replicated insert dedup.
    pub fn has_ttl(&self) -> bool {
        self.major >= 20
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A handle on gatewatch's database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    client: clickhouse::Client,
    config: StoreConfig,
    /// Built once: the system's roots are read once, and every new client shares it.
    tls: std::sync::Arc<rustls::ClientConfig>,
}

impl Store {
    /// Sets up a client; no network I/O (for an `https://` URL the system's CA roots are read,
    /// once per process). Validation is off because the crate's schema check sends
    /// a setting that 18.16 rejects; `rows` are checked against the schema by tests instead.
    pub fn new(config: StoreConfig) -> Store {
        let https = config.url.starts_with("https://");
        let tls = tls::client_config(https, config.ca.as_ref());
        let client = base_client(&config, &tls).with_database(config.database.clone());
        Store {
            client,
            config,
            tls,
        }
    }

    /// The client, bound to gatewatch's database. Private: every query is a typed function of
    /// this crate with its values bound.
    pub(crate) fn client(&self) -> &clickhouse::Client {
        &self.client
    }

    /// A client not bound to any database (for `CREATE DATABASE`).
    pub(crate) fn server_client(&self) -> clickhouse::Client {
        base_client(&self.config, &self.tls)
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    pub fn database(&self) -> &str {
        &self.config.database
    }

    /// The cluster gatewatch's tables are spread over, or `None` on one server.
    pub fn cluster(&self) -> Option<&str> {
        self.config.cluster.as_deref()
    }

    /// `" ON CLUSTER `name`"`, or empty on one server: for DDL that every server must run.
    pub fn on_cluster(&self) -> String {
        on_cluster_clause(self.cluster())
    }

    /// Wraps a crate error with what was being done.
    pub fn err(&self, what: &str, e: clickhouse::error::Error) -> Error {
        Error::from_clickhouse(&self.config.url, what, e)
    }

    /// `SELECT version()`.
    pub async fn version(&self) -> Result<ServerVersion> {
        let v: String = self
            .server_client()
            .query("SELECT version()")
            .fetch_one()
            .await
            .map_err(|e| self.err("SELECT version()", e))?;
        ServerVersion::parse(&v)
    }

    /// Cheap liveness probe.
    pub async fn ping(&self) -> Result<()> {
        self.version().await.map(|_| ())
    }

    /// `SELECT 1` on a connection of its own (the alerter's timed probe); the crate's error
    /// as it came.
    pub async fn select_one(&self) -> Result<(), clickhouse::error::Error> {
        self.server_client()
            .query("SELECT 1")
            .fetch_one::<u8>()
            .await
            .map(|_| ())
    }

    /// `CREATE DATABASE IF NOT EXISTS` (`ON CLUSTER` on a cluster: every server holds it).
    pub async fn create_database(&self) -> Result<()> {
        let sql = format!(
            "CREATE DATABASE IF NOT EXISTS {}{}",
            sql::quote_identifier(&self.config.database),
            self.on_cluster()
        );
        self.server_client()
            .query(&sql)
            .execute()
            .await
            .map_err(|e| self.err(&sql, e))
    }

    /// Runs one statement of fixed text (the migrations' DDL, tests' set-up) in gatewatch's
    /// database, as written: no placeholders. Never with a caller's value in `sql`: those go
    /// through a typed function of this crate, bound. Hidden from the docs for that reason.
    #[doc(hidden)]
    pub async fn execute(&self, sql: &str) -> Result<()> {
        self.client
            .query_raw(sql)
            .execute()
            .await
            .map_err(|e| self.err(sql, e))
    }

    /// Runs a query of fixed text returning one `UInt64` (tests' `SELECT count() …`), as
    /// written. Never with a caller's value in `sql` (see [`Store::execute`]).
    #[doc(hidden)]
    pub async fn fetch_u64(&self, sql: &str) -> Result<u64> {
        self.client
            .query_raw(sql)
            .fetch_one::<u64>()
            .await
            .map_err(|e| self.err(sql, e))
    }
}

/// `" ON CLUSTER `name`"` for `Some(name)`, empty for `None`.
pub fn on_cluster_clause(cluster: Option<&str>) -> String {
    cluster
        .map(|c| format!(" ON CLUSTER {}", sql::quote_identifier(c)))
        .unwrap_or_default()
}

fn base_client(
    config: &StoreConfig,
    tls: &std::sync::Arc<rustls::ClientConfig>,
) -> clickhouse::Client {
    let lz4 = config.compression == WireCompression::Lz4;
    let mut c = tls::new_client(tls)
        .with_url(config.url.clone())
        .with_user(config.user.clone())
        .with_validation(false)
        .with_compression(if lz4 {
            clickhouse::Compression::Lz4
        } else {
            clickhouse::Compression::None
        });
    if !config.password.is_empty() {
        c = c.with_password(config.password.clone());
    }
    c
}

/// A row holding just one UUID, for id look-ups.
#[derive(Debug, clickhouse::Row, Deserialize)]
pub(crate) struct UuidRow {
    #[serde(with = "clickhouse::serde::uuid")]
    pub id: uuid::Uuid,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(text: &str) -> Error {
        Error::Rejected {
            what: "INSERT INTO api_calls".into(),
            source: clickhouse::error::Error::BadResponse(text.into()),
        }
    }

    #[test]
    fn errors_sort_into_retryable_setup_and_permanent() {
        let parts = refusal("Code: 252. DB::Exception: Too many parts (300). Merges are processing significantly slower than inserts. (TOO_MANY_PARTS)");
        assert!(parts.is_retryable() && !parts.is_permanent());
        let partitions = refusal("Code: 252. DB::Exception: Too many partitions for single INSERT block (more than 100). The limit is controlled by 'max_partitions_per_insert_block' setting. (TOO_MANY_PARTS) (version 24.8.4.13)");
        assert!(!partitions.is_retryable() && partitions.is_permanent());
        assert_eq!(partitions.server_code(), Some(252));
        for (text, retry, setup, permanent) in [
            ("Code: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded", true, false, false),
            ("Code: 159. DB::Exception: Timeout exceeded", true, false, false),
            ("Code: 53, e.displayText() = DB::Exception: Type mismatch", false, false, true),
            ("Code: 395, e.displayText() = DB::Exception: Value passed to 'throwIf' function is non zero", false, false, true),
            ("Code: 62. DB::Exception: Syntax error", false, false, true),
            ("Code: 60, e.displayText() = DB::Exception: Table gw.api_calls doesn't exist.", false, true, false),
            ("Code: 16. DB::Exception: No such column batch_id in table", false, true, false),
            ("Code: 516. DB::Exception: default: Authentication failed", false, true, false),
            ("Code: 53", false, false, true),
            ("Service Unavailable", true, false, false),
            ("502 Bad Gateway", true, false, false),
        ] {
            let e = refusal(text);
            assert_eq!(
                (e.is_retryable(), e.is_setup_problem(), e.is_permanent()),
                (retry, setup, permanent),
                "{text}"
            );
        }
        let away = Error::Unreachable {
            url: "http://x".into(),
            source: clickhouse::error::Error::TimedOut,
            cause: String::new(),
        };
        assert!(away.is_retryable() && !away.is_permanent());
        let custom = Error::Rejected {
            what: "INSERT".into(),
            source: clickhouse::error::Error::Custom("bad value".into()),
        };
        assert!(custom.is_permanent());
        let params = Error::Rejected {
            what: "INSERT".into(),
            source: clickhouse::error::Error::InvalidParams("bad url".into()),
        };
        assert!(!params.is_permanent());
    }

    #[test]
    fn parses_versions() {
        let v = ServerVersion::parse("18.16.1").unwrap();
        assert_eq!((v.major, v.minor, v.patch), (18, 16, 1));
        assert!(!v.has_ttl());
        assert!(ServerVersion::parse("24.8.4.13").unwrap().has_ttl());
        assert!(ServerVersion::parse("x").is_err());
    }
}
