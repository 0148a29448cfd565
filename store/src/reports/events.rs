//! The client events report's reads: refusals per hour, the first refusal of each quota
//! window, the OAuth 2.0 tokens issued and refused per hour (the token endpoint's records),
//! and the `config_log` and `audit_log` rows of the clients and their keys.

use chrono_tz::Tz;
use gatewatch_model::client::QuotaWindow;
use gatewatch_model::report::{ReportParams, Window};
use serde::Deserialize;
use uuid::Uuid;

use super::filter::conditions;
use super::{Scope, Source};
use crate::query::Sql;
use crate::{Result, Store};

/// Refused calls of one client, API and refusal code in one hour.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct RefusalRow {
    pub hour: u32,
    pub client_id: String,
    pub outcome: String,
    pub api_id: String,
    pub calls: u64,
}

/// Refusals of API calls per hour, client, code and API in the window, from `client_api_1h`,
/// ordered so. Rows without an API (the gateway's own OAuth 2.0 endpoints, whose records have
/// an empty `api_id`) are not API calls: [`tokens_refused`] tells those of the token endpoint.
pub async fn refusals(
    store: &Store,
    params: &ReportParams,
    window: &Window,
) -> Result<Vec<RefusalRow>> {
    let mut s = Sql::new(
        "SELECT toUInt32(ts) AS hour, client_id, toString(outcome) AS outcome_name, api_id, \
         countMerge(calls) AS n FROM client_api_1h WHERE ",
    );
    s.append(&conditions(&Scope {
        params,
        window,
        source: Source::ClientHour,
    }));
    s.push(" AND ").in_strs("outcome", &super::refusals());
    s.push(" AND api_id != ").str("");
    s.push(
        " GROUP BY hour, client_id, outcome_name, api_id \
         ORDER BY hour, client_id, outcome_name, api_id",
    );
    s.fetch_all(store).await
}

/// The route of the gateway's token endpoint in its call records (their `api_id` is empty),
/// as agreed with the gateway (`POST /oauth2/token`).
pub const TOKEN_ROUTE: &str = "/oauth2/token";

/// Longest error code kept from a refused token request's `error` (RFC 6749's codes are
/// shorter; a longer prefix is cut, not trusted).
pub const MAX_TOKEN_ERROR_CODE: u64 = 64;

/// Tokens issued to one client in one hour with one set of scopes.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct TokensIssuedRow {
    pub hour: u32,
    pub client_id: String,
    /// The scopes granted, space-separated as in the token (empty: none).
    pub scopes: String,
    pub tokens: u64,
}

/// Token requests of one client refused in one hour with one error code.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct TokensRefusedRow {
    pub hour: u32,
    pub client_id: String,
    /// The RFC 6749 §5.2 error code (`invalid_client`, `invalid_scope`…): the record's
    /// `error` up to its first `:`; the outcome when the record has no error.
    pub code: String,
    pub requests: u64,
}

/// `SELECT hour, client_id, <select> FROM api_calls WHERE <window and filters> AND <the token
/// endpoint's rows>`; hours are whole UTC hours like the rollup's, so tokens and refusals line
/// up. An `api` filter leaves every row out (they belong to no API).
fn token_rows(select: &Sql, params: &ReportParams, window: &Window) -> Sql {
    let mut s = Sql::new("SELECT toUInt32(intDiv(toUInt32(ts), 3600) * 3600) AS hour, client_id, ");
    s.append(select).push(" FROM api_calls WHERE ");
    s.append(&conditions(&Scope {
        params,
        window,
        source: Source::Raw,
    }));
    s.push(" AND api_id = ")
        .str("")
        .push(" AND route = ")
        .str(TOKEN_ROUTE);
    s
}

/// Tokens the token endpoint issued per hour, client and set of scopes in the window (exact:
/// raw records), ordered by hour, client, most tokens first.
pub async fn tokens_issued(
    store: &Store,
    params: &ReportParams,
    window: &Window,
) -> Result<Vec<TokensIssuedRow>> {
    let mut s = token_rows(&Sql::new("scopes, count() AS n"), params, window);
    s.push(" AND outcome = ").str("ok");
    s.push(" GROUP BY hour, client_id, scopes ORDER BY hour, client_id, n DESC, scopes");
    s.fetch_all(store).await
}

/// Token requests refused per hour, client and RFC 6749 error code in the window, ordered by
/// hour, client, most refused first.
pub async fn tokens_refused(
    store: &Store,
    params: &ReportParams,
    window: &Window,
) -> Result<Vec<TokensRefusedRow>> {
    let mut code = Sql::new("if(error = ");
    code.str("")
        .push(", toString(outcome), substring(splitByChar(")
        .str(":")
        .push(", error)[1], 1, ")
        .u64(MAX_TOKEN_ERROR_CODE)
        .push(")) AS code, count() AS n");
    let mut s = token_rows(&code, params, window);
    s.push(" AND outcome != ").str("ok");
    s.push(" GROUP BY hour, client_id, code ORDER BY hour, client_id, n DESC, code");
    s.fetch_all(store).await
}

