//! Where firing alerts go and what mutes them (issue 18): **notification policies** (kind
//! `notification_policy`) group alerts by labels and pace their messages; **inhibit rules**
//! (kind `inhibit_rule`) mute alerts while another fires. Both match alerts by their
//! [`labels`] with Alertmanager's matcher syntax (`severity="critical"`, `kind=~"node_.*"`).
//!
//! The decisions on them (which policy takes an alert, group keys, whether an alert is
//! inhibited) are pure functions in the alerter's stages; this module is their vocabulary and
//! validation.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

use super::key::ScopeKey;
use super::rule::{AlertRuleSpec, Recipients};
use crate::field::{bad, FieldError};

/// The labels an alert carries: what matchers, `group_by` and `equal` name.
pub const LABELS: [&str; 9] = [
    "alertname",
    "rule",
    "severity",
    "kind",
    "node",
    "mount",
    "api",
    "client",
    "node_group",
];

/// An alert's labels: `alertname` (the rule's name), `rule` (its id), `severity`, `kind` (the
/// rule kind's type, `node_cpu`), and the scope key's parts that are set (`node`, `mount`,
/// `api`, `client`). `node_group` is added by the alerter where nodes have groups.
pub fn labels(rule_id: &str, spec: &AlertRuleSpec, key: &ScopeKey) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    l.insert("alertname".into(), spec.name.clone());
    l.insert("rule".into(), rule_id.to_string());
    l.insert("severity".into(), spec.severity.as_str().to_string());
    l.insert("kind".into(), spec.kind.type_name().to_string());
    for (name, v) in [
        ("node", &key.node),
        ("mount", &key.mount),
        ("api", &key.api),
        ("client", &key.client),
    ] {
        if let Some(v) = v {
            l.insert(name.into(), v.clone());
        }
    }
    l
}

/// How a matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Eq,
    NotEq,
    Regex,
    NotRegex,
}

impl MatchOp {
    fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::NotEq => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

/// One label matcher, written as Alertmanager writes them: `name=value`, `name!=value`,
/// `name=~regex`, `name!~regex`; the value may be double-quoted (`severity="critical"`). A
/// regex is anchored (it must match the whole value). A label the alert lacks reads as empty.
#[derive(Clone)]
pub struct Matcher {
    pub label: String,
    pub op: MatchOp,
    pub value: String,
    re: Option<regex::Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Matcher) -> bool {
        (&self.label, self.op, &self.value) == (&o.label, o.op, &o.value)
    }
}
impl Eq for Matcher {}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}",
            self.label,
            self.op.as_str(),
            serde_json::Value::String(self.value.clone())
        )
    }
}

impl std::str::FromStr for Matcher {
    type Err = String;

    fn from_str(s: &str) -> Result<Matcher, String> {
        let s = s.trim();
        let at = s
            .find(['=', '!'])
            .ok_or("is not `label=value` (or `!=`, `=~`, `!~`)")?;
        let label = s[..at].trim();
        let rest = &s[at..];
        let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
            (MatchOp::Regex, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (MatchOp::NotRegex, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (MatchOp::NotEq, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (MatchOp::Eq, v)
        } else {
            return Err("is not `label=value` (or `!=`, `=~`, `!~`)".into());
        };
        if !LABELS.contains(&label) {
            return Err(format!(
                "names label `{label}`; labels are {}",
                LABELS.join(", ")
            ));
        }
        let value = value.trim();
        let value = if value.starts_with('"') {
            serde_json::from_str::<String>(value)
                .map_err(|_| "has a quoted value that does not end where it should".to_string())?
        } else {
            value.to_string()
        };
        if value.len() > 1024 {
            return Err("has a value longer than 1024 bytes".into());
        }
        let re = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                regex::RegexBuilder::new(&format!("^(?:{value})$"))
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| format!("has a regex that does not compile: {e}"))?,
            ),
            _ => None,
        };
        Ok(Matcher {
            label: label.to_string(),
            op,
            value,
            re,
        })
    }
}

