//! `POST /api/v1/alert-rules/windows/check`: whether a rule's exception windows hold at given
//! instants, read as the alerter reads them (`model::alert::window`). The rule editor asks it
//! when the windows are open next; scripts can check a pasted Alertmanager `time_interval`.

use crate::extract::Body;
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use gatewatch_model::alert::ExceptionWindow;
use gatewatch_model::client::parse_tz;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

use crate::error::ApiError;
use crate::AppState;

/// Most windows one check takes (a rule has a handful).
pub const MAX_WINDOWS: usize = 64;
/// Most instants one check takes (14 days hourly is 336).
pub const MAX_INSTANTS: usize = 1000;

/// Windows in either form, the zone they are read in, and the instants to check.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowCheck {
    /// As a rule's `windows` (tagged or Alertmanager's `time_interval`), at most 64.
    #[schema(max_items = 64)]
    pub windows: Vec<ExceptionWindow>,
    /// The rule's IANA zone (default: the site's); a window's `location` overrides it.
    #[serde(default)]
    #[schema(schema_with = gatewatch_model::schema::time_zone)]
    pub timezone: Option<String>,
    /// RFC 3339 instants, at most 1000.
    #[schema(max_items = 1000, value_type = Vec<String>, format = DateTime)]
    pub at: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WindowCheckAnswer {
    /// Per instant of `at`, in order: whether one of the windows holds it.
    pub active: Vec<bool>,
}

pub async fn check(
    State(state): State<Arc<AppState>>,
    Body(body): Body,
) -> Result<Json<WindowCheckAnswer>, ApiError> {
    let o = crate::write::object(&body)?;
    // Counted before reading them: a body of 2 MiB of windows is refused without parsing each.
    for (field, max) in [("windows", MAX_WINDOWS), ("at", MAX_INSTANTS)] {
        if let Some(Value::Array(a)) = o.get(field) {
            if a.len() > max {
                return Err(ApiError::invalid(
                    field,
                    format!("at most {max} items ({} given)", a.len()),
                ));
            }
        }
    }
    let req: WindowCheck =
        serde_path_to_error::deserialize(Value::Object(o)).map_err(crate::error::invalid_body)?;
    for (i, w) in req.windows.iter().enumerate() {
        w.validate()
            .map_err(|e| ApiError::from(e.under(&format!("windows[{i}]"))))?;
    }
    let zone = req
        .timezone
        .as_deref()
        .unwrap_or(&state.config.site_timezone);
    let tz = parse_tz(zone).map_err(|m| ApiError::invalid("timezone", m))?;
    let at = req
        .at
        .iter()
        .enumerate()
        .map(|(i, s)| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    ApiError::invalid(format!("at[{i}]"), format!("{s:?} is not RFC 3339: {e}"))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(WindowCheckAnswer {
        active: at
            .into_iter()
            .map(|t| gatewatch_model::alert::active_at(&req.windows, tz, t))
            .collect(),
    }))
}
