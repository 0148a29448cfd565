//! Slack incoming webhook with Block Kit: `text` (the notification and fallback) and `blocks`
//! — a `header` (the subject), one `section` per alert (its subject and ack link in `mrkdwn`,
//! `fields` value / threshold / since / status), `+N more` when they do not all fit, and a
//! `context` with the dashboards' link.
//!
//! Slack's documented limits are kept: at most 50 blocks, a header's text at most 150
//! characters, a section's text at most 3000, at most 10 fields of at most 2000 each. Texts
//! are escaped as Slack asks (`&`, `<`, `>`), so a value cannot mention `@channel` or make a
//! link.

use super::{cut, is_web_url, more, one_line, rfc3339, words, AlertView, View};
use serde_json::{json, Value};

pub const MAX_BLOCKS: usize = 50;
pub const HEADER_MAX: usize = 150;
pub const SECTION_TEXT_MAX: usize = 3000;
pub const FIELD_MAX: usize = 2000;
/// The top-level `text` (Slack cuts longer ones; this keeps notifications short).
pub const TEXT_MAX: usize = 3000;

/// Slack reads `&`, `<` and `>` as markup (links, mentions); values are sent as written.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `s` escaped ([`escape`]) and at most `max` characters, cut between escapes with `…`.
pub fn escape_cut(s: &str, max: usize) -> String {
    let full = escape(s);
    if full.chars().count() <= max {
        return full;
    }
    let mut out = String::new();
    let mut n = 0;
    for c in s.chars() {
        let e = escape(c.encode_utf8(&mut [0; 4]));
        let len = e.chars().count();
        if n + len > max.saturating_sub(1) {
            break;
        }
        n += len;
        out.push_str(&e);
    }
    out.push('…');
    out
}

/// `<url|label>`, or the label alone when the URL cannot be sent as a link.
fn link(url: &str, label: &str) -> String {
    if is_web_url(url) && !url.contains('|') {
        format!("<{}|{}>", escape(url), escape(label))
    } else {
        escape(label)
    }
}

pub fn body(v: &View) -> Value {
    let w = words(v.lang);
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": cut(&one_line(&v.subject), HEADER_MAX), "emoji": true},
    })];
    let one = v.alerts.len() == 1;
    // Header and context, and a "+N more" section when alerts are left out.
    let room = MAX_BLOCKS - 2;
    let shown = if v.alerts.len() <= room {
        v.alerts.len()
    } else {
        room - 1
    };
    for a in &v.alerts[..shown] {
        blocks.push(section(a, v, one));
    }
    if shown < v.alerts.len() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": more(v.lang, v.alerts.len() - shown)},
        }));
    }
    let mut context = link(&v.link, w.open);
    if !v.group_labels.is_empty() {
        let labels = gatewatch_model::alert::group::label_text(&v.group_labels);
        context.push_str(&format!(" · {}", escape_cut(&one_line(&labels), 500)));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": cut(&context, SECTION_TEXT_MAX)}],
    }));
    debug_assert!(blocks.len() <= MAX_BLOCKS);
    json!({
        "text": escape_cut(&format!("{}\n{}", one_line(&v.subject), v.text), TEXT_MAX),
        "blocks": blocks,
    })
}

/// One alert: its subject in bold, its text when it is the message's only alert, the ack
/// link; fields for the figures.
fn section(a: &AlertView, v: &View, one: bool) -> Value {
    let w = words(v.lang);
    // The subject and the link always fit: the body is cut to what is left.
    let title = format!("*{}*", escape_cut(&one_line(&a.subject), 300));
    let ack = if a.firing && is_web_url(&a.ack_url) {
        format!("\n{}", link(&a.ack_url, w.ack))
    } else {
        String::new()
    };
    let body = if one && !a.text.is_empty() {
        let room = SECTION_TEXT_MAX - title.chars().count() - ack.chars().count() - 1;
        format!("\n{}", escape_cut(&a.text, room))
    } else {
        String::new()
    };
    let mut fields = Vec::new();
    let mut field = |name: &str, value: &str| {
        fields.push(json!({
            "type": "mrkdwn",
            "text": format!("*{name}*\n{}", escape_cut(value, FIELD_MAX - name.chars().count() - 3)),
        }));
    };
    if let Some(x) = &a.value {
        field(w.value, x);
    }
    if let Some(x) = &a.threshold {
        field(w.threshold, x);
    }
    field(w.since, &rfc3339(a.started_at));
    field(w.status, if a.firing { w.firing } else { w.resolved });
    json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": format!("{title}{body}{ack}")},
        "fields": fields,
    })
}
