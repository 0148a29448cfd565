//! Notifiers: send one [`Message`] to one channel ([`ChannelSpec`]) and say what the far end
//! answered ([`Delivery`]), or why not ([`Error`], which tells whether a later try may work).
//!
//! [`Notifiers`] is built once from the site settings ([`NotifyConfig`]): one reqwest client
//! for all outbound HTTP (LINE, webhooks), the SMTP transport, the named webhook secrets. Each
//! channel kind has its module: [`email`] (lettre, SMTP with none/STARTTLS/TLS and auth,
//! text + HTML), [`line`] (Messaging API push with a retry key), [`webhook`] (JSON body from
//! a template or preset, HMAC-SHA256 signature).
//!
//! Retries happen inside a send: timeouts, connection failures, 429 and 5xx (SMTP 4xx) are
//! tried again with a doubling backoff; other refusals are final. What the evaluator does with
//! a final failure (record it, raise the channel's own alert) is not decided here.

pub mod email;
pub mod guard;
pub mod line;
pub mod preset;
pub mod webhook;

use gatewatch_model::channel::Destination;
use gatewatch_model::outbound::Policy;
use gatewatch_model::sealed::SealKey;
use gatewatch_model::{ChannelSpec, Role, UserSpec};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use email::{EmailSender, SmtpConfig, SmtpTls};
pub use line::{LineConfig, LineSender};

/// What is sent. Built by the evaluator from a rule's template, in the channel's language.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    /// Mail subject; the first line of a LINE text.
    pub subject: String,
    /// Plain text body (mail text part, LINE text, webhook `text`).
    pub text: String,
    /// HTML body for mail; without it the mail is text only.
    pub html: Option<String>,
    /// Stable per notification (e.g. `rule/scope/firing/started_at`): the same key gives the
    /// same LINE retry key and webhook delivery id, so a repeat after a crash is recognised by
    /// the far end. Empty: a fresh key per send.
    pub dedup_key: String,
    /// Placeholder values for webhook body templates (`rule`, `node`, `value`, `threshold`,
    /// `status`, …); the generic preset sends them all.
    pub vars: BTreeMap<String, String>,
    /// The group of alerts the message is about (see [`crate::dispatch::Outgoing::group`]).
    pub group: Option<Arc<gatewatch_model::alert::GroupNotice>>,
}

/// What the far end answered to a send that went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// HTTP status, or the SMTP reply code.
    pub status: u16,
    /// The start of the answer's body or reply text (at most [`ANSWER_MAX`] bytes); for
    /// several LINE targets, one `target: status answer` per line.
    pub answer: String,
    /// Attempts made, the successful one included (summed over targets).
    pub attempts: u32,
}

/// Longest answer snippet kept.
pub const ANSWER_MAX: usize = 512;

/// Why a send did not go through.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Nothing was sent: the site or the channel is not set up for it (no SMTP host, no LINE
    /// token, an unknown secret name, a disabled channel, a role with no address).
    #[error("not sent: {0}")]
    NotConfigured(String),
    /// The far end refused for good (4xx other than 429, an SMTP 5xx).
    #[error("refused with {status} after {attempts} attempt(s): {answer}")]
    Refused {
        status: u16,
        answer: String,
        attempts: u32,
    },
    /// Gave up after the retries (timeouts, connection failures, 429, 5xx, SMTP 4xx); a later
    /// try may work.
    #[error("failed after {attempts} attempt(s): {reason}")]
    GaveUp {
        status: Option<u16>,
        reason: String,
        attempts: u32,
    },
    /// Nothing was sent: the destination is an address the site does not allow (see
    /// [`guard`]). Final: the same name is refused on the next try too.
    #[error("not sent: {0}")]
    Forbidden(#[from] guard::Forbidden),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether sending the same message again later may succeed.
    pub fn retryable(&self) -> bool {
        matches!(self, Error::GaveUp { .. })
    }

    /// Attempts made (0 when nothing was sent).
    pub fn attempts(&self) -> u32 {
        match self {
            Error::NotConfigured(_) | Error::Forbidden(_) => 0,
            Error::Refused { attempts, .. } | Error::GaveUp { attempts, .. } => *attempts,
        }
    }
}

