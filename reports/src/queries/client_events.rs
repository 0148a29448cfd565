//! Client events: for the clients named (`client=…`, required), one time-ordered table (newest
//! first) of what happened to them in the window:
//!
//! - refusals by reason, per hour and outcome (`refused_auth`, `refused_ip`, `refused_hours`,
//!   `refused_rate`, `refused_quota`, `refused_expired`, …) from the client rollup
//!   `client_api_1h`, with the APIs refused; the API/outcome filters apply; the first hour may
//!   start before `from` (rollup rows are whole hours); calls with no API (the gateway's own
//!   OAuth 2.0 endpoints) are not among them;
//! - `tokens_issued`: per hour, the OAuth 2.0 access tokens the gateway's token endpoint issued
//!   to the client, with the scopes granted (each set of scopes and its count), and
//!   `tokens_refused`: per hour, its refused token requests by RFC 6749 error code
//!   (`invalid_client`, `invalid_scope`, …: the record's `error` up to its first `:`), both
//!   from the raw records of `POST /oauth2/token` (`route = '/oauth2/token'`, `api_id` empty;
//!   exact, hours in UTC like the rollup's); an API filter leaves them out, the outcome filter
//!   applies; `summary.tokens_issued` and `summary.tokens_refused` are the window's totals;
//! - `quota_exhausted`: the first `refused_quota` call of each quota window, the window being
//!   the client's shortest limited one (per minute, hour, day, month, in the client's zone, or
//!   the report's) as its configuration says now, read from the raw calls of that client only;
//!   a window that started before `from` is read from its start, so "first" is exact;
//! - `client_created|changed|deleted|secret_set`, `key_created|rotated|revoked|deleted|changed`
//!   from the configuration log (rows of the client, and of every key that ever belonged to
//!   it), with the audit log's action, actor and address of the same change; audit rows about
//!   the client or its keys without a configuration row are listed as they are.
//!
//! Field names of a change are shown, never values (a body may hold hashes).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use gatewatch_model::client::{parse_tz, QuotaWindow};
use gatewatch_model::report::{ReportKind, Window};
use gatewatch_model::{ApiKeySpec, ClientSpec, EntityKind, FieldError};
use gatewatch_store::config_log;
use gatewatch_store::reports::events::{
    self as store_events, AuditRow, ConfigRow as LogRow, QuotaRow, RefusalRow, TokensIssuedRow,
    TokensRefusedRow,
};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::catalog::{Ctx, Report};
use crate::error::Result;
use crate::queries::filter::Source;
use crate::table::{Cell, Column, Table};

/// Rows when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 1_000;

/// One row of the answer.
#[derive(Debug, Clone, PartialEq)]
struct Event {
    ts_us: i64,
    client: String,
    event: String,
    detail: String,
    actor: String,
    source: &'static str,
}

pub async fn run(ctx: &Ctx<'_>) -> Result<Report> {
    let p = ctx.params;
    if p.clients.is_empty() {
        return Err(
            FieldError::new("client", "name the client whose events to list (client=…)").into(),
        );
    }
    crate::queries::source::refuse_search_params(p, "client-events", true)?;
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT) as usize;
    let mut events = refusals(ctx).await?;
    let issued = store_events::tokens_issued(ctx.store, p, &ctx.window).await?;
    let refused = store_events::tokens_refused(ctx.store, p, &ctx.window).await?;
    let tokens_issued: u64 = issued.iter().map(|r| r.tokens).sum();
    let tokens_refused: u64 = refused.iter().map(|r| r.requests).sum();
    events.extend(token_events(issued, refused));
    for c in &p.clients {
        events.extend(quota_exhausted(ctx, c).await?);
    }
    events.extend(configuration(ctx).await?);
    events.sort_by(|a, b| {
        b.ts_us
            .cmp(&a.ts_us)
            .then_with(|| a.client.cmp(&b.client))
            .then_with(|| a.event.cmp(&b.event))
            .then_with(|| a.detail.cmp(&b.detail))
    });
    let mut counts: Map<String, Value> = Map::new();
    for e in &events {
        let n = counts.get(&e.event).and_then(Value::as_u64).unwrap_or(0);
        counts.insert(e.event.clone(), Value::from(n + 1));
    }
    let truncated = events.len() > limit;
    events.truncate(limit);
    let mut table = Table::new(
        vec![
            Column::new("time", "Time"),
            Column::new("client_id", "Client"),
            Column::new("event", "Event"),
            Column::new("detail", "Detail"),
            Column::new("by", "By"),
            Column::new("source", "Source"),
            Column::new("ts_us", "Time").unit("µs since epoch"),
        ],
        ctx.window.tz,
    );
    for e in events {
        table.push(vec![
            Cell::Time(e.ts_us.div_euclid(1_000_000)),
            e.client.into(),
            e.event.into(),
            e.detail.into(),
            e.actor.into(),
            e.source.into(),
            Cell::Int(e.ts_us),
        ]);
    }
    let mut summary = Map::new();
    summary.insert("events".into(), Value::Object(counts));
    summary.insert("tokens_issued".into(), Value::from(tokens_issued));
    summary.insert("tokens_refused".into(), Value::from(tokens_refused));
    summary.insert("rows".into(), Value::from(table.rows.len()));
    summary.insert("truncated".into(), Value::from(truncated));
    Ok(Report {
        kind: ReportKind::ClientEvents,
        title: "Client events".into(),
        window: ctx.window,
        source: Source::ClientHour,
        summary,
        table,
        chart: None,
        next_cursor: None,
    })
}

