//! Where outbound requests that users aim may go: the address policy of webhook channels.
//!
//! A webhook URL is stored by a user through the admin API, and test-sends are open to `ops`:
//! without a policy, a channel aimed at `http://127.0.0.1:8123/?query=INSERT …` lets a user
//! write into ClickHouse. So every address a webhook connects to is classified here, and
//! loopback, private, link-local, shared (CGNAT), multicast, unspecified, broadcast and the
//! other special-purpose ranges (IANA's registries) are refused unless the site names them in
//! `[alerter] allowed_networks`.
//!
//! This module is pure: the callers resolve names (the alerter at connect time, in its HTTP
//! client's resolver, so that a name that changes its answer — DNS rebinding — is caught at
//! the moment it matters; the dashboards when a channel is saved) and ask [`Policy::check`]
//! about every address. Hosts are read with the `url` crate, the parser the HTTP client
//! itself uses, so `127.1`, `2130706433`, `0x7f.1`, `0177.0.0.1` and `127.0.0.1.` are the
//! IPv4 address they spell before anything is checked; IPv6 forms that carry an IPv4 address
//! (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`)
//! are judged by the address they carry.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Which addresses outbound requests may reach: every public one, plus the special ranges
/// the site allows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    allowed: Vec<IpNet>,
}

/// An address the policy refuses, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ip} is {class} address, which is refused unless [alerter] allowed_networks names it")]
pub struct Refused {
    pub ip: IpAddr,
    /// `a loopback`, `a private`, … (with its article, to read in a sentence).
    pub class: &'static str,
}

impl Refused {
    /// The refusal of a name that resolved to this address, as the admin API and the webhook
    /// client both say it.
    pub fn of_name(&self, name: &str) -> String {
        format!(
            "{name} resolves to {}, {} address, which is refused unless [alerter] allowed_networks names it",
            self.ip, self.class
        )
    }
}

/// A URL's host as the HTTP client will read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// An address written in the URL: no name lookup happens, so it is checked as it stands.
    Ip(IpAddr),
    /// A name, checked on every address it resolves to. Lower-case, as the URL parser leaves
    /// it (IDNA applied; a trailing dot kept).
    Name(String),
}

impl Policy {
    /// A policy that also allows `allowed` (checked CIDRs, see [`parse_networks`]).
    pub fn new(allowed: Vec<IpNet>) -> Policy {
        Policy { allowed }
    }

    /// The ranges the site allows.
    pub fn allowed(&self) -> &[IpNet] {
        &self.allowed
    }

    /// Whether a request may connect to `ip`.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refused> {
        let Some(class) = special(ip) else {
            return Ok(());
        };
        // `::ffff:10.1.2.3` is 10.1.2.3 on the wire: a range allowed in either spelling opens it.
        let canonical = ip.to_canonical();
        if self
            .allowed
            .iter()
            .any(|n| n.contains(&ip) || n.contains(&canonical))
        {
            return Ok(());
        }
        Err(Refused { ip, class })
    }

    /// Every address a name resolved to must be allowed: a name with one internal answer
    /// among public ones is refused whole (a receiver has no need of such a name, an
    /// attacker does).
    pub fn check_all(&self, addrs: impl IntoIterator<Item = IpAddr>) -> Result<(), Refused> {
        addrs.into_iter().try_for_each(|ip| self.check(ip))
    }
}

/// Reads `allowed_networks`: each entry a CIDR (`10.1.0.0/16`, `fd00::/8`) or a single
/// address. Errors name the entry's index.
pub fn parse_networks(list: &[String]) -> Result<Vec<IpNet>, (usize, String)> {
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            let s = s.trim();
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map(|n| n.trunc())
                .map_err(|_| {
                    (
                        i,
                        format!("{s:?} is not a network (CIDR such as 10.1.0.0/16, or an address)"),
                    )
                })
        })
        .collect()
}

/// The host and port of an `http://` or `https://` URL, parsed as the HTTP client parses it.
pub fn url_host(url: &str) -> Result<(Host, u16), String> {
    let u = url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("{url:?} must start with http:// or https://"));
    }
    let port = u
        .port_or_known_default()
        .ok_or_else(|| format!("{url:?} has no port"))?;
    let host = match u.host() {
        Some(url::Host::Ipv4(ip)) => Host::Ip(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Host::Ip(IpAddr::V6(ip)),
        Some(url::Host::Domain(d)) if !d.is_empty() => Host::Name(d.to_string()),
        _ => return Err(format!("{url:?} has no host")),
    };
    Ok((host, port))
}

