//! The collector: ingest API, write-ahead log, ClickHouse inserter.
pub mod wal;