/// How often and how patiently a failed attempt is repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Wait before the first repeat; doubled each time.
    pub first: Duration,
    /// Longest wait between two attempts.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_millis(500),
            max: Duration::from_secs(8),
        }
    }
}

impl Backoff {
    /// The wait before attempt `n + 1` after `n` failed ones (n ≥ 1).
    pub fn wait(&self, failed: u32) -> Duration {
        let factor = 1u32 << failed.saturating_sub(1).min(16);
        self.first.saturating_mul(factor).min(self.max)
    }
}

/// Named webhook keys from `[alerter.secrets]`; never printed.
#[derive(Clone, Default)]
pub struct Secrets(BTreeMap<String, Vec<u8>>);

impl Secrets {
    pub fn new(map: BTreeMap<String, Vec<u8>>) -> Secrets {
        Secrets(map)
    }
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.0.get(name).map(Vec::as_slice)
    }
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// The site's notification settings (`[alerter.smtp]`, `[alerter.line]`, `[alerter.secrets]`).
#[derive(Debug, Clone, Default)]
pub struct NotifyConfig {
    /// None: e-mail channels answer [`Error::NotConfigured`].
    pub smtp: Option<SmtpConfig>,
    pub line: LineConfig,
    pub secrets: Secrets,
    /// Attempts of e-mail and LINE sends (webhooks have their own, per channel): 1 + retries.
    pub retries: u32,
    pub backoff: Backoff,
    /// Where webhooks may connect: public addresses and `[alerter] allowed_networks`.
    pub outbound: Policy,
    /// Opens webhook credential headers sealed by the admin API (derived from the site
    /// pepper); `None`: sealed headers are not sent (and the send says why).
    pub seal_key: Option<SealKey>,
}

/// Who has which role's mail: addresses of enabled users with an e-mail, per role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory(BTreeMap<Role, Vec<String>>);

impl Directory {
    pub fn from_users<'a>(users: impl IntoIterator<Item = &'a UserSpec>) -> Directory {
        let mut d = Directory::default();
        for u in users {
            if !u.disabled && !u.email.is_empty() {
                d.0.entry(u.role).or_default().push(u.email.clone());
            }
        }
        d
    }
    /// From addresses already grouped per role (the evaluator's snapshot).
    pub fn from_roles(map: BTreeMap<Role, Vec<String>>) -> Directory {
        Directory(map)
    }
    pub fn addresses(&self, role: Role) -> &[String] {
        self.0.get(&role).map_or(&[], Vec::as_slice)
    }
}

/// Every notifier, sharing one HTTP client.
#[derive(Debug, Clone)]
pub struct Notifiers {
    http: reqwest::Client,
    /// For webhooks only: user-aimed, so guarded ([`guard::client`]).
    webhooks: reqwest::Client,
    outbound: Arc<Policy>,
    seal_key: Option<SealKey>,
    email: Option<EmailSender>,
    line: LineSender,
    secrets: Secrets,
    backoff: Backoff,
}

