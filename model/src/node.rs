//! Node figures sampled by every gateway: [`NodeSample`].

use serde::{Deserialize, Serialize};

/// Most disks in one sample the collector takes.
pub const MAX_DISKS: usize = 256;
/// Longest mount point the collector takes (Linux's `PATH_MAX`).
pub const MAX_MOUNT_BYTES: usize = 4096;

/// Use of one mounted file system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskUsage {
    /// Mount point, e.g. `/` or `/var/lib/clickhouse`.
    pub mount: String,
    /// Bytes in use.
    pub used_bytes: u64,
    /// Size of the file system.
    pub total_bytes: u64,
}

/// One sample of a node's health, taken every few seconds by each gateway process. Decoded
/// like [`crate::CallRecord`]: unknown fields are skipped and named; new fields are `default`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeSample {
    /// Sample time, microseconds since the Unix epoch (UTC).
    pub ts_us: i64,
    /// Node name (defaults to the host name).
    pub node: String,
    /// Role of the process that took the sample (`gateway`, `collector`, …).
    #[serde(default)]
    pub role: String,
    /// Whole-machine CPU use, 0–100.
    pub cpu_pct: f32,
    /// Machine memory in use.
    pub mem_used_bytes: u64,
    /// Machine memory in all.
    pub mem_total_bytes: u64,
    /// Resident memory of the sampling process ("heap").
    pub rss_bytes: u64,
    /// Per-mount disk use.
    #[serde(default)]
    pub disks: Vec<DiskUsage>,
    /// The sampling gateway's shipping backlog (zero from other roles and older senders).
    #[serde(default)]
    pub backlog: Backlog,
}

/// How far behind a gateway's shipping is: records waiting in memory, batches waiting on disk
/// while the collector is away, and records lost so far. What a backlog alert watches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backlog {
    /// Records in the in-memory queue.
    pub queue_depth: u64,
    /// Bytes of batch files in the spool.
    pub spool_bytes: u64,
    /// Batch files in the spool.
    pub spool_batches: u64,
    /// Records dropped since the process started (queue or spool full).
    pub records_dropped: u64,
}

impl NodeSample {
    /// Checks what serde's types cannot.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(crate::call::MIN_TS_US..crate::call::MAX_TS_US).contains(&self.ts_us) {
            return Err((
                "ts_us",
                format!(
                    "{} is not microseconds between 2000-01-01 and 2100-01-01",
                    self.ts_us
                ),
            ));
        }
        if self.node.is_empty() {
            return Err(("node", "must not be empty".into()));
        }
        if !(0.0..=100.0).contains(&self.cpu_pct) {
            return Err((
                "cpu_pct",
                format!("{} is not between 0 and 100", self.cpu_pct),
            ));
        }
        if self.mem_used_bytes > self.mem_total_bytes {
            return Err(("mem_used_bytes", "is larger than mem_total_bytes".into()));
        }
        for (i, d) in self.disks.iter().enumerate() {
            if d.used_bytes > d.total_bytes {
                return Err((
                    "disks",
                    format!(
                        "disks[{i}] ({}): used_bytes is larger than total_bytes",
                        d.mount
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The size caps of the ingest API: node and role names up to
    /// [`crate::call::MAX_TEXT_BYTES`], at most [`MAX_DISKS`] disks, mount points up to
    /// [`MAX_MOUNT_BYTES`]. `Err((field, what is wrong))` names the first field over its cap.
    pub fn check_bounds(&self) -> Result<(), (String, String)> {
        use crate::call::{cap, MAX_TEXT_BYTES};
        cap("node", &self.node, MAX_TEXT_BYTES)?;
        cap("role", &self.role, MAX_TEXT_BYTES)?;
        if self.disks.len() > MAX_DISKS {
            return Err((
                "disks".into(),
                format!(
                    "has {} entries; at most {MAX_DISKS} are taken",
                    self.disks.len()
                ),
            ));
        }
        for (i, d) in self.disks.iter().enumerate() {
            cap(&format!("disks[{i}].mount"), &d.mount, MAX_MOUNT_BYTES)?;
        }
        Ok(())
    }

    /// Sample time in whole seconds (the `ts` column).
    pub fn ts_secs(&self) -> u32 {
        crate::call::secs_of_us(self.ts_us)
    }
}

/// Most node groups one gateway or one API names.
pub const MAX_GROUPS: usize = 32;

/// The group a gateway is in when its configuration names none.
pub const DEFAULT_GROUP: &str = "default";

/// Checks a node group name: 1–64 characters of `a-z 0-9 - _ .` (lower case, so `Edge` and
/// `edge` cannot be two groups that look alike).
pub fn check_group(field: &str, name: &str) -> Result<(), crate::FieldError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    if ok {
        Ok(())
    } else {
        Err(crate::FieldError::new(
            field,
            format!("{name:?} must be 1 to 64 characters of a-z 0-9 - _ ."),
        ))
    }
}

/// Checks a list of node groups: each name ([`check_group`]), no repeats, at most
/// [`MAX_GROUPS`]. Errors name the entry (`node_groups[1]`).
pub fn check_groups(field: &str, names: &[String]) -> Result<(), crate::FieldError> {
    if names.len() > MAX_GROUPS {
        return Err(crate::FieldError::new(
            field,
            format!("at most {MAX_GROUPS} groups"),
        ));
    }
    for (i, n) in names.iter().enumerate() {
        let at = format!("{field}[{i}]");
        check_group(&at, n)?;
        if names[..i].contains(n) {
            return Err(crate::FieldError::new(at, format!("{n:?} is listed twice")));
        }
    }
    Ok(())
}

/// Whether a gateway in `gateway_groups` serves an API bound to `api_groups` (empty: every
/// group).
pub fn serves(gateway_groups: &[String], api_groups: &[String]) -> bool {
    api_groups.is_empty() || api_groups.iter().any(|g| gateway_groups.contains(g))
}

#[cfg(test)]
mod group_tests {
    use super::*;

    #[test]
    fn group_names_and_lists_are_checked_naming_the_entry() {
        assert!(check_group("g", "edge-1.tw_north").is_ok());
        for bad in ["", "Edge", "a b", "x/y", &"a".repeat(65)] {
            assert!(check_group("g", bad).is_err(), "{bad:?}");
        }
        let e = check_groups("node_groups", &["edge".into(), "edge".into()]).unwrap_err();
        assert_eq!(e.field, "node_groups[1]");
        let e = check_groups("node_groups", &["ok".into(), "No".into()]).unwrap_err();
        assert_eq!(e.field, "node_groups[1]");
        assert!(serves(&["edge".into()], &[]));
        assert!(serves(&["edge".into()], &["edge".into(), "core".into()]));
        assert!(!serves(&["default".into()], &["edge".into()]));
    }
}
