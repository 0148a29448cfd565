//! The node sampler: every `sample_interval`, one [`NodeSample`] (`role = "gateway"`) shipped
//! through the same sender and spool as the records, to `/v1/node-samples`.
//!
//! CPU use is the difference of two readings, so the first sample is taken about a second
//! after start. Readings come from `/proc` (sysinfo) on the blocking pool.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gatewatch_model::{Backlog, DiskUsage, NodeSample};
use sysinfo::{Disks, Pid, ProcessRefreshKind, ProcessesToUpdate, System};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::warn;

use crate::metrics::Metrics;
use crate::recorder::CallEvent;
use crate::ship::{encode_samples, stopped, Batch};

/// File systems that are not storage: skipped in `disks`.
const PSEUDO_FS: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fusectl",
    "hugetlbfs",
    "mqueue",
    "nsfs",
    "proc",
    "pstore",
    "ramfs",
    "rpc_pipefs",
    "securityfs",
    "squashfs",
    "sysfs",
    "tmpfs",
    "tracefs",
];

/// The first sample waits this long for a second CPU reading.
const FIRST_SAMPLE_AFTER: Duration = Duration::from_secs(1);

/// Where a sample's [`Backlog`] figures come from. The queue is held weakly so the sampler
/// never keeps the record channel open at shutdown.
pub(crate) struct BacklogSource {
    pub metrics: Arc<Metrics>,
    pub records: mpsc::WeakSender<Box<CallEvent>>,
}

impl BacklogSource {
    fn read(&self) -> Backlog {
        Backlog {
            queue_depth: self
                .records
                .upgrade()
                .map_or(0, |tx| (tx.max_capacity() - tx.capacity()) as u64),
            spool_bytes: self.metrics.spool_bytes.load(Ordering::Relaxed),
            spool_batches: self.metrics.spool_batches.load(Ordering::Relaxed),
            records_dropped: self.metrics.dropped_total(),
        }
    }
}

/// Samples until `stop` turns true.
pub(crate) async fn run(
    node: Arc<str>,
    every: Duration,
    backlog: BacklogSource,
    out: mpsc::Sender<Batch>,
    mut stop: watch::Receiver<bool>,
) {
    let Ok(mut probe) = tokio::task::spawn_blocking(Probe::new).await else {
        return;
    };
    let first = Instant::now()
        + FIRST_SAMPLE_AFTER
            .min(every)
            .max(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
    let mut tick = tokio::time::interval_at(first, every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stopped(&mut stop) => return,
        }
        let node = node.clone();
        let taken = tokio::task::spawn_blocking(move || {
            let sample = probe.sample(&node);
            (probe, sample)
        })
        .await;
        let Ok((p, mut sample)) = taken else { return };
        probe = p;
        sample.backlog = backlog.read();
        match encode_samples(std::slice::from_ref(&sample)) {
            Ok(batch) => {
                if out.send(batch).await.is_err() {
                    return;
                }
            }
            Err(e) => warn!(error = %e, "cannot encode a node sample"),
        }
    }
}

struct Probe {
    sys: System,
    pid: Option<Pid>,
}

impl Probe {
    fn new() -> Probe {
        let mut sys = System::new();
        sys.refresh_cpu_usage();
        Probe {
            sys,
            pid: sysinfo::get_current_pid().ok(),
        }
    }

    fn sample(&mut self, node: &str) -> NodeSample {
        self.sys.refresh_cpu_usage();
        self.sys.refresh_memory();
        let rss_bytes = self.pid.map_or(0, |pid| {
            self.sys.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                false,
                ProcessRefreshKind::nothing().with_memory(),
            );
            self.sys.process(pid).map_or(0, |p| p.memory())
        });
        let disks = Disks::new_with_refreshed_list();
        let disks = select_disks(disks.list().iter().map(|d| RawDisk {
            mount: d.mount_point().to_string_lossy().into_owned(),
            fs: d.file_system().to_string_lossy().into_owned(),
            device: d.name().to_string_lossy().into_owned(),
            total: d.total_space(),
            available: d.available_space(),
        }));
        let cpu = self.sys.global_cpu_usage();
        let mem_total_bytes = self.sys.total_memory();
        NodeSample {
            ts_us: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
            node: node.to_string(),
            role: "gateway".to_string(),
            cpu_pct: if cpu.is_finite() {
                cpu.clamp(0.0, 100.0)
            } else {
                0.0
            },
            mem_used_bytes: self.sys.used_memory().min(mem_total_bytes),
            mem_total_bytes,
            rss_bytes,
            disks,
            backlog: Backlog::default(),
        }
    }
}

/// One mount as the OS lists it.
#[derive(Debug, Clone)]
struct RawDisk {
    mount: String,
    fs: String,
    device: String,
    total: u64,
    available: u64,
}

/// Real file systems only, one row per device (its shortest mount path: bind mounts of one
/// disk, as containers have for `/etc/hosts`, would count it many times), sorted by mount.
fn select_disks(raw: impl Iterator<Item = RawDisk>) -> Vec<DiskUsage> {
    let mut disks: Vec<RawDisk> = raw
        .filter(|d| d.total > 0 && !PSEUDO_FS.contains(&d.fs.as_str()))
        .collect();
    disks.sort_by(|a, b| {
        a.mount
            .len()
            .cmp(&b.mount.len())
            .then(a.mount.cmp(&b.mount))
    });
    let mut devices = HashSet::new();
    let mut mounts = HashSet::new();
    let mut out: Vec<DiskUsage> = disks
        .into_iter()
        .filter(|d| mounts.insert(d.mount.clone()) && devices.insert(d.device.clone()))
        .map(|d| DiskUsage {
            used_bytes: d.total.saturating_sub(d.available),
            total_bytes: d.total,
            mount: d.mount,
        })
        .collect();
    out.sort_by(|a, b| a.mount.cmp(&b.mount));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(mount: &str, fs: &str, device: &str, total: u64) -> RawDisk {
        RawDisk {
            mount: mount.into(),
            fs: fs.into(),
            device: device.into(),
            total,
            available: total / 4,
        }
    }

    #[test]
    fn pseudo_and_duplicate_mounts_are_skipped() {
        let got = select_disks(
            [
                raw("/etc/hosts", "ext4", "/dev/sda1", 100),
                raw("/", "overlay", "overlay", 100),
                raw("/dev/shm", "tmpfs", "shm", 64),
                raw("/proc", "proc", "proc", 0),
                raw("/etc/hostname", "ext4", "/dev/sda1", 100),
                raw("/data", "ext4", "/dev/sdb1", 400),
                raw("/data", "ext4", "/dev/sdb1", 400),
            ]
            .into_iter(),
        );
        let mounts: Vec<&str> = got.iter().map(|d| d.mount.as_str()).collect();
        assert_eq!(mounts, ["/", "/data", "/etc/hosts"]);
        assert_eq!((got[1].used_bytes, got[1].total_bytes), (300, 400));
    }

    #[test]
    fn a_sample_of_this_machine_is_valid() {
        let mut p = Probe::new();
        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
        let s = p.sample("gw1");
        assert_eq!(s.role, "gateway");
        assert!(s.mem_total_bytes > 0);
        assert!(s.rss_bytes > 0);
        assert!(s.validate().is_ok(), "{:?}", s.validate());
    }
}
