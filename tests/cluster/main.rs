//! Tests on the ClickHouse cluster of `ops/cluster/` (2 shards × 2 replicas and ZooKeeper on
//! loopback, started by `ops/cluster/up.sh`). Each test has its own database.
#[path = "../e2e/helpers.rs"]
#[allow(dead_code)]
mod helpers;

mod faults;
mod harness;
