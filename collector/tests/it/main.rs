//! Collector integration tests: one binary, a module per area. Tests that need ClickHouse use
//! the server `ops/test.sh` starts, each in its own database.
mod attack;
mod bad_input;
mod helpers;
mod once;
mod poison;
mod registered;
mod wal;