impl Matcher {
    /// Whether `labels` satisfy this matcher.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let have = labels.get(&self.label).map(String::as_str).unwrap_or("");
        match (self.op, &self.re) {
            (MatchOp::Eq, _) => have == self.value,
            (MatchOp::NotEq, _) => have != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(have),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(have),
            _ => false,
        }
    }
}

/// Whether every matcher holds (an empty list matches every alert).
pub fn all_match(matchers: &[Matcher], labels: &BTreeMap<String, String>) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

impl Serialize for Matcher {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Matcher, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map_err(|e| serde::de::Error::custom(format!("`{s}` {e}")))
    }
}

impl utoipa::PartialSchema for Matcher {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "`label=value`, `label!=value`, `label=~regex`, `label!~regex` (Alertmanager's syntax)",
            ))
            .pattern(Some(
                "^\\s*(alertname|rule|severity|kind|node|mount|api|client|node_group)\\s*(=~|!~|!=|=)",
            ))
            .into()
    }
}
impl utoipa::ToSchema for Matcher {}

fn default_group_wait() -> u64 {
    30
}
fn default_group_interval() -> u64 {
    300
}
fn default_repeat_interval() -> u64 {
    4 * 3600
}
fn yes() -> bool {
    true
}

/// A notification policy, as stored in the configuration log (kind `notification_policy`).
///
/// Policies are tried in `order` (then id); the first whose `matchers` all hold takes the
/// alert (and, with `continue`, the next matching ones too). An alert no policy takes is
/// notified alone, as each rule's own repeat says (the behaviour before policies).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationPolicySpec {
    #[schema(min_length = 1)]
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Lower first.
    #[serde(default)]
    pub order: i32,
    /// Which alerts (all when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matchers: Vec<Matcher>,
    /// Labels whose values make a group (`["rule"]`: one message per rule; `["node"]`: one per
    /// node; empty: every alert the policy takes is one group). `["..."]` groups by every label
    /// (no grouping).
    #[serde(default)]
    pub group_by: Vec<String>,
    /// How long a new group waits for more alerts before its first message.
    #[serde(default = "default_group_wait")]
    #[schema(maximum = 86_400)]
    pub group_wait_secs: u64,
    /// How long a group waits after a message before sending one about what changed (alerts
    /// added or resolved).
    #[serde(default = "default_group_interval")]
    #[schema(minimum = 1, maximum = 604_800)]
    pub group_interval_secs: u64,
    /// How long before a group whose alerts have not changed is sent again; 0: never.
    #[serde(default = "default_repeat_interval")]
    #[schema(maximum = 604_800)]
    pub repeat_interval_secs: u64,
    /// Who hears about the group. Without it each alert goes to its rule's recipients, and each
    /// recipient gets one message listing the group's alerts addressed to them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Recipients>,
    /// Also try the policies after this one.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    /// Send a resolved message when all of a group's alerts have resolved.
    #[serde(default = "yes")]
    pub send_resolved: bool,
}

impl NotificationPolicySpec {
    /// Whether `group_by` is `["..."]`: every label, i.e. each alert alone.
    pub fn groups_by_all(&self) -> bool {
        self.group_by.iter().any(|l| l == "...")
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        if self.name.trim().is_empty() {
            return bad("name", "must not be empty");
        }
        for (i, l) in self.group_by.iter().enumerate() {
            if l != "..." && !LABELS.contains(&l.as_str()) {
                return bad(
                    format!("group_by[{i}]"),
                    format!("`{l}` is not a label; labels are {}", LABELS.join(", ")),
                );
            }
        }
        if self.groups_by_all() && self.group_by.len() > 1 {
            return bad("group_by", "`...` stands alone");
        }
        if self.group_interval_secs == 0 {
            return bad("group_interval_secs", "must be at least 1");
        }
        if self.group_wait_secs > 86_400 {
            return bad("group_wait_secs", "must be at most 86400 (a day)");
        }
        if self.group_interval_secs > 604_800 {
            return bad("group_interval_secs", "must be at most 604800 (a week)");
        }
        if self.repeat_interval_secs > 604_800 {
            return bad("repeat_interval_secs", "must be at most 604800 (a week)");
        }
        if let Some(r) = &self.recipients {
            if r.is_empty() {
                return bad(
                    "recipients",
                    "names nobody (leave it out to use each rule's recipients)",
                );
            }
            r.validate().map_err(|e| e.under("recipients"))?;
        }
        Ok(())
    }
}

