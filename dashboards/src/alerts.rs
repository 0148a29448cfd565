//! `GET /api/v1/alerts` (what is pending or firing now) and `GET /api/v1/alerts/events` (the
//! timeline), read from the alerter's tables (`alert_state`, `alert_events`) and the rules in
//! the configuration. No alerter code is used: the saved state is the model's `AlertState`.

use crate::extract::Query;
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use gatewatch_model::alert::{AlertRuleSpec, AlertState, Phase};
use gatewatch_model::EntityKind;
use gatewatch_store::acks;
use gatewatch_store::alerts::{self, EventQuery};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

use crate::answer::time_of;
use crate::error::ApiError;
use crate::AppState;

/// The scope key split into its parts (`node=gw1,mount=/var`), absent parts left out.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Scope {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

impl Scope {
    pub fn of(key: &str) -> Scope {
        let mut s = Scope::default();
        for part in key.split(',') {
            if let Some((k, v)) = part.split_once('=') {
                let v = Some(v.to_string());
                match k {
                    "node" => s.node = v,
                    "mount" => s.mount = v,
                    "api" => s.api = v,
                    "client" => s.client = v,
                    _ => {}
                }
            }
        }
        s
    }
}

/// One active alert: a (rule, scope key) pending or firing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActiveAlert {
    pub rule_id: String,
    pub rule_name: String,
    /// The rule's kind (`node_cpu`, `api_error_rate`, …).
    pub kind: String,
    pub severity: String,
    /// `pending` or `firing`.
    pub state: String,
    /// The stored form, `node=gw1,mount=/var` (empty for the alerter's own probe).
    pub scope_key: String,
    pub scope: Scope,
    /// The value of the newest event of the episode (transition or notice), in the kind's
    /// unit; absent when none was recorded.
    pub value: Option<f64>,
    pub value_at: Option<String>,
    /// The rule's current threshold.
    pub threshold: f64,
    /// When the condition began.
    pub since: String,
    /// When it fired (firing only).
    pub fired_at: Option<String>,
    /// The last notice actually sent in this episode.
    pub last_notified: Option<String>,
    /// The episode (when its condition began, µs): what `POST /api/v1/alerts/ack` names.
    pub episode_us: i64,
    /// The ack holding on this episode now, if any (firing alerts only).
    pub ack: Option<crate::acks::AckInfo>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActiveAlerts {
    /// Firing before pending, then the oldest first.
    pub items: Vec<ActiveAlert>,
}

fn rfc(t: DateTime<Utc>) -> String {
    time_of(t.timestamp_micros())
}