/// What a refusal code means, for the detail column.
pub fn refusal_reason(outcome: &str) -> &'static str {
    match outcome {
        "refused_auth" => "missing or wrong credentials",
        "refused_not_allowed" => "API not allowed for the client",
        "refused_rate" => "over the TPS limit",
        "refused_quota" => "quota used up",
        "refused_ip" => "client IP not allowed",
        "refused_hours" => "outside service hours",
        "refused_expired" => "client or key expired",
        "refused_bad_request" => "malformed request",
        "refused_blocked" => "blocked by a message check",
        "refused_busy" => "gateway saturated",
        _ => "refused",
    }
}

async fn refusals(ctx: &Ctx<'_>) -> Result<Vec<Event>> {
    let rows: Vec<RefusalRow> = store_events::refusals(ctx.store, ctx.params, &ctx.window).await?;
    // One event per hour × client × reason, naming the APIs refused.
    let mut out: Vec<(Event, u64)> = Vec::new();
    for r in rows {
        let ts_us = i64::from(r.hour) * 1_000_000;
        let part = format!("{} {}", r.api_id, r.calls);
        match out.last_mut() {
            Some((e, n)) if e.ts_us == ts_us && e.client == r.client_id && e.event == r.outcome => {
                *n += r.calls;
                e.detail.push_str(", ");
                e.detail.push_str(&part);
            }
            _ => out.push((
                Event {
                    ts_us,
                    client: r.client_id,
                    event: r.outcome,
                    detail: part,
                    actor: String::new(),
                    source: "client_api_1h",
                },
                r.calls,
            )),
        }
    }
    Ok(out
        .into_iter()
        .map(|(mut e, n)| {
            e.detail = format!(
                "{n} calls refused in the hour ({}); by API: {}",
                refusal_reason(&e.event),
                e.detail
            );
            e
        })
        .collect())
}

/// Most sets of scopes one `tokens_issued` event names; the rest are counted.
const MAX_SCOPE_SETS: usize = 10;

