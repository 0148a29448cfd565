//! Who may call what: ONE table of every route (method, path pattern) and what it needs, read
//! by the role-check middleware, the OpenAPI document and the role-matrix tests alike. A route
//! missing from the table is refused (fail closed).

use axum::http::Method;
use gatewatch_model::{EntityKind, Permission};

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

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Rule {
    pub method: Method,
    /// axum's pattern, e.g. `/api/v1/apis/{id}`.
    pub path: String,
    pub access: Access,
    pub summary: String,
    /// Name of the request body's schema in the OpenAPI document.
    pub request: Option<&'static str>,
    /// Success status and the name of its body's schema.
    pub response: (u16, Option<&'static str>),
}

/// The URL segment of each kind (`/api/v1/<segment>`).
pub const KINDS: [(EntityKind, &str); 10] = [
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
];

/// `(read, write)` permissions of a kind.
pub fn kind_permissions(kind: EntityKind) -> (Permission, Permission) {
    use Permission::*;
    match kind {
        EntityKind::User => (ManageUsers, ManageUsers),
        // Silences like the rules they mute: ops and admins set them.
        EntityKind::AlertRule | EntityKind::Channel | EntityKind::Silence => {
            (ReadAlerts, WriteAlertRules)
        }
        EntityKind::ReportSubscription => (ReadReports, WriteReportSubscriptions),
        _ => (ReadGatewayConfig, WriteGatewayConfig),
    }
}

/// The table.
pub fn rules() -> Vec<Rule> {
    use Access::*;
    use Permission::*;
    let mut t = Vec::new();
    let mut add = |method: Method,
                   path: &str,
                   access: Access,
                   summary: &str,
                   request: Option<&'static str>,
                   response: (u16, Option<&'static str>)| {
        t.push(Rule {
            method,
            path: path.to_string(),
            access,
            summary: summary.to_string(),
            request,
            response,
        })
    };
    add(
        Method::GET,
        "/healthz",
        Public,
        "Liveness",
        None,
        (200, None),
    );
    add(
        Method::GET,
        "/readyz",
        Public,
        "Readiness (configuration loaded)",
        None,
        (200, None),
    );
    add(
        Method::GET,
        "/metrics",
        Public,
        "Prometheus metrics",
        None,
        (200, None),
    );
    add(
        Method::GET,
        "/api/openapi.json",
        Public,
        "This document",
        None,
        (200, None),
    );
    add(
        Method::GET,
        "/api/docs",
        Public,
        "The API reference: this document as a page for people",
        None,
        (200, None),
    );
    add(
        Method::GET,
        "/",
        Public,
        "The web UI (index.html; pages are hash routes)",
        None,
        (200, None),
    );
    add(
        Method::GET,
        "/ui/{*file}",
        Public,
        "The web UI's static files (ETag, 304)",
        None,
        (200, None),
    );
    add(
        Method::POST,
        "/api/v1/login",
        Public,
        "Log in: sets the session cookie",
        Some("LoginRequest"),
        (200, Some("SessionInfo")),
    );
    add(
        Method::POST,
        "/api/v1/logout",
        Login,
        "Log out (`?everywhere=true` ends every session of the user)",
        None,
        (204, None),
    );
    add(
        Method::GET,
        "/api/v1/me",
        Login,
        "The logged-in user",
        None,
        (200, Some("SessionInfo")),
    );
    add(
        Method::POST,
        "/api/v1/me/password",
        Login,
        "Change one's own password: ends every session of the user, a cookie caller gets a new one",
        Some("PasswordChange"),
        (200, Some("SessionInfo")),
    );
    add(
        Method::PUT,
        "/api/v1/me/preferences",
        Login,
        "Set one's own UI language (`en`, `zh-TW`) and IANA time zone (`null`: the site's)",
        Some("Preferences"),
        (200, Some("SessionInfo")),
    );
    add(
        Method::GET,
        "/api/v1/alerts",
        Perm(ReadAlerts),
        "Active alerts: every (rule, scope key) pending or firing, firing first",
        None,
        (200, Some("ActiveAlerts")),
    );
    add(
        Method::GET,
        "/api/v1/alerts/events",
        Perm(ReadAlerts),
        "The alert timeline: transitions and notice attempts, newest first \
         (`?rule=&from=&to=&limit=&cursor=`, RFC 3339 times, default the last 7 days)",
        None,
        (200, Some("AlertEventsPage")),
    );
    add(
        Method::GET,
        "/api/v1/nodes",
        Perm(ReadNodes),
        "Nodes seen in the last `hours` (default 24) with their newest figures; \
         `silent` past `silent_after_secs` (default 3 × the sample interval), silent first",
        None,
        (200, Some("NodesPage")),
    );
    add(
        Method::GET,
        "/api/v1/upstreams/health",
        Perm(ReadGatewayConfig),
        "Per upstream host of each API: calls, failures and the newest call over the last \
         `minutes` (default 15), as `up` / `degraded` / `down` / `idle` (no calls)",
        None,
        (200, Some("UpstreamHealthPage")),
    );
    add(
        Method::GET,
        "/api/v1/me/tokens",
        Login,
        "One's bearer tokens (never the tokens themselves)",
        None,
        (200, None),
    );
    add(
        Method::POST,
        "/api/v1/me/tokens",
        Login,
        "Create a bearer token for scripts; shown once",
        Some("TokenRequest"),
        (201, Some("CreatedSecret")),
    );
    add(
        Method::DELETE,
        "/api/v1/me/tokens/{token_id}",
        Login,
        "Delete one of one's bearer tokens",
        None,
        (204, None),
    );

    for (kind, seg) in KINDS {
        let (read, write) = kind_permissions(kind);
        let base = format!("/api/v1/{seg}");
        let one = format!("{base}/{{id}}");
        add(
            Method::GET,
            &base,
            Perm(read),
            &format!("List {kind} entities (`?limit=&cursor=`)"),
            None,
            (200, Some("Page")),
        );
        add(
            Method::POST,
            &base,
            Perm(write),
            &format!("Create a {kind} (body: the entity with its `id`)"),
            Some("EntityBody"),
            (201, Some("Envelope")),
        );
        add(
            Method::GET,
            &one,
            Perm(read),
            &format!("One {kind}, with its version (ETag)"),
            None,
            (200, Some("Envelope")),
        );
        add(
            Method::PUT,
            &one,
            Perm(write),
            &format!("Replace a {kind} (If-Match: \"<version>\")"),
            Some("EntityBody"),
            (200, Some("Envelope")),
        );
        add(
            Method::DELETE,
            &one,
            Perm(write),
            &format!("Delete a {kind} (If-Match: \"<version>\")"),
            None,
            (204, None),
        );
        add(
            Method::GET,
            &format!("{one}/history"),
            Perm(read),
            &format!("Every version of a {kind}, each with its changes from the one before"),
            None,
            (200, Some("History")),
        );
    }

    add(
        Method::POST,
        "/api/v1/clients/{id}/keys",
        Perm(WriteGatewayConfig),
        "Generate an API key for the client; the key is shown once",
        Some("KeyRequest"),
        (201, Some("CreatedSecret")),
    );
    add(
        Method::POST,
        "/api/v1/clients/{id}/secret",
        Perm(WriteGatewayConfig),
        "Set a new client secret for HTTP Basic; shown once",
        None,
        (201, Some("CreatedSecret")),
    );
    add(
        Method::POST,
        "/api/v1/channels/{id}/test",
        Perm(WriteAlertRules),
        "Send a test message through the channel (via the alerter); the far end's answer",
        None,
        (200, None),
    );
    add(
        Method::POST,
        "/api/v1/alert-rules/{id}/test",
        Perm(WriteAlertRules),
        "Send a sample firing notice of the rule to each recipient (via the alerter); their answers",
        None,
        (200, None),
    );
    add(
        Method::POST,
        "/api/v1/alert-rules/preview",
        Perm(WriteAlertRules),
        "A draft rule (the body of a create; validated, not stored): its firing, repeat and \
         resolved notices rendered with sample values in `?lang=en|zh-TW` (default: the \
         rule's, else the alerter's)",
        Some("EntityBody"),
        (200, Some("RulePreview")),
    );
    add(
        Method::POST,
        "/api/v1/api-keys/{id}/rotate",
        Perm(WriteGatewayConfig),
        "A new key replacing this one, which works on for `overlap_secs`",
        Some("RotateRequest"),
        (201, Some("CreatedSecret")),
    );
    add(
        Method::POST,
        "/api/v1/api-keys/{id}/revoke",
        Perm(WriteGatewayConfig),
        "Revoke the key now",
        None,
        (200, Some("Envelope")),
    );
    add(
        Method::POST,
        "/api/v1/api-keys/{id}/products",
        Perm(WriteGatewayConfig),
        "Grant a product to the key (approved at once unless the product wants manual approval)",
        Some("GrantRequest"),
        (200, Some("Envelope")),
    );
    add(
        Method::POST,
        "/api/v1/api-keys/{id}/products/{product}/approve",
        Perm(WriteGatewayConfig),
        "Approve a pending grant",
        None,
        (200, Some("Envelope")),
    );
    add(
        Method::POST,
        "/api/v1/api-keys/{id}/products/{product}/revoke",
        Perm(WriteGatewayConfig),
        "Revoke a grant",
        None,
        (200, Some("Envelope")),
    );
    add(
        Method::GET,
        "/api/v1/report-subscriptions/{id}/runs",
        Perm(ReadReports),
        "How the subscription's scheduled mails went: runs newest first, each attempt (`?limit=`), and `next_run`",
        None,
        (200, Some("RunsPage")),
    );
    add(
        Method::GET,
        "/api/v1/audit",
        Perm(ReadAuditLog),
        "The audit log, newest first (`?from=&to=&user=&action=&limit=&cursor=`, RFC 3339 times, \
         default the last day; `next_cursor` pages keyset-wise)",
        None,
        (200, Some("AuditPage")),
    );
    t
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
        assert_eq!(
            find(&r, &Method::GET, "/api/v1/users").unwrap().access,
            Access::Perm(Permission::ManageUsers)
        );
    }
}
