//! `GET /api/openapi.json`: the OpenAPI 3.1 document, built from the route table (so every
//! route is described, with what it needs) and the Rust types of bodies and answers
//! (`ToSchema`). Each route's own [`Doc`] says its query, body and successful answers; the
//! errors it can answer follow from its shape (see [`error_statuses`]), all with the one
//! error body. schemathesis checks the document against the running API in CI
//! (`ops/schemathesis.sh`).

use std::collections::BTreeSet;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem,
    PathsBuilder, Ref, RefOr, Required, ResponseBuilder,
};

use crate::access::{Access, Rule};
use crate::doc::{Doc, IfMatch};

/// Schemas another role brings with its routes (the report API's answers).
pub type Schemas = Vec<(String, RefOr<Schema>)>;

pub fn document(rules: &[Rule], extra: Schemas) -> OpenApi {
    let mut paths = PathsBuilder::new();
    for r in rules {
        let method = match r.method.as_str() {
            "GET" => HttpMethod::Get,
            "POST" => HttpMethod::Post,
            "PUT" => HttpMethod::Put,
            "DELETE" => HttpMethod::Delete,
            _ => continue,
        };
        paths = paths.path(openapi_path(&r.path), PathItem::new(method, operation(r)));
    }
    let mut components = answer_components()
        .security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::COOKIE,
                "The session cookie set by POST /api/v1/login.",
            ))),
        )
        .security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "The session's `csrf_token`: every POST, PUT and DELETE of a cookie session sends it.",
            ))),
        )
        .security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from POST /api/v1/me/tokens: no cookie, no CSRF token.",
                    ))
                    .build(),
            ),
        );
    for (name, schema) in entity_components().into_iter().chain(extra) {
        components = components.schema(name, schema);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("gatewatch admin API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Configuration entities, keys, users, alerts, nodes, the audit log and the \
                     report API of a gatewatch site. Log in with POST /api/v1/login (a session \
                     cookie; unsafe requests send its X-CSRF-Token) or send a bearer token from \
                     POST /api/v1/me/tokens. Errors are `{\"error\":{\"code\",\"field\",\"message\"}}`.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .tags(Some(
            TAGS.iter()
                .map(|(name, d)| TagBuilder::new().name(*name).description(Some(*d)).build())
                .collect::<Vec<_>>(),
        ))
        .build()
}

/// The admin API's own answer and request schemas. A name here must not be one of the entity
/// schemas' or another role's: the document keeps one schema per name, the last given
/// (`names_of_schemas_are_unique` guards it).
fn answer_components() -> ComponentsBuilder {
    ComponentsBuilder::new()
        .schema_from::<crate::answer::Envelope>()
        .schema_from::<crate::answer::Page>()
        .schema_from::<crate::answer::History>()
        .schema_from::<crate::answer::HistoryEntry>()
        .schema_from::<crate::keys::CreatedSecret>()
        .schema_from::<crate::keys::KeyRequest>()
        .schema_from::<crate::keys::RotateRequest>()
        .schema_from::<crate::keys::GrantRequest>()
        .schema_from::<crate::me::LoginRequest>()
        .schema_from::<crate::me::SessionInfo>()
        .schema_from::<crate::me::PasswordChange>()
        .schema_from::<crate::me::TokenRequest>()
        .schema_from::<crate::me::TokenInfo>()
        .schema(
            "TokenList",
            utoipa::openapi::schema::ArrayBuilder::new().items(Ref::from_schema_name("TokenInfo")),
        )
        .schema_from::<crate::me::Preferences>()
        .schema_from::<crate::diff::FieldChange>()
        .schema_from::<gatewatch_model::release::Difference>()
        .schema_from::<gatewatch_model::release::EntityDiff>()
        .schema_from::<crate::releases::ReleaseRequest>()
        .schema_from::<crate::releases::ReleaseInfo>()
        .schema_from::<crate::releases::ReleaseDetail>()
        .schema_from::<crate::releases::ReleasesPage>()
        .schema_from::<crate::releases::ReleaseDiff>()
        .schema_from::<crate::releases::RollbackRequest>()
        .schema_from::<crate::releases::RollbackResult>()
        .schema_from::<crate::alerts::Scope>()
        .schema_from::<crate::alerts::ActiveAlert>()
        .schema_from::<crate::alerts::ActiveAlerts>()
        .schema_from::<crate::alerts::AlertEventRow>()
        .schema_from::<crate::alerts::AlertEventsPage>()
        .schema_from::<crate::acks::AckRequest>()
        .schema_from::<crate::acks::UnackRequest>()
        .schema_from::<crate::acks::AckRecord>()
        .schema_from::<crate::acks::AckInfo>()
        .schema_from::<crate::window_check::WindowCheck>()
        .schema_from::<crate::window_check::WindowCheckAnswer>()
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
        .schema_from::<crate::scopes::ProductScopes>()
        .schema_from::<crate::scopes::ClientScopes>()
        .schema_from::<crate::oauth::KeyRotationRequest>()
        .schema_from::<crate::oauth::SigningKey>()
        .schema_from::<crate::oauth::SigningKeys>()
        .schema_from::<crate::oauth::Rotation>()
        .schema_from::<crate::oauth::RevocationRequest>()
        .schema_from::<crate::oauth::Revocation>()
        .schema_from::<crate::oauth::Revocations>()
        .schema_from::<crate::test_send::TestSendResult>()
        .schema_from::<crate::test_send::TestSendOutcome>()
        .schema_from::<ErrorBody>()
        .schema_from::<ErrorDetail>()
}

