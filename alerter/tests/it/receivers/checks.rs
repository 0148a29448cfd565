//! What each service documents about the body it takes, checked as it would: required fields,
//! types, enum values, lengths. `Err` is the reason the service would refuse the body.

use serde_json::{Map, Value};

type R = Result<(), String>;

fn obj<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{what} is not an object"))
}

fn string<'a>(v: &'a Value, what: &str) -> Result<&'a str, String> {
    v.as_str()
        .ok_or_else(|| format!("{what} is not a string: {v}"))
}

fn strings(v: &Value, what: &str) -> R {
    for (k, x) in obj(v, what)? {
        string(x, &format!("{what}.{k}"))?;
    }
    Ok(())
}

fn rfc3339(v: &Value, what: &str) -> Result<chrono::DateTime<chrono::FixedOffset>, String> {
    let s = string(v, what)?;
    chrono::DateTime::parse_from_rfc3339(s).map_err(|e| format!("{what} {s:?}: {e}"))
}

fn one_of(v: &Value, what: &str, allowed: &[&str]) -> R {
    let s = string(v, what)?;
    if allowed.contains(&s) {
        Ok(())
    } else {
        Err(format!("{what} is {s:?}, not one of {allowed:?}"))
    }
}

fn at_most(s: &str, max: usize, what: &str) -> R {
    let n = s.chars().count();
    if n > max {
        return Err(format!("{what} is {n} characters, more than {max}"));
    }
    Ok(())
}

fn only_keys(o: &Map<String, Value>, allowed: &[&str], what: &str) -> R {
    for k in o.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(format!("{what} has an unknown field {k:?}"));
        }
    }
    Ok(())
}

fn http_url(v: &Value, what: &str) -> R {
    let s = string(v, what)?;
    if !(s.starts_with("https://") || s.starts_with("http://")) || s.contains(char::is_whitespace) {
        return Err(format!("{what} is not an absolute http(s) URL: {s:?}"));
    }
    Ok(())
}

/// Alertmanager's webhook `Message` (version 4): `template.Data` plus version, groupKey,
/// truncatedAlerts.
pub fn alertmanager(v: &Value) -> R {
    let o = obj(v, "body")?;
    only_keys(
        o,
        &[
            "version",
            "groupKey",
            "truncatedAlerts",
            "status",
            "receiver",
            "groupLabels",
            "commonLabels",
            "commonAnnotations",
            "externalURL",
            "alerts",
        ],
        "body",
    )?;
    if v["version"] != "4" {
        return Err(format!("version is {}", v["version"]));
    }
    string(&v["groupKey"], "groupKey")?;
    v["truncatedAlerts"]
        .as_u64()
        .ok_or("truncatedAlerts is not an unsigned integer")?;
    one_of(&v["status"], "status", &["firing", "resolved"])?;
    string(&v["receiver"], "receiver")?;
    for f in ["groupLabels", "commonLabels", "commonAnnotations"] {
        strings(&v[f], f)?;
    }
    string(&v["externalURL"], "externalURL")?;
    let alerts = v["alerts"].as_array().ok_or("alerts is not an array")?;
    let mut any_firing = false;
    for (i, a) in alerts.iter().enumerate() {
        let w = format!("alerts[{i}]");
        let ao = obj(a, &w)?;
        only_keys(
            ao,
            &[
                "status",
                "labels",
                "annotations",
                "startsAt",
                "endsAt",
                "generatorURL",
                "fingerprint",
            ],
            &w,
        )?;
        one_of(
            &a["status"],
            &format!("{w}.status"),
            &["firing", "resolved"],
        )?;
        strings(&a["labels"], &format!("{w}.labels"))?;
        strings(&a["annotations"], &format!("{w}.annotations"))?;
        if a["labels"].get("alertname").is_none() {
            return Err(format!("{w}.labels has no alertname"));
        }
        let starts = rfc3339(&a["startsAt"], &format!("{w}.startsAt"))?;
        let ends = rfc3339(&a["endsAt"], &format!("{w}.endsAt"))?;
        if a["status"] == "firing" {
            any_firing = true;
            if a["endsAt"] != "0001-01-01T00:00:00Z" {
                return Err(format!("{w} fires but ends at {}", a["endsAt"]));
            }
        } else if ends < starts {
            return Err(format!("{w} ends before it starts"));
        }
        string(&a["generatorURL"], &format!("{w}.generatorURL"))?;
        let fp = string(&a["fingerprint"], &format!("{w}.fingerprint"))?;
        if fp.len() != 16 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{w}.fingerprint {fp:?} is not 16 hex digits"));
        }
        for (k, x) in obj(&a["labels"], "labels")? {
            at_most(x.as_str().unwrap_or(""), 1024, &format!("{w}.labels.{k}"))?;
        }
    }
    if (v["status"] == "firing") != any_firing {
        return Err("status does not match the alerts".into());
    }
    Ok(())
}

