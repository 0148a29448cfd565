//! Tests on the ClickHouse cluster harness (`ops/cluster/up.sh`: ZooKeeper and four ClickHouse
//! 18.16 servers, 2 shards × 2 replicas, on loopback). Each test has its own database on the
//! cluster (dropped `ON CLUSTER` at its end); tests that stop servers hold
//! `harness::exclusive()` and bring every server back before they end.
mod faults;
mod harness;
/// The e2e tests' processes, sites, upstream and load driver (the fault tests run the real
/// binary the same way).
#[path = "../e2e/helpers.rs"]
#[allow(dead_code)]
mod helpers;
mod reports_parity;
mod schema;
