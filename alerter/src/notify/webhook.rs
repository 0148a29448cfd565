//! Webhooks: a JSON body to an HTTP endpoint.
//!
//! The body is the channel's template (`body`) with placeholders replaced inside its strings,
//! or a preset: `generic` (`subject`, `text` and every placeholder value as fields), or one of
//! [`super::preset`]: `alertmanager` (Alertmanager's webhook payload v4), `pagerduty` (Events
//! API v2), `slack` (Block Kit), `teams` (Workflows, an Adaptive Card). A message about a
//! group adds the group's placeholders ([`gatewatch_model::alert::group::group_values`]).
//! With a secret, the exact bytes sent are signed:
//! `X-Gatewatch-Signature: sha256=<hex HMAC-SHA256(secret, body)>`. `X-Gatewatch-Delivery`
//! carries a UUID that stays the same across retries (and across re-sends of the same
//! notification), so a receiver can drop repeats.

use super::{delivery_key, http_with_retries, preset, Backoff, Delivery, Error, Message, Result};
use gatewatch_model::alert::{group, template, Lang};
use gatewatch_model::channel::{WebhookMethod, WebhookPreset, WebhookTarget};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::time::Duration;

pub const SIGNATURE_HEADER: &str = "X-Gatewatch-Signature";
pub const DELIVERY_HEADER: &str = "X-Gatewatch-Delivery";

/// Sends `msg` to the endpoint, retrying as the channel says.
/// `headers` are the channel's, sealed ones opened ([`WebhookTarget::open_headers`]).
/// What a body is built with besides the channel and the message.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The channel's name (Alertmanager's `receiver`).
    pub receiver: &'a str,
    /// The channel's language: the preset's words when the message has no group.
    pub lang: Lang,
    /// The PagerDuty integration key, opened ([`WebhookTarget::open_routing_key`]).
    pub routing_key: Option<&'a str>,
}

impl Default for Context<'_> {
    fn default() -> Self {
        Context {
            receiver: "gatewatch",
            lang: Lang::En,
            routing_key: None,
        }
    }
}

pub async fn send(
    http: &reqwest::Client,
    target: &WebhookTarget,
    headers: &[(String, String)],
    secret: Option<&[u8]>,
    msg: &Message,
    backoff: Backoff,
    ctx: Context<'_>,
) -> Result<Delivery> {
    if target.preset == WebhookPreset::Pagerduty
        && target.body.is_none()
        && ctx.routing_key.is_none_or(str::is_empty)
    {
        return Err(Error::NotConfigured(
            "the pagerduty preset has no routing_key".into(),
        ));
    }
    let body = serde_json::to_vec(&body(target, msg, ctx))
        .map_err(|e| Error::NotConfigured(format!("body: {e}")))?;
    // Credentials (the routing key in the body, credential headers): a receiver that echoes
    // them back does not get them into the logs or alert_events.
    let hide: Vec<&str> = ctx
        .routing_key
        .into_iter()
        .chain(
            headers
                .iter()
                .filter(|(n, v)| gatewatch_model::channel::is_secret_header(n) && v.len() >= 4)
                .map(|(_, v)| v.as_str()),
        )
        .collect();
    let method = match target.method {
        WebhookMethod::Post => reqwest::Method::POST,
        WebhookMethod::Put => reqwest::Method::PUT,
        WebhookMethod::Patch => reqwest::Method::PATCH,
    };
    let given = headers;
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in given {
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| Error::NotConfigured(format!("header {name:?}: {e}")))?;
        // The value is not in the message: it may be a credential.
        let mut value = reqwest::header::HeaderValue::from_str(value)
            .map_err(|_| Error::NotConfigured(format!("header {name}: not a valid value")))?;
        value.set_sensitive(gatewatch_model::channel::is_secret_header(name.as_str()));
        headers.insert(name, value);
    }
    headers.insert(
        reqwest::header::CONTENT_TYPE,
        reqwest::header::HeaderValue::from_static("application/json"),
    );
    if let Some(key) = secret {
        let sig = format!("sha256={}", sign(key, &body));
        headers.insert(
            SIGNATURE_HEADER,
            reqwest::header::HeaderValue::from_str(&sig)
                .map_err(|e| Error::NotConfigured(e.to_string()))?,
        );
    }
    let delivery = delivery_key(msg, &target.url);
    if let Ok(v) = reqwest::header::HeaderValue::from_str(&delivery) {
        headers.insert(DELIVERY_HEADER, v);
    }
    let timeout = Duration::from_millis(target.timeout_ms);
    let send = || {
        http.request(method.clone(), &target.url)
            .headers(headers.clone())
            .timeout(timeout)
            .body(body.clone())
            .send()
    };
    http_with_retries(
        &format!("webhook {}", target.url),
        target.retries,
        &backoff,
        send,
        |_, _, _| None,
        &hide,
    )
    .await
}