/// One `tokens_issued` event per hour × client (naming each set of scopes granted, quoted: a
/// scope has no `"`) and one `tokens_refused` per hour × client (naming each error code), from
/// rows ordered by hour and client.
fn token_events(issued: Vec<TokensIssuedRow>, refused: Vec<TokensRefusedRow>) -> Vec<Event> {
    let event = |hour: u32, client: String, event: &str| Event {
        ts_us: i64::from(hour) * 1_000_000,
        client,
        event: event.into(),
        detail: String::new(),
        actor: String::new(),
        source: "api_calls",
    };
    let mut out: Vec<(Event, u64, Vec<String>)> = Vec::new();
    for r in issued {
        let set = if r.scopes.is_empty() {
            format!("no scope {}", r.tokens)
        } else {
            format!("\"{}\" {}", r.scopes, r.tokens)
        };
        match out.last_mut() {
            Some((e, n, sets))
                if e.ts_us == i64::from(r.hour) * 1_000_000 && e.client == r.client_id =>
            {
                *n += r.tokens;
                sets.push(set);
            }
            _ => out.push((
                event(r.hour, r.client_id, "tokens_issued"),
                r.tokens,
                vec![set],
            )),
        }
    }
    for (e, n, sets) in &mut out {
        let more = sets.len().saturating_sub(MAX_SCOPE_SETS);
        sets.truncate(MAX_SCOPE_SETS);
        e.detail = format!(
            "{n} {} issued in the hour; scopes granted: {}{}",
            if *n == 1 { "token" } else { "tokens" },
            sets.join(", "),
            if more > 0 {
                format!(" and {more} more sets")
            } else {
                String::new()
            }
        );
    }
    let mut events: Vec<Event> = out.into_iter().map(|(e, _, _)| e).collect();
    let mut no: Vec<(Event, u64, Vec<String>)> = Vec::new();
    for r in refused {
        let part = format!("{} {}", r.code, r.requests);
        match no.last_mut() {
            Some((e, n, parts))
                if e.ts_us == i64::from(r.hour) * 1_000_000 && e.client == r.client_id =>
            {
                *n += r.requests;
                parts.push(part);
            }
            _ => no.push((
                event(r.hour, r.client_id, "tokens_refused"),
                r.requests,
                vec![part],
            )),
        }
    }
    events.extend(no.into_iter().map(|(mut e, n, parts)| {
        e.detail = format!(
            "{n} token {} refused in the hour; by error: {}",
            if n == 1 { "request" } else { "requests" },
            parts.join(", ")
        );
        e
    }));
    events
}

/// The client's current configuration, if it exists.
async fn client_spec(ctx: &Ctx<'_>, id: &str) -> Result<Option<ClientSpec>> {
    let e = config_log::get(ctx.store, EntityKind::Client, id)
        .await
        .map_err(|e| match e {
            config_log::ConfigLogError::Store(s) => crate::ReportError::Store(s),
            other => crate::ReportError::NotFound(other.to_string()),
        })?;
    Ok(e.filter(|e| !e.deleted)
        .and_then(|e| serde_json::from_str(&e.body).ok()))
}

/// The quota window a client's refusals are grouped by, its limit, and the zone of its edges.
fn quota_window(spec: Option<&ClientSpec>, report_tz: Tz) -> (QuotaWindow, Option<u64>, Tz) {
    let tz = spec
        .and_then(|s| s.timezone.as_deref())
        .and_then(|t| parse_tz(t).ok())
        .unwrap_or(report_tz);
    match spec.and_then(|s| s.quota.limits().next()) {
        Some((w, n)) => (w, Some(n), tz),
        None => (QuotaWindow::Day, None, tz),
    }
}

async fn quota_exhausted(ctx: &Ctx<'_>, client: &str) -> Result<Vec<Event>> {
    let spec = client_spec(ctx, client).await?;
    let (kind, limit, tz) = quota_window(spec.as_ref(), ctx.window.tz);
    let w = ctx.window;
    // Read from the start of the window holding `from`, so its first refusal is the true one.
    let start = kind.bounds(w.from, tz).0;
    let rows: Vec<QuotaRow> = store_events::quota_refusals(
        ctx.store,
        client,
        start.timestamp(),
        w.to.timestamp(),
        kind,
        tz,
    )
    .await?;
    let (from_us, to_us) = (w.from.timestamp_micros(), w.to.timestamp_micros());
    let quota = match limit {
        Some(n) => format!("{} quota ({n})", kind.field()),
        None => "quota (the client has none now; windows taken per day)".to_string(),
    };
    Ok(rows
        .into_iter()
        .filter(|r| (from_us..to_us).contains(&r.first_us))
        .map(|r| Event {
            ts_us: r.first_us,
            client: client.to_string(),
            event: "quota_exhausted".into(),
            detail: format!(
                "{quota} used up, first refused on {}; {} calls refused in this window",
                r.api_id, r.calls
            ),
            actor: String::new(),
            source: "api_calls",
        })
        .collect())
}

/// Top-level fields that differ between two JSON bodies.
fn changed_fields(old: &Value, new: &Value) -> Vec<String> {
    let empty = Map::new();
    let o = old.as_object().unwrap_or(&empty);
    let n = new.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| o.get(*k) != n.get(*k))
        .cloned()
        .collect()
}

