//! Releases (kind `release`): a named point of the whole configuration — which version of
//! each entity was current when it was made. `config rollback --to NAME` writes one new change
//! that brings every entity of [`RELEASE_KINDS`] back to that point (deleting those made
//! since, restoring those deleted since); the log keeps the history, the audit log the act.
//!
//! Keys, users and silences are not part of a release: a key or a password revoked since must
//! stay revoked, and silences are short-lived. A client restored from a release keeps its
//! current secrets (`secret_hash`, `signing_secret`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::diff::FieldChange;
use crate::entity::EntityKind;
use crate::field::{bad, check_id, FieldError};

/// The kinds a release holds and a rollback restores, in the order they are written.
pub const RELEASE_KINDS: [EntityKind; 10] = [
    EntityKind::Group,
    EntityKind::Product,
    EntityKind::ApiFamily,
    EntityKind::Api,
    EntityKind::Client,
    EntityKind::Channel,
    EntityKind::AlertRule,
    EntityKind::NotificationPolicy,
    EntityKind::InhibitRule,
    EntityKind::ReportSubscription,
];

/// Most entities one release lists.
pub const MAX_RELEASE_ENTITIES: usize = 100_000;

/// One entity at the release's point: its kind, id and the version current then.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseEntry {
    #[schema(value_type = String, example = "api")]
    pub kind: EntityKind,
    pub id: String,
    pub version: u64,
}

/// A release as stored in the configuration log (its id is its name). Made by the release
/// action (`POST /api/v1/releases`, `gatewatch config release NAME`), never edited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseSpec {
    /// What the release is (`2026-12 orders v2 launch`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schema(max_length = 2000)]
    pub comment: String,
    /// When it was made, microseconds since the Unix epoch.
    pub created_us: i64,
    /// Every live entity of [`RELEASE_KINDS`] at that point, sorted by kind and id.
    pub entities: Vec<ReleaseEntry>,
}

impl ReleaseSpec {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.comment.chars().count() > 2000 {
            return bad("comment", "must be at most 2000 characters");
        }
        if self.entities.len() > MAX_RELEASE_ENTITIES {
            return bad(
                "entities",
                format!("at most {MAX_RELEASE_ENTITIES} entities"),
            );
        }
        for (i, e) in self.entities.iter().enumerate() {
            if !RELEASE_KINDS.contains(&e.kind) {
                return bad(
                    format!("entities[{i}].kind"),
                    format!("{} is not part of a release", e.kind),
                );
            }
            if e.id.is_empty() || e.id.chars().count() > 200 || e.id.chars().any(char::is_control) {
                return bad(format!("entities[{i}].id"), "must be 1–200 characters");
            }
            if e.version == 0 {
                return bad(format!("entities[{i}].version"), "must be at least 1");
            }
        }
        Ok(())
    }
}

/// How one entity differs between two points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Difference {
    /// Only in the second point.
    Added,
    /// Only in the first point.
    Removed,
    /// In both, with other fields.
    Changed,
}

/// One entity of a diff.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EntityDiff {
    #[schema(value_type = String, example = "api")]
    pub kind: EntityKind,
    pub id: String,
    pub change: Difference,
    /// Its version at the first point (absent when added).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_version: Option<u64>,
    /// Its version at the second point (absent when removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_version: Option<u64>,
    /// The fields that differ (for an added or removed entity: its fields); secrets by name only.
    pub fields: Vec<FieldChange>,
}

/// Checks a release name (its id): as every entity id.
pub fn check_release_name(field: &str, name: &str) -> Result<(), FieldError> {
    check_id(field, name)
}