/// Hex HMAC-SHA256 of `body` under `key`.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The JSON body for `msg`: the template rendered, or the preset.
pub fn body(target: &WebhookTarget, msg: &Message, ctx: Context<'_>) -> Value {
    let group = msg.group.as_deref().map(group::group_values);
    let mut vars: BTreeMap<String, &str> = msg
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str()))
        .collect();
    for (k, v) in group.iter().flatten() {
        vars.insert(k.clone(), v.as_str());
    }
    vars.insert("subject".into(), &msg.subject);
    vars.insert("text".into(), &msg.text);
    if let Some(t) = &target.body {
        return render_value(t, &vars);
    }
    let view = || preset::View::of(msg, ctx.lang);
    match target.preset {
        WebhookPreset::Generic => {
            let mut m = Map::new();
            for (k, v) in &vars {
                m.insert(k.clone(), Value::String((*v).to_string()));
            }
            Value::Object(m)
        }
        WebhookPreset::Alertmanager => preset::alertmanager::body(&view(), ctx.receiver),
        WebhookPreset::Pagerduty => {
            preset::pagerduty::body(&view(), ctx.routing_key.unwrap_or_default())
        }
        WebhookPreset::Slack => preset::slack::body(&view()),
        WebhookPreset::Teams => preset::teams::body(&view()),
    }
}