impl Notifiers {
    /// Builds the HTTP client and the SMTP transport. Fails only on a bad CA file or TLS setup.
    pub fn new(config: &NotifyConfig) -> Result<Notifiers> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("gatewatch-alerter/", env!("CARGO_PKG_VERSION")))
            // A webhook that redirects is answered as it stands: following a redirect would
            // turn a POST into a GET and could lead anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| Error::NotConfigured(format!("HTTP client: {e}")))?;
        let outbound = Arc::new(config.outbound.clone());
        let webhooks = guard::client(outbound.clone())
            .map_err(|e| Error::NotConfigured(format!("HTTP client: {e}")))?;
        let email = match &config.smtp {
            Some(s) => Some(EmailSender::new(s, config.retries, config.backoff)?),
            None => None,
        };
        let line = LineSender::new(
            http.clone(),
            config.line.clone(),
            config.retries,
            config.backoff,
        );
        Ok(Notifiers {
            http,
            webhooks,
            outbound,
            seal_key: config.seal_key.clone(),
            email,
            line,
            secrets: config.secrets.clone(),
            backoff: config.backoff,
        })
    }

    /// The HTTP client for destinations the operator configured (LINE); not for user-aimed
    /// ones, which go through the guarded webhook client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends `msg` through `channel`; roles of an e-mail channel are looked up in `directory`.
    pub async fn send(
        &self,
        channel: &ChannelSpec,
        msg: &Message,
        directory: &Directory,
    ) -> Result<Delivery> {
        if !channel.enabled {
            return Err(Error::NotConfigured("the channel is disabled".into()));
        }
        match channel.destination() {
            Some(Destination::Email(t)) => {
                let Some(sender) = &self.email else {
                    return Err(Error::NotConfigured(
                        "no SMTP server is set ([alerter.smtp] host)".into(),
                    ));
                };
                let mut to: Vec<String> = t.to.clone();
                for r in &t.roles {
                    to.extend(directory.addresses(*r).iter().cloned());
                }
                to.sort();
                to.dedup();
                sender.send(&to, msg).await
            }
            Some(Destination::Line(t)) => self.line.push_all(&t.to, msg).await,
            Some(Destination::Webhook(w)) => {
                let secret = match &w.secret {
                    Some(name) => Some(self.secrets.get(name).ok_or_else(|| {
                        Error::NotConfigured(format!("secret {name:?} is not in [alerter.secrets]"))
                    })?),
                    None => None,
                };
                guard::check_url(&self.outbound, &w.url)?;
                let headers = w
                    .open_headers(self.seal_key.as_ref())
                    .map_err(Error::NotConfigured)?;
                let routing_key = w
                    .open_routing_key(self.seal_key.as_ref())
                    .map_err(Error::NotConfigured)?;
                let ctx = webhook::Context {
                    receiver: if channel.name.is_empty() {
                        "gatewatch"
                    } else {
                        &channel.name
                    },
                    lang: if channel.lang == "zh-TW" {
                        gatewatch_model::alert::Lang::ZhTw
                    } else {
                        gatewatch_model::alert::Lang::En
                    },
                    routing_key: routing_key.as_deref(),
                };
                webhook::send(&self.webhooks, w, &headers, secret, msg, self.backoff, ctx).await
            }
            None => Err(Error::NotConfigured(
                "the channel has no single destination".into(),
            )),
        }
    }
}

/// The start of `s`, at most [`ANSWER_MAX`] bytes, cut on a character boundary.
pub(crate) fn snippet(s: &str) -> String {
    let mut end = s.len().min(ANSWER_MAX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].trim_end().to_string()
}

/// A UUID-shaped key derived from the message's dedup key and a target, or a random one.
pub(crate) fn delivery_key(msg: &Message, target: &str) -> String {
    use sha2::{Digest, Sha256};
    if msg.dedup_key.is_empty() {
        return uuid::Uuid::new_v4().to_string();
    }
    let digest = Sha256::new()
        .chain_update(msg.dedup_key.as_bytes())
        .chain_update(b"\n")
        .chain_update(target.as_bytes())
        .finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(b).into_uuid().to_string()
}

