//! The alert rule entity (kind `alert_rule`): what to measure, where, when it breaches, how
//! long before it fires, how often it repeats, when it is quiet and who hears about it.

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::template::{check_template, Lang, NoticeTemplates};
use super::window::ExceptionWindow;
use crate::client::parse_tz;
use crate::field::{bad, check_id, FieldError};
use crate::user::{looks_like_email, Role};

/// An alert rule, as stored in the configuration log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleSpec {
    /// Display name, any language (`{{rule}}` in messages).
    #[schema(min_length = 1)]
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub severity: Severity,
    /// What is measured.
    pub kind: RuleKind,
    /// Where (default: all nodes for node kinds, all APIs for API kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    #[serde(default)]
    pub comparison: Comparison,
    /// The line the value must cross (in the kind's unit, see [`RuleKind::unit`]).
    #[schema(minimum = 0)]
    pub threshold: f64,
    /// The line a firing value must cross back before the alert resolves (hysteresis);
    /// default: `threshold`. Must lie on the safe side of `threshold`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub recovery: Option<f64>,
    /// How long the condition must hold before the rule fires.
    #[serde(default)]
    #[schema(maximum = 604_800)]
    pub for_secs: u64,
    /// A firing alert is re-sent no more often than this; 0 = never repeat.
    #[serde(default)]
    #[schema(maximum = 604_800)]
    pub repeat_secs: u64,
    /// Send a notice when a firing alert resolves.
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// IANA zone for the windows and `{{started_at}}` (default: the site's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schema::time_zone)]
    pub timezone: Option<String>,
    /// When the rule evaluates and records but does not notify.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<ExceptionWindow>,
    #[serde(default)]
    pub recipients: Recipients,
    /// Message overrides per language; the defaults fill what is left out.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub templates: BTreeMap<Lang, NoticeTemplates>,
    /// Language of the messages (default: the site's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Lang>,
}

fn yes() -> bool {
    true
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    #[default]
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Which side of the threshold is bad.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// Breach when value > threshold; recovered when value <= recovery.
    #[default]
    Above,
    /// Breach when value < threshold; recovered when value >= recovery.
    Below,
}

/// What a rule measures. Each kind's value is in the unit [`RuleKind::unit`] names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleKind {
    /// Whole-machine CPU use of a node, %.
    NodeCpu {},
    /// Machine memory in use on a node, %.
    NodeMemory {},
    /// Resident memory ("heap") of a node's gatewatch process: MB, or % of `limit_mb`.
    ProcessMemory {
        #[serde(default)]
        unit: MemoryUnit,
        /// The limit a `percent` threshold is taken of (required with `percent`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(minimum = 1)]
        limit_mb: Option<u64>,
    },
    /// Disk use %, per mount; `mounts` limits it to those mount points (all when empty).
    Disk {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[schema(schema_with = crate::schema::mounts)]
        mounts: Vec<String>,
    },
    /// The storage connection. See [`DbCheck`]. The probe checks (`connect_ms`, `failure`)
    /// are the alerter's own and take no node scope (their scope key is empty);
    /// `gateway_spool` is per node.
    Database { check: DbCheck },
    /// Seconds since a node's last sample (comparison `above`).
    NodeSilent {},
    /// Share of failed calls, %, over the last `window_secs`; no value below `min_calls`.
    ApiErrorRate {
        #[serde(default = "default_window")]
        #[schema(minimum = 10, maximum = 604_800)]
        window_secs: u64,
        #[serde(default = "default_min_calls")]
        #[schema(minimum = 1)]
        min_calls: u64,
    },
    /// Latency quantile in ms over the last `window_secs`; no value below `min_calls`.
    ApiLatency {
        quantile: Quantile,
        #[serde(default = "default_window")]
        #[schema(minimum = 10, maximum = 604_800)]
        window_secs: u64,
        #[serde(default = "default_min_calls")]
        #[schema(minimum = 1)]
        min_calls: u64,
    },
    /// Drop of calls in the last hour vs the same hour a week before, % (100 = no calls);
    /// no value when the week-old hour had fewer than `min_calls` (a quiet API does not page).
    TrafficDrop {
        #[serde(default = "default_baseline_calls")]
        #[schema(minimum = 1)]
        min_calls: u64,
    },
    /// A gateway's backlog of records not yet stored. See [`BacklogMeasure`].
    Backlog { measure: BacklogMeasure },
    /// Batches the collectors set aside in the last `window_secs` because ClickHouse refused
    /// them for good (`ingest_quarantine`): every collector of the site, one value, no scope.
    /// The usual line: threshold 0, `above` — one quarantined batch pages.
    IngestQuarantine {
        #[serde(default = "default_quarantine_window")]
        #[schema(minimum = 60, maximum = 604_800)]
        window_secs: u64,
    },
}