/// Every string of the template rendered with the alert texts' renderer
/// ([`template::render_map`]: `{{name}}` and `$NAME`, one pass, unknown names kept); keys and
/// other values as they are. The result is encoded by serde_json, so it is valid JSON whatever
/// the values hold (quotes, backslashes, line breaks, `</script>`).
fn render_value(v: &Value, vars: &BTreeMap<String, &str>) -> Value {
    match v {
        Value::String(s) => Value::String(template::render_map(s, vars)),
        Value::Array(a) => Value::Array(a.iter().map(|x| render_value(x, vars)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), render_value(x, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(json: &str) -> WebhookTarget {
        let t: WebhookTarget = serde_json::from_str(json).unwrap();
        t.validate().unwrap();
        t
    }

    fn msg() -> Message {
        Message {
            subject: "CPU 過高".into(),
            text: "node-1 \"95%\"".into(),
            vars: [
                ("rule".to_string(), "cpu".to_string()),
                ("value".to_string(), "95".to_string()),
                ("threshold".to_string(), "90".to_string()),
                ("status".to_string(), "firing".to_string()),
            ]
            .into(),
            ..Message::default()
        }
    }

    #[test]
    fn placeholders_render_in_both_styles() {
        let t = target(
            r#"{"url":"http://h/x","body":{"a":"v={{value}} t={{ threshold }} $THRESHOLD% {{nope}} $ x{","b":"台北 {{value}}"}}"#,
        );
        let b = body(&t, &msg(), Context::default());
        assert_eq!(b["a"], "v=95 t=90 90% {{nope}} $ x{");
        assert_eq!(b["b"], "台北 95");
    }

    #[test]
    fn values_are_escaped_by_the_json_encoder() {
        let t = target(r#"{"url":"http://h/x","body":{"m":"<{{text}}>","k":["$SUBJECT"]}}"#);
        let m = Message {
            subject: "a\\b \u{1}".into(),
            text: "line 1\nline \"2\" </script> {{rule}}".into(),
            ..msg()
        };
        let bytes = serde_json::to_vec(&body(&t, &m, Context::default())).unwrap();
        let back: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back["m"], "<line 1\nline \"2\" </script> {{rule}}>");
        assert_eq!(back["k"][0], "a\\b \u{1}");
        let raw = String::from_utf8(bytes).unwrap();
        assert!(
            raw.contains(r#"\"2\""#) && raw.contains(r"\n") && raw.contains(r"\u0001"),
            "{raw}"
        );
    }

    #[test]
    fn templates_stay_valid_json_whatever_the_values() {
        let t = target(
            r#"{"url":"http://h/x","body":{"alert":"{{rule}}: {{text}}","n":1,"tags":["$VALUE"]}}"#,
        );
        let b = body(&t, &msg(), Context::default());
        assert_eq!(b["alert"], "cpu: node-1 \"95%\"");
        assert_eq!(b["n"], 1);
        assert_eq!(b["tags"][0], "95");
    }

    #[test]
    fn presets() {
        let g = body(
            &target(r#"{"url":"http://h/x"}"#),
            &msg(),
            Context::default(),
        );
        assert_eq!(g["subject"], "CPU 過高");
        assert_eq!(g["value"], "95");
        let m = Message {
            text: "p99 > 2s & <!channel>".into(),
            ..msg()
        };
        let s = body(
            &target(r#"{"url":"http://h/x","preset":"slack"}"#),
            &m,
            Context::default(),
        );
        assert_eq!(s["text"], "CPU 過高\np99 &gt; 2s &amp; &lt;!channel&gt;");
        assert_eq!(s["blocks"][0]["type"], "header");
        let t = body(
            &target(r#"{"url":"http://h/x","preset":"teams"}"#),
            &msg(),
            Context::default(),
        );
        assert_eq!(t["type"], "message");
        assert_eq!(
            t["attachments"][0]["content"]["body"][0]["text"],
            "CPU 過高"
        );
        let a = body(
            &target(r#"{"url":"http://h/x","preset":"alertmanager"}"#),
            &msg(),
            Context::default(),
        );
        assert_eq!(a["version"], "4");
        assert_eq!(a["alerts"][0]["labels"]["alertname"], "cpu");
    }

    #[test]
    fn an_empty_group_still_gives_every_preset_a_body() {
        use gatewatch_model::alert::{GroupNotice, NoticeKind};
        let g = GroupNotice {
            policy: String::new(),
            group_key: "k".into(),
            group_labels: BTreeMap::new(),
            common_labels: BTreeMap::new(),
            kind: NoticeKind::Resolved,
            alerts: Vec::new(),
            lang: Lang::ZhTw,
            link: String::new(),
            at: "2026-11-25T01:02:03Z".parse().unwrap(),
        };
        let m = Message {
            group: Some(std::sync::Arc::new(g)),
            ..Message::default()
        };
        for preset in ["generic", "alertmanager", "slack", "teams"] {
            let t = target(&format!(r#"{{"url":"http://h/x","preset":"{preset}"}}"#));
            let b = body(&t, &m, Context::default());
            assert!(b.is_object(), "{preset}: {b}");
        }
        // An empty subject (no group): Slack's header still has a text.
        let s = body(
            &target(r#"{"url":"http://h/x","preset":"slack"}"#),
            &Message::default(),
            Context::default(),
        );
        assert_eq!(s["blocks"][0]["text"]["text"], "gatewatch");
        let t = target(
            r#"{"url":"http://h/x","preset":"pagerduty","routing_key":"R0123456789abcdefR0123456789abcd"}"#,
        );
        let b = body(
            &t,
            &m,
            Context {
                routing_key: Some("R0123456789abcdefR0123456789abcd"),
                ..Context::default()
            },
        );
        assert_eq!(b["event_action"], "resolve");
        assert_eq!(
            gatewatch_model::alert::render_group(m.group.as_deref().unwrap()).0,
            "[gatewatch] 0 則已恢復"
        );
    }

    #[test]
    fn pagerduty_dedup_keys_are_stable_per_group_and_short() {
        let a = preset::pagerduty::dedup_key("ops/{node=\"gw1\"}");
        assert_eq!(a, preset::pagerduty::dedup_key("ops/{node=\"gw1\"}"));
        assert_ne!(a, preset::pagerduty::dedup_key("ops/{node=\"gw2\"}"));
        assert!(a.len() <= preset::pagerduty::DEDUP_KEY_MAX);
        assert_eq!(
            preset::pagerduty::dedup_key(&"長".repeat(10_000)).len(),
            "gatewatch-".len() + 40
        );
    }

    #[test]
    fn slack_escapes_are_never_cut_in_half() {
        let s = preset::slack::escape_cut(&"<&>".repeat(100), 20);
        assert!(s.chars().count() <= 20, "{s}");
        assert!(s.ends_with('…'));
        let body = s.trim_end_matches('…');
        assert!(
            body.split('&')
                .skip(1)
                .all(|e| e.starts_with("lt;") || e.starts_with("amp;") || e.starts_with("gt;")),
            "{s}"
        );
        assert_eq!(preset::slack::escape_cut("a<b", 10), "a&lt;b");
    }

    #[test]
    fn signature_is_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
