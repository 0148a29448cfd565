//! `POST /api/v1/alert-rules/preview?lang=en|zh-TW`: a draft rule's notices (firing, repeat,
//! resolved) rendered with sample values, by `model::alert::template` — the renderer the
//! alerter sends with — so the editor shows exactly what recipients will read. The draft is
//! validated like a create (same field paths); nothing is stored.

use crate::extract::{Body, Query};
use axum::extract::State;
use axum::Json;
use chrono::Utc;
use gatewatch_model::alert::{
    render_notice, AlertRuleSpec, Comparison, Lang, NoticeKind, RuleKind, Scope, Vars,
};
use gatewatch_model::{Entity, EntityKind};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::error::ApiError;
use crate::write::object;
use crate::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewParams {
    /// The language of the notices: `en` or `zh-TW`.
    #[param(value_type = Option<String>, pattern = "^(en|zh-TW)$")]
    lang: Option<String>,
}

/// One rendered notice.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewNotice {
    /// `firing`, `repeat` or `resolved`.
    pub notice: String,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RulePreview {
    /// The language rendered: `?lang=`, else the rule's, else the site's.
    pub lang: String,
    /// The sample scope and values the texts were filled with.
    pub scope: String,
    pub value: f64,
    pub recovered_value: f64,
    pub notices: Vec<PreviewNotice>,
}

/// A scope key as a notice shows it, for the rule's scope.
fn sample_scope(rule: &AlertRuleSpec) -> (String, String) {
    let node_kind = !matches!(
        rule.kind,
        RuleKind::ApiErrorRate { .. } | RuleKind::ApiLatency { .. } | RuleKind::TrafficDrop { .. }
    );
    if rule.kind.site_wide() {
        // The alerter's own probe and the collectors' quarantine have no scope key.
        return (String::new(), String::new());
    }
    let node = match rule.scope() {
        Scope::Nodes(n) => n.first().cloned().unwrap_or_default(),
        _ if node_kind => "gw1".to_string(),
        _ => String::new(),
    };
    let scope = match (&rule.scope(), &rule.kind) {
        (Scope::Api(a), _) | (Scope::Client(a), _) => a.clone(),
        (Scope::AllApis, _) => "orders".to_string(),
        (_, RuleKind::Disk { mounts }) => {
            format!("{node} {}", mounts.first().map_or("/var", String::as_str))
        }
        _ => node.clone(),
    };
    (scope, node)
}

/// A value on the bad side of the threshold, and one back across the recovery line.
fn sample_values(rule: &AlertRuleSpec) -> (f64, f64) {
    let t = rule.threshold;
    let percent = rule.kind.unit() == "%";
    let firing = match rule.comparison {
        Comparison::Above if t == 0.0 => 1.0,
        Comparison::Above => (t * 1.1).max(t + 1.0),
        Comparison::Below => (t * 0.9).min((t - 1.0).max(0.0)),
    };
    let firing = if percent { firing.min(100.0) } else { firing };
    let rounded = (firing * 100.0).round() / 100.0;
    // Near the end of f64 (a threshold of 1e308), ×1.1 or ×100 overflows to infinity, which
    // JSON cannot carry: fall back to a finite value (found by schemathesis).
    let firing = [rounded, firing, t]
        .into_iter()
        .find(|v| v.is_finite())
        .unwrap_or(0.0);
    (firing, rule.recovery())
}

/// The three notices of `rule` in `lang`, with sample values.
pub fn render(rule: &AlertRuleSpec, lang: Lang, site_tz: chrono_tz::Tz, link: &str) -> RulePreview {
    let (scope, node) = sample_scope(rule);
    let (value, recovered) = sample_values(rule);
    let now = Utc::now();
    let started = now - chrono::Duration::seconds(rule.for_secs.min(i64::MAX as u64) as i64);
    let value_of = |n: NoticeKind| match n {
        NoticeKind::Resolved => recovered,
        _ => value,
    };
    let measured = |n: NoticeKind| {
        // A failing probe has no value; its notices say so.
        (!rule.kind.error_breaches() || n == NoticeKind::Resolved).then_some(value_of(n))
    };
    let notices = [NoticeKind::Firing, NoticeKind::Repeat, NoticeKind::Resolved]
        .into_iter()
        .map(|n| {
            let mut vars = Vars::for_notice(
                rule,
                &scope,
                &node,
                measured(n),
                n,
                started,
                link,
                site_tz,
                lang,
            );
            vars.lang = lang;
            let (subject, body) = render_notice(rule, &vars);
            PreviewNotice {
                notice: n.as_str().to_string(),
                subject,
                body,
            }
        })
        .collect();
    RulePreview {
        lang: lang.as_str().to_string(),
        scope,
        value,
        recovered_value: recovered,
        notices,
    }
}

