//! The access table: clients, API keys (by hash), client certificates (by fingerprint), groups
//! and products from the configuration log, parsed and checked once per change and swapped in
//! whole, like the router.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono_tz::Tz;
use gatewatch_model::access::GrantStatus;
use gatewatch_model::{ApiKeySpec, ClientSpec, Entity, EntityKind, GroupSpec, ProductSpec};
use tracing::warn;

use super::refusal::Refusal;

/// A client with what the hot path needs precomputed.
#[derive(Debug)]
pub(crate) struct ClientEntry {
    pub id: Arc<str>,
    pub spec: ClientSpec,
    /// The client's zone (or the site's).
    pub tz: Tz,
    /// `ip_allow`, parsed; empty means any address.
    pub nets: Vec<ipnet::IpNet>,
    /// `ip_deny`, parsed (checked after authentication, see [`crate::policy::deny`]).
    pub deny: crate::policy::deny::List,
    /// The id as the value of the client header sent upstream (made once, not per call;
    /// `None` if the id is not a valid header value, which entity ids always are).
    pub header: Option<http::HeaderValue>,
    /// Keys its request signatures are verified with (its opened `signing_secret` and its
    /// `signing_keys`), made once here rather than per call.
    pub signing: crate::policy::signature::ClientKeys,
}

impl ClientEntry {
    #[cfg(test)]
    pub fn new(id: &str, spec: ClientSpec, site: Tz) -> ClientEntry {
        ClientEntry::with_seal(id, spec, site, None)
    }

    /// The entry, its `signing_secret` opened with `seal` (the site pepper's key).
    pub fn with_seal(
        id: &str,
        spec: ClientSpec,
        site: Tz,
        seal: Option<&gatewatch_model::sealed::SealKey>,
    ) -> ClientEntry {
        // Validated entities parse; a bad entry would have been skipped before this.
        let nets = spec
            .ip_allow
            .iter()
            .filter_map(|c| gatewatch_model::client::parse_cidr(c).ok())
            .collect();
        ClientEntry {
            deny: crate::policy::deny::List::parse(&spec.ip_deny),
            header: http::HeaderValue::from_str(id).ok(),
            id: Arc::from(id),
            tz: spec.zone(site),
            nets,
            signing: crate::policy::signature::ClientKeys::new(id, &spec, seal),
            spec,
        }
    }

    pub fn ip_allowed(&self, ip: std::net::IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.is_empty() || self.nets.iter().any(|n| n.contains(&ip))
    }
}

/// An IPv4 caller reaching a dual-stack listener shows up as `::ffff:a.b.c.d`: match it as
/// the IPv4 address it is.
pub(crate) use gatewatch_model::forwarded::canonical;

#[derive(Debug)]
pub(crate) struct KeyEntry {
    /// The key entity's id (recorded as `api_key_id`; never the key).
    pub id: Arc<str>,
    pub spec: ApiKeySpec,
}

/// Through what a call was allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Grant {
    /// One of the client's groups lists the API.
    Group,
    /// An approved product on the key lists it.
    Product(Arc<str>),
    /// An OAuth 2.0 token carries every scope the API lists (bearer).
    Scopes,
}

/// See the module doc.
#[derive(Debug, Default)]
pub(crate) struct AccessTable {
    pub clients: HashMap<String, Arc<ClientEntry>>,
    pub keys_by_hash: HashMap<String, Arc<KeyEntry>>,
    /// `sha256:<lowercase hex>` → the client listing it. A fingerprint two clients list is in
    /// neither (the admin API refuses that; a race or a file could still write it).
    pub clients_by_cert: HashMap<String, Arc<ClientEntry>>,
    pub groups: HashMap<String, GroupSpec>,
    pub products: HashMap<String, (Arc<str>, ProductSpec)>,
}

/// One entity as read from the log or the snapshot.
pub(crate) struct Raw<'a> {
    pub kind: EntityKind,
    pub id: &'a str,
    pub version: u64,
    pub body: &'a str,
}