/// The document as served. utoipa 5.5 writes a link's fields in snake case
/// (`operation_id`); OpenAPI spells them `operationId`, `operationRef`, `requestBody`.
pub fn to_json(doc: &OpenApi) -> serde_json::Result<String> {
    let mut v = serde_json::to_value(doc)?;
    if let Some(paths) = v.get_mut("paths").and_then(|p| p.as_object_mut()) {
        let links = paths
            .values_mut()
            .filter_map(|item| item.as_object_mut())
            .flat_map(|item| item.values_mut())
            .filter_map(|op| op.get_mut("responses").and_then(|r| r.as_object_mut()))
            .flat_map(|responses| responses.values_mut())
            .filter_map(|r| r.get_mut("links").and_then(|l| l.as_object_mut()))
            .flat_map(|links| links.values_mut())
            .filter_map(|l| l.as_object_mut());
        for link in links {
            for (snake, camel) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(x) = link.remove(snake) {
                    link.insert(camel.to_string(), x);
                }
            }
        }
    }
    serde_json::to_string(&v)
}

/// The document's groups of operations, in the order a reader meets them.
const TAGS: &[(&str, &str)] = &[
    (
        "session",
        "Log in and out; one's own profile, password and bearer tokens",
    ),
    ("apis", "APIs the gateway routes"),
    (
        "clients",
        "Clients that call the APIs, their keys and secrets",
    ),
    ("api-keys", "API keys, their rotation and product grants"),
    ("groups", "Groups of APIs"),
    ("products", "Products: APIs offered together, with approval"),
    (
        "users",
        "Users of the web UI and admin API, and their roles",
    ),
    ("alert-rules", "What the alerter watches"),
    ("channels", "Where notices go: e-mail, LINE, webhooks"),
    ("silences", "Times a rule keeps quiet"),
    ("report-subscriptions", "Reports mailed on a schedule"),
    ("alerts", "Active alerts and their timeline"),
    ("nodes", "Nodes and upstream hosts"),
    ("reports", "Usage and latency reports, charts, call search"),
    ("audit", "Every change and login"),
    (
        "operations",
        "Health, readiness, metrics, this document and the web UI",
    ),
];

/// The tag of a route: its first segment under `/api/v1/`.
fn tag_of(path: &str) -> &'static str {
    let seg = path
        .strip_prefix("/api/v1/")
        .and_then(|p| p.split('/').next())
        .unwrap_or("");
    match seg {
        "login" | "logout" | "me" => "session",
        "upstreams" => "nodes",
        _ => TAGS
            .iter()
            .map(|(t, _)| *t)
            .find(|t| *t == seg)
            .unwrap_or("operations"),
    }
}

/// axum's catch-all `{*file}` is the one parameter `{file}` in OpenAPI.
fn openapi_path(path: &str) -> String {
    path.replace("{*", "{")
}

fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter_map(|seg| {
        seg.strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .map(|s| s.trim_start_matches('*'))
    })
}

/// A path parameter by its name: ids follow the id rule of entities.
fn path_param(name: &str) -> Parameter {
    let (schema, description) = match name {
        "file" => (
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1)),
            "a file of the web UI, e.g. `app.js`",
        ),
        "call_id" => (
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(utoipa::openapi::SchemaFormat::Custom("uuid".into()))),
            "the call's id (a UUID)",
        ),
        _ => (
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(ID_PATTERN))
                .min_length(Some(1))
                .max_length(Some(64)),
            "an id: 1 to 64 letters, digits, `-`, `_` or `.`",
        ),
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

use gatewatch_model::schema::ID_PATTERN;