/// An inhibit rule (kind `inhibit_rule`), Alertmanager's: while an alert matching
/// `source_matchers` fires, alerts matching `target_matchers` that have the same values of
/// every label in `equal` are muted (recorded as held back, with this rule as the reason). An
/// alert never inhibits itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InhibitRuleSpec {
    #[schema(min_length = 1)]
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[schema(min_items = 1)]
    pub source_matchers: Vec<Matcher>,
    #[schema(min_items = 1)]
    pub target_matchers: Vec<Matcher>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub equal: Vec<String>,
}

impl InhibitRuleSpec {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.name.trim().is_empty() {
            return bad("name", "must not be empty");
        }
        if self.source_matchers.is_empty() {
            return bad("source_matchers", "name at least one matcher");
        }
        if self.target_matchers.is_empty() {
            return bad("target_matchers", "name at least one matcher");
        }
        for (i, l) in self.equal.iter().enumerate() {
            if !LABELS.contains(&l.as_str()) {
                return bad(
                    format!("equal[{i}]"),
                    format!("`{l}` is not a label; labels are {}", LABELS.join(", ")),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Matcher {
        s.parse().unwrap()
    }

    fn l(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn matchers_in_alertmanagers_syntax() {
        let a = l(&[
            ("kind", "node_cpu"),
            ("severity", "critical"),
            ("node", "gw1"),
        ]);
        assert!(m("severity=critical").matches(&a));
        assert!(m("severity=\"critical\"").matches(&a));
        assert!(m("severity!=warning").matches(&a));
        assert!(m("kind=~node_cpu|disk").matches(&a));
        assert!(!m("kind=~node").matches(&a), "anchored");
        assert!(m("kind!~disk|node_memory").matches(&a));
        assert!(m("api=").matches(&a), "a missing label reads as empty");
        assert!(!m("api=~.+").matches(&a));
        assert_eq!(m(" kind =~ \"node_.*\" ").to_string(), "kind=~\"node_.*\"");
        for bad in ["severity", "sev=critical", "kind=~(", "node=\"gw1"] {
            assert!(bad.parse::<Matcher>().is_err(), "{bad}");
        }
    }

    #[test]
    fn policies_and_inhibit_rules_validate_naming_the_field() {
        let p: NotificationPolicySpec = serde_json::from_str(
            r#"{"name":"cpu","matchers":["kind=node_cpu"],"group_by":["rule","nodes"]}"#,
        )
        .unwrap();
        assert_eq!(p.validate().unwrap_err().field, "group_by[1]");
        assert_eq!(p.group_wait_secs, 30);
        let e = serde_json::from_str::<NotificationPolicySpec>(
            r#"{"name":"x","matchers":["colour=red"]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
        let r: InhibitRuleSpec = serde_json::from_str(
            r#"{"name":"silent node","source_matchers":["kind=node_silent"],
                "target_matchers":["kind=~node_cpu|node_memory|process_memory|disk"],"equal":["node"]}"#,
        )
        .unwrap();
        r.validate().unwrap();
        let r = InhibitRuleSpec {
            equal: vec!["host".into()],
            ..r
        };
        assert_eq!(r.validate().unwrap_err().field, "equal[0]");
    }
}