pub async fn preview(
    State(state): State<Arc<AppState>>,
    Query(p): Query<PreviewParams>,
    Body(body): Body,
) -> Result<Json<RulePreview>, ApiError> {
    let mut obj = object(&body)?;
    // A draft may carry its id (the editor sends what it would save); it plays no part.
    obj.remove("id");
    let json = serde_json::Value::Object(obj).to_string();
    let Entity::AlertRule(rule) = Entity::parse(EntityKind::AlertRule, "preview", &json)? else {
        return Err(ApiError::invalid("", "not an alert rule"));
    };
    let lang = match p.lang.as_deref() {
        None | Some("") => rule.lang(state.config.alert_language),
        Some("en") => Lang::En,
        Some("zh-TW") => Lang::ZhTw,
        Some(other) => {
            return Err(ApiError::invalid(
                "lang",
                format!("{other:?} is not a language (en, zh-TW)"),
            ))
        }
    };
    let tz = gatewatch_model::client::parse_tz(&state.config.site_timezone)
        .unwrap_or(chrono_tz::Asia::Taipei);
    Ok(Json(render(&rule, lang, tz, &state.config.alert_link_base)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: &str) -> AlertRuleSpec {
        match Entity::parse(EntityKind::AlertRule, "r", json).unwrap() {
            Entity::AlertRule(r) => r,
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_cpu_rule_previews_its_three_notices_in_either_language() {
        let r = rule(
            r#"{"name":"CPU high","kind":{"type":"node_cpu"},"threshold":90,"recovery":80,
                "for_secs":180,"repeat_secs":600,"scope":{"nodes":["gw7"]},
                "templates":{"en":{"firing":{"subject":"CPU {{value}} on $NODE"}}}}"#,
        );
        let p = render(&r, Lang::En, chrono_tz::Asia::Taipei, "http://dash");
        assert_eq!(p.notices.len(), 3);
        assert_eq!(p.notices[0].subject, "CPU 99% on gw7");
        assert!(
            p.notices[0].body.contains("threshold 90%"),
            "{:?}",
            p.notices[0]
        );
        assert!(p.notices[0].body.contains("3 min"), "{:?}", p.notices[0]);
        assert!(
            p.notices[0].body.ends_with("http://dash"),
            "{:?}",
            p.notices[0]
        );
        // The repeat notice falls back to the firing override; resolved shows the recovery line.
        assert_eq!(p.notices[1].subject, "CPU 99% on gw7");
        assert!(p.notices[2].body.contains("80%"), "{:?}", p.notices[2]);
        let zh = render(&r, Lang::ZhTw, chrono_tz::Asia::Taipei, "");
        assert!(
            zh.notices[0].body.contains("門檻 90%"),
            "{:?}",
            zh.notices[0]
        );
        assert!(zh.notices[0].body.contains("3 分鐘"), "{:?}", zh.notices[0]);
    }

    #[test]
    fn samples_stay_finite_at_the_end_of_f64() {
        use gatewatch_model::alert::RuleKind;
        for t in [f64::MAX, 7.2e307, -f64::MAX, 1e306] {
            for c in [Comparison::Above, Comparison::Below] {
                let mut rule = AlertRuleSpec::new(
                    "big",
                    RuleKind::Database {
                        check: gatewatch_model::alert::DbCheck::ConnectMs,
                    },
                    t,
                );
                rule.comparison = c;
                let (v, r) = sample_values(&rule);
                assert!(v.is_finite() && r.is_finite(), "{t} {c:?}: {v} {r}");
            }
        }
    }

    #[test]
    fn samples_sit_on_the_bad_side_and_scopes_read_like_notices() {
        let below = rule(
            r#"{"name":"quiet","kind":{"type":"api_error_rate"},"threshold":5,"comparison":"below","scope":{"api":"orders"}}"#,
        );
        let (v, rec) = sample_values(&below);
        assert!(below.breaches(v) && below.recovered(rec), "{v} {rec}");
        assert_eq!(sample_scope(&below).0, "orders");
        let pct =
            rule(r#"{"name":"disk","kind":{"type":"disk","mounts":["/data"]},"threshold":100}"#);
        let (v, _) = sample_values(&pct);
        assert_eq!(v, 100.0, "a percentage stays at most 100");
        assert_eq!(sample_scope(&pct).0, "gw1 /data");
        let probe =
            rule(r#"{"name":"db","kind":{"type":"database","check":"failure"},"threshold":0}"#);
        let p = render(&probe, Lang::En, chrono_tz::UTC, "");
        assert!(p.notices[0].body.contains("failed"), "{:?}", p.notices[0]);
    }
}