fn operation(r: &Rule) -> utoipa::openapi::path::Operation {
    let d: &Doc = &r.doc;
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
    let description = match &d.description {
        Some(text) => format!("{text}\n\n{needs}"),
        None => needs,
    };
    let mut op = OperationBuilder::new()
        .summary(Some(d.summary.clone()))
        .description(Some(description))
        .operation_id(Some(operation_id(&r.method, &r.path)))
        .tag(tag_of(&r.path));
    for name in path_params(&r.path) {
        let given = d
            .params
            .iter()
            .any(|p| p.name == name && p.parameter_in == ParameterIn::Path);
        if !given {
            op = op.parameter(path_param(name));
        }
    }
    for p in &d.params {
        op = op.parameter(p.clone());
    }
    if let Some(m) = d.if_match {
        op = op.parameter(crate::doc::header_param(
            "If-Match",
            m == IfMatch::Required,
            "\"<version>\": the ETag read; 412 when it is no longer current",
        ));
    }
    if let Some(b) = &d.body {
        op = op.request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(if b.required {
                    Required::True
                } else {
                    Required::False
                }))
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(&b.schema)))
                        .build(),
                )
                .build(),
        ));
    }
    for (status, resp) in &d.ok {
        op = op.response(status.to_string(), resp.clone());
    }
    for status in error_statuses(r) {
        op = op.response(status.to_string(), error_response(status));
    }
    if r.access != Access::Public {
        let unsafe_method = r.method != axum::http::Method::GET;
        let session = if unsafe_method {
            SecurityRequirement::new("session", Vec::<String>::new())
                .add("csrf", Vec::<String>::new())
        } else {
            SecurityRequirement::new("session", Vec::<String>::new())
        };
        op = op
            .security(session)
            .security(SecurityRequirement::new("bearer", Vec::<String>::new()));
    }
    op.build()
}

/// `getApisById`-style ids: the method and the path's words.
pub fn operation_id(method: &axum::http::Method, path: &str) -> String {
    let mut id = method.as_str().to_ascii_lowercase();
    for seg in path
        .split('/')
        .filter(|s| !s.is_empty() && *s != "api" && *s != "v1")
    {
        let word = seg
            .trim_start_matches('{')
            .trim_start_matches('*')
            .trim_end_matches('}');
        let by = seg.starts_with('{');
        if by {
            id.push_str("By");
        }
        for part in word.split(|c: char| !c.is_ascii_alphanumeric()) {
            let mut cs = part.chars();
            if let Some(first) = cs.next() {
                id.push(first.to_ascii_uppercase());
                id.push_str(cs.as_str());
            }
        }
    }
    id
}

/// The error statuses a route can answer, from its shape and its own list.
pub fn error_statuses(r: &Rule) -> BTreeSet<u16> {
    let d = &r.doc;
    let mut s: BTreeSet<u16> = d.errors.iter().copied().collect();
    let public = r.access == Access::Public;
    if !public {
        // Not logged in; the role lacks the permission or a cookie session sent no CSRF token.
        s.extend([401, 403]);
        // The configuration or ClickHouse cannot be read.
        s.insert(503);
    }
    if d.body.is_some() {
        // Not JSON of the expected shape; too big; a bad field.
        s.extend([400, 413, 422]);
    }
    if !d.params.is_empty() {
        s.extend([400, 422]);
    }
    if path_params(&r.path).next().is_some() {
        s.extend([404, 422]);
    }
    match d.if_match {
        Some(IfMatch::Required) => s.extend([412, 428]),
        Some(IfMatch::Optional) => {
            s.insert(412);
        }
        None => {}
    }
    s
}

fn error_response(status: u16) -> utoipa::openapi::Response {
    let what = match status {
        400 => "malformed: the body or the query string cannot be read",
        401 => "unauthorized: not logged in, or the bearer token is unknown, expired or ended; `bad_credentials` for a failed login",
        403 => "forbidden: the role lacks the permission, or `csrf`: a cookie session's unsafe request without its X-CSRF-Token",
        404 => "not_found",
        409 => "conflict: the entity exists already, or others still refer to it",
        412 => "stale: If-Match names a version that is no longer current",
        413 => "too_large: the body is over the limit",
        422 => "invalid: a bad value, named by its path in `field` (`quota.per_day`, `limit`, `id`)",
        428 => "if_match_required: send If-Match with the version read",
        429 => "locked: too many failed logins, or busy: too many password checks at once; wait Retry-After seconds",
        502 => "alerter_unavailable: the alerter did not take the test-send",
        503 => "unavailable: ClickHouse or the configuration cannot be read; try again",
        _ => "error",
    };
    let mut r = ResponseBuilder::new().description(what).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    );
    if status == 429 {
        r = r.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::Integer))
                .description(Some("seconds to wait"))
                .build(),
        );
    }
    r.build()
}

