//! Webhook channels as they are saved: where they point, and their credential headers.
//!
//! - A URL at an address the site does not allow (`[alerter] allowed_networks`, see
//!   `model::outbound`) is refused (422, `webhook.url`): an address written in the URL, and a
//!   name that resolves to one now. A name that cannot be resolved now is taken: the alerter
//!   checks every address again when it connects, so a name that turns internal later (DNS
//!   rebinding) is refused then.
//! - Credential headers and a PagerDuty `routing_key` are stored sealed (`model::sealed`),
//!   bound to the URL's host and port.
//! - A credential kept as `****` is dropped when the URL's host or port changes: it was given
//!   for the old receiver, not for the new one.

use gatewatch_model::channel::{destination_of, ChannelSpec};
use gatewatch_model::outbound::{url_host, Host, Policy};
use gatewatch_model::sealed::SealKey;
use serde_json::{Map, Value};
use std::time::Duration;

use crate::error::ApiError;

/// Longest wait for a name's addresses when a channel is saved.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// Refuses a webhook URL that reaches a refused address now.
pub async fn check_destination(policy: &Policy, spec: &ChannelSpec) -> Result<(), ApiError> {
    let Some(w) = &spec.webhook else {
        return Ok(());
    };
    let refuse = |m: String| ApiError::invalid("webhook.url", m);
    let (host, port) = url_host(&w.url).map_err(refuse)?;
    match host {
        Host::Ip(ip) => policy
            .check(ip)
            .map_err(|r| refuse(format!("refused: {r}"))),
        Host::Name(name) => {
            let addrs = match tokio::time::timeout(
                LOOKUP_TIMEOUT,
                tokio::net::lookup_host((name.as_str(), port)),
            )
            .await
            {
                Ok(Ok(a)) => a.map(|a| a.ip()).collect::<Vec<_>>(),
                // Not resolvable now: the alerter checks again when it sends.
                Ok(Err(e)) => {
                    tracing::debug!(host = %name, error = %e, "webhook host not resolved on save");
                    return Ok(());
                }
                Err(_) => {
                    tracing::debug!(host = %name, "webhook host lookup timed out on save");
                    return Ok(());
                }
            };
            policy
                .check_all(addrs)
                .map_err(|r| refuse(format!("refused: {}", r.of_name(&name))))
        }
    }
}

/// Seals the channel's credential headers given in plain text; those already sealed must
/// open for this destination.
pub fn seal(pepper: &[u8], spec: &mut ChannelSpec) -> Result<(), ApiError> {
    let Some(w) = &mut spec.webhook else {
        return Ok(());
    };
    // One nonce per value it may seal: credential headers and a PagerDuty routing key.
    let n = w.sealable();
    let random = crate::random::bytes(24 * n.max(1))?;
    let mut chunks = random.chunks_exact(24);
    let key = SealKey::from_pepper(pepper);
    w.seal_headers(&key, || {
        let mut nonce = [0u8; 24];
        if let Some(c) = chunks.next() {
            nonce.copy_from_slice(c);
        }
        nonce
    })
    .map_err(|e| ApiError::from(e.under("webhook")))
}

/// A channel body's webhook URL.
fn url_of(body: &Map<String, Value>) -> Option<&str> {
    body.get("webhook")?.get("url")?.as_str()
}

/// Whether the kept secrets of `previous` may stay with `body`: same host and port.
pub fn same_destination(body: &Map<String, Value>, previous: Option<&Map<String, Value>>) -> bool {
    let Some(prev) = previous else {
        return false;
    };
    match (url_of(body), url_of(prev)) {
        (Some(a), Some(b)) => {
            let (a, b) = (destination_of(a), destination_of(b));
            a.is_some() && a == b
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn kept_secrets_stay_only_with_the_same_host_and_port() {
        let was = obj(serde_json::json!({"webhook": {"url": "https://hooks.example.tw/a"}}));
        let same = |url: &str| {
            same_destination(
                &obj(serde_json::json!({"webhook": {"url": url}})),
                Some(&was),
            )
        };
        assert!(same("https://hooks.example.tw/b?x=1"));
        assert!(same("https://HOOKS.example.tw:443/a"));
        assert!(!same("https://evil.example/a"));
        assert!(!same("https://hooks.example.tw:8443/a"));
        assert!(!same("http://hooks.example.tw/a"));
        assert!(!same("not a url"));
        assert!(!same_destination(&was, None));
    }

    #[tokio::test]
    async fn internal_destinations_are_refused_on_save() {
        let spec = |url: &str| -> ChannelSpec {
            serde_json::from_value(serde_json::json!({"webhook": {"url": url}})).unwrap()
        };
        let p = Policy::default();
        for url in [
            "http://127.0.0.1:8123/?query=INSERT",
            "http://[::ffff:127.0.0.1]:8123/",
            "http://2130706433:8123/",
            "http://localhost:8123/",
        ] {
            let e = check_destination(&p, &spec(url)).await.unwrap_err();
            assert_eq!(e.field.as_deref(), Some("webhook.url"), "{url}");
            assert_eq!(e.status.as_u16(), 422);
        }
        assert!(check_destination(&p, &spec("https://203.0.114.1/x"))
            .await
            .is_ok());
        let open = Policy::new(
            gatewatch_model::outbound::parse_networks(&["127.0.0.0/8".into(), "::1".into()])
                .unwrap(),
        );
        assert!(check_destination(&open, &spec("http://localhost:8123/"))
            .await
            .is_ok());
    }
}
