//! The `process_*` figures every Prometheus client exports (the names of client_golang's
//! process collector), read from `/proc/self` at each scrape. Linux only: elsewhere nothing
//! is rendered. A figure that cannot be read is left out rather than shown as 0.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use crate::metrics::{ConstCounter, ConstGauge, EncodeMetric};

/// Clock ticks per second of `/proc/*/stat` times: `USER_HZ`, fixed at 100 in the kernel's
/// ABI on every architecture Linux exports it on (client_golang's procfs assumes the same).
const USER_HZ: f64 = 100.0;

/// The collector registered by [`crate::metrics::registry`].
#[derive(Debug)]
pub(crate) struct Process;

/// One reading of `/proc/self`.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Reading {
    pub cpu_seconds: Option<f64>,
    pub start_time_seconds: Option<f64>,
    pub resident_bytes: Option<u64>,
    pub virtual_bytes: Option<u64>,
    pub threads: Option<u64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
}

impl Reading {
    fn now() -> Reading {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let mut r = Reading::default();
        if let Some(stat) = read("/proc/self/stat") {
            let boot = read("/proc/stat").and_then(|s| boot_time(&s));
            let (cpu, start) = from_stat(&stat);
            r.cpu_seconds = cpu;
            r.start_time_seconds = start.zip(boot).map(|(s, b)| b as f64 + s);
        }
        if let Some(status) = read("/proc/self/status") {
            r.resident_bytes = status_kb(&status, "VmRSS:").map(|k| k * 1024);
            r.virtual_bytes = status_kb(&status, "VmSize:").map(|k| k * 1024);
            r.threads = status_kb(&status, "Threads:");
        }
        r.open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as u64);
        r.max_fds = read("/proc/self/limits").and_then(|l| max_open_files(&l));
        r
    }
}

/// CPU seconds (user + system) and the start time in seconds after boot, from
/// `/proc/self/stat`. The command name (field 2) may hold spaces and parentheses, so the
/// fields are counted from after its last `)`.
fn from_stat(stat: &str) -> (Option<f64>, Option<f64>) {
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return (None, None);
    };
    // After ")": field 3 (state) is the first; utime is 14, stime 15, starttime 22.
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    let n = |field: usize| f.get(field - 3).and_then(|v| v.parse::<u64>().ok());
    let cpu = n(14).zip(n(15)).map(|(u, s)| (u + s) as f64 / USER_HZ);
    (cpu, n(22).map(|t| t as f64 / USER_HZ))
}

/// `btime` of `/proc/stat`: the boot time in seconds since the epoch.
fn boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The number after `key` on its line of `/proc/self/status` (kB for the Vm lines).
fn status_kb(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_ascii_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The soft limit of "Max open files" in `/proc/self/limits`.
fn max_open_files(limits: &str) -> Option<u64> {
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|v| v.split_ascii_whitespace().next())
        .and_then(|v| v.parse().ok())
}

impl Collector for Process {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        if !cfg!(target_os = "linux") {
            return Ok(());
        }
        let r = Reading::now();
        if let Some(v) = r.cpu_seconds {
            let m = enc.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                None,
                MetricType::Counter,
            )?;
            ConstCounter::new(v).encode(m)?;
        }
        let gauges: [(&str, &str, Option<f64>); 6] = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                r.resident_bytes.map(|v| v as f64),
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                r.virtual_bytes.map(|v| v as f64),
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                r.open_fds.map(|v| v as f64),
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors.",
                r.max_fds.map(|v| v as f64),
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                r.start_time_seconds,
            ),
            (
                "process_threads",
                "Number of OS threads in the process.",
                r.threads.map(|v| v as f64),
            ),
        ];
        for (name, help, v) in gauges {
            if let Some(v) = v {
                let m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
                ConstGauge::new(v).encode(m)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        // A command name with a space and a parenthesis, as a process may choose.
        let stat = "4242 (gate (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 150 0 0 20 0 9 0 \
                    12345 1000000 500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let (cpu, start) = from_stat(stat);
        assert_eq!(cpu, Some(4.0));
        assert_eq!(start, Some(123.45));
        assert_eq!(from_stat("garbage"), (None, None));
    }

    #[test]
    fn status_limits_and_boot_time_parse() {
        let status = "Name:\tgatewatch\nVmSize:\t  123456 kB\nVmRSS:\t    2048 kB\nThreads:\t9\n";
        assert_eq!(status_kb(status, "VmRSS:"), Some(2048));
        assert_eq!(status_kb(status, "Threads:"), Some(9));
        assert_eq!(status_kb(status, "VmSwap:"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(max_open_files(limits), Some(1024));
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1765000000\n"),
            Some(1765000000)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_read() {
        let r = Reading::now();
        assert!(r.resident_bytes.unwrap_or(0) > 0, "{r:?}");
        assert!(r.threads.unwrap_or(0) >= 1, "{r:?}");
        assert!(r.open_fds.unwrap_or(0) >= 1, "{r:?}");
        assert!(r.cpu_seconds.is_some(), "{r:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let start = r.start_time_seconds.unwrap_or(0.0);
        assert!(start > 1.0e9 && start <= now + 1.0, "{start} vs {now}");
    }
}