/// Why `ip` is not a public unicast address, or `None` when it is.
pub fn special(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

/// IANA's IPv4 special-purpose registry, less the globally reachable entries (AS112, AMT).
const V4: [(u32, u8, &str); 16] = [
    (0xFFFF_FFFF, 32, "the broadcast"),
    (0x0000_0000, 32, "the unspecified"),
    (0x0000_0000, 8, "a \"this network\" (0.0.0.0/8)"),
    (0x0A00_0000, 8, "a private (RFC 1918)"),
    (0x6440_0000, 10, "a shared (CGNAT, 100.64.0.0/10)"),
    (0x7F00_0000, 8, "a loopback"),
    (0xA9FE_0000, 16, "a link-local"),
    (0xAC10_0000, 12, "a private (RFC 1918)"),
    (
        0xC000_0000,
        24,
        "an IETF protocol assignment (192.0.0.0/24)",
    ),
    (0xC000_0200, 24, "a documentation"),
    (0xC058_6300, 24, "a 6to4 relay (192.88.99.0/24)"),
    (0xC0A8_0000, 16, "a private (RFC 1918)"),
    (0xC612_0000, 15, "a benchmarking (198.18.0.0/15)"),
    (0xC633_6400, 24, "a documentation"),
    (0xCB00_7100, 24, "a documentation"),
    (0xE000_0000, 4, "a multicast"),
];

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let a = u32::from(ip);
    if a >> 28 == 0xF {
        return Some(if a == u32::MAX {
            "the broadcast"
        } else {
            "a reserved (240.0.0.0/4)"
        });
    }
    V4.iter()
        .find(|(net, len, _)| a >> (32 - *len as u32) == net >> (32 - *len as u32))
        .map(|(_, _, class)| *class)
}