fn with_comment(detail: String, comment: &str) -> String {
    if comment.is_empty() {
        detail
    } else {
        format!("{detail} — {comment}")
    }
}

/// What a client row changed.
fn client_event(r: &LogRow, old: &Value, new: &Value) -> (&'static str, String) {
    let fields = changed_fields(old, new);
    if r.deleted != 0 {
        ("client_deleted", format!("client {} deleted", r.id))
    } else if old.is_null() {
        ("client_created", format!("client {} created", r.id))
    } else if fields == ["secret_hash"] {
        ("client_secret_set", "a new client secret was set".into())
    } else {
        let mut d = format!("changed: {}", fields.join(", "));
        if fields.iter().any(|f| f == "status") {
            d.push_str(&format!(
                " (status {} → {})",
                old["status"].as_str().unwrap_or("active"),
                new["status"].as_str().unwrap_or("active")
            ));
        }
        ("client_changed", d)
    }
}

/// What a key row changed; `None` for the old key's row of a rotation (the new key's row
/// tells it, with the old key's end of overlap from `expires`).
fn key_event(
    r: &LogRow,
    old: &Value,
    new: &Value,
    rotated_out: bool,
    expires: impl Fn(&str) -> Option<DateTime<Utc>>,
    tz: Tz,
) -> Option<(&'static str, String)> {
    let spec: Option<ApiKeySpec> = serde_json::from_str(&r.body).ok();
    Some(if r.deleted != 0 {
        ("key_deleted", format!("key {} deleted", r.id))
    } else if rotated_out {
        return None;
    } else if old.is_null() {
        match spec.and_then(|s| s.replaces) {
            Some(old_id) => {
                let until = expires(&old_id)
                    .map(|t| format!(", which stays valid until {}", show(t, tz)))
                    .unwrap_or_default();
                (
                    "key_rotated",
                    format!("key {} replaces key {old_id}{until}", r.id),
                )
            }
            None => ("key_created", format!("key {} created", r.id)),
        }
    } else if old["revoked"] != Value::Bool(true) && new["revoked"] == Value::Bool(true) {
        ("key_revoked", format!("key {} revoked", r.id))
    } else {
        (
            "key_changed",
            format!(
                "key {} changed: {}",
                r.id,
                changed_fields(old, new).join(", ")
            ),
        )
    })
}

/// A configuration event before the audit log is joined: its change, entity and id.
struct Pending {
    change_id: Uuid,
    entity: String,
    id: String,
    event: Event,
}

/// The events of `rows` (ordered by entity, id, version) inside the window, for the wanted
/// clients; and the client of every key seen.
fn config_events(
    rows: &[LogRow],
    wanted: &HashSet<&str>,
    w: &Window,
) -> (Vec<Pending>, HashMap<String, String>) {
    let (from_us, to_us) = (w.from.timestamp_micros(), w.to.timestamp_micros());
    // Rotations: the change that created a key replacing another also moved the old key's
    // expiry; that row is the same event.
    let mut rotated_out: HashSet<(Uuid, &str)> = HashSet::new();
    for r in rows {
        if r.entity == "api_key" && r.deleted == 0 {
            if let Some(old) = serde_json::from_str::<ApiKeySpec>(&r.body)
                .ok()
                .and_then(|k| k.replaces)
            {
                if let Some(o) = rows.iter().find(|x| x.id == old) {
                    rotated_out.insert((r.change_id, o.id.as_str()));
                }
            }
        }
    }
    let mut out = Vec::new();
    // The client a key belongs to, from its latest readable body.
    let mut key_client: HashMap<String, String> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        let before = i
            .checked_sub(1)
            .map(|j| &rows[j])
            .filter(|p| p.entity == r.entity && p.id == r.id);
        let body = |x: &LogRow| -> Value {
            if x.deleted == 0 {
                serde_json::from_str(&x.body).unwrap_or(Value::Null)
            } else {
                Value::Null
            }
        };
        let old = before.map_or(Value::Null, body);
        let new = body(r);
        let (client, (event, detail)) = if r.entity == "client" {
            (r.id.clone(), client_event(r, &old, &new))
        } else {
            if let Ok(s) = serde_json::from_str::<ApiKeySpec>(&r.body) {
                key_client.insert(r.id.clone(), s.client_id);
            }
            let Some(client) = key_client.get(&r.id).cloned() else {
                continue;
            };
            if !wanted.contains(client.as_str()) {
                continue;
            }
            let expires = |old_id: &str| {
                rows.iter()
                    .filter(|x| x.change_id == r.change_id && x.id == old_id)
                    .find_map(|x| serde_json::from_str::<ApiKeySpec>(&x.body).ok())
                    .and_then(|k| k.expires_at)
            };
            let rotated = rotated_out.contains(&(r.change_id, r.id.as_str()));
            match key_event(r, &old, &new, rotated, expires, w.tz) {
                Some(e) => (client, e),
                None => continue,
            }
        };
        if !(from_us..to_us).contains(&r.ts_us) {
            continue;
        }
        out.push(Pending {
            change_id: r.change_id,
            entity: r.entity.clone(),
            id: r.id.clone(),
            event: Event {
                ts_us: r.ts_us,
                client,
                event: event.into(),
                detail: with_comment(format!("{detail} (version {})", r.version), &r.comment),
                actor: r.author.clone(),
                source: "config_log",
            },
        });
    }
    key_client.retain(|_, c| wanted.contains(c.as_str()));
    (out, key_client)
}

