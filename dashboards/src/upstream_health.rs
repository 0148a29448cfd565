//! `GET /api/v1/upstreams/health`: how each upstream host of each configured API has been
//! answering lately, from the calls ClickHouse holds (`store::observe::upstream_windows`).
//! The gateway's active health checks live in each gateway process and reach no table, so
//! real traffic is the one record every node shares. Badges: `up`, `degraded`, `down`, or
//! `idle` (no calls in the window — not known to be down).

use crate::extract::Query;
use axum::extract::State;
use axum::Json;
use chrono::Utc;
use gatewatch_model::{ApiSpec, EntityKind};
use gatewatch_store::observe::{self, UpstreamWindow};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

use crate::answer::time_of;
use crate::error::ApiError;
use crate::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HealthParams {
    /// Over the last this many minutes, 1 to 1440 (default 15).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1440)]
    minutes: Option<String>,
}

pub const DEFAULT_MINUTES: u64 = 15;
pub const MAX_MINUTES: u64 = 24 * 60;

/// Failed share at or above which a host with traffic is `down` when its newest call failed.
const DOWN_PCT: f64 = 50.0;
/// Failed share at or above which a host is `degraded`.
const DEGRADED_PCT: f64 = 5.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Up,
    Degraded,
    Down,
    /// No call through this host in the window.
    Idle,
}

/// One upstream host of one API.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UpstreamHealth {
    pub api_id: String,
    /// As configured (`http://host:port`).
    pub url: String,
    pub weight: u16,
    pub status: Health,
    pub calls: u64,
    /// Upstream errors (5xx), timeouts, unreachable, gateway errors.
    pub failed: u64,
    pub timeouts: u64,
    /// `failed` in percent of `calls` (0 without calls).
    pub failed_pct: f64,
    /// The newest call through this host in the window (RFC 3339), if any.
    pub last_call: Option<String>,
    pub last_failed: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UpstreamHealthPage {
    /// Every upstream of every API, in API id then configured order.
    pub items: Vec<UpstreamHealth>,
    pub minutes: u64,
}

/// The badge of a host from its calls in the window.
pub fn classify(w: Option<&UpstreamWindow>) -> Health {
    let Some(w) = w.filter(|w| w.calls > 0) else {
        return Health::Idle;
    };
    let pct = 100.0 * w.failed as f64 / w.calls as f64;
    let last_failed = w.last_failed != 0;
    if last_failed && pct >= DOWN_PCT {
        Health::Down
    } else if last_failed || pct >= DEGRADED_PCT {
        Health::Degraded
    } else {
        Health::Up
    }
}

/// The gateway records an upstream as `http://host:port` (no trailing slash).
fn label(url: &str) -> String {
    url.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Joins the configured upstreams of `apis` with their windows.
pub fn join(apis: &[(String, ApiSpec)], windows: Vec<UpstreamWindow>) -> Vec<UpstreamHealth> {
    let by: HashMap<(String, String), UpstreamWindow> = windows
        .into_iter()
        .map(|w| ((w.api_id.clone(), label(&w.upstream)), w))
        .collect();
    let mut out = Vec::new();
    for (id, spec) in apis {
        for u in &spec.upstreams {
            let w = by.get(&(id.clone(), label(&u.url)));
            let (calls, failed) = w.map_or((0, 0), |w| (w.calls, w.failed));
            out.push(UpstreamHealth {
                api_id: id.clone(),
                url: u.url.clone(),
                weight: u.weight,
                status: classify(w),
                calls,
                failed,
                timeouts: w.map_or(0, |w| w.timeouts),
                failed_pct: if calls == 0 {
                    0.0
                } else {
                    (10_000.0 * failed as f64 / calls as f64).round() / 100.0
                },
                last_call: w.filter(|w| w.calls > 0).map(|w| time_of(w.last_us)),
                last_failed: w.is_some_and(|w| w.last_failed != 0),
            });
        }
    }
    out
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(p): Query<HealthParams>,
) -> Result<Json<UpstreamHealthPage>, ApiError> {
    let minutes = match p.minutes.as_deref().filter(|s| !s.is_empty()) {
        None => DEFAULT_MINUTES,
        Some(s) => s
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=MAX_MINUTES).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    "minutes",
                    format!("{s:?} must be a whole number from 1 to {MAX_MINUTES}"),
                )
            })?,
    };
    let table = state.cache.get();
    let apis: Vec<(String, ApiSpec)> = table
        .list(EntityKind::Api, None)
        .filter_map(|e| Some((e.id.clone(), serde_json::from_str(&e.body).ok()?)))
        .collect();
    let since = u32::try_from(Utc::now().timestamp() - (minutes * 60) as i64).unwrap_or(0);
    let windows = observe::upstream_windows(&state.store, since).await?;
    Ok(Json(UpstreamHealthPage {
        items: join(&apis, windows),
        minutes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(calls: u64, failed: u64, last_failed: bool) -> UpstreamWindow {
        UpstreamWindow {
            api_id: "orders".into(),
            upstream: "http://127.0.0.1:9001".into(),
            calls,
            failed,
            timeouts: 0,
            last_us: 1_700_000_000_000_000,
            last_failed: u8::from(last_failed),
        }
    }

    #[test]
    fn badges_from_recent_calls() {
        assert_eq!(classify(None), Health::Idle);
        assert_eq!(classify(Some(&w(0, 0, false))), Health::Idle);
        assert_eq!(classify(Some(&w(100, 0, false))), Health::Up);
        assert_eq!(classify(Some(&w(100, 4, false))), Health::Up);
        assert_eq!(classify(Some(&w(100, 5, false))), Health::Degraded);
        // A failing newest call: degraded on a mostly healthy host, down on a failing one.
        assert_eq!(classify(Some(&w(100, 1, true))), Health::Degraded);
        assert_eq!(classify(Some(&w(10, 6, true))), Health::Down);
        // Mostly failing but recovered: degraded, not down.
        assert_eq!(classify(Some(&w(10, 9, false))), Health::Degraded);
    }

    #[test]
    fn every_configured_host_is_listed_matched_by_label() {
        let spec: ApiSpec = serde_json::from_str(
            r#"{"name":"o","prefix":"/o","upstreams":["http://127.0.0.1:9001/",{"url":"http://127.0.0.1:9002","weight":3}]}"#,
        )
        .unwrap();
        let rows = join(&[("orders".into(), spec)], vec![w(8, 0, false)]);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].status, rows[0].calls), (Health::Up, 8));
        assert!(rows[0].last_call.is_some());
        assert_eq!((rows[1].status, rows[1].weight), (Health::Idle, 3));
        assert_eq!(rows[1].last_call, None);
    }
}