/// Sends with `send` until an answer is final: 2xx (delivered), one that `delivered_anyway`
/// accepts (LINE's 409 for a retry key it has already taken), a status not worth retrying
/// (refused), or `retries` retries spent with `backoff` between them (gave up). `what` names
/// the destination in the logs. Each of `hide` (secrets sent in the body) is replaced by
/// `****` in the answers kept and logged, should the far end echo it.
pub(crate) async fn http_with_retries<F, Fut>(
    what: &str,
    retries: u32,
    backoff: &Backoff,
    mut send: F,
    delivered_anyway: impl Fn(u16, &reqwest::header::HeaderMap, u32) -> Option<Delivery>,
    hide: &[&str],
) -> Result<Delivery>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<reqwest::Response, reqwest::Error>>,
{
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (status, reason) = match send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let mut text = resp.text().await.unwrap_or_default();
                for secret in hide.iter().filter(|s| !s.is_empty()) {
                    text = text.replace(secret, gatewatch_model::entity::KEPT);
                }
                if (200..300).contains(&status) {
                    return Ok(Delivery {
                        status,
                        answer: snippet(&text),
                        attempts,
                    });
                }
                if let Some(d) = delivered_anyway(status, &headers, attempts) {
                    return Ok(d);
                }
                if !should_retry_status(status) {
                    return Err(Error::Refused {
                        status,
                        answer: snippet(&text),
                        attempts,
                    });
                }
                (Some(status), format!("{status} {}", snippet(&text)))
            }
            Err(e) => {
                if let Some(f) = guard::forbidden_in(&e) {
                    return Err(Error::Forbidden(f));
                }
                (None, describe_http(&e))
            }
        };
        if attempts > retries {
            return Err(Error::GaveUp {
                status,
                reason,
                attempts,
            });
        }
        tracing::debug!(what, attempts, reason, "send failed; trying again");
        tokio::time::sleep(backoff.wait(attempts)).await;
    }
}

/// A transport error in a few words (timeout, connection refused, …).
fn describe_http(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut msg = format!("{kind}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    snippet(&msg)
}

pub(crate) fn should_retry_status(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff {
            first: Duration::from_millis(100),
            max: Duration::from_millis(500),
        };
        let waits: Vec<u128> = (1..=5).map(|n| b.wait(n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        assert_eq!(b.wait(1000), Duration::from_millis(500));
    }

    #[test]
    fn retry_table() {
        for (status, retry) in [
            (200, false),
            (400, false),
            (401, false),
            (404, false),
            (409, false),
            (429, true),
            (500, true),
            (502, true),
            (503, true),
        ] {
            assert_eq!(should_retry_status(status), retry, "{status}");
        }
    }

    #[test]
    fn delivery_keys_are_stable_per_dedup_key_and_target() {
        let m = Message {
            dedup_key: "cpu/node-1/firing/1700000000".into(),
            ..Message::default()
        };
        let a = delivery_key(&m, "U1");
        assert_eq!(a, delivery_key(&m, "U1"));
        assert_ne!(a, delivery_key(&m, "U2"));
        assert!(uuid::Uuid::parse_str(&a).is_ok());
        let fresh = Message::default();
        assert_ne!(delivery_key(&fresh, "U1"), delivery_key(&fresh, "U1"));
    }

    #[test]
    fn snippets_cut_on_char_boundaries() {
        let s = "警".repeat(400);
        let cut = snippet(&s);
        assert!(cut.len() <= ANSWER_MAX);
        assert!(cut.chars().all(|c| c == '警'));
    }

    #[test]
    fn sends_can_run_on_any_runtime_thread() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: T) {}
        let n = Notifiers::new(&NotifyConfig::default()).unwrap();
        send_sync(&n);
        let c: ChannelSpec =
            serde_json::from_str(r#"{"webhook":{"url":"http://127.0.0.1:9/x"}}"#).unwrap();
        // Only built, never polled: the evaluator spawns sends as tasks.
        send(n.send(&c, &Message::default(), &Directory::default()));
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secrets::new([("hook".to_string(), b"topsecret".to_vec())].into());
        assert_eq!(format!("{s:?}"), "{\"hook\"}");
    }
}
