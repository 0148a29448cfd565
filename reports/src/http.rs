//! The report API under `/api/v1/reports/`, served by the dashboards role: the binary mounts
//! [`router`] behind dashboards' login and role check, with [`access`] as its rows of the
//! route table (so the role check, the OpenAPI document and the role tests see these routes).

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use chrono_tz::Tz;
use gatewatch_model::report::{ReportKind, ReportParams};
use gatewatch_model::Permission;
use gatewatch_store::Store;

use crate::catalog;
use crate::error::{ReportError, Result};
use crate::segment::Segment;

/// What the handlers share.
#[derive(Clone)]
pub struct ReportsApi {
    pub store: Store,
    /// The site's zone: reports without `tz` use it.
    pub site_tz: Tz,
}

/// One route, who may call it, and what the OpenAPI document says of it (the dashboards
/// role adds the security and the error answers common to its routes).
#[derive(Debug, Clone)]
pub struct RouteAccess {
    pub method: Method,
    pub path: &'static str,
    pub permission: Permission,
    pub summary: &'static str,
    /// Path and query parameters.
    pub params: Vec<utoipa::openapi::path::Parameter>,
    /// Successful answers.
    pub ok: Vec<(u16, utoipa::openapi::Response)>,
    /// Error statuses beyond those of its shape (404 for a path parameter, 422 for a query).
    pub errors: Vec<u16>,
}

/// The routes of [`router`], each with the permission it needs.
pub fn access() -> Vec<RouteAccess> {
    use crate::doc::{
        call_filters, chart_size, filters, format, image, json, kind_param, report_answer, window,
    };
    let get = |path, permission, summary, params: Vec<Vec<_>>, ok| RouteAccess {
        method: Method::GET,
        path,
        permission,
        summary,
        params: params.concat(),
        ok: vec![(200, ok)],
        errors: Vec::new(),
    };
    let with_format = |mut p: Vec<_>| {
        p.push(format());
        p
    };
    let report_params = with_format([window(), filters()].concat());
    let chart_params = [window(), filters(), chart_size()].concat();
    vec![
        get(
            "/api/v1/reports",
            Permission::ReadReports,
            "The reports there are",
            vec![],
            json("each report and the permission it needs", "ReportList"),
        ),
        get(
            "/api/v1/reports/{kind}",
            Permission::ReadReports,
            "A report as JSON, or CSV with format=csv",
            vec![vec![kind_param()], report_params.clone()],
            report_answer(),
        ),
        get(
            "/api/v1/reports/{kind}/chart.svg",
            Permission::ReadReports,
            "A report's chart as SVG",
            vec![vec![kind_param()], chart_params.clone()],
            image("image/svg+xml"),
        ),
        get(
            "/api/v1/reports/{kind}/chart.png",
            Permission::ReadReports,
            "A report's chart as PNG",
            vec![vec![kind_param()], chart_params],
            image("image/png"),
        ),
        get(
            "/api/v1/reports/calls",
            Permission::ReadCallDetail,
            "Call search: calls by id, request id, client, API, node, status, outcome, method, least latency, window, path (keyset pages; format=csv exports)",
            vec![report_params, call_filters()],
            crate::doc::call_search_answer(),
        ),
        get(
            "/api/v1/reports/calls/{call_id}",
            Permission::ReadCallDetail,
            "One call: timings, outcome, masked headers and bodies",
            vec![window()],
            json("the call", "CallDetail"),
        ),
    ]
}

type Pairs = Query<Vec<(String, String)>>;

/// The report routes, for any outer router state.
pub fn router<S: Clone + Send + Sync + 'static>(api: ReportsApi) -> Router<S> {
    Router::new()
        .route("/api/v1/reports", get(list))
        .route("/api/v1/reports/{kind}", get(report))
        .route("/api/v1/reports/{kind}/chart.svg", get(chart_svg))
        .route("/api/v1/reports/{kind}/chart.png", get(chart_png))
        .route("/api/v1/reports/calls", get(calls))
        .route("/api/v1/reports/calls/{call_id}", get(one_call))
        .with_state(api)
}

async fn list() -> Json<serde_json::Value> {
    let kinds: Vec<_> = ReportKind::ALL
        .iter()
        .map(|k| serde_json::json!({"report": k.slug(), "permission": k.permission()}))
        .collect();
    Json(serde_json::json!({ "reports": kinds }))
}

fn kind_of(slug: &str) -> Result<ReportKind> {
    // Named as the route's path parameter (the parse names a subscription's `report` field).
    let kind: ReportKind = slug.parse().map_err(|e: gatewatch_model::FieldError| {
        gatewatch_model::FieldError::new("kind", e.message)
    })?;
    // Call detail has its own routes and permission.
    if kind == ReportKind::Calls {
        return Err(ReportError::NotFound(
            "call search is at /api/v1/reports/calls".into(),
        ));
    }
    Ok(kind)
}