pub async fn active(State(state): State<Arc<AppState>>) -> Result<Json<ActiveAlerts>, ApiError> {
    let table = state.cache.get();
    let rules: HashMap<&str, AlertRuleSpec> = table
        .list(EntityKind::AlertRule, None)
        .filter_map(|e| Some((e.id.as_str(), serde_json::from_str(&e.body).ok()?)))
        .collect();
    let mut items = Vec::new();
    for s in alerts::load_states(&state.store).await? {
        // A deleted rule's last state stays in the table; the alerter no longer evaluates it.
        let Some(rule) = rules.get(s.rule_id.as_str()) else {
            continue;
        };
        let Ok(st) = serde_json::from_str::<AlertState>(&s.state) else {
            tracing::warn!(rule = %s.rule_id, key = %s.scope_key, "a saved alert state does not parse");
            continue;
        };
        let (name, since, fired_at, last_sent) = match st.phase {
            Phase::Ok => continue,
            Phase::Pending { since } => ("pending", since, None, None),
            Phase::Firing {
                since,
                fired_at,
                last_sent,
                ..
            } => ("firing", since, Some(fired_at), last_sent),
        };
        let kind = serde_json::to_value(&rule.kind)
            .ok()
            .and_then(|v| v["type"].as_str().map(str::to_string))
            .unwrap_or_default();
        items.push((
            since,
            ActiveAlert {
                rule_id: s.rule_id.clone(),
                rule_name: rule.name.clone(),
                kind,
                severity: rule.severity.as_str().to_string(),
                state: name.to_string(),
                scope: Scope::of(&s.scope_key),
                scope_key: s.scope_key,
                value: None,
                value_at: None,
                threshold: rule.threshold,
                since: rfc(since),
                fired_at: fired_at.map(rfc),
                last_notified: last_sent.map(rfc),
                episode_us: since.timestamp_micros(),
                ack: None,
            },
        ));
    }
    if let Some(earliest) = items.iter().map(|(s, _)| *s).min() {
        let mut ids: Vec<String> = items.iter().map(|(_, a)| a.rule_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let values = alerts::last_values(&state.store, &ids, earliest.timestamp_micros()).await?;
        for (since, a) in &mut items {
            if let Some(v) = values.iter().find(|v| {
                v.rule_id == a.rule_id
                    && v.scope_key == a.scope_key
                    && v.ts_us >= since.timestamp_micros()
            }) {
                a.value = Some(v.value);
                a.value_at = Some(time_of(v.ts_us));
            }
        }
    }
    if let Some(earliest) = items
        .iter()
        .filter(|(_, a)| a.state == "firing")
        .map(|(s, _)| *s)
        .min()
    {
        // Acks are written after their episode began: reading from the oldest firing start
        // finds every one that can still hold.
        let now = crate::write::now_us();
        let held = acks::newest_since(&state.store, earliest.timestamp_micros()).await?;
        for (_, a) in items.iter_mut().filter(|(_, a)| a.state == "firing") {
            a.ack = held
                .iter()
                .find(|k| {
                    k.rule_id == a.rule_id
                        && k.scope_key == a.scope_key
                        && k.episode_us == a.episode_us
                })
                .filter(|k| k.holds_at(now))
                .map(crate::acks::AckInfo::of);
        }
    }
    items.sort_by(|(sa, a), (sb, b)| {
        (b.state == "firing")
            .cmp(&(a.state == "firing"))
            .then(sa.cmp(sb))
            .then_with(|| a.rule_id.cmp(&b.rule_id))
            .then_with(|| a.scope_key.cmp(&b.scope_key))
    });
    Ok(Json(ActiveAlerts {
        items: items.into_iter().map(|(_, a)| a).collect(),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// Only this rule's events.
    #[param(value_type = Option<String>, max_length = 64)]
    rule: Option<String>,
    /// Oldest time (RFC 3339); default 7 days before `to`.
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<String>,
    /// Newest time (RFC 3339); default now.
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<String>,
    /// Events per page, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

/// One row of the timeline: a transition (`pending`, `firing`, `resolved`, `ok`) or one
/// attempt to notify one recipient (`notify`, with channel, recipient, result, detail).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertEventRow {
    pub ts: String,
    pub rule_id: String,
    /// The rule's current name (empty when the rule is gone).
    pub rule_name: String,
    pub rule_version: u64,
    pub scope_key: String,
    pub scope: Scope,
    pub event: String,
    /// The phase after the event.
    pub phase: String,
    pub severity: String,
    pub value: f64,
    pub threshold: f64,
    pub channel: String,
    pub recipient: String,
    pub attempt: u16,
    /// `sent`, `failed` or `suppressed` for `notify`; empty for transitions.
    pub result: String,
    pub detail: String,
    pub notification_id: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertEventsPage {
    /// Newest first.
    pub items: Vec<AlertEventRow>,
    /// Pass as `cursor` for the next (older) page; absent on the last.
    pub next_cursor: Option<String>,
    /// With `rule`, on the first page: that rule's acks and unacks between `from` and `to`,
    /// newest first (at most 1000).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub acks: Vec<crate::acks::AckRecord>,
}

pub const DEFAULT_EVENTS: u64 = 100;
pub const MAX_EVENTS: u64 = 1000;

pub async fn events(
    State(state): State<Arc<AppState>>,
    Query(p): Query<EventParams>,
) -> Result<Json<AlertEventsPage>, ApiError> {
    let now = Utc::now();
    let from_us = crate::audit::time("from", p.from.as_deref(), now - chrono::Duration::days(7))?;
    let to_us = crate::audit::time("to", p.to.as_deref(), now + chrono::Duration::seconds(1))?;
    if to_us <= from_us {
        return Err(ApiError::invalid("to", "must be after from"));
    }
    let limit = match p.limit.as_deref() {
        None | Some("") => DEFAULT_EVENTS,
        Some(s) => s
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=MAX_EVENTS).contains(n))
            .ok_or_else(|| {
                ApiError::invalid("limit", format!("{s:?} must be 1 to {MAX_EVENTS}"))
            })?,
    };
    let rule = p.rule.filter(|r| !r.is_empty());
    if let Some(r) = &rule {
        gatewatch_model::field::check_id("rule", r)?;
    }
    let after = crate::answer::cursor_param(p.cursor.as_deref())?;
    // One more than asked says whether a next page exists.
    let mut rows = alerts::page_events(
        &state.store,
        &EventQuery {
            from_us,
            to_us,
            rule_id: rule.clone(),
            limit: limit + 1,
        },
        after,
    )
    .await?;
    let next_cursor = crate::answer::page_end(&mut rows, limit, |r| r.cursor);
    let acks = match (&rule, after) {
        (Some(r), None) => acks::of_rule(&state.store, r, from_us)
            .await?
            .iter()
            .filter(|a| a.ts_us < to_us)
            .map(crate::acks::AckRecord::of)
            .collect(),
        _ => Vec::new(),
    };
    let table = state.cache.get();
    let names: HashMap<&str, String> = table
        .list(EntityKind::AlertRule, None)
        .filter_map(|e| {
            let v: serde_json::Value = serde_json::from_str(&e.body).ok()?;
            Some((e.id.as_str(), v["name"].as_str()?.to_string()))
        })
        .collect();
    let name = |id: &str| names.get(id).cloned().unwrap_or_default();
    Ok(Json(AlertEventsPage {
        items: rows
            .into_iter()
            .map(|r| {
                let e = r.event;
                AlertEventRow {
                    ts: time_of(e.ts_us),
                    rule_name: name(&e.rule_id),
                    rule_id: e.rule_id,
                    rule_version: e.rule_version,
                    scope: Scope::of(&e.scope_key),
                    scope_key: e.scope_key,
                    event: e.event,
                    phase: e.phase,
                    severity: e.severity,
                    value: e.value,
                    threshold: e.threshold,
                    channel: e.channel,
                    recipient: e.recipient,
                    attempt: e.attempt,
                    result: e.result,
                    detail: e.detail,
                    notification_id: if e.notification_id.is_nil() {
                        String::new()
                    } else {
                        e.notification_id.to_string()
                    },
                }
            })
            .collect(),
        next_cursor,
        acks,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_cursors_read_back() {
        let s = Scope::of("node=gw1,mount=/var/lib");
        assert_eq!(s.node.as_deref(), Some("gw1"));
        assert_eq!(s.mount.as_deref(), Some("/var/lib"));
        assert!(s.api.is_none() && Scope::of("").node.is_none());
        let c = gatewatch_store::alerts::EventCursor {
            ts_us: 1_764_000_000_000_000,
            tie: u64::MAX,
        };
        assert_eq!(crate::answer::parse_cursor(&c.to_string()).unwrap(), c);
        for bad in ["", "x", "1.", ".2", "1.-2", "a.b"] {
            assert_eq!(
                crate::answer::parse_cursor(bad)
                    .unwrap_err()
                    .field
                    .as_deref(),
                Some("cursor")
            );
        }
    }
}
