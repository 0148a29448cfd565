//! Who may call what: ONE table of every route (method, path pattern) and what it needs, read
//! by the role-check middleware, the OpenAPI document and the role-matrix tests alike. A route
//! missing from the table is refused (fail closed).

use axum::http::Method;
use gatewatch_model::{EntityKind, Permission};

pub use crate::doc::Doc;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (health, OpenAPI, login).
    Public,
    /// Any logged-in user (their own session, password and tokens).
    Login,
    /// A logged-in user whose role has the permission.
    Perm(Permission),
}

/// One row of the table: a route, what it needs, and what the OpenAPI document says of it.
#[derive(Debug, Clone)]
pub struct Rule {
    pub method: Method,
    /// axum's pattern, e.g. `/api/v1/apis/{id}`.
    pub path: String,
    pub access: Access,
    pub doc: Doc,
}

/// The URL segment of each kind (`/api/v1/<segment>`).
pub const KINDS: [(EntityKind, &str); 13] = [
    (EntityKind::Api, "apis"),
    (EntityKind::Client, "clients"),
    (EntityKind::ApiKey, "api-keys"),
    (EntityKind::Group, "groups"),
    (EntityKind::Product, "products"),
    (EntityKind::User, "users"),
    (EntityKind::AlertRule, "alert-rules"),
    (EntityKind::Channel, "channels"),
    (EntityKind::Silence, "silences"),
    (EntityKind::ReportSubscription, "report-subscriptions"),
    (EntityKind::NotificationPolicy, "notification-policies"),
    (EntityKind::InhibitRule, "inhibit-rules"),
    (EntityKind::ApiFamily, "api-families"),
];

/// `(read, write)` permissions of a kind.
pub fn kind_permissions(kind: EntityKind) -> (Permission, Permission) {
    use Permission::*;
    match kind {
        EntityKind::User => (ManageUsers, ManageUsers),
        // Silences like the rules they mute: ops and admins set them.
        EntityKind::AlertRule
        | EntityKind::Channel
        | EntityKind::Silence
        | EntityKind::NotificationPolicy
        | EntityKind::InhibitRule => (ReadAlerts, WriteAlertRules),
        EntityKind::ReportSubscription => (ReadReports, WriteReportSubscriptions),
        _ => (ReadGatewayConfig, WriteGatewayConfig),
    }
}