fn default_quarantine_window() -> u64 {
    3600
}

fn default_window() -> u64 {
    300
}
fn default_min_calls() -> u64 {
    20
}
fn default_baseline_calls() -> u64 {
    100
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemoryUnit {
    #[default]
    Mb,
    Percent,
}

/// How a database rule looks at storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DbCheck {
    /// The alerter's own ClickHouse probe: connect-and-`SELECT 1` time in ms; a failed probe
    /// breaches whatever the threshold.
    ConnectMs,
    /// The alerter's probe failing: the value is 1 on failure and 0 on success (threshold
    /// 0, `above`, is the usual line); a failed probe breaches.
    Failure,
    /// The gateways' view: batches waiting in a gateway's spool because they could not be
    /// shipped to storage (per node).
    GatewaySpool,
}

/// What a backlog rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BacklogMeasure {
    /// Batches in the gateway's spool.
    SpoolBatches,
    /// Bytes of the gateway's spool files, MB.
    SpoolMb,
    /// Records queued in memory for the shipper.
    QueueDepth,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Quantile {
    P95,
    P99,
}

/// Where a rule looks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
// `Scope` is taken in the admin API's document (an active alert's scope).
#[schema(as = RuleScope)]
pub enum Scope {
    /// Every node, each on its own (`"all_nodes"`).
    AllNodes,
    /// The named nodes, each on its own (`{"nodes": ["gw1"]}`).
    Nodes(Vec<String>),
    /// Every API, each on its own (`"all_apis"`).
    AllApis,
    /// One API (`{"api": "orders"}`).
    Api(String),
    /// One client's calls (`{"client": "acme"}`).
    Client(String),
}

/// Which scopes a kind accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeFamily {
    /// `all_nodes`, `nodes`.
    Nodes,
    /// `all_apis`, `api`, `client`.
    Calls,
}

impl RuleKind {
    /// The kind's `type` as written in a rule (`node_cpu`): the alert label `kind`.
    pub fn type_name(&self) -> &'static str {
        match self {
            RuleKind::NodeCpu {} => "node_cpu",
            RuleKind::NodeMemory {} => "node_memory",
            RuleKind::ProcessMemory { .. } => "process_memory",
            RuleKind::Disk { .. } => "disk",
            RuleKind::Database { .. } => "database",
            RuleKind::NodeSilent {} => "node_silent",
            RuleKind::ApiErrorRate { .. } => "api_error_rate",
            RuleKind::ApiLatency { .. } => "api_latency",
            RuleKind::TrafficDrop { .. } => "traffic_drop",
            RuleKind::Backlog { .. } => "backlog",
            RuleKind::IngestQuarantine { .. } => "ingest_quarantine",
        }
    }

    /// The unit of the kind's value and threshold, as shown after a number.
    pub fn unit(&self) -> &'static str {
        match self {
            RuleKind::NodeCpu {}
            | RuleKind::NodeMemory {}
            | RuleKind::Disk { .. }
            | RuleKind::ApiErrorRate { .. }
            | RuleKind::TrafficDrop { .. } => "%",
            RuleKind::ProcessMemory { unit, .. } => match unit {
                MemoryUnit::Mb => "MB",
                MemoryUnit::Percent => "%",
            },
            RuleKind::Database { check } => match check {
                DbCheck::ConnectMs => "ms",
                DbCheck::Failure | DbCheck::GatewaySpool => "",
            },
            RuleKind::NodeSilent {} => "s",
            RuleKind::ApiLatency { .. } => "ms",
            RuleKind::Backlog { measure } => match measure {
                BacklogMeasure::SpoolMb => "MB",
                _ => "",
            },
            RuleKind::IngestQuarantine { .. } => "",
        }
    }

    pub fn family(&self) -> ScopeFamily {
        match self {
            RuleKind::ApiErrorRate { .. }
            | RuleKind::ApiLatency { .. }
            | RuleKind::TrafficDrop { .. } => ScopeFamily::Calls,
            _ => ScopeFamily::Nodes,
        }
    }

    /// Whether the value is a percentage (threshold 0–100).
    fn is_percent(&self) -> bool {
        self.unit() == "%"
    }

    /// Whether the kind has one value for the whole site and takes no scope: the alerter's own
    /// database probe, and the collectors' quarantine.
    pub fn site_wide(&self) -> bool {
        self.error_breaches() || matches!(self, RuleKind::IngestQuarantine { .. })
    }

    /// Whether a failed measurement ([`super::Observation::Error`]) counts as a breach: only
    /// for the database kinds, whose failure is what they watch. For the others a failed
    /// query is like no data.
    pub fn error_breaches(&self) -> bool {
        matches!(
            self,
            RuleKind::Database {
                check: DbCheck::ConnectMs | DbCheck::Failure
            }
        )
    }
}

