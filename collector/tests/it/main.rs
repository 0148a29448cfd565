//! Collector integration tests: one binary, a module per area.
mod wal;
