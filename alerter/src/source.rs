//! What the evaluator works from: alert rules, silences, who has which role's mail, and the
//! webhook channels, read from the configuration log ([`Sources::load`]) and kept in a
//! snapshot on disk ([`Sources::save`], [`Sources::read`]) so the alerter keeps its rules while
//! ClickHouse is away (the database rule must fire exactly then).
//!
//! The snapshot holds no password hash or token: of users only the e-mail addresses per role
//! are kept. Entities that do not parse are skipped with a warning (the admin API validates
//! them before they are stored; a newer writer may know more than this build).

use gatewatch_model::alert::{AlertRuleSpec, InhibitRuleSpec, NotificationPolicySpec, SilenceSpec};
use gatewatch_model::{Entity, EntityKind};
use gatewatch_store::config_log::{self, ConfigLogError, Revision};
use gatewatch_store::Store;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::dispatch::RoleDirectory;

/// One alert rule with its id and version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleEntry {
    pub id: String,
    pub version: u64,
    pub spec: AlertRuleSpec,
}

/// Everything the evaluator reads from the configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sources {
    /// The configuration log's revision these were read at.
    pub revision: (u64, i64),
    pub rules: Vec<RuleEntry>,
    pub silences: Vec<SilenceSpec>,
    /// E-mail addresses of enabled users, per role.
    pub directory: RoleDirectory,
    /// Channel bodies by id, as stored (the notifiers parse them).
    pub channels: BTreeMap<String, serde_json::Value>,
    /// Notification policies by id (issue 18; the snapshot of an older alerter has none).
    #[serde(default)]
    pub policies: BTreeMap<String, NotificationPolicySpec>,
    /// Inhibit rules by id.
    #[serde(default)]
    pub inhibit_rules: BTreeMap<String, InhibitRuleSpec>,
}

/// Errors reading or writing the snapshot.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    #[error("alerter snapshot {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("alerter snapshot {path} is not readable JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// The snapshot's file under the data directory.
pub fn snapshot_path(data_dir: &Path) -> PathBuf {
    data_dir.join("alerter").join("sources.json")
}

impl Sources {
    /// Reads the current configuration: rules, silences, users' addresses, channels.
    pub async fn load(store: &Store) -> Result<Sources, ConfigLogError> {
        let rev = config_log::revision(store).await?;
        let entries = config_log::current(store).await?;
        let mut s = Sources {
            revision: (rev.rows, rev.last_ts_us),
            ..Sources::default()
        };
        for e in entries.into_iter().filter(|e| !e.deleted) {
            match e.kind {
                EntityKind::AlertRule
                | EntityKind::Silence
                | EntityKind::User
                | EntityKind::NotificationPolicy
                | EntityKind::InhibitRule => match Entity::parse(e.kind, &e.id, &e.body) {
                    Ok(Entity::AlertRule(spec)) => s.rules.push(RuleEntry {
                        id: e.id,
                        version: e.version,
                        spec,
                    }),
                    Ok(Entity::Silence(sil)) => s.silences.push(sil),
                    Ok(Entity::NotificationPolicy(p)) => {
                        s.policies.insert(e.id, p);
                    }
                    Ok(Entity::InhibitRule(r)) => {
                        s.inhibit_rules.insert(e.id, r);
                    }
                    Ok(Entity::User(u)) => {
                        if !u.disabled && !u.email.is_empty() {
                            s.directory.entry(u.role).or_default().push(u.email);
                        }
                    }
                    Ok(_) => {}
                    Err(err) => {
                        tracing::warn!(kind = %e.kind, id = %e.id, error = %err, "skipping an entity the alerter cannot read")
                    }
                },
                // Kept as JSON: the notifiers own the channel's shape.
                EntityKind::Channel => match serde_json::from_str(&e.body) {
                    Ok(v) => {
                        s.channels.insert(e.id, v);
                    }
                    Err(err) => {
                        tracing::warn!(id = %e.id, error = %err, "skipping a channel that is not JSON")
                    }
                },
                _ => {}
            }
        }
        for v in s.directory.values_mut() {
            v.sort();
            v.dedup();
        }
        Ok(s)
    }

    /// Whether the configuration log moved since these were read.
    pub fn is_stale(&self, rev: &Revision) -> bool {
        self.revision != (rev.rows, rev.last_ts_us)
    }

    pub fn rule(&self, id: &str) -> Option<&RuleEntry> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// Writes the snapshot (a temporary file renamed over the old one; mode 0600).
    pub fn save(&self, data_dir: &Path) -> Result<(), SnapshotError> {
        let path = snapshot_path(data_dir);
        let io = |source| SnapshotError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let json = serde_json::to_vec_pretty(self).map_err(|source| SnapshotError::Json {
            path: path.clone(),
            source,
        })?;
        let tmp = path.with_extension("json.tmp");
        {
            use std::io::Write;
            let mut o = std::fs::OpenOptions::new();
            o.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
            let mut f = o.open(&tmp).map_err(io)?;
            f.write_all(&json).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &path).map_err(io)
    }

    /// Reads the snapshot; `None` when there is none yet.
    pub fn read(data_dir: &Path) -> Result<Option<Sources>, SnapshotError> {
        let path = snapshot_path(data_dir);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(SnapshotError::Io { path, source }),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| SnapshotError::Json { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatewatch_model::alert::RuleKind;
    use gatewatch_model::Role;

    #[test]
    fn snapshot_round_trips_and_a_missing_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Sources::read(dir.path()).unwrap(), None);
        let s = Sources {
            revision: (3, 42),
            rules: vec![RuleEntry {
                id: "db".into(),
                version: 2,
                spec: AlertRuleSpec::new("資料庫", RuleKind::NodeCpu {}, 90.0),
            }],
            directory: [(Role::Ops, vec!["o@a.tw".to_string()])].into(),
            ..Sources::default()
        };
        s.save(dir.path()).unwrap();
        s.save(dir.path()).unwrap();
        assert_eq!(Sources::read(dir.path()).unwrap(), Some(s));
        std::fs::write(snapshot_path(dir.path()), "{").unwrap();
        assert!(matches!(
            Sources::read(dir.path()),
            Err(SnapshotError::Json { .. })
        ));
    }
}
