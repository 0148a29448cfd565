//! `GET /api/openapi.json`: the OpenAPI 3.1 document, built from the route table (so every
//! route is described, with what it needs) and the request/response types' `ToSchema`.
//! Entity bodies are plain objects here; their fields are documented in the model crate.

use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem,
    PathsBuilder, Ref, Required, ResponseBuilder,
};

use crate::access::{Access, Rule};

pub fn document(rules: &[Rule]) -> OpenApi {
    let mut paths = PathsBuilder::new();
    for r in rules {
        let method = match r.method.as_str() {
            "GET" => HttpMethod::Get,
            "POST" => HttpMethod::Post,
            "PUT" => HttpMethod::Put,
            "DELETE" => HttpMethod::Delete,
            _ => continue,
        };
        let needs = match r.access {
            Access::Public => "Public.".to_string(),
            Access::Login => "Any logged-in user.".to_string(),
            Access::Perm(p) => format!(
                "Needs permission `{}`.",
                serde_json::to_value(p)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            ),
        };
        let mut op = OperationBuilder::new()
            .summary(Some(r.summary.clone()))
            .description(Some(needs))
            .operation_id(Some(format!("{} {}", r.method, r.path)));
        for seg in r.path.split('/') {
            if let Some(name) = seg
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                // axum's catch-all `{*file}` is one parameter named `file`.
                .map(|s| s.trim_start_matches('*'))
            {
                op = op.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True),
                );
            }
        }
        if matches!(r.method.as_str(), "PUT" | "DELETE")
            && r.path.starts_with("/api/v1/")
            && r.path.ends_with("{id}")
        {
            op = op.parameter(
                ParameterBuilder::new()
                    .name("If-Match")
                    .parameter_in(ParameterIn::Header)
                    .required(Required::True)
                    .description(Some(
                        "\"<version>\": the ETag read; 412 when stale, 428 when missing",
                    )),
            );
        }
        if let Some(req) = r.request {
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name(req)))
                            .build(),
                    )
                    .build(),
            ));
        }
        let (status, body) = r.response;
        let mut resp = ResponseBuilder::new().description("success");
        if let Some(b) = body {
            resp = resp.content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(b)))
                    .build(),
            );
        }
        op = op.response(status.to_string(), resp.build());
        let err = ResponseBuilder::new()
            .description("401 not logged in, 403 role, 404, 412/428 If-Match, 422 invalid field")
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        op = op.response("default", err);
        if r.access != Access::Public {
            op = op
                .security(SecurityRequirement::new("session", Vec::<String>::new()))
                .security(SecurityRequirement::new("bearer", Vec::<String>::new()));
        }
        paths = paths.path(r.path.clone(), PathItem::new(method, op.build()));
    }
    let components = ComponentsBuilder::new()
        .schema_from::<crate::answer::Envelope>()
        .schema_from::<crate::answer::Page>()
        .schema_from::<crate::answer::History>()
        .schema_from::<crate::answer::HistoryEntry>()
        .schema_from::<crate::answer::EntityBodyDoc>()
        .schema_from::<crate::keys::CreatedSecret>()
        .schema_from::<crate::keys::KeyRequest>()
        .schema_from::<crate::keys::RotateRequest>()
        .schema_from::<crate::keys::GrantRequest>()
        .schema_from::<crate::me::LoginRequest>()
        .schema_from::<crate::me::SessionInfo>()
        .schema_from::<crate::me::PasswordChange>()
        .schema_from::<crate::me::TokenRequest>()
        .schema_from::<crate::me::TokenInfo>()
        .schema_from::<crate::me::Preferences>()
        .schema_from::<crate::diff::FieldChange>()
        .schema_from::<crate::alerts::Scope>()
        .schema_from::<crate::alerts::ActiveAlert>()
        .schema_from::<crate::alerts::ActiveAlerts>()
        .schema_from::<crate::alerts::AlertEventRow>()
        .schema_from::<crate::alerts::AlertEventsPage>()
        .schema_from::<crate::preview::PreviewNotice>()
        .schema_from::<crate::preview::RulePreview>()
        .schema_from::<crate::nodes::Disk>()
        .schema_from::<crate::nodes::NodeBacklog>()
        .schema_from::<crate::nodes::NodeProcess>()
        .schema_from::<crate::nodes::Node>()
        .schema_from::<crate::nodes::NodesPage>()
        .schema_from::<crate::upstream_health::Health>()
        .schema_from::<crate::upstream_health::UpstreamHealth>()
        .schema_from::<crate::upstream_health::UpstreamHealthPage>()
        .schema_from::<crate::audit::AuditRow>()
        .schema_from::<crate::audit::AuditPage>()
        .schema_from::<crate::report_runs::Attempt>()
        .schema_from::<crate::report_runs::Run>()
        .schema_from::<crate::report_runs::RunsPage>()
        .schema_from::<ErrorBody>()
        .schema_from::<ErrorDetail>()
        .security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::auth::COOKIE))),
        )
        .security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("gatewatch admin API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("Configuration entities, keys, users and the audit log. Unsafe requests of a cookie session need X-CSRF-Token."))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components))
        .build()
}

/// Every error answer.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// `invalid`, `malformed`, `not_found`, `unauthorized`, `forbidden`, `csrf`, `stale`,
    /// `if_match_required`, `conflict`, `locked`, `bad_credentials`, `unavailable`, `internal`.
    code: String,
    /// The bad field's path (`quota.per_day`), for `invalid`.
    field: Option<String>,
    message: String,
}