impl Scope {
    fn family(&self) -> ScopeFamily {
        match self {
            Scope::AllNodes | Scope::Nodes(_) => ScopeFamily::Nodes,
            Scope::AllApis | Scope::Api(_) | Scope::Client(_) => ScopeFamily::Calls,
        }
    }
}

/// Who hears about a rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Recipients {
    /// Every user with one of these roles gets an e-mail.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Role>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = crate::schema::emails)]
    pub emails: Vec<String>,
    /// LINE user, group or room ids (`to` of a push).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = crate::schema::line_recipients)]
    pub line: Vec<String>,
    /// Ids of webhook channels (entities of kind `channel`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = crate::schema::ids)]
    pub webhooks: Vec<String>,
}

impl Recipients {
    pub fn is_empty(&self) -> bool {
        self.roles.is_empty()
            && self.emails.is_empty()
            && self.line.is_empty()
            && self.webhooks.is_empty()
    }

    pub(crate) fn validate(&self) -> Result<(), FieldError> {
        for (i, e) in self.emails.iter().enumerate() {
            if !looks_like_email(e) {
                return bad(
                    format!("emails[{i}]"),
                    format!("{e:?} is not an e-mail address"),
                );
            }
        }
        for (i, t) in self.line.iter().enumerate() {
            if t.is_empty() || t.len() > 64 || !t.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return bad(
                    format!("line[{i}]"),
                    format!("{t:?} is not a LINE user, group or room id"),
                );
            }
        }
        for (i, c) in self.webhooks.iter().enumerate() {
            check_id(&format!("webhooks[{i}]"), c)?;
        }
        Ok(())
    }
}

/// Longest `for_secs`, `repeat_secs` and API windows: a week.
const MAX_SECS: u64 = 7 * 24 * 3600;

impl AlertRuleSpec {
    /// A rule with the defaults (tests, examples).
    pub fn new(name: &str, kind: RuleKind, threshold: f64) -> AlertRuleSpec {
        AlertRuleSpec {
            name: name.into(),
            enabled: true,
            severity: Severity::Warning,
            kind,
            scope: None,
            comparison: Comparison::Above,
            threshold,
            recovery: None,
            for_secs: 0,
            repeat_secs: 0,
            send_resolved: true,
            timezone: None,
            windows: Vec::new(),
            recipients: Recipients::default(),
            templates: BTreeMap::new(),
            language: None,
        }
    }

    /// The scope, with the kind's default filled in.
    pub fn scope(&self) -> Scope {
        self.scope.clone().unwrap_or(match self.kind.family() {
            ScopeFamily::Nodes => Scope::AllNodes,
            ScopeFamily::Calls => Scope::AllApis,
        })
    }

    /// The recovery line, defaulting to the threshold.
    pub fn recovery(&self) -> f64 {
        self.recovery.unwrap_or(self.threshold)
    }

    /// The rule's zone, or the site's.
    pub fn zone(&self, site: Tz) -> Tz {
        self.timezone
            .as_deref()
            .and_then(|z| parse_tz(z).ok())
            .unwrap_or(site)
    }