/// The model's schemas of every kind's bodies, and per kind the envelope and page of its
/// answers.
fn entity_components() -> Schemas {
    use gatewatch_model::schema::{entity_schemas, read_schema};
    let mut out: Schemas = entity_schemas();
    for (kind, _) in crate::access::KINDS {
        let read = read_schema(kind);
        let object = || ObjectBuilder::new().schema_type(Type::Object);
        let envelope = envelope_schema(Ref::from_schema_name(read).into());
        out.push((format!("{read}Envelope"), envelope));
        out.push((
            format!("{read}Page"),
            object()
                .property(
                    "items",
                    utoipa::openapi::schema::ArrayBuilder::new()
                        .items(Ref::from_schema_name(format!("{read}Envelope"))),
                )
                .required("items")
                .property(
                    "next_cursor",
                    ObjectBuilder::new()
                        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                            Type::String,
                            Type::Null,
                        ]))
                        .description(Some("pass as `cursor` for the next page; null on the last")),
                )
                .into(),
        ));
    }
    out
}

/// [`crate::answer::Envelope`] with its `body` typed.
fn envelope_schema(body: RefOr<Schema>) -> RefOr<Schema> {
    let string = || ObjectBuilder::new().schema_type(Type::String);
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("kind", string())
        .property("id", string())
        .property(
            "version",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1)),
        )
        .property("changed_at", string().format(Some(date_time())))
        .property("changed_by", string())
        .property("comment", string())
        .property("body", body)
        .required("kind")
        .required("id")
        .required("version")
        .required("changed_at")
        .required("changed_by")
        .required("comment")
        .required("body")
        .into()
}

fn date_time() -> utoipa::openapi::SchemaFormat {
    utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::DateTime)
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
    /// `if_match_required`, `conflict`, `too_many_keys`, `locked`, `busy`, `bad_credentials`, `too_large`,
    /// `unavailable`, `alerter_unavailable`, `internal`.
    code: String,
    /// The bad field's path (`quota.per_day`), for `invalid`.
    field: Option<String>,
    message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two schemas of one name would leave one of them in the document, describing the other's
    /// answers (the OAuth signing keys were once described by a client's signing key).
    #[test]
    fn names_of_schemas_are_unique() {
        let answers = answer_components().build().schemas;
        let mut seen: BTreeSet<String> = answers.keys().cloned().collect();
        for (name, _) in entity_components() {
            assert!(seen.insert(name.clone()), "{name} is given twice");
        }
        let doc = document(&crate::access::rules(), Vec::new());
        let v: serde_json::Value = serde_json::from_str(&to_json(&doc).unwrap()).unwrap();
        let props = |name: &str| v["components"]["schemas"][name]["properties"].clone();
        assert!(props("OAuthSigningKey").get("kid").is_some(), "{v}");
        assert!(props("SigningKey").get("public_key").is_some(), "{v}");
    }

    #[test]
    fn operation_ids_read_as_words() {
        let rules = crate::access::rules();
        let id = |m: &str, p: &str| {
            let r = rules
                .iter()
                .find(|r| r.method.as_str() == m && r.path == p)
                .unwrap();
            operation_id(&r.method, &r.path)
        };
        assert_eq!(id("GET", "/api/v1/apis/{id}"), "getApisById");
        assert_eq!(
            id("POST", "/api/v1/api-keys/{id}/products/{product}/approve"),
            "postApiKeysByIdProductsByProductApprove"
        );
        assert_eq!(id("GET", "/ui/{*file}"), "getUiByFile");
        let mut seen = BTreeSet::new();
        for r in &rules {
            let id = operation_id(&r.method, &r.path);
            assert!(seen.insert(id.clone()), "{id} twice");
        }
    }

    #[test]
    fn every_link_names_an_operation_of_the_document() {
        let doc = document(&crate::access::rules(), Vec::new());
        let v: serde_json::Value = serde_json::from_str(&to_json(&doc).unwrap()).unwrap();
        let mut ids = BTreeSet::new();
        let mut targets = Vec::new();
        for item in v["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                ids.insert(op["operationId"].as_str().unwrap().to_string());
                for resp in op["responses"].as_object().unwrap().values() {
                    for link in resp["links"]
                        .as_object()
                        .into_iter()
                        .flat_map(|l| l.values())
                    {
                        assert!(link.get("operation_id").is_none(), "{link}");
                        targets.push(link["operationId"].as_str().unwrap().to_string());
                    }
                }
            }
        }
        assert!(!targets.is_empty());
        for t in targets {
            assert!(ids.contains(&t), "a link names {t}, which is no operation");
        }
    }

    #[test]
    fn every_path_parameter_is_declared_with_a_schema() {
        let doc = document(&crate::access::rules(), Vec::new());
        let v = serde_json::to_value(&doc).unwrap();
        for (path, item) in v["paths"].as_object().unwrap() {
            assert!(!path.contains('*'), "{path}");
            for (_, op) in item.as_object().unwrap() {
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                for name in path_params(path) {
                    let p = params
                        .iter()
                        .find(|p| p["name"] == name && p["in"] == "path")
                        .unwrap_or_else(|| panic!("{path}: {name} not declared"));
                    assert!(p["schema"].is_object(), "{path}: {name} has no schema");
                }
            }
        }
    }
}