/// Audit rows join the configuration event of their change (adding the action and the
/// caller's address); the rest are listed as they are.
fn join_audit(
    pending: Vec<Pending>,
    audit: Vec<AuditRow>,
    key_client: &HashMap<String, String>,
) -> Vec<Event> {
    let who = |a: &AuditRow| {
        if a.client_ip.is_empty() {
            a.actor.clone()
        } else {
            format!("{} from {}", a.actor, a.client_ip)
        }
    };
    let mut events = Vec::with_capacity(pending.len() + audit.len());
    let mut matched = HashSet::new();
    for p in pending {
        let mut e = p.event;
        let found = audit.iter().enumerate().find(|(_, a)| {
            !p.change_id.is_nil()
                && a.change_id == p.change_id
                && a.entity == p.entity
                && a.id == p.id
        });
        if let Some((i, a)) = found {
            matched.insert(i);
            e.detail = format!("{} [{}]", e.detail, a.action);
            e.actor = who(a);
        }
        events.push(e);
    }
    for (i, a) in audit.iter().enumerate() {
        if matched.contains(&i) {
            continue;
        }
        let client = if a.entity == "client" {
            a.id.clone()
        } else {
            key_client.get(&a.id).cloned().unwrap_or_default()
        };
        events.push(Event {
            ts_us: a.ts_us,
            client,
            event: a.action.clone(),
            detail: format!("{} {}: {}", a.entity, a.id, a.action),
            actor: who(a),
            source: "audit_log",
        });
    }
    events
}

async fn configuration(ctx: &Ctx<'_>) -> Result<Vec<Event>> {
    // Every row of the clients and of every key that ever named one of them: earlier versions
    // are needed to say what a change in the window changed.
    let rows: Vec<LogRow> = store_events::config_rows(ctx.store, &ctx.params.clients).await?;
    let wanted: HashSet<&str> = ctx.params.clients.iter().map(String::as_str).collect();
    let (pending, key_client) = config_events(&rows, &wanted, &ctx.window);

    // The audit rows of the same clients and keys.
    let mut ids: Vec<String> = ctx.params.clients.clone();
    ids.extend(key_client.keys().cloned());
    let audit: Vec<AuditRow> =
        store_events::audit_rows(ctx.store, &ctx.window, &ctx.params.clients, &ids).await?;
    Ok(join_audit(pending, audit, &key_client))
}