    pub fn lang(&self, site: Lang) -> Lang {
        self.language.unwrap_or(site)
    }

    /// Whether one of the rule's exception windows holds `now` (read in the rule's zone, or
    /// the site's).
    pub fn in_window(&self, site: Tz, now: chrono::DateTime<chrono::Utc>) -> bool {
        super::window::active_at(&self.windows, self.zone(site), now)
    }

    /// Whether `value` is on the bad side of the threshold.
    pub fn breaches(&self, value: f64) -> bool {
        match self.comparison {
            Comparison::Above => value > self.threshold,
            Comparison::Below => value < self.threshold,
        }
    }

    /// Whether a firing `value` has come back across the recovery line.
    pub fn recovered(&self, value: f64) -> bool {
        match self.comparison {
            Comparison::Above => value <= self.recovery(),
            Comparison::Below => value >= self.recovery(),
        }
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        if self.name.trim().is_empty() {
            return bad("name", "must not be empty");
        }
        self.validate_kind().map_err(|e| e.under("kind"))?;
        if let Some(s) = &self.scope {
            self.validate_scope(s).map_err(|e| e.under("scope"))?;
        }
        if !self.threshold.is_finite() {
            return bad("threshold", "must be a number");
        }
        if self.threshold < 0.0 {
            return bad("threshold", "must not be negative");
        }
        if self.kind.is_percent() && self.threshold > 100.0 {
            return bad("threshold", "is a percentage: 0 to 100");
        }
        if self.kind == (RuleKind::NodeSilent {}) && self.comparison != Comparison::Above {
            return bad("comparison", "node_silent watches for silence: use `above`");
        }
        if let Some(r) = self.recovery {
            if !r.is_finite() || r < 0.0 {
                return bad("recovery", "must be a number, not negative");
            }
            match self.comparison {
                Comparison::Above if r > self.threshold => {
                    return bad(
                        "recovery",
                        format!(
                            "must not be above the threshold {} (comparison above)",
                            self.threshold
                        ),
                    );
                }
                Comparison::Below if r < self.threshold => {
                    return bad(
                        "recovery",
                        format!(
                            "must not be below the threshold {} (comparison below)",
                            self.threshold
                        ),
                    );
                }
                _ => {}
            }
        }
        if self.for_secs > MAX_SECS {
            return bad("for_secs", "must be at most 604800 (a week)");
        }
        if self.repeat_secs > MAX_SECS {
            return bad(
                "repeat_secs",
                "must be at most 604800 (a week); 0 = never repeat",
            );
        }
        if let Some(z) = &self.timezone {
            parse_tz(z).map_err(|m| FieldError::new("timezone", m))?;
        }
        for (i, w) in self.windows.iter().enumerate() {
            w.validate()
                .map_err(|e| e.under(&format!("windows[{i}]")))?;
        }
        self.recipients
            .validate()
            .map_err(|e| e.under("recipients"))?;
        for (lang, t) in &self.templates {
            for (notice, text) in t.texts() {
                let at = format!("templates.{}.{}", lang.as_str(), notice.as_str());
                if let Some(s) = &text.subject {
                    check_template(s).map_err(|e| e.under(&format!("{at}.subject")))?;
                }
                if let Some(b) = &text.body {
                    check_template(b).map_err(|e| e.under(&format!("{at}.body")))?;
                }
            }
        }
        Ok(())
    }

    fn validate_kind(&self) -> Result<(), FieldError> {
        match &self.kind {
            RuleKind::ProcessMemory { unit, limit_mb } => match (unit, limit_mb) {
                (MemoryUnit::Percent, None) => bad("limit_mb", "is needed with unit percent"),
                (_, Some(0)) => bad("limit_mb", "must be at least 1"),
                (MemoryUnit::Mb, Some(_)) => bad(
                    "limit_mb",
                    "only applies to unit percent (the threshold is in MB)",
                ),
                _ => Ok(()),
            },
            RuleKind::Disk { mounts } => match mounts.iter().position(|m| !m.starts_with('/')) {
                Some(i) => bad(
                    format!("mounts[{i}]"),
                    "must be a mount point starting with /",
                ),
                None => Ok(()),
            },
            RuleKind::ApiErrorRate {
                window_secs,
                min_calls,
            }
            | RuleKind::ApiLatency {
                window_secs,
                min_calls,
                ..
            } => {
                if !(10..=MAX_SECS).contains(window_secs) {
                    return bad("window_secs", "must be 10 to 604800");
                }
                if *min_calls == 0 {
                    return bad("min_calls", "must be at least 1");
                }
                Ok(())
            }
            RuleKind::TrafficDrop { min_calls } if *min_calls == 0 => {
                bad("min_calls", "must be at least 1")
            }
            RuleKind::IngestQuarantine { window_secs }
                if !(60..=MAX_SECS).contains(window_secs) =>
            {
                bad("window_secs", "must be 60 to 604800")
            }
            _ => Ok(()),
        }
    }