fn special_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let a = u128::from(ip);
    let embedded = Ipv4Addr::from(a as u32);
    let prefix = |bits: u32, net: u128| a >> (128 - bits) == net >> (128 - bits);
    if a == 0 {
        return Some("the unspecified");
    }
    if a == 1 {
        return Some("a loopback");
    }
    // IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible (`::a.b.c.d`, deprecated): the IPv4
    // address is what is reached.
    if prefix(96, 0xffff << 32) {
        return special_v4(embedded);
    }
    if prefix(96, 0) {
        return Some(special_v4(embedded).unwrap_or("an IPv4-compatible (::/96, deprecated)"));
    }
    // NAT64 (RFC 6052): a translator reaches the IPv4 address it carries.
    if prefix(96, 0x0064_ff9b << 96) {
        return special_v4(embedded);
    }
    // 6to4 (RFC 3056): `2002:AABB:CCDD::/48` carries AA.BB.CC.DD.
    if prefix(16, 0x2002 << 112) {
        return special_v4(Ipv4Addr::from((a >> 80) as u32));
    }
    const V6: [(u128, u32, &str); 9] = [
        (
            0x0064_ff9b_0001 << 80,
            48,
            "a local-use NAT64 (64:ff9b:1::/48)",
        ),
        (0x0100 << 112, 64, "a discard-only (100::/64)"),
        (0x2001_0db8 << 96, 32, "a documentation"),
        (0x2001 << 112, 23, "an IETF protocol assignment (2001::/23)"),
        (0x3fff << 112, 20, "a documentation"),
        (0xfc00 << 112, 7, "a unique local (fc00::/7)"),
        (0xfe80 << 112, 10, "a link-local"),
        (0xfec0 << 112, 10, "a site-local (fec0::/10)"),
        (0xff00 << 112, 8, "a multicast"),
    ];
    if let Some((_, _, class)) = V6.iter().find(|(net, len, _)| prefix(*len, *net)) {
        return Some(class);
    }
    // Only 2000::/3 is global unicast; the rest is unassigned or reserved.
    if !prefix(3, 0x2000 << 112) {
        return Some("a reserved IPv6");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str, policy: &Policy) -> Option<&'static str> {
        match url_host(url).unwrap_or_else(|e| panic!("{url}: {e}")).0 {
            Host::Ip(ip) => policy.check(ip).err().map(|r| r.class),
            Host::Name(n) => panic!("{url} parsed as the name {n:?}"),
        }
    }

    /// Every spelling of an internal address in a URL is read as that address and refused.
    #[test]
    fn every_spelling_of_an_internal_address_is_refused() {
        let p = Policy::default();
        let cases = [
            ("http://127.0.0.1:8123/?query=INSERT", "a loopback"),
            ("http://127.1/", "a loopback"),
            ("http://127.0.1/", "a loopback"),
            ("http://2130706433/", "a loopback"),
            ("http://0x7f000001/", "a loopback"),
            ("http://0x7f.1/", "a loopback"),
            ("http://0177.0.0.1/", "a loopback"),
            ("http://0177.1/", "a loopback"),
            ("http://127.0.0.1./", "a loopback"),
            ("http://127.000.000.001/", "a loopback"),
            ("http://%31%32%37.0.0.1/", "a loopback"),
            ("http://①②⑦.0.0.1/", "a loopback"),
            ("http://１２７.０.０.１/", "a loopback"),
            ("http://user:pw@127.0.0.1:8123/", "a loopback"),
            ("HTTP://127.0.0.1/", "a loopback"),
            ("http://[::1]/", "a loopback"),
            ("http://[0:0:0:0:0:0:0:1]/", "a loopback"),
            ("http://[::ffff:127.0.0.1]/", "a loopback"),
            ("http://[::ffff:7f00:1]/", "a loopback"),
            ("http://[::127.0.0.1]/", "a loopback"),
            ("http://[64:ff9b::127.0.0.1]/", "a loopback"),
            ("http://[2002:7f00:1::]/", "a loopback"),
            ("http://[::ffff:10.0.0.1]/", "a private (RFC 1918)"),
            ("http://[2002:c0a8:101::1]/", "a private (RFC 1918)"),
            ("http://[64:ff9b::a9fe:a9fe]/", "a link-local"),
            ("http://0.0.0.0/", "the unspecified"),
            ("http://0/", "the unspecified"),
            ("http://[::]/", "the unspecified"),
            ("http://[::ffff:0.0.0.0]/", "the unspecified"),
            ("http://0.1.2.3/", "a \"this network\" (0.0.0.0/8)"),
            ("http://10.0.0.1/", "a private (RFC 1918)"),
            ("http://10.255.255.255/", "a private (RFC 1918)"),
            ("http://172.16.0.1/", "a private (RFC 1918)"),
            ("http://172.31.255.255/", "a private (RFC 1918)"),
            ("http://192.168.1.1/", "a private (RFC 1918)"),
            ("http://3232235777/", "a private (RFC 1918)"),
            ("http://100.64.0.1/", "a shared (CGNAT, 100.64.0.0/10)"),
            ("http://100.127.255.255/", "a shared (CGNAT, 100.64.0.0/10)"),
            ("http://169.254.169.254/latest/meta-data/", "a link-local"),
            ("http://[fe80::1]/", "a link-local"),
            ("http://[fd00::1]/", "a unique local (fc00::/7)"),
            ("http://[fc00::1]/", "a unique local (fc00::/7)"),
            ("http://[fec0::1]/", "a site-local (fec0::/10)"),
            ("http://224.0.0.1/", "a multicast"),
            ("http://239.255.255.250/", "a multicast"),
            ("http://[ff02::1]/", "a multicast"),
            ("http://255.255.255.255/", "the broadcast"),
            ("http://240.0.0.1/", "a reserved (240.0.0.0/4)"),
            (
                "http://192.0.0.8/",
                "an IETF protocol assignment (192.0.0.0/24)",
            ),
            ("http://192.0.2.1/", "a documentation"),
            ("http://198.51.100.1/", "a documentation"),
            ("http://203.0.113.9/", "a documentation"),
            ("http://198.18.0.1/", "a benchmarking (198.18.0.0/15)"),
            ("http://198.19.255.255/", "a benchmarking (198.18.0.0/15)"),
            ("http://192.88.99.1/", "a 6to4 relay (192.88.99.0/24)"),
            ("http://[2001:db8::1]/", "a documentation"),
            ("http://[3fff::1]/", "a documentation"),
            (
                "http://[2001::1]/",
                "an IETF protocol assignment (2001::/23)",
            ),
            ("http://[100::1]/", "a discard-only (100::/64)"),
            (
                "http://[64:ff9b:1::1]/",
                "a local-use NAT64 (64:ff9b:1::/48)",
            ),
            ("http://[1::1]/", "a reserved IPv6"),
        ];
        for (url, class) in cases {
            assert_eq!(refused(url, &p), Some(class), "{url}");
        }
    }

    #[test]
    fn public_addresses_pass_in_every_spelling() {
        let p = Policy::default();
        for url in [
            "http://8.8.8.8/",
            "https://1.1.1.1:8443/hook",
            "http://134744072/",
            "http://0x8.0x8.0x8.0x8/",
            "http://100.63.255.255/",
            "http://100.128.0.0/",
            "http://172.15.255.255/",
            "http://172.32.0.0/",
            "http://192.0.1.1/",
            "http://198.17.255.255/",
            "http://198.20.0.0/",
            "http://223.255.255.255/",
            "http://[2606:4700::1111]/",
            "http://[2001:4860:4860::8888]/",
            "http://[::ffff:8.8.8.8]/",
            "http://[64:ff9b::8.8.8.8]/",
            "http://[2002:808:808::1]/",
        ] {
            assert_eq!(refused(url, &p), None, "{url}");
        }
    }

    #[test]
    fn names_stay_names_for_the_resolver() {
        for (url, name) in [
            ("http://localhost:8123/", "localhost"),
            ("http://LocalHost./", "localhost."),
            ("https://hooks.example.tw/x", "hooks.example.tw"),
            ("http://127.0.0.1.nip.io/", "127.0.0.1.nip.io"),
            ("http://例子.tw/", "xn--fsqu00a.tw"),
        ] {
            assert_eq!(url_host(url).unwrap().0, Host::Name(name.into()), "{url}");
        }
        assert_eq!(url_host("https://h.tw/").unwrap().1, 443);
        assert_eq!(url_host("http://h.tw/").unwrap().1, 80);
        assert!(url_host("ftp://h.tw/").is_err());
        assert!(url_host("http://").is_err());
        assert!(url_host("http://256.0.0.1/").is_err());
        // Zone ids are not URL syntax: no way to a link-local interface either.
        assert!(url_host("http://[fe80::1%25eth0]/").is_err());
    }

    #[test]
    fn allowed_networks_open_named_ranges_only() {
        let nets = parse_networks(&[
            "127.0.0.0/8".to_string(),
            " 10.1.0.0/16".into(),
            "fd00::1".into(),
            "192.168.1.7/24".into(),
        ])
        .unwrap();
        assert_eq!(nets[3].to_string(), "192.168.1.0/24");
        let p = Policy::new(nets);
        let ok = |s: &str| p.check(s.parse().unwrap()).is_ok();
        assert!(ok("127.0.0.1") && ok("127.9.9.9") && ok("10.1.200.3"));
        assert!(ok("::ffff:127.0.0.1"), "a mapped address is its IPv4 one");
        assert!(ok("fd00::1") && !ok("fd00::2"));
        assert!(ok("192.168.1.200") && !ok("192.168.2.1"));
        assert!(!ok("10.2.0.1") && !ok("::1") && !ok("169.254.169.254"));
        assert!(ok("8.8.8.8"));
        assert_eq!(
            p.check_all(["8.8.8.8".parse().unwrap(), "10.9.0.1".parse().unwrap()])
                .unwrap_err()
                .ip
                .to_string(),
            "10.9.0.1"
        );
        assert_eq!(
            parse_networks(&["10.0.0.0/8".into(), "10.0.0.0/33".into()])
                .unwrap_err()
                .0,
            1
        );
        assert!(parse_networks(&["localhost".into()]).is_err());
        assert!(parse_networks(&[]).unwrap().is_empty());
    }

    #[test]
    fn refusals_read_as_a_sentence() {
        let e = Policy::default()
            .check("127.0.0.1".parse().unwrap())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "127.0.0.1 is a loopback address, which is refused unless [alerter] allowed_networks names it"
        );
    }
}
