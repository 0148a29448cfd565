//! The cluster harness of `ops/cluster/`, as the tests see it.

use std::sync::{Mutex, MutexGuard};

/// Held while a test may stop a server: such tests run one at a time.
pub struct Exclusive(#[allow(dead_code)] MutexGuard<'static, ()>);

/// Tests that stop a server run one at a time: the others would see it gone. (Each test has
/// a runtime of its own, so a blocking lock held across its awaits stalls no one else.)
pub fn exclusive() -> Exclusive {
    static LOCK: Mutex<()> = Mutex::new(());
    Exclusive(LOCK.lock().unwrap_or_else(|e| e.into_inner()))
}
