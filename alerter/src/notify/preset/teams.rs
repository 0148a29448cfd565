//! Microsoft Teams **Workflows** ("post to a channel when a webhook request is received", the
//! Power Automate flow that replaces the retired Office 365 connectors): a message with one
//! Adaptive Card (1.4).
//!
//! ```json
//! {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
//!   "contentUrl": null, "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
//!   "type": "AdaptiveCard", "version": "1.4",
//!   "body": [TextBlock subject, Container per alert (TextBlock, FactSet), TextBlock "+N more"],
//!   "actions": [Action.OpenUrl dashboards, Action.OpenUrl acknowledge …]}}]}
//! ```
//!
//! Teams takes messages up to about 28 KB: alerts are added while the card stays under
//! [`CARD_BUDGET`] bytes, the rest counted. Card texts are Markdown to Teams, so link syntax
//! in a value (`[x](…)`) is broken up.

use super::{cut, is_web_url, more, one_line, rfc3339, words, AlertView, View};
use serde_json::{json, Value};

/// Bytes of card body the alerts may take (Teams' limit on a message is about 28 KB).
pub const CARD_BUDGET: usize = 20_000;
/// Most actions (buttons): the dashboards and a few acks.
pub const MAX_ACTIONS: usize = 5;

/// Markdown a value could use to make a link, or an image, broken up.
fn plain(s: &str) -> String {
    s.replace("](", "] (")
}

pub fn body(v: &View) -> Value {
    let w = words(v.lang);
    let color = if v.firing { "Attention" } else { "Good" };
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": plain(&cut(&one_line(&v.subject), 400)),
        "size": "Large",
        "weight": "Bolder",
        "wrap": true,
        "color": color,
    })];
    if v.alerts.len() == 1 && !v.text.is_empty() {
        body.push(json!({
            "type": "TextBlock",
            "text": plain(&cut(&v.text, 4000)),
            "wrap": true,
        }));
    }
    let mut used = serde_json::to_vec(&body).map_or(0, |b| b.len());
    let mut shown = 0;
    for a in &v.alerts {
        let c = container(a, v);
        let size = serde_json::to_vec(&c).map_or(0, |b| b.len());
        if used + size > CARD_BUDGET {
            break;
        }
        used += size;
        body.push(c);
        shown += 1;
    }
    if shown < v.alerts.len() {
        body.push(json!({
            "type": "TextBlock",
            "text": more(v.lang, v.alerts.len() - shown),
            "isSubtle": true,
            "wrap": true,
        }));
    }
    let mut actions = Vec::new();
    if is_web_url(&v.link) {
        actions.push(json!({"type": "Action.OpenUrl", "title": w.open, "url": v.link}));
    }
    for a in v
        .alerts
        .iter()
        .filter(|a| a.firing && is_web_url(&a.ack_url))
    {
        if actions.len() >= MAX_ACTIONS {
            break;
        }
        let what = a
            .labels
            .get("node")
            .or_else(|| a.labels.get("alertname"))
            .map(|s| cut(&one_line(s), 40))
            .unwrap_or_default();
        actions.push(json!({
            "type": "Action.OpenUrl",
            "title": format!("{} {what}", w.ack).trim_end().to_string(),
            "url": a.ack_url,
        }));
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "msteams": {"width": "Full"},
    });
    if !actions.is_empty() {
        card["actions"] = Value::Array(actions);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

fn container(a: &AlertView, v: &View) -> Value {
    let w = words(v.lang);
    let mut facts = Vec::new();
    if let Some(x) = &a.value {
        facts.push(json!({"title": w.value, "value": plain(x)}));
    }
    if let Some(x) = &a.threshold {
        facts.push(json!({"title": w.threshold, "value": plain(x)}));
    }
    facts.push(json!({"title": w.since, "value": rfc3339(a.started_at)}));
    facts.push(json!({"title": w.status, "value": if a.firing { w.firing } else { w.resolved }}));
    json!({
        "type": "Container",
        "separator": true,
        "items": [
            {
                "type": "TextBlock",
                "text": plain(&cut(&one_line(&a.subject), 400)),
                "weight": "Bolder",
                "wrap": true,
                "color": if a.firing { "Attention" } else { "Good" },
            },
            {"type": "FactSet", "facts": facts},
        ],
    })
}