fn format_of(pairs: &[(String, String)]) -> Result<&str> {
    match pairs.iter().rev().find(|(k, _)| k == "format") {
        None => Ok("json"),
        Some((_, v)) if v == "json" || v == "csv" => Ok(v.as_str()),
        Some((_, v)) => Err(gatewatch_model::FieldError::new(
            "format",
            format!("{v:?} is not json or csv"),
        )
        .into()),
    }
}

async fn run(
    api: &ReportsApi,
    kind: ReportKind,
    pairs: &[(String, String)],
) -> Result<catalog::Report> {
    let params = ReportParams::from_pairs(pairs)?;
    let lang = crate::i18n::lang_of(pairs)?;
    let mut report = catalog::run(&api.store, kind, &params, Utc::now(), api.site_tz).await?;
    crate::i18n::localise(&mut report, lang);
    Ok(report)
}

/// JSON or CSV of a report.
pub fn answer(report: &catalog::Report, format: &str) -> Response {
    if format == "csv" {
        let name = format!(
            "attachment; filename=\"{}-{}.csv\"",
            report.kind.slug(),
            report.window.from.format("%Y%m%d")
        );
        let mut r = report.table.to_csv().into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        if let Ok(v) = HeaderValue::from_str(&name) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
        r
    } else {
        Json(report.to_json()).into_response()
    }
}

async fn report(
    State(api): State<ReportsApi>,
    Segment(slug): Segment,
    Query(pairs): Pairs,
) -> Result<Response> {
    let kind = kind_of(&slug)?;
    let format = format_of(&pairs)?;
    let r = run(&api, kind, &pairs).await?;
    Ok(answer(&r, format))
}

/// Width and height from `width`/`height`, within bounds.
fn size_of(pairs: &[(String, String)]) -> Result<(u32, u32)> {
    use crate::chart::{DEFAULT_SIZE, MAX_SIDE, MIN_SIDE};
    let mut size = DEFAULT_SIZE;
    for (k, v) in pairs {
        let slot = match k.as_str() {
            "width" => &mut size.0,
            "height" => &mut size.1,
            _ => continue,
        };
        *slot = v
            .parse::<u32>()
            .ok()
            .filter(|n| (MIN_SIDE..=MAX_SIDE).contains(n))
            .ok_or_else(|| {
                gatewatch_model::FieldError::new(
                    k.as_str(),
                    format!("must be a whole number of pixels from {MIN_SIDE} to {MAX_SIDE}"),
                )
            })?;
    }
    Ok(size)
}

async fn chart_of(
    api: &ReportsApi,
    slug: &str,
    pairs: &[(String, String)],
) -> Result<crate::chart::Chart> {
    let kind = kind_of(slug)?;
    run(api, kind, pairs)
        .await?
        .chart
        .ok_or_else(|| ReportError::NotFound(format!("the {kind} report has no chart")))
}

async fn chart_svg(
    State(api): State<ReportsApi>,
    Segment(slug): Segment,
    Query(pairs): Pairs,
) -> Result<Response> {
    let size = size_of(&pairs)?;
    let svg = crate::chart::render_svg(&chart_of(&api, &slug, &pairs).await?, size)?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

async fn chart_png(
    State(api): State<ReportsApi>,
    Segment(slug): Segment,
    Query(pairs): Pairs,
) -> Result<Response> {
    let size = size_of(&pairs)?;
    let chart = chart_of(&api, &slug, &pairs).await?;
    // Rasterising a big chart takes milliseconds of CPU: off the async workers.
    let png = tokio::task::spawn_blocking(move || crate::chart::render_png(&chart, size))
        .await
        .map_err(|e| ReportError::Chart(format!("the drawing task failed: {e}")))??;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

async fn calls(State(api): State<ReportsApi>, Query(pairs): Pairs) -> Result<Response> {
    let format = format_of(&pairs)?;
    let r = if format == "csv" {
        // The export walks every page (from the cursor, if one is given), up to its cap.
        let params = ReportParams::from_pairs(&pairs)?;
        let lang = crate::i18n::lang_of(&pairs)?;
        let mut r =
            crate::queries::calls::export(&api.store, &params, Utc::now(), api.site_tz).await?;
        crate::i18n::localise(&mut r, lang);
        r
    } else {
        run(&api, ReportKind::Calls, &pairs).await?
    };
    Ok(answer(&r, format))
}

/// One call with every column; `tz` picks the zone its time is shown in.
async fn one_call(
    State(api): State<ReportsApi>,
    Segment(call_id): Segment,
    Query(pairs): Pairs,
) -> Result<Response> {
    let params = ReportParams::from_pairs(&pairs)?;
    let tz = params.tz.unwrap_or(api.site_tz);
    let call = crate::queries::calls::detail(&api.store, &call_id, tz).await?;
    Ok(Json(call).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_report_names_the_path_parameter() {
        // Found by schemathesis: the refusal named `report`, a field of subscriptions.
        let ReportError::Invalid(e) = kind_of("nope?").unwrap_err() else {
            panic!("not a field error")
        };
        assert_eq!(e.field, "kind");
        assert!(e.message.contains("usage"), "{}", e.message);
        assert_eq!(kind_of("usage").unwrap(), ReportKind::Usage);
    }
}
