//! LINE Messaging API push (LINE Notify is discontinued).
//!
//! `POST {base_url}/v2/bot/message/push` with `Authorization: Bearer {channel access token}`,
//! body `{"to": id, "messages": [{"type": "text", "text": …}]}`. Every attempt of one message
//! to one target carries the same `X-Line-Retry-Key` (a UUID, derived from the message's dedup
//! key): when an earlier attempt was accepted after all (a timeout on our side), LINE answers
//! 409 with an `X-Line-Accepted-Request-Id` header instead of delivering twice, and that 409
//! counts as delivered. LINE keeps retry keys for 24 hours.

use super::{delivery_key, http_with_retries, snippet, Backoff, Delivery, Error, Message, Result};
use std::time::Duration;

/// LINE's limit on one text message, in characters.
pub const TEXT_MAX_CHARS: usize = 5000;

/// `[alerter.line]`.
#[derive(Clone, PartialEq, Eq)]
pub struct LineConfig {
    /// `https://api.line.me`, or a test server.
    pub base_url: String,
    /// Empty: LINE channels answer "not configured".
    pub channel_access_token: String,
    /// Per attempt.
    pub timeout: Duration,
}

impl Default for LineConfig {
    fn default() -> Self {
        LineConfig {
            base_url: "https://api.line.me".into(),
            channel_access_token: String::new(),
            timeout: Duration::from_secs(10),
        }
    }
}

impl std::fmt::Debug for LineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineConfig")
            .field("base_url", &self.base_url)
            .field("channel_access_token", &"********")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Pushes texts through the site's LINE channel.
#[derive(Debug, Clone)]
pub struct LineSender {
    http: reqwest::Client,
    config: LineConfig,
    retries: u32,
    backoff: Backoff,
}

impl LineSender {
    pub fn new(
        http: reqwest::Client,
        config: LineConfig,
        retries: u32,
        backoff: Backoff,
    ) -> LineSender {
        LineSender {
            http,
            config,
            retries,
            backoff,
        }
    }

    /// Pushes to every target, each on its own even when another fails. The answer lists each
    /// target's; the error is the first target's failure.
    pub async fn push_all(&self, targets: &[String], msg: &Message) -> Result<Delivery> {
        let mut answers = Vec::new();
        let mut attempts = 0;
        let mut status = 200;
        let mut first_err = None;
        for to in targets {
            match self.push(to, msg).await {
                Ok(d) => {
                    attempts += d.attempts;
                    status = d.status;
                    answers.push(format!("{to}: {} {}", d.status, d.answer));
                }
                Err(e) => {
                    attempts += e.attempts();
                    answers.push(format!("{to}: {e}"));
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(Error::Refused { status, .. }) => Err(Error::Refused {
                status,
                answer: snippet(&answers.join("\n")),
                attempts,
            }),
            Some(Error::GaveUp { status, .. }) => Err(Error::GaveUp {
                status,
                reason: snippet(&answers.join("\n")),
                attempts,
            }),
            Some(e) => Err(e),
            None if targets.is_empty() => Err(Error::NotConfigured("no LINE target".into())),
            None => Ok(Delivery {
                status,
                answer: snippet(&answers.join("\n")),
                attempts,
            }),
        }
    }

    /// Pushes `msg` to one user, group or room id.
    pub async fn push(&self, to: &str, msg: &Message) -> Result<Delivery> {
        if self.config.channel_access_token.is_empty() {
            return Err(Error::NotConfigured(
                "no LINE channel access token ([alerter.line] channel_access_token)".into(),
            ));
        }
        let url = format!(
            "{}/v2/bot/message/push",
            self.config.base_url.trim_end_matches('/')
        );
        let body = serde_json::json!({
            "to": to,
            "messages": [{"type": "text", "text": line_text(msg)}],
        });
        let retry_key = delivery_key(msg, to);
        let send = || {
            self.http
                .post(&url)
                .bearer_auth(&self.config.channel_access_token)
                .header("X-Line-Retry-Key", &retry_key)
                .timeout(self.config.timeout)
                .json(&body)
                .send()
        };
        // 409 with the id of the accepted request: an earlier attempt got through (its answer
        // was lost), so the message is delivered once, as wanted.
        let accepted_before = |status: u16, headers: &reqwest::header::HeaderMap, attempts| {
            let id = headers
                .get("x-line-accepted-request-id")
                .and_then(|v| v.to_str().ok())?;
            (status == 409).then(|| Delivery {
                status,
                answer: snippet(&format!("already accepted as request {id}")),
                attempts,
            })
        };
        http_with_retries(
            &format!("LINE push to {to}"),
            self.retries,
            &self.backoff,
            send,
            accepted_before,
            &[],
        )
        .await
    }
}

/// The subject as the first line, then the text, cut to LINE's limit.
pub fn line_text(msg: &Message) -> String {
    let full = if msg.subject.is_empty() {
        msg.text.clone()
    } else if msg.text.is_empty() {
        msg.subject.clone()
    } else {
        format!("{}\n{}", msg.subject, msg.text)
    };
    cut_chars(&full, TEXT_MAX_CHARS)
}

/// At most `max` characters (and at most `max` UTF-16 units, which is how LINE may count),
/// ending in `…` when cut.
pub fn cut_chars(s: &str, max: usize) -> String {
    if s.encode_utf16().count() <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut units = 0;
    for c in s.chars() {
        // Room for the ellipsis, one unit.
        if units + c.len_utf16() > max - 1 {
            break;
        }
        units += c.len_utf16();
        out.push(c);
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_on_a_char_boundary() {
        let s = "告警".repeat(3000);
        let cut = cut_chars(&s, TEXT_MAX_CHARS);
        assert_eq!(cut.chars().count(), TEXT_MAX_CHARS);
        assert!(cut.ends_with('…'));
        // Characters outside the BMP count twice in UTF-16.
        let emoji = "🔥".repeat(3000);
        let cut = cut_chars(&emoji, TEXT_MAX_CHARS);
        assert!(cut.encode_utf16().count() <= TEXT_MAX_CHARS);
        assert_eq!(cut_chars("short", 10), "short");
    }

    #[test]
    fn the_subject_leads() {
        let m = Message {
            subject: "CPU 過高".into(),
            text: "node-1 95%".into(),
            ..Message::default()
        };
        assert_eq!(line_text(&m), "CPU 過高\nnode-1 95%");
    }
}
