//! Node registry heartbeats of the roles this process runs (see
//! `gatewatch_store::registry::run`): one task per role, started once the role listens,
//! stopped after it has drained so its last row says `stopping`.

use gatewatch_model::call::now_us;
use gatewatch_store::registry::{self, NodeEntry, HEARTBEAT_SECS};
use gatewatch_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

use crate::config::Config;

/// A role's heartbeat task.
pub struct Heartbeat {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// What a role says about itself.
pub struct Role<'a> {
    /// `gateway`, `collector`, `alerter`, `reports` or `dashboards`.
    pub role: &'static str,
    /// The main listen address: tells processes of one role on one node apart.
    pub instance: SocketAddr,
    /// Every address the role listens on (plain as `host:port`, TLS as `https://host:port`).
    pub listen: Vec<String>,
    /// A gateway's node groups; empty for other roles.
    pub groups: &'a [String],
    /// A gateway's served APIs (follows reloads).
    pub apis: Option<watch::Receiver<Arc<[String]>>>,
}

/// `addr` as listed in the registry: plain as is, TLS with `https://`.
pub fn tls(addr: SocketAddr) -> String {
    format!("https://{addr}")
}

impl Heartbeat {
    /// Starts heartbeats for `role` (the first one at once).
    pub fn start(config: &Config, store: &Store, role: Role<'_>) -> Heartbeat {
        let base = NodeEntry {
            node: config.node.clone(),
            role: role.role.to_string(),
            instance: role.instance.to_string(),
            groups: role.groups.to_vec(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            listen: role.listen,
            started_us: now_us(),
            heartbeat_us: 0,
            apis: Vec::new(),
            stopping: false,
        };
        let apis = role.apis;
        let entry = move || {
            let mut e = base.clone();
            if let Some(a) = &apis {
                e.apis = a.borrow().to_vec();
            }
            e
        };
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(registry::run(
            store.clone(),
            entry,
            Duration::from_secs(HEARTBEAT_SECS),
            rx,
        ));
        Heartbeat { stop, task }
    }

    /// Writes the last heartbeat (`stopping`) and ends the task.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
