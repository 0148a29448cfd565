//! One-off silences (kind `silence`): from–until, a rule (or every rule) and optionally one
//! node, API or client; who set it and why. A silenced notice is held back and recorded like
//! one an exception window holds back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::key::ScopeKey;
use crate::field::{bad, check_id, FieldError};

/// A silence, as stored in the configuration log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceSpec {
    /// The rule's id, or `*` for every rule.
    #[schema(pattern = "^([A-Za-z0-9._-]{1,64}|\\*)$")]
    pub rule: String,
    /// Only this node (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]{1,200}$")]
    pub node: Option<String>,
    /// Only this API (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub api: Option<String>,
    /// Only this client (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub client: Option<String>,
    /// Start (inclusive), UTC.
    pub from: DateTime<Utc>,
    /// End (exclusive), UTC.
    pub until: DateTime<Utc>,
    /// Who set it.
    #[schema(min_length = 1)]
    pub who: String,
    /// Why.
    #[schema(min_length = 1)]
    pub why: String,
}

impl SilenceSpec {
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        self.from <= now && now < self.until
    }

    /// Whether the silence holds back notices of `rule_id` for `key` at `now`.
    pub fn matches(&self, rule_id: &str, key: &ScopeKey, now: DateTime<Utc>) -> bool {
        let part = |want: &Option<String>, have: &Option<String>| {
            want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
        };
        self.active_at(now)
            && (self.rule == "*" || self.rule == rule_id)
            && part(&self.node, &key.node)
            && part(&self.api, &key.api)
            && part(&self.client, &key.client)
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        if self.rule != "*" {
            check_id("rule", &self.rule)?;
        }
        if let Some(n) = &self.node {
            if n.is_empty() || n.len() > 200 || n.chars().any(char::is_control) {
                return bad("node", "must be a node name");
            }
        }
        if let Some(a) = &self.api {
            check_id("api", a)?;
        }
        if let Some(c) = &self.client {
            check_id("client", c)?;
        }
        if self.until <= self.from {
            return bad("until", format!("must be after from ({})", self.from));
        }
        if self.who.trim().is_empty() {
            return bad("who", "must not be empty");
        }
        if self.why.trim().is_empty() {
            return bad("why", "must not be empty");
        }
        Ok(())
    }
}

/// Whether any of `silences` holds back notices of `rule_id` for `key` at `now`.
pub fn silenced(
    silences: &[SilenceSpec],
    rule_id: &str,
    key: &ScopeKey,
    now: DateTime<Utc>,
) -> bool {
    silences.iter().any(|s| s.matches(rule_id, key, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(json: &str) -> Result<SilenceSpec, String> {
        let s: SilenceSpec = serde_json::from_str(json).map_err(|e| format!("serde: {e}"))?;
        s.validate().map_err(|e| e.field)?;
        Ok(s)
    }

    fn t(x: &str) -> DateTime<Utc> {
        x.parse().unwrap()
    }

    #[test]
    fn matches_rule_scope_and_time() {
        let sil = s(r#"{"rule":"cpu","node":"gw1","from":"2026-11-25T10:00:00Z",
                        "until":"2026-11-25T12:00:00Z","who":"olive","why":"kernel upgrade"}"#)
        .unwrap();
        let gw1 = ScopeKey::node("gw1");
        assert!(sil.matches("cpu", &gw1, t("2026-11-25T10:00:00Z")));
        assert!(sil.matches("cpu", &gw1, t("2026-11-25T11:59:59Z")));
        assert!(!sil.matches("cpu", &gw1, t("2026-11-25T12:00:00Z")));
        assert!(!sil.matches("cpu", &gw1, t("2026-11-25T09:59:59Z")));
        assert!(!sil.matches("disk", &gw1, t("2026-11-25T11:00:00Z")));
        assert!(!sil.matches("cpu", &ScopeKey::node("gw2"), t("2026-11-25T11:00:00Z")));
        let all = SilenceSpec {
            rule: "*".into(),
            node: None,
            ..sil.clone()
        };
        assert!(silenced(
            &[sil, all],
            "latency",
            &ScopeKey::api("orders"),
            t("2026-11-25T11:00:00Z")
        ));
    }

    #[test]
    fn bad_silences_name_the_field() {
        let base = |extra: &str| {
            format!(
                r#"{{"rule":"cpu","from":"2026-11-25T10:00:00Z","until":"2026-11-25T12:00:00Z","who":"o","why":"w"{extra}}}"#
            )
        };
        assert!(s(&base("")).is_ok());
        assert!(s(&base(r#","what":1"#)).unwrap_err().starts_with("serde"));
        assert_eq!(s(&base(r#","api":"a/b""#)), Err("api".into()));
        assert_eq!(s(&base(r#","client":"""#)), Err("client".into()));
        assert_eq!(s(&base(r#","node":"""#)), Err("node".into()));
        assert_eq!(
            s(
                r#"{"rule":"cpu","from":"2026-11-25T12:00:00Z","until":"2026-11-25T12:00:00Z","who":"o","why":"w"}"#
            ),
            Err("until".into())
        );
        assert_eq!(
            s(
                r#"{"rule":"c d","from":"2026-11-25T10:00:00Z","until":"2026-11-25T12:00:00Z","who":"o","why":"w"}"#
            ),
            Err("rule".into())
        );
        assert_eq!(
            s(
                r#"{"rule":"*","from":"2026-11-25T10:00:00Z","until":"2026-11-25T12:00:00Z","who":" ","why":"w"}"#
            ),
            Err("who".into())
        );
        assert!(s(
            r#"{"rule":"*","from":"yesterday","until":"2026-11-25T12:00:00Z","who":"o","why":"w"}"#
        )
        .unwrap_err()
        .starts_with("serde"));
    }
}