fn show(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).to_rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shortest_limited_window_groups_quota_refusals() {
        let mut spec: ClientSpec = serde_json::from_value(serde_json::json!({
            "name": "c", "timezone": "Asia/Taipei", "quota": {"per_day": 100, "per_hour": 10}
        }))
        .unwrap();
        let (w, n, tz) = quota_window(Some(&spec), chrono_tz::UTC);
        assert_eq!(
            (w, n, tz),
            (QuotaWindow::Hour, Some(10), chrono_tz::Asia::Taipei)
        );
        spec.quota = Default::default();
        spec.timezone = None;
        let (w, n, tz) = quota_window(Some(&spec), chrono_tz::UTC);
        assert_eq!((w, n, tz), (QuotaWindow::Day, None, chrono_tz::UTC));
    }

    #[test]
    fn token_events_name_at_most_ten_sets_of_scopes_per_hour() {
        let issued: Vec<TokensIssuedRow> = (0..12)
            .map(|i| TokensIssuedRow {
                hour: 3_600,
                client_id: "c1".into(),
                scopes: format!("s{i}"),
                tokens: 1,
            })
            .collect();
        let refused = vec![TokensRefusedRow {
            hour: 7_200,
            client_id: "c1".into(),
            code: "invalid_client".into(),
            requests: 1,
        }];
        let e = token_events(issued, refused);
        assert_eq!(e.len(), 2);
        assert_eq!(
            (e[0].ts_us, e[0].event.as_str()),
            (3_600_000_000, "tokens_issued")
        );
        assert!(e[0]
            .detail
            .starts_with("12 tokens issued in the hour; scopes granted: \"s0\" 1"));
        assert!(
            e[0].detail.ends_with("\"s9\" 1 and 2 more sets"),
            "{}",
            e[0].detail
        );
        assert_eq!(
            e[1].detail,
            "1 token request refused in the hour; by error: invalid_client 1"
        );
    }

    #[test]
    fn changed_fields_name_only_what_differs() {
        let a = serde_json::json!({"name": "x", "status": "active", "priority": 1});
        let b = serde_json::json!({"name": "x", "status": "suspended"});
        assert_eq!(changed_fields(&a, &b), ["priority", "status"]);
    }

    fn row(entity: &str, id: &str, version: u64, deleted: bool, body: &str) -> LogRow {
        LogRow {
            entity: entity.into(),
            id: id.into(),
            version,
            change_id: Uuid::now_v7(),
            ts_us: 1_764_000_000_000_000 + version as i64,
            author: "alice".into(),
            comment: String::new(),
            deleted: u8::from(deleted),
            body: body.into(),
        }
    }

    #[test]
    fn client_rows_say_created_changed_secret_and_deleted() {
        let v1 = serde_json::json!({"name": "c"});
        let v2 = serde_json::json!({"name": "c", "status": "suspended"});
        let v3 = serde_json::json!({"name": "c", "status": "suspended", "secret_hash": "h"});
        let r = row("client", "c1", 1, false, "");
        assert_eq!(client_event(&r, &Value::Null, &v1).0, "client_created");
        let (e, d) = client_event(&r, &v1, &v2);
        assert_eq!(
            (e, d.as_str()),
            (
                "client_changed",
                "changed: status (status active → suspended)"
            )
        );
        let (e, d) = client_event(&r, &v2, &v3);
        assert_eq!(e, "client_secret_set");
        assert!(!d.contains('h'), "{d}");
        let gone = row("client", "c1", 4, true, "");
        assert_eq!(client_event(&gone, &v3, &Value::Null).0, "client_deleted");
    }

    #[test]
    fn keys_of_other_clients_and_rows_outside_the_window_are_left_out() {
        let key = |client: &str| {
            format!(r#"{{"client_id":"{client}","hash":"hmac-sha256:00","hint":"gwk_x"}}"#)
        };
        let rows = vec![
            row("api_key", "k1", 1, false, &key("c1")),
            row("api_key", "k1", 2, true, ""),
            row("api_key", "k2", 1, false, &key("c2")),
        ];
        let w = Window {
            from: DateTime::from_timestamp(1_764_000_000, 0).unwrap(),
            to: DateTime::from_timestamp(1_764_000_001, 0).unwrap(),
            tz: chrono_tz::UTC,
            bucket: gatewatch_model::report::Bucket::Minute,
        };
        let wanted: HashSet<&str> = ["c1"].into();
        let (pending, keys) = config_events(&rows, &wanted, &w);
        let events: Vec<&str> = pending.iter().map(|p| p.event.event.as_str()).collect();
        assert_eq!(events, ["key_created", "key_deleted"]);
        assert_eq!(keys.len(), 1);
        assert_eq!(keys["k1"], "c1");
        let w2 = Window {
            to: DateTime::from_timestamp(1_764_000_000, 0).unwrap(),
            from: DateTime::from_timestamp(1_763_000_000, 0).unwrap(),
            ..w
        };
        assert!(config_events(&rows, &wanted, &w2).0.is_empty());
    }
}