/// PagerDuty Events API v2 alert event.
pub fn pagerduty(v: &Value, routing_key: &str) -> R {
    let o = obj(v, "body")?;
    only_keys(
        o,
        &[
            "routing_key",
            "event_action",
            "dedup_key",
            "payload",
            "images",
            "links",
            "client",
            "client_url",
        ],
        "body",
    )?;
    let key = string(&v["routing_key"], "routing_key")?;
    if key.len() != 32 {
        return Err("routing_key is not 32 characters".into());
    }
    if key != routing_key {
        return Err("routing_key is not the integration's".into());
    }
    one_of(
        &v["event_action"],
        "event_action",
        &["trigger", "acknowledge", "resolve"],
    )?;
    if let Some(d) = o.get("dedup_key") {
        at_most(string(d, "dedup_key")?, 255, "dedup_key")?;
    }
    if v["event_action"] != "trigger" {
        if o.get("dedup_key").is_none() {
            return Err("acknowledge and resolve need a dedup_key".into());
        }
        return Ok(());
    }
    let p = obj(&v["payload"], "payload")?;
    only_keys(
        p,
        &[
            "summary",
            "source",
            "severity",
            "timestamp",
            "component",
            "group",
            "class",
            "custom_details",
        ],
        "payload",
    )?;
    let summary = string(&v["payload"]["summary"], "payload.summary")?;
    if summary.is_empty() {
        return Err("payload.summary is empty".into());
    }
    at_most(summary, 1024, "payload.summary")?;
    if string(&v["payload"]["source"], "payload.source")?.is_empty() {
        return Err("payload.source is empty".into());
    }
    one_of(
        &v["payload"]["severity"],
        "payload.severity",
        &["critical", "error", "warning", "info"],
    )?;
    if let Some(t) = p.get("timestamp") {
        rfc3339(t, "payload.timestamp")?;
    }
    for f in ["component", "group", "class"] {
        if let Some(x) = p.get(f) {
            string(x, &format!("payload.{f}"))?;
        }
    }
    if let Some(d) = p.get("custom_details") {
        obj(d, "payload.custom_details")?;
    }
    if let Some(links) = o.get("links") {
        for (i, l) in links
            .as_array()
            .ok_or("links is not an array")?
            .iter()
            .enumerate()
        {
            http_url(&l["href"], &format!("links[{i}].href"))?;
            if let Some(t) = l.get("text") {
                string(t, &format!("links[{i}].text"))?;
            }
        }
    }
    for f in ["client", "client_url"] {
        if let Some(x) = o.get(f) {
            string(x, f)?;
        }
    }
    if let Some(u) = o.get("client_url") {
        http_url(u, "client_url")?;
    }
    Ok(())
}

/// mrkdwn as Slack wants it: `&`, `<`, `>` escaped, `<` only opening a `<http…|…>` link.
fn mrkdwn(s: &str, what: &str) -> R {
    let mut rest = s;
    while let Some(i) = rest.find('<') {
        let tail = &rest[i..];
        let end = tail.find('>').ok_or(format!("{what}: unclosed <"))?;
        let inner = &tail[1..end];
        if !(inner.starts_with("http://") || inner.starts_with("https://")) {
            return Err(format!("{what}: markup <{inner}> (a mention or command)"));
        }
        rest = &tail[end + 1..];
    }
    Ok(())
}

fn text_object(v: &Value, what: &str, max: usize) -> R {
    one_of(
        &v["type"],
        &format!("{what}.type"),
        &["plain_text", "mrkdwn"],
    )?;
    let t = string(&v["text"], &format!("{what}.text"))?;
    if t.is_empty() {
        return Err(format!("{what}.text is empty"));
    }
    at_most(t, max, &format!("{what}.text"))?;
    if v["type"] == "mrkdwn" {
        mrkdwn(t, what)?;
    }
    Ok(())
}

