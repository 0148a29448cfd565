//! Who the client is behind proxies: the TCP peer, or — when the peer is one of the
//! operator's `trusted_proxies` — the nearest `X-Forwarded-For` entry that is not a trusted
//! proxy. The gateway (IP allowlists) and the dashboards (login lockout) read it the same way.
//!
//! Entries are read right to left (each proxy appends the address it saw), so a client can
//! put anything at the left of the header and it is never believed: only what a trusted
//! proxy appended is. A value that is not an address stops the walk at the last good one.

use std::net::IpAddr;

/// An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) as the IPv4 address it is, so that one
/// client has one spelling whichever socket family it came in on.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client's address. `forwarded_for` holds the `X-Forwarded-For` header values in the
/// order received (`None` for a value that is not text); they are read only when `peer` is
/// trusted.
pub fn client_ip<'a, I>(peer: IpAddr, trusted: &[ipnet::IpNet], forwarded_for: I) -> IpAddr
where
    I: IntoIterator<Item = Option<&'a str>>,
    I::IntoIter: DoubleEndedIterator,
{
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(&ip));
    let peer = canonical(peer);
    if trusted.is_empty() || !is_trusted(peer) {
        return peer;
    }
    let mut found = peer;
    for value in forwarded_for.into_iter().rev() {
        let Some(text) = value else {
            return found;
        };
        for part in text.rsplit(',') {
            let Ok(ip) = part.trim().parse::<IpAddr>() else {
                return found;
            };
            let ip = canonical(ip);
            found = ip;
            if !is_trusted(ip) {
                return ip;
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(s: &[&str]) -> Vec<ipnet::IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let xff = [Some("203.0.113.9")];
        assert_eq!(client_ip(ip("10.0.0.1"), &[], xff), ip("10.0.0.1"));
        let t = nets(&["192.0.2.0/24"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &t, xff), ip("10.0.0.1"));
    }

    #[test]
    fn a_trusted_peer_names_the_nearest_untrusted_hop() {
        let t = nets(&["192.0.2.0/24", "::1/128"]);
        // The client forged the left part; the trusted proxies appended the rest.
        let xff = [Some("6.6.6.6, 203.0.113.9"), Some("192.0.2.7")];
        assert_eq!(client_ip(ip("192.0.2.1"), &t, xff), ip("203.0.113.9"));
        // Every hop trusted: the leftmost.
        let xff = [Some("192.0.2.8, 192.0.2.7")];
        assert_eq!(client_ip(ip("192.0.2.1"), &t, xff), ip("192.0.2.8"));
        // No header: the peer.
        assert_eq!(client_ip(ip("::1"), &t, []), ip("::1"));
        // Garbage stops the walk at the last good address.
        let xff = [Some("203.0.113.9, junk, 192.0.2.7")];
        assert_eq!(client_ip(ip("192.0.2.1"), &t, xff), ip("192.0.2.7"));
        let xff = [Some("203.0.113.9"), None];
        assert_eq!(client_ip(ip("192.0.2.1"), &t, xff), ip("192.0.2.1"));
        // A mapped peer is trusted as its IPv4 self, and a mapped entry is reported as IPv4.
        let xff = [Some("::ffff:203.0.113.9")];
        assert_eq!(
            client_ip(ip("::ffff:192.0.2.1"), &t, xff),
            ip("203.0.113.9")
        );
    }
}