/// The table.
pub fn rules() -> Vec<Rule> {
    use crate::doc::{entity_links, json, link, no_content, text, Headers};
    use Access::*;
    use Permission::*;
    let mut t = Table::default();
    t.get("/healthz", Public, "Liveness")
        .ok(200, text("`ok` while the process serves"));
    t.get("/readyz", Public, "Readiness: the configuration is loaded")
        .ok(200, text("`ok`"))
        .ok(503, text("the configuration is not loaded yet"));
    t.get(
        "/metrics",
        Public,
        "Prometheus metrics: the text format 0.0.4, or OpenMetrics text when the Accept header names application/openmetrics-text",
    )
    .ok(
        200,
        crate::doc::content(
            "the metrics",
            gatewatch_listen::metrics::TEXT_CONTENT_TYPE,
            None,
        )
        .content(
            gatewatch_listen::metrics::OPENMETRICS_CONTENT_TYPE,
            utoipa::openapi::ContentBuilder::new().build(),
        ),
    );
    t.get("/api/openapi.json", Public, "This document").ok(
        200,
        crate::doc::content("OpenAPI 3.1", "application/json", None),
    );
    t.get(
        "/api/docs",
        Public,
        "The API reference: this document as a page for people",
    )
    .ok(
        200,
        crate::doc::content("the page", "text/html; charset=utf-8", None),
    )
    .if_none_match();
    t.get(
        "/",
        Public,
        "The web UI (index.html; pages are hash routes)",
    )
    .ok(
        200,
        crate::doc::content("the page", "text/html; charset=utf-8", None),
    )
    .if_none_match();
    t.get("/ui/{*file}", Public, "The web UI's static files")
        .ok(200, crate::doc::ui_file())
        .if_none_match()
        .errors(&[404]);

    t.post("/api/v1/login", Public, "Log in: sets the session cookie")
        .describe(
            "Answers the session with its `csrf_token`; failed logins lock the address, the \
             user at the address, or the user from many addresses for a while (429 `locked`), \
             and password checks beyond `[dashboards] max_password_checks` wait, then 429 `busy`.",
        )
        .body("LoginRequest")
        .ok(
            200,
            json("logged in; `Set-Cookie` carries the session", "SessionInfo"),
        )
        .errors(&[401, 429]);
    t.post("/api/v1/logout", Login, "Log out")
        .query::<crate::me::LogoutParams>()
        .ok(204, no_content("logged out; the cookie is cleared"));
    t.get("/api/v1/me", Login, "The logged-in user")
        .ok(200, json("the caller", "SessionInfo"));
    t.post(
        "/api/v1/me/password",
        Login,
        "Change one's own password: ends every session and token of the user; a cookie caller gets a new session",
    )
    .body("PasswordChange")
    .ok(200, json("changed", "SessionInfo"))
    .errors(&[429]);
    t.put(
        "/api/v1/me/preferences",
        Login,
        "Set one's own UI language (`en`, `zh-TW`) and IANA time zone (`null`: the site's)",
    )
    .body("Preferences")
    .optional_if_match()
    .ok(
        200,
        json("the caller with the new preferences", "SessionInfo"),
    )
    .errors(&[412]);
    t.get(
        "/api/v1/me/tokens",
        Login,
        "One's bearer tokens (never the tokens themselves)",
    )
    .ok(200, json("the tokens", "TokenList"));
    t.post(
        "/api/v1/me/tokens",
        Login,
        "Create a bearer token for scripts; shown once",
    )
    .body("TokenRequest")
    .ok(
        201,
        json("the token: `secret` is shown only here", "CreatedSecret").links(vec![(
            "Delete".into(),
            link(
                Method::DELETE,
                "/api/v1/me/tokens/{token_id}",
                &[("token_id", "$response.body#/id")],
            ),
        )]),
    );
    t.delete(
        "/api/v1/me/tokens/{token_id}",
        Login,
        "Delete one of one's bearer tokens",
    )
    .ok(204, no_content("deleted"));

    t.get(
        "/api/v1/alerts",
        Perm(ReadAlerts),
        "Active alerts: every (rule, scope key) pending or firing, firing first",
    )
    .ok(200, json("the active alerts", "ActiveAlerts"));
    t.get(
        "/api/v1/alerts/events",
        Perm(ReadAlerts),
        "The alert timeline: transitions and notice attempts, newest first",
    )
    .query::<crate::alerts::EventParams>()
    .ok(200, json("a page of events", "AlertEventsPage"));
    t.post(
        "/api/v1/alerts/ack",
        Perm(WriteAlertRules),
        "Acknowledge a firing alert's episode: its repeats stop until it resolves or `for_secs` pass",
    )
    .describe("The user is the caller. 404 (naming `rule` or `scope_key`) when there is no such alert, 409 (naming `episode_us`) when that episode is not firing now. Audited as `alert.ack`.")
    .body("AckRequest")
    .ok(201, json("the stored ack", "AckRecord"))
    .errors(&[404, 409]);
    t.post(
        "/api/v1/alerts/unack",
        Perm(WriteAlertRules),
        "Take back the ack of a firing alert's episode: its repeats resume",
    )
    .describe("404/409 as for an ack; 409 also when the episode is not acknowledged. Audited as `alert.unack`.")
    .body("UnackRequest")
    .ok(201, json("the stored unack", "AckRecord"))
    .errors(&[404, 409]);
    t.get(
        "/api/v1/nodes",
        Perm(ReadNodes),
        "Nodes seen lately with their newest figures, silent first",
    )
    .query::<crate::nodes::NodeParams>()
    .ok(200, json("the nodes", "NodesPage"));
    t.get(
        "/api/v1/releases",
        Perm(ReadGatewayConfig),
        "Releases: named points of the whole configuration, newest first",
    )
    .ok(200, json("the releases", "ReleasesPage"));
    t.post(
        "/api/v1/releases",
        Perm(WriteGatewayConfig),
        "Make a release: the version of every API, API family, client, group, product, channel, alert rule, notification policy, inhibit rule and report subscription now",
    )
    .describe("API keys, users and silences are not part of a release. 409 (naming `name`) when the name is taken: releases are never replaced. Audited as `release.create`.")
    .body("ReleaseRequest")
    .ok(201, json("the release", "ReleaseInfo"))
    .errors(&[409]);
    t.get(
        "/api/v1/releases/diff",
        Perm(ReadGatewayConfig),
        "What differs between two points: releases, or a release and `current`",
    )
    .describe("Per entity added, removed or changed with the changed fields; secrets (client secrets, sealed channel credentials) are named, never shown. 404 naming `from` or `to` for an unknown release.")
    .query::<crate::releases::DiffParams>()
    .ok(200, json("the differences", "ReleaseDiff"))
    .errors(&[404]);
    t.get(
        "/api/v1/releases/{name}",
        Perm(ReadGatewayConfig),
        "One release and the version of each entity it holds",
    )
    .ok(200, json("the release", "ReleaseDetail"))
    .errors(&[404]);
    t.post(
        "/api/v1/releases/{name}/rollback",
        Perm(WriteGatewayConfig),
        "Roll the configuration back to a release, as one new change (`rollback to NAME`)",
    )
    .describe("Entities changed since get the release's version, those made since are deleted, those deleted since restored; clients keep their current secrets; API keys, users and silences are untouched. `{\"dry_run\": true}` only shows the diff. 409 when someone changed an entity meanwhile (nothing is written), 422 when a body of the release cannot be restored by this version (naming it). Audited as `release.rollback` plus a row per entity.")
    .body_optional("RollbackRequest")
    .ok(200, json("the diff from the current configuration, and the new change", "RollbackResult"))
    .errors(&[404, 409]);
    t.get(
        "/api/v1/upstreams/health",
        Perm(ReadGatewayConfig),
        "Per upstream host of each API: calls, failures and the newest call, as `up` / `degraded` / `down` / `idle`",
    )
    .query::<crate::upstream_health::HealthParams>()
    .ok(200, json("every upstream host of every API", "UpstreamHealthPage"));

    for (kind, seg) in KINDS {
        let (read, write) = kind_permissions(kind);
        let base = format!("/api/v1/{seg}");
        let one = format!("{base}/{{id}}");
        let (create, put, read_body) = (
            gatewatch_model::schema::create_schema(kind),
            gatewatch_model::schema::replace_schema(kind),
            format!("{}Envelope", gatewatch_model::schema::read_schema(kind)),
        );
        t.get(&base, Perm(read), &format!("List {kind} entities"))
            .query::<crate::entities::ListQuery>()
            .ok(
                200,
                json(
                    "a page",
                    &format!("{}Page", gatewatch_model::schema::read_schema(kind)),
                ),
            );
        let created = if kind == EntityKind::ApiKey {
            // The key is generated: shown once, with the entity that holds its hash.
            json("the key: `secret` is shown only here", "CreatedSecret")
                .etag()
                .location()
                .links(key_links())
        } else {
            json(
                "created (a user made without a password has `password`, shown once)",
                &read_body,
            )
            .etag()
            .location()
            .links(entity_links(&base, "$response.body#/id"))
        };
        t.post(&base, Perm(write), &format!("Create a {kind}"))
            .describe(if kind == EntityKind::ApiKey {
                "Generates a key for `client_id` (as POST /api/v1/clients/{id}/keys)."
            } else {
                "The body is the entity with its `id`. `Location` and `ETag` name the new entity; `X-Comment` becomes the change's comment."
            })
            .body(create)
            .comment()
            .ok(201, created)
            .errors(&[409]);
        t.get(&one, Perm(read), &format!("One {kind}, with its version"))
            .ok(
                200,
                json("the entity; `ETag` is its version", &read_body)
                    .etag()
                    .links(entity_links(&base, "$request.path.id")),
            );
        t.put(&one, Perm(write), &format!("Replace a {kind}"))
            .describe("Send the version read as `If-Match: \"<version>\"`: 412 when it is no longer current, 428 when missing.")
            .body(put)
            .if_match()
            .comment()
            .ok(200, json("replaced", &read_body).etag())
            .errors(&[409]);
        t.delete(&one, Perm(write), &format!("Delete a {kind}"))
            .describe("Send the version read as `If-Match: \"<version>\"`. 409 while other entities refer to it.")
            .if_match()
            .comment()
            .ok(204, no_content("deleted"))
            .errors(&[409]);
        t.get(
            &format!("{one}/history"),
            Perm(read),
            &format!("Every version of a {kind}, each with its changes from the one before"),
        )
        .ok(200, json("the versions, oldest first", "History"));
    }

    t.post(
        "/api/v1/clients/{id}/keys",
        Perm(WriteGatewayConfig),
        "Generate an API key for the client; the key is shown once",
    )
    .body_optional("KeyRequest")
    .ok(
        201,
        json("the key: `secret` is shown only here", "CreatedSecret").links(key_links()),
    );
    t.post(
        "/api/v1/clients/{id}/secret",
        Perm(WriteGatewayConfig),
        "Set a new client secret (HTTP Basic, and the OAuth 2.0 token endpoint); shown once",
    )
    .ok(201, json("the secret: shown only here", "CreatedSecret"));
    t.post(
        "/api/v1/clients/{id}/signing-secret",
        Perm(WriteGatewayConfig),
        "Set a new request-signing secret (RFC 9421 `hmac-sha256`, keyid: the client's id); shown once",
    )
    .describe("The secret's bytes as shown are the HMAC key. It is stored on the client sealed under the site pepper (`signing_secret`), replacing the one before; `gatewatch sign` signs requests with it.")
    .ok(201, json("the secret: shown only here", "CreatedSecret"));
    t.get(
        "/api/v1/clients/{id}/scopes",
        Perm(ReadGatewayConfig),
        "The OAuth 2.0 scopes the token endpoint may grant the client: its own and those of the products approved for its active keys",
    )
    .ok(200, json("the client's scopes and where each comes from", "ClientScopes"));
    t.post(
        "/api/v1/channels/{id}/test",
        Perm(WriteAlertRules),
        "Send a test message through the channel (via the alerter); the far end's answer",
    )
    .ok(200, json("what the far end answered", "TestSendResult"))
    .errors(&[502, 503]);
    t.post(
        "/api/v1/alert-rules/{id}/test",
        Perm(WriteAlertRules),
        "Send a sample firing notice of the rule to each recipient (via the alerter); their answers",
    )
    .ok(200, json("what each recipient's far end answered", "TestSendResult"))
    .errors(&[502, 503]);
    t.post(
        "/api/v1/alert-rules/preview",
        Perm(WriteAlertRules),
        "A draft rule rendered as its firing, repeat and resolved notices with sample values",
    )
    .describe("The body is that of a create (validated, not stored); `lang` picks the language (default: the rule's, else the alerter's).")
    .query::<crate::preview::PreviewParams>()
    .body(gatewatch_model::schema::replace_schema(
        gatewatch_model::EntityKind::AlertRule,
    ))
    .ok(200, json("the rendered notices", "RulePreview"));
    t.post(
        "/api/v1/alert-rules/windows/check",
        Perm(ReadAlerts),
        "Whether exception windows (either form) hold at given instants",
    )
    .describe("At most 64 windows and 1000 instants; `timezone` defaults to the site's. A 422 names the field (`windows[1].times[0].end_time`, `at[3]`).")
    .body("WindowCheck")
    .ok(200, json("one boolean per instant", "WindowCheckAnswer"));
    t.post(
        "/api/v1/api-keys/{id}/rotate",
        Perm(WriteGatewayConfig),
        "A new key replacing this one, which works on for `overlap_secs`",
    )
    .body_optional("RotateRequest")
    .optional_if_match()
    .ok(
        201,
        json("the new key: `secret` is shown only here", "CreatedSecret").links(key_links()),
    )
    .errors(&[409, 412]);
    let key_envelope = format!(
        "{}Envelope",
        gatewatch_model::schema::read_schema(gatewatch_model::EntityKind::ApiKey)
    );
    t.post(
        "/api/v1/api-keys/{id}/revoke",
        Perm(WriteGatewayConfig),
        "Revoke the key now",
    )
    .ok(200, json("the revoked key", &key_envelope).etag());
    t.post(
        "/api/v1/api-keys/{id}/products",
        Perm(WriteGatewayConfig),
        "Grant a product to the key (approved at once unless the product wants manual approval)",
    )
    .body("GrantRequest")
    .ok(
        200,
        json("the key with its grants", &key_envelope)
            .etag()
            .links(grant_links()),
    );
    t.post(
        "/api/v1/api-keys/{id}/products/{product}/approve",
        Perm(WriteGatewayConfig),
        "Approve a pending grant",
    )
    .ok(200, json("the key with its grants", &key_envelope).etag());
    t.post(
        "/api/v1/api-keys/{id}/products/{product}/revoke",
        Perm(WriteGatewayConfig),
        "Revoke a grant",
    )
    .ok(200, json("the key with its grants", &key_envelope).etag());
    t.get(
        "/api/v1/report-subscriptions/{id}/runs",
        Perm(ReadReports),
        "How the subscription's scheduled mails went: runs newest first, each attempt, and `next_run`",
    )
    .query::<crate::report_runs::RunsParams>()
    .ok(200, json("the runs", "RunsPage"));
    t.get(
        "/api/v1/oauth/keys",
        Perm(ReadGatewayConfig),
        "The gateway's OAuth 2.0 signing keys, newest first: public parts only",
    )
    .ok(
        200,
        json("the keys and the algorithm of the next", "SigningKeys"),
    );
    t.post(
        "/api/v1/oauth/keys/rotate",
        Perm(WriteGatewayConfig),
        "A new signing key; the others sign no more and stay published until their last tokens expire",
    )
    .describe(
        "Every gateway signs with the new key within about a second. The body is empty or `{}`. \
         409 `too_many_keys` while 5 retired keys are still published.",
    )
    .body_optional("KeyRotationRequest")
    .ok(201, json("the new key and the keys it retired", "Rotation"))
    .errors(&[409]);
    t.get(
        "/api/v1/oauth/revocations",
        Perm(ReadGatewayConfig),
        "Access tokens revoked and not yet expired, newest first",
    )
    .query::<crate::oauth::RevocationParams>()
    .ok(200, json("the revocations", "Revocations"));
    t.post(
        "/api/v1/oauth/revocations",
        Perm(WriteGatewayConfig),
        "Revoke an access token by its `jti`: every gateway refuses it within about a second",
    )
    .body("RevocationRequest")
    .ok(201, json("the revocation", "Revocation"));
    t.get(
        "/api/v1/audit",
        Perm(ReadAuditLog),
        "The audit log, newest first",
    )
    .describe("Pass the answer's `next_cursor` as `cursor` for the next (older) page.")
    .query::<crate::audit::AuditParams>()
    .ok(200, json("a page of the log", "AuditPage"));
    t.0
}

