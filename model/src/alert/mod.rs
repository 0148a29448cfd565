//! Alerting vocabulary, pure (no I/O, `now` always passed in):
//!
//! - [`rule`]: the `alert_rule` entity ([`AlertRuleSpec`]): kind, scope, comparison,
//!   threshold and recovery line, duration, repeat interval, windows, recipients, templates.
//! - [`window`]: exception windows read on the rule zone's wall clock (DST rules there).
//! - [`silence`]: the `silence` entity ([`SilenceSpec`]) and its matching.
//! - [`template`]: placeholders, default texts (zh-TW, en), one-pass rendering — of rule
//!   texts (e-mail, LINE) and of webhook bodies ([`template::render_map`]).
//! - [`state`]: the per-(rule, [`ScopeKey`]) state machine, [`step`].
//! - [`route`]: notification policies (grouping) and inhibit rules, alert labels, matchers.
//! - [`group`]: the message about a group of alerts the notifiers send.
//!
//! The evaluator (in the alerter) measures, builds an [`Observation`] per scope key, asks
//! `suppressed = window::active_at(..) || silence::silenced(..)`, calls [`step`], records
//! every [`Action`] and sends the `Notify` ones rendered with [`template::render_notice`].

pub mod group;
pub mod key;
pub mod route;
pub mod rule;
pub mod silence;
pub mod state;
pub mod template;
pub mod window;

pub use group::{render_group, GroupNotice, NoticeAlert};
pub use key::ScopeKey;
pub use route::{InhibitRuleSpec, Matcher, NotificationPolicySpec};
pub use rule::{
    AlertRuleSpec, BacklogMeasure, Comparison, DbCheck, MemoryUnit, Quantile, Recipients, RuleKind,
    Scope, ScopeFamily, Severity,
};
pub use silence::{silenced, SilenceSpec};
pub use state::{step, Action, AlertState, Observation, Phase, PhaseName};
pub use template::{
    render, render_map, render_notice, Lang, NoticeKind, NoticeTemplates, Text, Vars,
};
pub use window::{active_at, ExceptionWindow, TaggedWindow, TimeInterval};

#[cfg(test)]
mod readme_examples {
    use crate::{Entity, EntityKind};

    /// The rule and the silence shown in the README's "Alerting" section parse and validate.
    #[test]
    fn the_readme_examples_are_valid() {
        let rule = r#"{"name":"CPU 過高","threshold":90,
  "kind":{"type":"node_cpu"},"recovery":80,"for_secs":180,"repeat_secs":180,
  "timezone":"Asia/Taipei","windows":[{"type":"weekly","days":["sat","sun"],"from":"22:00","until":"06:00"}],
  "recipients":{"roles":["ops"],"line":["C0123456789abcdef0123456789abcdef"]}}"#;
        Entity::parse(EntityKind::AlertRule, "cpu-high", rule).unwrap();
        let silence = r#"{"rule":"*","node":"gw1",
  "from":"2026-11-26T01:00:00Z","until":"2026-11-26T03:00:00Z","who":"olive","why":"kernel upgrade"}"#;
        Entity::parse(EntityKind::Silence, "upgrade-gw1", silence).unwrap();
    }

    /// The subscription shown in the README's "Reports" section parses and validates.
    #[test]
    fn the_readme_report_subscription_is_valid() {
        let sub = r#"{"name":"每週用量","report":"usage","params":{"range":"last_week"},"cron":"0 8 * * mon",
  "timezone":"Asia/Taipei","recipients":{"roles":["manager"]},"formats":["chart","csv"],"lang":"zh-TW"}"#;
        Entity::parse(EntityKind::ReportSubscription, "weekly-usage", sub).unwrap();
    }
}
