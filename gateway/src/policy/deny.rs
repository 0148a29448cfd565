//! Deny lists (`ip_deny`), 403 `ip_denied`, outcome `refused_ip`:
//!
//! - the site's (`[gateway] ip_deny`) on every call, first of all: before the path is read,
//!   so also on the gateway's own endpoints and on paths no API serves;
//! - the API's right after routing, before authentication;
//! - the client's once the client is known (after authentication).
//!
//! The address checked is the caller's as the IP allowlists read it: the TCP peer, or, when
//! the peer is one of `trusted_proxies`, the last untrusted `X-Forwarded-For` address. An
//! IPv4 caller on a dual-stack listener (`::ffff:a.b.c.d`) is matched as the IPv4 address it
//! is, and a list entry written in that mapped form (`::ffff:10.0.0.0/104`) as the IPv4 block
//! it names, so neither spelling slips past the other.

use std::net::IpAddr;

use gatewatch_model::{ApiSpec, Outcome};
use http::{HeaderMap, StatusCode};
use ipnet::{IpNet, Ipv4Net};

use crate::access::caller_ip;
use crate::phase::{Answer, Ctx, Stop};
use crate::route::Route;

/// The error code of a denied address.
pub(crate) const CODE: &str = "ip_denied";

/// The site-wide list and what reading the caller's address needs.
#[derive(Default)]
pub(crate) struct State {
    site: List,
    /// Proxies whose `X-Forwarded-For` is believed (the gateway's `trusted_proxies`).
    trusted_proxies: Vec<IpNet>,
}

impl State {
    pub fn new(site: &[IpNet], trusted_proxies: Vec<IpNet>) -> State {
        State {
            site: List::new(site.iter().copied()),
            trusted_proxies,
        }
    }

    /// The caller's address (see the module doc), canonical (`client_ip` gives it so).
    fn caller(&self, ctx: &Ctx, headers: &HeaderMap) -> IpAddr {
        caller_ip(ctx.peer.addr.ip(), &self.trusted_proxies, headers)
    }
}

/// A deny list, parsed; IPv4-mapped IPv6 blocks kept as the IPv4 blocks they are.
#[derive(Debug, Default)]
pub(crate) struct List {
    nets: Vec<IpNet>,
}

impl List {
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> List {
        List {
            nets: nets.into_iter().map(unmap).collect(),
        }
    }

    /// Entries that do not parse are left out: validation refused them before they got here.
    pub fn parse(entries: &[String]) -> List {
        List::new(
            entries
                .iter()
                .filter_map(|c| gatewatch_model::client::parse_cidr(c).ok()),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Is the (canonical) address on the list?
    pub fn denies(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(&ip))
    }
}

/// `::ffff:a.b.c.d/n` (n ≥ 96) is the IPv4 block `a.b.c.d/(n-96)`.
fn unmap(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net {
        if let (Some(v4), true) = (v6.addr().to_ipv4_mapped(), v6.prefix_len() >= 96) {
            if let Ok(n) = Ipv4Net::new(v4, v6.prefix_len() - 96) {
                return IpNet::V4(n.trunc());
            }
        }
    }
    net
}

/// The API's list, parsed.
#[derive(Debug)]
pub(crate) struct Compiled {
    list: List,
}

pub(crate) fn compile(spec: &ApiSpec) -> Option<Compiled> {
    let list = List::parse(&spec.ip_deny);
    (!list.is_empty()).then_some(Compiled { list })
}

fn denied(whose: &str, ip: IpAddr) -> Stop {
    Stop::Refuse(Answer::new(
        StatusCode::FORBIDDEN,
        Outcome::RefusedIp,
        CODE,
        format!("calls from {ip} are refused ({whose} deny list)"),
    ))
}

/// The site's list, before anything else.
pub(crate) fn site(state: &State, headers: &HeaderMap, ctx: &mut Ctx) -> Result<(), Stop> {
    if state.site.is_empty() {
        return Ok(());
    }
    let ip = state.caller(ctx, headers);
    if state.site.denies(ip) {
        return Err(denied("the site's", ip));
    }
    Ok(())
}

/// The API's list, before authentication.
pub(crate) fn screen(
    state: &State,
    route: &Route,
    headers: &HeaderMap,
    ctx: &mut Ctx,
) -> Result<(), Stop> {
    let Some(api) = route.policies.deny.as_ref() else {
        return Ok(());
    };
    let ip = state.caller(ctx, headers);
    if api.list.denies(ip) {
        return Err(denied("the API's", ip));
    }
    Ok(())
}

/// The client's list, once the client is known.
pub(crate) fn client(state: &State, headers: &HeaderMap, ctx: &mut Ctx) -> Result<(), Stop> {
    let Some(list) = ctx.client.as_ref().map(|c| &c.deny) else {
        return Ok(());
    };
    if list.is_empty() {
        return Ok(());
    }
    let ip = state.caller(ctx, headers);
    if list.denies(ip) {
        return Err(denied("the client's", ip));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::table::canonical;

    fn list(entries: &[&str]) -> List {
        List::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn ip(s: &str) -> IpAddr {
        canonical(s.parse().unwrap())
    }

    #[test]
    fn v4_blocks_catch_mapped_v6_callers_and_mapped_entries_catch_v4_callers() {
        let l = list(&["10.0.0.0/8", "192.0.2.7"]);
        assert!(l.denies(ip("10.1.2.3")));
        assert!(l.denies(ip("::ffff:10.1.2.3")));
        assert!(l.denies(ip("::ffff:192.0.2.7")));
        assert!(!l.denies(ip("192.0.2.8")));
        assert!(!l.denies(ip("11.0.0.1")));
        let mapped = list(&["::ffff:10.0.0.0/104", "::ffff:192.0.2.7"]);
        assert!(mapped.denies(ip("10.200.0.1")));
        assert!(mapped.denies(ip("::ffff:10.200.0.1")));
        assert!(mapped.denies(ip("192.0.2.7")));
        assert!(!mapped.denies(ip("11.0.0.1")));
    }

    #[test]
    fn v6_blocks_match_v6_only() {
        let l = list(&["2001:db8::/32", "::1"]);
        assert!(l.denies(ip("2001:db8::5")));
        assert!(l.denies(ip("::1")));
        assert!(!l.denies(ip("2001:db9::5")));
        assert!(!l.denies(ip("127.0.0.1")));
        // A short v6 prefix that covers the mapped range is not an IPv4 block.
        let wide = list(&["::/0"]);
        assert!(wide.denies(ip("2001:db8::5")));
        assert!(!wide.denies(ip("10.0.0.1")));
    }

    #[test]
    fn an_empty_list_denies_nothing() {
        assert!(!List::default().denies(ip("10.0.0.1")));
        assert!(List::parse(&["not an address".into()]).is_empty());
    }
}