/// Links from a new key (`id` in the answer) to what can be done with it.
fn key_links() -> Vec<(String, crate::doc::Link)> {
    use crate::doc::link;
    let id = [("id", "$response.body#/id")];
    vec![
        (
            "Rotate".into(),
            link(Method::POST, "/api/v1/api-keys/{id}/rotate", &id),
        ),
        (
            "Revoke".into(),
            link(Method::POST, "/api/v1/api-keys/{id}/revoke", &id),
        ),
        (
            "Grant".into(),
            link(Method::POST, "/api/v1/api-keys/{id}/products", &id),
        ),
        (
            "Get".into(),
            link(Method::GET, "/api/v1/api-keys/{id}", &id),
        ),
    ]
}

/// Links from a grant to its approval and revocation.
fn grant_links() -> Vec<(String, crate::doc::Link)> {
    use crate::doc::link;
    let params = [
        ("id", "$request.path.id"),
        ("product", "$request.body#/product"),
    ];
    vec![
        (
            "Approve".into(),
            link(
                Method::POST,
                "/api/v1/api-keys/{id}/products/{product}/approve",
                &params,
            ),
        ),
        (
            "RevokeGrant".into(),
            link(
                Method::POST,
                "/api/v1/api-keys/{id}/products/{product}/revoke",
                &params,
            ),
        ),
    ]
}

