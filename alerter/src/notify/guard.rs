//! The webhook client's guard: webhook URLs are stored by users, so where a webhook connects
//! is checked against the site's [`Policy`] at the moment it connects.
//!
//! - A name is resolved by [`GuardedResolver`], the HTTP client's own resolver: every address
//!   it answers must be allowed, else the connection is refused before it is opened. So a name
//!   that resolves to a public address when the channel is saved and to `127.0.0.1` when it is
//!   sent (DNS rebinding) is refused then.
//! - An address written in the URL is never resolved, so [`check_url`] checks it before the
//!   request is made.
//! - Redirects are not followed (the client's redirect policy is `none`): a receiver's 3xx is
//!   its answer, so no hop can lead to an internal address.
//! - The client uses no proxy from the environment: through a proxy, the resolver would see
//!   only the proxy's name, and the proxy would reach internal addresses for us.
//!
//! Operator-written destinations (the LINE base URL, the SMTP host) do not pass here.

use gatewatch_model::outbound::{url_host, Host, Policy};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;
use std::sync::Arc;

/// A destination the policy refuses; the message names `webhook.url`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("webhook.url: {0}")]
pub struct Forbidden(pub String);

/// Resolves names with the system's resolver and refuses those that reach a refused address.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: Arc<Policy>,
}

impl GuardedResolver {
    pub fn new(policy: Arc<Policy>) -> GuardedResolver {
        GuardedResolver { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            check_resolved(&policy, &host, &addrs)?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Every address `host` resolved to must be allowed.
pub fn check_resolved(policy: &Policy, host: &str, addrs: &[SocketAddr]) -> Result<(), Forbidden> {
    policy
        .check_all(addrs.iter().map(SocketAddr::ip))
        .map_err(|r| Forbidden(r.of_name(host)))
}

/// The URL's host when it is an address (names are checked by the resolver).
pub fn check_url(policy: &Policy, url: &str) -> Result<(), Forbidden> {
    match url_host(url).map_err(Forbidden)? {
        (Host::Ip(ip), _) => policy
            .check(ip)
            .map_err(|r| Forbidden(format!("refused: {r}"))),
        (Host::Name(_), _) => Ok(()),
    }
}

/// The [`Forbidden`] somewhere in an HTTP error's chain of causes, if the guard refused.
pub fn forbidden_in(e: &(dyn std::error::Error + 'static)) -> Option<Forbidden> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(f) = c.downcast_ref::<Forbidden>() {
            return Some(f.clone());
        }
        cause = c.source();
    }
    None
}

/// The HTTP client for webhooks: the guarded resolver, no redirects, no proxy.
pub fn client(policy: Arc<Policy>) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("gatewatch-alerter/", env!("CARGO_PKG_VERSION")))
        // A webhook that redirects is answered as it stands: following a redirect would turn
        // a POST into a GET and could lead anywhere, internal addresses included.
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver::new(policy)))
        .connect_timeout(std::time::Duration::from_secs(5))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_addresses_are_checked_before_any_request() {
        let p = Policy::default();
        for url in [
            "http://127.0.0.1:8123/?query=INSERT",
            "http://0x7f.1/",
            "http://[::ffff:127.0.0.1]/",
            "http://169.254.169.254/",
        ] {
            let e = check_url(&p, url).unwrap_err();
            assert!(e.to_string().starts_with("webhook.url: refused: "), "{e}");
        }
        assert!(
            check_url(&p, "http://localhost/").is_ok(),
            "names are the resolver's"
        );
        assert!(check_url(&p, "https://8.8.8.8/").is_ok());
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_of_internal_addresses() {
        let r = GuardedResolver::new(Arc::new(Policy::default()));
        let e = match r.resolve("localhost".parse().unwrap()).await {
            Ok(_) => panic!("localhost was resolved"),
            Err(e) => e,
        };
        let f = forbidden_in(&*e).expect("the guard's refusal");
        assert!(f.0.starts_with("localhost resolves to "), "{f}");
        let open = GuardedResolver::new(Arc::new(Policy::new(
            gatewatch_model::outbound::parse_networks(&["127.0.0.0/8".into(), "::1".into()])
                .unwrap(),
        )));
        let addrs: Vec<SocketAddr> = match open.resolve("localhost".parse().unwrap()).await {
            Ok(a) => a.collect(),
            Err(e) => panic!("{e}"),
        };
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