    fn validate_scope(&self, s: &Scope) -> Result<(), FieldError> {
        if s.family() != self.kind.family() {
            let kind = serde_json::to_value(&self.kind)
                .ok()
                .and_then(|v| v["type"].as_str().map(str::to_string))
                .unwrap_or_default();
            let allowed = match self.kind.family() {
                ScopeFamily::Nodes => "all_nodes or nodes",
                ScopeFamily::Calls => "all_apis, api or client",
            };
            return bad("", format!("a {kind} rule takes {allowed}"));
        }
        match s {
            _ if matches!(self.kind, RuleKind::IngestQuarantine { .. }) => bad(
                "",
                "an ingest_quarantine rule counts the batches of every collector of the site (leave scope out)",
            ),
            Scope::Nodes(_) if self.kind.error_breaches() => bad(
                "",
                "the alerter's own database probe has no node scope (leave scope out)",
            ),
            Scope::Nodes(n) if n.is_empty() => bad("nodes", "name at least one node"),
            Scope::Nodes(n) => {
                for (i, node) in n.iter().enumerate() {
                    if node.is_empty() || node.len() > 200 || node.chars().any(char::is_control) {
                        return bad(format!("nodes[{i}]"), "must be a node name");
                    }
                }
                Ok(())
            }
            Scope::Api(id) => check_id("api", id),
            Scope::Client(id) => check_id("client", id),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<AlertRuleSpec, String> {
        let r: AlertRuleSpec = serde_json::from_str(json).map_err(|e| format!("serde: {e}"))?;
        r.validate().map_err(|e| e.field)?;
        Ok(r)
    }

    #[test]
    fn a_full_rule_round_trips() {
        let r = parse(
            r#"{"name":"CPU 高","severity":"critical","kind":{"type":"node_cpu"},
                "scope":{"nodes":["gw1","gw2"]},"threshold":90,"recovery":80,
                "for_secs":180,"repeat_secs":180,"timezone":"Asia/Taipei",
                "windows":[{"type":"weekly","days":["sat","sun"]},
                           {"type":"daily","from":"22:00","until":"06:00"}],
                "recipients":{"roles":["ops"],"emails":["a@b.tw"],"line":["U0123abc"],"webhooks":["slack"]},
                "templates":{"en":{"firing":{"subject":"$NODE hot: $VALUE > $THRESHOLD"}}},
                "language":"zh-TW"}"#,
        )
        .unwrap();
        assert_eq!(r.scope(), Scope::Nodes(vec!["gw1".into(), "gw2".into()]));
        assert!(r.enabled && r.send_resolved);
        assert_eq!(r.lang(Lang::En), Lang::ZhTw);
        assert_eq!(r.zone(Tz::UTC), chrono_tz::Asia::Taipei);
        // Saturday noon in Taipei is inside the weekend window; Monday noon is not.
        assert!(r.in_window(Tz::UTC, "2026-11-28T04:00:00Z".parse().unwrap()));
        assert!(!r.in_window(Tz::UTC, "2026-11-30T04:00:00Z".parse().unwrap()));
        let back: AlertRuleSpec =
            serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn scopes_default_per_kind_and_are_checked_against_it() {
        let r = parse(r#"{"name":"x","kind":{"type":"api_error_rate"},"threshold":5}"#).unwrap();
        assert_eq!(r.scope(), Scope::AllApis);
        assert_eq!(
            r.kind,
            RuleKind::ApiErrorRate {
                window_secs: 300,
                min_calls: 20
            }
        );
        let r = parse(r#"{"name":"x","kind":{"type":"disk"},"threshold":90}"#).unwrap();
        assert_eq!(r.scope(), Scope::AllNodes);
        assert!(parse(
            r#"{"name":"x","kind":{"type":"api_latency","quantile":"p99"},"scope":{"client":"acme"},"threshold":500}"#
        )
        .is_ok());
        assert_eq!(
            parse(
                r#"{"name":"x","kind":{"type":"node_cpu"},"scope":{"api":"orders"},"threshold":5}"#
            ),
            Err("scope".into())
        );
        assert_eq!(
            parse(
                r#"{"name":"x","kind":{"type":"traffic_drop"},"scope":"all_nodes","threshold":50}"#
            ),
            Err("scope".into())
        );
        assert_eq!(
            parse(
                r#"{"name":"x","kind":{"type":"database","check":"connect_ms"},"scope":{"nodes":["a"]},"threshold":500}"#
            ),
            Err("scope".into())
        );
        assert!(parse(
            r#"{"name":"x","kind":{"type":"database","check":"gateway_spool"},"scope":{"nodes":["a"]},"threshold":50}"#
        )
        .is_ok());
        assert_eq!(
            parse(r#"{"name":"x","kind":{"type":"node_cpu"},"scope":{"nodes":[]},"threshold":5}"#),
            Err("scope.nodes".into())
        );
        assert_eq!(
            parse(
                r#"{"name":"x","kind":{"type":"api_latency","quantile":"p95"},"scope":{"api":"a/b"},"threshold":5}"#
            ),
            Err("scope.api".into())
        );
    }

    #[test]
    fn bad_rules_name_the_field() {
        let cases = [
            (
                r#"{"name":" ","kind":{"type":"node_cpu"},"threshold":5}"#,
                "name",
            ),
            (
                r#"{"name":"x","kind":{"type":"node_cpu"},"threshold":150}"#,
                "threshold",
            ),
            (
                r#"{"name":"x","kind":{"type":"node_cpu"},"threshold":-1}"#,
                "threshold",
            ),
            (
                r#"{"name":"x","kind":{"type":"node_cpu"},"threshold":90,"recovery":95}"#,
                "recovery",
            ),
            (
                r#"{"name":"x","kind":{"type":"traffic_drop"},"comparison":"below","threshold":10,"recovery":5}"#,
                "recovery",
            ),
            (
                r#"{"name":"x","kind":{"type":"node_silent"},"comparison":"below","threshold":60}"#,
                "comparison",
            ),
            (
                r#"{"name":"x","kind":{"type":"node_cpu"},"threshold":9,"for_secs":9999999}"#,
                "for_secs",
            ),
            (
                r#"{"name":"x","kind":{"type":"node_cpu"},"threshold":9,"repeat_secs":9999999}"#,
                "repeat_secs",
            ),
            (
                r#"{"name":"x","kind":{"type":"node_cpu"},"threshold":9,"timezone":"Mars/Base"}"#,
                "timezone",
            ),
            (
                r#"{"name":"x","kind":{"type":"node_cpu"},"threshold":9,"windows":[{"type":"weekly","days":[]}]}"#,
                "windows[0].days",
            ),
            (
                r#"{"name":"x","kind":{"type":"node_cpu"},"threshold":9,"recipients":{"emails":["nope"]}}"#,
                "recipients.emails[0]",
            ),
            (
                r#"{"name":"x","kind":{"type":"node_cpu"},"threshold":9,"recipients":{"line":["U 1"]}}"#,
                "recipients.line[0]",
            ),
            (
                r#"{"name":"x","kind":{"type":"node_cpu"},"threshold":9,"recipients":{"webhooks":["a b"]}}"#,
                "recipients.webhooks[0]",
            ),
            (
                r#"{"name":"x","kind":{"type":"node_cpu"},"threshold":9,"templates":{"en":{"resolved":{"body":"{{rule}} {{nodes}}"}}}}"#,
                "templates.en.resolved.body",
            ),
            (
                r#"{"name":"x","kind":{"type":"process_memory","unit":"percent"},"threshold":9}"#,
                "kind.limit_mb",
            ),
            (
                r#"{"name":"x","kind":{"type":"process_memory","limit_mb":512},"threshold":9}"#,
                "kind.limit_mb",
            ),
            (
                r#"{"name":"x","kind":{"type":"disk","mounts":["data"]},"threshold":9}"#,
                "kind.mounts[0]",
            ),
            (
                r#"{"name":"x","kind":{"type":"api_error_rate","min_calls":0},"threshold":9}"#,
                "kind.min_calls",
            ),
            (
                r#"{"name":"x","kind":{"type":"api_error_rate","window_secs":1},"threshold":9}"#,
                "kind.window_secs",
            ),
        ];
        for (json, field) in cases {
            assert_eq!(parse(json), Err(field.to_string()), "{json}");
        }
        for json in [
            r#"{"name":"x","kind":{"type":"node_cpu"},"threshold":9,"extra":1}"#,
            r#"{"name":"x","kind":{"type":"gpu"},"threshold":9}"#,
            r#"{"name":"x","kind":{"type":"node_cpu","mount":"/"},"threshold":9}"#,
            r#"{"name":"x","kind":{"type":"disk","mount":"/"},"threshold":9}"#,
            r#"{"name":"x","kind":{"type":"api_latency"},"threshold":9}"#,
            r#"{"name":"x","kind":{"type":"node_cpu"},"scope":"everywhere","threshold":9}"#,
            r#"{"name":"x","kind":{"type":"node_cpu"},"threshold":"high"}"#,
            r#"{"name":"x","kind":{"type":"node_cpu"},"threshold":9,"severity":"page"}"#,
            r#"{"name":"x","kind":{"type":"node_cpu"},"threshold":9,"language":"fr"}"#,
            r#"{"name":"x","kind":{"type":"node_cpu"},"threshold":9,"recipients":{"roles":["root"]}}"#,
        ] {
            assert!(parse(json).unwrap_err().starts_with("serde"), "{json}");
        }
    }

    #[test]
    fn an_ingest_quarantine_rule_is_site_wide() {
        let r =
            parse(r#"{"name":"隔離","kind":{"type":"ingest_quarantine"},"threshold":0}"#).unwrap();
        assert_eq!(r.kind, RuleKind::IngestQuarantine { window_secs: 3600 });
        assert!(r.kind.site_wide() && !r.kind.error_breaches());
        assert_eq!(r.kind.unit(), "");
        assert!(r.breaches(1.0) && !r.breaches(0.0));
        assert_eq!(
            parse(
                r#"{"name":"x","kind":{"type":"ingest_quarantine"},"scope":{"nodes":["c1"]},"threshold":0}"#
            ),
            Err("scope".into())
        );
        assert_eq!(
            parse(
                r#"{"name":"x","kind":{"type":"ingest_quarantine","window_secs":5},"threshold":0}"#
            ),
            Err("kind.window_secs".into())
        );
    }

    #[test]
    fn hysteresis_lines() {
        let mut r = AlertRuleSpec::new("x", RuleKind::NodeCpu {}, 90.0);
        assert!(r.breaches(90.5) && !r.breaches(90.0));
        assert!(r.recovered(90.0) && !r.recovered(90.5));
        r.recovery = Some(80.0);
        assert!(!r.recovered(85.0) && r.recovered(80.0));
        r.comparison = Comparison::Below;
        r.threshold = 10.0;
        r.recovery = Some(20.0);
        assert!(r.breaches(9.0) && !r.breaches(10.0));
        assert!(!r.recovered(15.0) && r.recovered(20.0));
        assert_eq!(r.validate(), Ok(()));
        r.recovery = Some(5.0);
        assert_eq!(r.validate().unwrap_err().field, "recovery");
    }

    #[test]
    fn database_errors_breach_others_do_not() {
        assert!(RuleKind::Database {
            check: DbCheck::ConnectMs
        }
        .error_breaches());
        assert!(!RuleKind::Database {
            check: DbCheck::GatewaySpool
        }
        .error_breaches());
        assert!(!RuleKind::NodeCpu {}.error_breaches());
        assert_eq!(
            RuleKind::ProcessMemory {
                unit: MemoryUnit::Mb,
                limit_mb: None
            }
            .unit(),
            "MB"
        );
    }
}