/// The table under construction: one builder method per HTTP method.
#[derive(Default)]
struct Table(Vec<Rule>);

impl Table {
    fn add(&mut self, method: Method, path: &str, access: Access, summary: &str) -> &mut Doc {
        let i = self.0.len();
        self.0.push(Rule {
            method,
            path: path.to_string(),
            access,
            doc: Doc::new(summary),
        });
        &mut self.0[i].doc
    }
    fn get(&mut self, path: &str, access: Access, summary: &str) -> &mut Doc {
        self.add(Method::GET, path, access, summary)
    }
    fn post(&mut self, path: &str, access: Access, summary: &str) -> &mut Doc {
        self.add(Method::POST, path, access, summary)
    }
    fn put(&mut self, path: &str, access: Access, summary: &str) -> &mut Doc {
        self.add(Method::PUT, path, access, summary)
    }
    fn delete(&mut self, path: &str, access: Access, summary: &str) -> &mut Doc {
        self.add(Method::DELETE, path, access, summary)
    }
}

/// The rule of a matched route.
pub fn find<'a>(rules: &'a [Rule], method: &Method, path: &str) -> Option<&'a Rule> {
    // axum answers HEAD with the GET route.
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    rules.iter().find(|r| r.method == *method && r.path == path)
}

/// The methods the table serves on a path pattern, as an `Allow` header lists them (GET
/// brings HEAD).
pub fn methods(rules: &[Rule], path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for r in rules.iter().filter(|r| r.path == path) {
        out.push(r.method.as_str());
        if r.method == Method::GET {
            out.push("HEAD");
        }
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_appears_once() {
        let r = rules();
        let mut seen = std::collections::HashSet::new();
        for x in &r {
            assert!(
                seen.insert((x.method.clone(), x.path.clone())),
                "{} {} twice",
                x.method,
                x.path
            );
        }
        assert!(find(&r, &Method::PUT, "/api/v1/apis/{id}").is_some());
        assert_eq!(
            find(&r, &Method::HEAD, "/healthz").unwrap().access,
            Access::Public
        );
        assert!(find(&r, &Method::PATCH, "/api/v1/apis/{id}").is_none());
        assert_eq!(methods(&r, "/api/v1/apis/{id}"), "GET, HEAD, PUT, DELETE");
        assert_eq!(
            find(&r, &Method::GET, "/api/v1/users").unwrap().access,
            Access::Perm(Permission::ManageUsers)
        );
    }
}