impl AccessTable {
    #[cfg(test)]
    pub fn build<'a>(entities: impl IntoIterator<Item = Raw<'a>>, site: Tz) -> AccessTable {
        AccessTable::build_sealed(entities, site, None)
    }

    /// Builds the table from current entities; other kinds are ignored. A bad entity is
    /// skipped with a warning naming it and the field, and never takes the others down.
    /// Clients' signing secrets are opened with `seal`.
    pub fn build_sealed<'a>(
        entities: impl IntoIterator<Item = Raw<'a>>,
        site: Tz,
        seal: Option<&gatewatch_model::sealed::SealKey>,
    ) -> AccessTable {
        let mut t = AccessTable::default();
        for e in entities {
            if !matches!(
                e.kind,
                EntityKind::Client | EntityKind::ApiKey | EntityKind::Group | EntityKind::Product
            ) {
                continue;
            }
            let parsed = match Entity::parse(e.kind, e.id, e.body) {
                Ok(p) => p,
                Err(err) => {
                    warn!(kind = %e.kind, id = %e.id, version = e.version, field = %err.field, error = %err.message, "entity skipped");
                    continue;
                }
            };
            match parsed {
                Entity::Client(c) => {
                    t.clients.insert(
                        e.id.to_string(),
                        Arc::new(ClientEntry::with_seal(e.id, c, site, seal)),
                    );
                }
                Entity::ApiKey(k) => {
                    let hash = k.hash.to_ascii_lowercase();
                    if t.keys_by_hash.contains_key(&hash) {
                        warn!(kind = %e.kind, id = %e.id, field = "hash", "entity skipped: another key has the same hash");
                        continue;
                    }
                    t.keys_by_hash.insert(
                        hash,
                        Arc::new(KeyEntry {
                            id: Arc::from(e.id),
                            spec: k,
                        }),
                    );
                }
                Entity::Group(g) => {
                    t.groups.insert(e.id.to_string(), g);
                }
                Entity::Product(p) => {
                    t.products.insert(e.id.to_string(), (Arc::from(e.id), p));
                }
                _ => {}
            }
        }
        t.index_certificates();
        t
    }

    fn index_certificates(&mut self) {
        let mut shared: HashSet<&str> = HashSet::new();
        let mut by_cert: HashMap<String, Arc<ClientEntry>> = HashMap::new();
        for c in self.clients.values() {
            for fp in &c.spec.certificates {
                // Validated entities hold lower-case fingerprints.
                match by_cert.get(fp.as_str()) {
                    Some(other) if other.id != c.id => {
                        warn!(fingerprint = %fp, client = %c.id, other = %other.id, field = "certificates", "certificate listed by two clients: it identifies neither");
                        shared.insert(fp);
                    }
                    _ => {
                        by_cert.insert(fp.clone(), c.clone());
                    }
                }
            }
        }
        for fp in shared {
            by_cert.remove(fp);
        }
        self.clients_by_cert = by_cert;
    }

    /// Whether `client` (calling with `key`, if any) may call `api_id`: a group of the client
    /// listing it, or an approved product grant on the key. A pending grant of a product that
    /// lists it gives `product_not_approved`; nothing at all gives `api_not_granted`.
    pub fn grant(
        &self,
        client: &ClientEntry,
        key: Option<&KeyEntry>,
        api_id: &str,
    ) -> Result<Grant, Refusal> {
        let by_group = client
            .spec
            .groups
            .iter()
            .filter_map(|g| self.groups.get(g))
            .any(|g| g.apis.contains(api_id));
        if by_group {
            return Ok(Grant::Group);
        }
        let mut pending = false;
        for g in key.map(|k| k.spec.products.as_slice()).unwrap_or_default() {
            let Some((id, p)) = self.products.get(&g.product) else {
                continue;
            };
            if !p.apis.contains(api_id) {
                continue;
            }
            match g.status {
                GrantStatus::Approved => return Ok(Grant::Product(id.clone())),
                GrantStatus::Pending => pending = true,
                GrantStatus::Revoked => {}
            }
        }
        Err(if pending {
            Refusal::ProductNotApproved
        } else {
            Refusal::ApiNotGranted
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw<'a>(kind: EntityKind, id: &'a str, body: &'a str) -> Raw<'a> {
        Raw {
            kind,
            id,
            version: 1,
            body,
        }
    }

    #[test]
    fn bad_entities_are_skipped_and_grants_follow_groups_and_approved_products() {
        let hash = format!("hmac-sha256:{}", "a".repeat(64));
        let key = format!(
            r#"{{"client_id":"acme","hash":"{hash}","products":[{{"product":"pay","status":"approved"}},{{"product":"beta","status":"pending"}}]}}"#
        );
        let t = AccessTable::build(
            [
                raw(
                    EntityKind::Client,
                    "acme",
                    r#"{"name":"Acme","groups":["std"]}"#,
                ),
                raw(
                    EntityKind::Client,
                    "broken",
                    r#"{"name":"x","tps":{"per_second":0}}"#,
                ),
                raw(
                    EntityKind::Group,
                    "std",
                    r#"{"name":"Standard","apis":["orders-*"]}"#,
                ),
                raw(
                    EntityKind::Product,
                    "pay",
                    r#"{"name":"Pay","apis":["pay"]}"#,
                ),
                raw(
                    EntityKind::Product,
                    "beta",
                    r#"{"name":"Beta","apis":["beta-*"]}"#,
                ),
                raw(EntityKind::ApiKey, "k1", &key),
                raw(EntityKind::Api, "orders", "not even json"),
            ],
            chrono_tz::UTC,
        );
        assert!(t.clients.contains_key("acme"));
        assert!(!t.clients.contains_key("broken"));
        let c = t.clients["acme"].clone();
        let k = t.keys_by_hash[&hash].clone();
        assert_eq!(t.grant(&c, Some(&k), "orders-list"), Ok(Grant::Group));
        assert_eq!(
            t.grant(&c, Some(&k), "pay"),
            Ok(Grant::Product(Arc::from("pay")))
        );
        assert_eq!(
            t.grant(&c, Some(&k), "beta-1"),
            Err(Refusal::ProductNotApproved)
        );
        assert_eq!(t.grant(&c, None, "pay"), Err(Refusal::ApiNotGranted));
        assert_eq!(t.grant(&c, Some(&k), "other"), Err(Refusal::ApiNotGranted));
    }

    #[test]
    fn certificates_map_to_their_client_and_a_shared_one_to_none() {
        let fp = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let a = format!(
            r#"{{"name":"A","certificates":["{}","{}"]}}"#,
            fp('a'),
            fp('B')
        );
        let b = format!(
            r#"{{"name":"B","certificates":["{}","{}"]}}"#,
            fp('c'),
            fp('b')
        );
        let t = AccessTable::build(
            [
                raw(EntityKind::Client, "a", &a),
                raw(EntityKind::Client, "b", &b),
                raw(EntityKind::Client, "c", r#"{"name":"C"}"#),
            ],
            chrono_tz::UTC,
        );
        assert_eq!(&*t.clients_by_cert[&fp('a')].id, "a");
        assert_eq!(&*t.clients_by_cert[&fp('c')].id, "b");
        // `B` (upper case) in a and `b` in b are one fingerprint: neither client has it.
        assert!(!t.clients_by_cert.contains_key(&fp('b')));
        assert_eq!(t.clients_by_cert.len(), 2);
    }

    #[test]
    fn ip_allowlists_match_v4_and_mapped_v4() {
        let mut spec = ClientSpec::named("x");
        spec.ip_allow = vec!["10.0.0.0/8".into(), "::1".into()];
        let c = ClientEntry::new("x", spec, chrono_tz::UTC);
        assert!(c.ip_allowed("10.2.3.4".parse().unwrap()));
        assert!(c.ip_allowed("::ffff:10.2.3.4".parse().unwrap()));
        assert!(c.ip_allowed("::1".parse().unwrap()));
        assert!(!c.ip_allowed("127.0.0.1".parse().unwrap()));
    }
}
