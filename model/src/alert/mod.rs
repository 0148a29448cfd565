//! Alerting vocabulary, pure (no I/O, `now` always passed in):
//!
//! - [`rule`]: the `alert_rule` entity ([`AlertRuleSpec`]): kind, scope, comparison,
//!   threshold and recovery line, duration, repeat interval, windows, recipients, templates.
//! - [`window`]: exception windows read on the rule zone's wall clock (DST rules there).
//! - [`silence`]: the `silence` entity ([`SilenceSpec`]) and its matching.
//! - [`template`]: placeholders, default texts (zh-TW, en), one-pass rendering.
//! - [`state`]: the per-(rule, [`ScopeKey`]) state machine, [`step`].
//!
//! The evaluator (in the alerter) measures, builds an [`Observation`] per scope key, asks
//! `suppressed = window::active_at(..) || silence::silenced(..)`, calls [`step`], records
//! every [`Action`] and sends the `Notify` ones rendered with [`template::render_notice`].

pub mod key;
pub mod rule;
pub mod silence;
pub mod state;
pub mod template;
pub mod window;

pub use key::ScopeKey;
pub use rule::{
    AlertRuleSpec, BacklogMeasure, Comparison, DbCheck, MemoryUnit, Quantile, Recipients, RuleKind,
    Scope, ScopeFamily, Severity,
};
pub use silence::{silenced, SilenceSpec};
pub use state::{step, Action, AlertState, Observation, Phase, PhaseName};
pub use template::{render, render_notice, Lang, NoticeKind, NoticeTemplates, Text, Vars};
pub use window::{active_at, ExceptionWindow};