/// Slack incoming webhook with Block Kit blocks.
pub fn slack(v: &Value) -> R {
    let o = obj(v, "body")?;
    only_keys(o, &["text", "blocks"], "body")?;
    let text = string(&v["text"], "text")?;
    mrkdwn(text, "text")?;
    at_most(text, 40_000, "text")?;
    let blocks = v["blocks"].as_array().ok_or("blocks is not an array")?;
    if blocks.is_empty() || blocks.len() > 50 {
        return Err(format!("{} blocks (1 to 50)", blocks.len()));
    }
    for (i, b) in blocks.iter().enumerate() {
        let w = format!("blocks[{i}]");
        match b["type"].as_str() {
            Some("header") => {
                if b["text"]["type"] != "plain_text" {
                    return Err(format!("{w}: a header's text is plain_text"));
                }
                text_object(&b["text"], &w, 150)?;
            }
            Some("section") => {
                if b.get("text").is_none() && b.get("fields").is_none() {
                    return Err(format!("{w}: a section needs text or fields"));
                }
                if let Some(t) = b.get("text") {
                    text_object(t, &format!("{w}.text"), 3000)?;
                }
                if let Some(f) = b.get("fields") {
                    let f = f.as_array().ok_or(format!("{w}.fields is not an array"))?;
                    if f.len() > 10 {
                        return Err(format!("{w}: {} fields, more than 10", f.len()));
                    }
                    for (j, x) in f.iter().enumerate() {
                        text_object(x, &format!("{w}.fields[{j}]"), 2000)?;
                    }
                }
            }
            Some("context") => {
                let e = b["elements"].as_array().ok_or(format!("{w}.elements"))?;
                if e.is_empty() || e.len() > 10 {
                    return Err(format!("{w}: {} elements (1 to 10)", e.len()));
                }
                for (j, x) in e.iter().enumerate() {
                    text_object(x, &format!("{w}.elements[{j}]"), 3000)?;
                }
            }
            Some("divider") => {}
            other => return Err(format!("{w}: unknown block type {other:?}")),
        }
    }
    Ok(())
}

fn card_element(e: &Value, what: &str) -> R {
    match e["type"].as_str() {
        Some("TextBlock") => {
            string(&e["text"], &format!("{what}.text"))?;
            if let Some(c) = e.get("color") {
                one_of(
                    c,
                    &format!("{what}.color"),
                    &[
                        "Default",
                        "Dark",
                        "Light",
                        "Accent",
                        "Good",
                        "Warning",
                        "Attention",
                    ],
                )?;
            }
            Ok(())
        }
        Some("FactSet") => {
            for (i, f) in e["facts"]
                .as_array()
                .ok_or(format!("{what}.facts"))?
                .iter()
                .enumerate()
            {
                string(&f["title"], &format!("{what}.facts[{i}].title"))?;
                string(&f["value"], &format!("{what}.facts[{i}].value"))?;
            }
            Ok(())
        }
        Some("Container") => {
            for (i, x) in e["items"]
                .as_array()
                .ok_or(format!("{what}.items"))?
                .iter()
                .enumerate()
            {
                card_element(x, &format!("{what}.items[{i}]"))?;
            }
            Ok(())
        }
        other => Err(format!("{what}: unknown element {other:?}")),
    }
}

/// Teams Workflows ("when a webhook request is received"): a message with one Adaptive Card.
pub fn teams(v: &Value, bytes: usize) -> R {
    if bytes > 28 * 1024 {
        return Err(format!("{bytes} bytes, more than Teams' 28 KB"));
    }
    if v["type"] != "message" {
        return Err("type is not \"message\"".into());
    }
    let a = v["attachments"]
        .as_array()
        .ok_or("attachments is not an array")?;
    if a.len() != 1 {
        return Err(format!("{} attachments", a.len()));
    }
    let a = &a[0];
    if a["contentType"] != "application/vnd.microsoft.card.adaptive" {
        return Err(format!("contentType is {}", a["contentType"]));
    }
    if !a["contentUrl"].is_null() {
        return Err("contentUrl is not null".into());
    }
    let c = &a["content"];
    if c["$schema"] != "http://adaptivecards.io/schemas/adaptive-card.json"
        || c["type"] != "AdaptiveCard"
        || c["version"] != "1.4"
    {
        return Err("content is not an Adaptive Card 1.4".into());
    }
    let body = c["body"].as_array().ok_or("content.body is not an array")?;
    if body.is_empty() {
        return Err("content.body is empty".into());
    }
    for (i, e) in body.iter().enumerate() {
        card_element(e, &format!("body[{i}]"))?;
    }
    if let Some(actions) = c.get("actions") {
        for (i, x) in actions.as_array().ok_or("actions")?.iter().enumerate() {
            if x["type"] != "Action.OpenUrl" {
                return Err(format!("actions[{i}] is not Action.OpenUrl"));
            }
            string(&x["title"], &format!("actions[{i}].title"))?;
            http_url(&x["url"], &format!("actions[{i}].url"))?;
        }
    }
    Ok(())
}