/// The first quota refusal of one quota window: when, how many in the window, which API.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct QuotaRow {
    pub first_us: i64,
    pub calls: u64,
    pub api_id: String,
}

/// Per quota window (`kind`, edges in `tz`) of `client` in `[from, to)` (Unix seconds), its
/// first `refused_quota` call, oldest first.
pub async fn quota_refusals(
    store: &Store,
    client: &str,
    from: i64,
    to: i64,
    kind: QuotaWindow,
    tz: Tz,
) -> Result<Vec<QuotaRow>> {
    let mut s = Sql::new(
        "SELECT min(ts_us) AS first_us, count() AS n, argMin(api_id, ts_us) AS api \
         FROM api_calls WHERE client_id = ",
    );
    s.str(client).push(" AND outcome = ").str("refused_quota");
    s.push(" AND ts >= ").time(from.max(0));
    s.push(" AND ts < ").time(to.max(0));
    s.push(" GROUP BY ");
    // The start of a row's quota window, as Unix seconds (matches `QuotaWindow::bounds`).
    match kind {
        QuotaWindow::Minute => s.push("intDiv(toUInt32(ts), 60) * 60"),
        QuotaWindow::Hour => s
            .push("toUInt32(toStartOfHour(ts, ")
            .str(tz.name())
            .push("))"),
        QuotaWindow::Day => s
            .push("toUInt32(toStartOfDay(ts, ")
            .str(tz.name())
            .push("))"),
        QuotaWindow::Month => s
            .push("toUInt32(toDateTime(toStartOfMonth(ts, ")
            .str(tz.name())
            .push("), ")
            .str(tz.name())
            .push("))"),
    };
    s.push(" ORDER BY first_us");
    s.fetch_all(store).await
}

/// A `config_log` row of a client or a key.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct ConfigRow {
    pub entity: String,
    pub id: String,
    pub version: u64,
    #[serde(with = "clickhouse::serde::uuid")]
    pub change_id: Uuid,
    pub ts_us: i64,
    pub author: String,
    pub comment: String,
    pub deleted: u8,
    pub body: String,
}

/// Every `config_log` row of `clients` and of every key whose body ever named one of them
/// (as a JSON string, whatever the spacing around it: a prefilter, callers check the parsed
/// body), ordered by entity, id, version.
pub async fn config_rows(store: &Store, clients: &[String]) -> Result<Vec<ConfigRow>> {
    let mut s = Sql::new(
        "SELECT entity, id, version, change_id, ts_us, author, comment, deleted, body \
         FROM config_log WHERE (entity = ",
    );
    s.str("client").push(" AND ").in_strs("id", clients);
    s.push(") OR (entity = ").str("api_key");
    s.push(" AND id IN (SELECT id FROM config_log WHERE entity = ")
        .str("api_key");
    s.push(" AND (0");
    for c in clients {
        let as_json = serde_json::to_string(c).unwrap_or_default();
        s.push(" OR positionUTF8(body, ")
            .str(&as_json)
            .push(") > 0");
    }
    s.push("))) ORDER BY entity, id, version, toString(change_id)");
    s.fetch_all(store).await
}

/// An `audit_log` row of a client or a key.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct AuditRow {
    pub ts_us: i64,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub id: String,
    #[serde(with = "clickhouse::serde::uuid")]
    pub change_id: Uuid,
    pub client_ip: String,
}

/// The `audit_log` rows of `clients` and `keys` in the window, oldest first.
pub async fn audit_rows(
    store: &Store,
    window: &Window,
    clients: &[String],
    keys: &[String],
) -> Result<Vec<AuditRow>> {
    let mut s = Sql::new(
        "SELECT ts_us, actor, action, entity, id, change_id, client_ip FROM audit_log WHERE ts >= ",
    );
    s.time(window.from.timestamp().max(0));
    s.push(" AND ts <= ").time(window.to.timestamp().max(0));
    s.push(" AND ts_us >= ").i64(window.from.timestamp_micros());
    s.push(" AND ts_us < ").i64(window.to.timestamp_micros());
    s.push(" AND ((entity = ")
        .str("client")
        .push(" AND ")
        .in_strs("id", clients);
    s.push(") OR (entity = ")
        .str("api_key")
        .push(" AND ")
        .in_strs("id", keys);
    s.push(")) ORDER BY ts_us");
    s.fetch_all(store).await
}
