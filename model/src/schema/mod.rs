//! OpenAPI schemas of the entity bodies, derived from the specs' serde attributes
//! (`utoipa::ToSchema` on every spec and every type in one), so that they follow the code.
//!
//! The admin API does not take or give a spec exactly as stored: secrets are set by their own
//! actions and removed from answers ([`EntityKind::managed_fields`], [`crate::entity::redact`]),
//! a create names its `id` in the body, a user may be given a `password`. So each kind has
//! three components, made from its spec's derived schema by the same lists the API uses:
//!
//! | function | component | what |
//! | --- | --- | --- |
//! | [`create_schema`] | `<Kind>Create` | `POST /api/v1/<kinds>` body: the fields and a required `id` |
//! | [`replace_schema`] | `<Kind>Replace` | `PUT /api/v1/<kinds>/{id}` body: `id` optional (must be the path's) |
//! | [`read_schema`] | `<Kind>Read` | `body` of an answer's envelope (GET, POST, PUT answers, history) |
//!
//! `<Kind>` is `Api`, `Client`, `ApiKey`, `Group`, `Product`, `User`, `AlertRule`, `Silence`,
//! `Channel`, `ReportSubscription`. Differences from the stored spec:
//!
//! - client: no `secret_hash` anywhere; the read form has `has_secret` and
//!   `has_signing_secret` (required) instead of `signing_secret` (sealed), which a write may
//!   send back (ignored);
//! - api_key: no `hash`; a create (`POST /api/v1/api-keys`) generates the key, so its body is
//!   `client_id` with the options of `POST /clients/{id}/keys` (`expires_at`, `products`);
//! - user: no `password_hash`, tokens without `hash` (`TokenRead`); writes take `password`
//!   (write-only, 10+ characters; a create without one gets a generated password, answered
//!   once beside the envelope) and may send back `tokens` and `session_epoch` (ignored);
//! - channel: a credential header's value reads `****` in answers; sent back, it keeps the
//!   stored value (any string is valid either way);
//! - report_subscription: writes also take `language`, serde's alias of `lang`.
//!
//! Each create and replace component carries an example ([`create_example`],
//! [`replace_example`]) that the model takes, so that API tools (schemathesis's examples and
//! stateful phases) can make an entity of each kind: random data rarely makes a cron schedule.
//!
//! Besides those thirty, the list holds every nested type (`Upstream`, `RuleKind`,
//! `ExceptionWindow`, `RuleScope`, `WebhookTarget`, `ClockTime`, `TimeZone`, `TokenRead`, …),
//! each once. The names avoid the dashboards' own components (`Scope` is `RuleScope` here, a
//! rule's `Text` is `NoticeText`).
//!
//! Wiring (in the dashboards' `openapi.rs`): add every pair of [`entity_schemas`] to the
//! components (`ComponentsBuilder::schema(name, schema)`), then per kind use
//! `Ref::from_schema_name(create_schema(kind))` as the POST request body,
//! `replace_schema(kind)` as the PUT body (and `AlertRuleReplace` for the rule preview, whose
//! `id` is optional), and for answers an envelope whose `body` is a `$ref` to
//! `read_schema(kind)`: in a history, `body` is `null` for a delete. `POST /api/v1/api-keys`
//! answers a `CreatedSecret`, whose `entity.body` is an `ApiKeyRead`; a user's create answers
//! the envelope with a top-level `password` when one was generated.
//!
//! What JSON Schema cannot say, or these schemas do not, is left to the API's 422: relations
//! between fields (`valid_until` after `valid_from`, a silence's `until` after `from`,
//! `recovery` on the safe side of `threshold`, a percentage threshold at most 100, the scope
//! family of a rule's kind, `forward_credentials` only with `auth`, an API's `scopes` only with
//! `oauth2` in its `auth`, a window's `from` with its `until`), names that need a lookup or a parser (IANA zones are listed; addresses, CIDR
//! blocks, JSON paths, report parameters, cron fields, webhook hosts are not), references to
//! other entities, and header names gatewatch sets itself.

use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, AnyOfBuilder, ArrayBuilder, Object, ObjectBuilder,
    OneOfBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{KnownFormat, Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::access::{ApiKeySpec, GroupSpec, ProductSpec};
use crate::alert::{AlertRuleSpec, InhibitRuleSpec, Lang, NotificationPolicySpec, SilenceSpec};
use crate::api::ApiSpec;
use crate::channel::ChannelSpec;
use crate::client::ClientSpec;
use crate::entity::EntityKind;
use crate::release::ReleaseSpec;
use crate::report_subscription::ReportSubscriptionSpec;
use crate::user::{TokenSpec, UserSpec};
use crate::version::ApiFamilySpec;

/// An entity id, as [`crate::field::check_id`] accepts it.
pub const ID_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";

/// The component a `POST /api/v1/<kinds>` body matches (with its `id`).
pub fn create_schema(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Api => "ApiCreate",
        EntityKind::Client => "ClientCreate",
        EntityKind::ApiKey => "ApiKeyCreate",
        EntityKind::Group => "GroupCreate",
        EntityKind::Product => "ProductCreate",
        EntityKind::User => "UserCreate",
        EntityKind::AlertRule => "AlertRuleCreate",
        EntityKind::Silence => "SilenceCreate",
        EntityKind::Channel => "ChannelCreate",
        EntityKind::ReportSubscription => "ReportSubscriptionCreate",
        EntityKind::NotificationPolicy => "NotificationPolicyCreate",
        EntityKind::InhibitRule => "InhibitRuleCreate",
        EntityKind::ApiFamily => "ApiFamilyCreate",
        EntityKind::Release => "ReleaseCreate",
    }
}

/// The component a `PUT /api/v1/<kinds>/{id}` body matches (`id` optional).
pub fn replace_schema(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Api => "ApiReplace",
        EntityKind::Client => "ClientReplace",
        EntityKind::ApiKey => "ApiKeyReplace",
        EntityKind::Group => "GroupReplace",
        EntityKind::Product => "ProductReplace",
        EntityKind::User => "UserReplace",
        EntityKind::AlertRule => "AlertRuleReplace",
        EntityKind::Silence => "SilenceReplace",
        EntityKind::Channel => "ChannelReplace",
        EntityKind::ReportSubscription => "ReportSubscriptionReplace",
        EntityKind::NotificationPolicy => "NotificationPolicyReplace",
        EntityKind::InhibitRule => "InhibitRuleReplace",
        EntityKind::ApiFamily => "ApiFamilyReplace",
        EntityKind::Release => "ReleaseReplace",
    }
}

/// The component an answer envelope's `body` matches (secrets removed).
pub fn read_schema(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Api => "ApiRead",
        EntityKind::Client => "ClientRead",
        EntityKind::ApiKey => "ApiKeyRead",
        EntityKind::Group => "GroupRead",
        EntityKind::Product => "ProductRead",
        EntityKind::User => "UserRead",
        EntityKind::AlertRule => "AlertRuleRead",
        EntityKind::Silence => "SilenceRead",
        EntityKind::Channel => "ChannelRead",
        EntityKind::ReportSubscription => "ReportSubscriptionRead",
        EntityKind::NotificationPolicy => "NotificationPolicyRead",
        EntityKind::InhibitRule => "InhibitRuleRead",
        EntityKind::ApiFamily => "ApiFamilyRead",
        EntityKind::Release => "ReleaseRead",
    }
}

/// Every component the entity bodies need: three per kind (see the module doc) and every
/// type nested in them, each once.
pub fn entity_schemas() -> Vec<(String, RefOr<Schema>)> {
    let mut out: Vec<(String, RefOr<Schema>)> = Vec::new();
    ApiSpec::schemas(&mut out);
    ClientSpec::schemas(&mut out);
    ApiKeySpec::schemas(&mut out);
    GroupSpec::schemas(&mut out);
    ProductSpec::schemas(&mut out);
    UserSpec::schemas(&mut out);
    AlertRuleSpec::schemas(&mut out);
    SilenceSpec::schemas(&mut out);
    ChannelSpec::schemas(&mut out);
    ReportSubscriptionSpec::schemas(&mut out);
    NotificationPolicySpec::schemas(&mut out);
    InhibitRuleSpec::schemas(&mut out);
    ApiFamilySpec::schemas(&mut out);
    ReleaseSpec::schemas(&mut out);
    // A token's stored form holds its hash: only the read form is published.
    out.retain(|(name, _)| name != TokenSpec::name().as_ref());
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|(name, _)| seen.insert(name.clone()));
    for (name, schema) in out.iter_mut() {
        refine(name, schema);
        one_not_empty(name, schema);
    }
    out.push(("TimeZone".into(), time_zone_names().into()));
    out.push((
        "TokenRead".into(),
        without(object_of::<TokenSpec>(), &["hash"]).into(),
    ));
    for kind in EntityKind::ALL {
        out.push((
            create_schema(kind).into(),
            with_example(exactly_one(kind, create(kind)), create_example(kind)),
        ));
        out.push((
            replace_schema(kind).into(),
            with_example(exactly_one(kind, write(kind, false)), replace_example(kind)),
        ));
        out.push((read_schema(kind).into(), exactly_one(kind, read(kind))));
    }
    out
}

/// What `check_upstream_url` accepts: `http[s]://host[:port]`, perhaps with a final `/`. (The
/// object form's `url` says it in its `#[schema(pattern)]`; the tests hold the two equal.)
pub const UPSTREAM_PATTERN: &str = "^https?://[^/@?# ]+/?$";

/// At least one of some lists is not empty: a channel's `to` and `roles`, a subscription's
/// `roles` and `emails`.
fn one_not_empty(name: &str, schema: &mut RefOr<Schema>) {
    let lists: &[&str] = match name {
        "EmailTarget" => &["to", "roles"],
        "ReportRecipients" => &["roles", "emails"],
        _ => return,
    };
    let RefOr::T(Schema::Object(o)) = schema else {
        return;
    };
    let mut any = AnyOfBuilder::new();
    for l in lists {
        any = any.item(
            ObjectBuilder::new()
                .schema_type(SchemaType::AnyValue)
                .property(*l, ArrayBuilder::new().min_items(Some(1)))
                .required(*l),
        );
    }
    let mut o = o.clone();
    let description = o.description.take();
    *schema = AllOfBuilder::new()
        .item(o)
        .item(any)
        .description(
            description.map(|d| format!("{d} At least one of {} is not empty.", lists.join(", "))),
        )
        .into();
}

/// What the derive leaves out of the nested components: serde's `deny_unknown_fields` on an
/// enum refuses unknown fields in every variant (the derive closes structs only), and the
/// constraints of tuple variants' values.
fn refine(name: &str, schema: &mut RefOr<Schema>) {
    let RefOr::T(Schema::OneOf(one)) = schema else {
        return;
    };
    let closed_variants = ["CapturePolicy", "RuleKind", "TaggedWindow", "RuleScope"];
    for item in one.items.iter_mut() {
        let RefOr::T(Schema::Object(o)) = item else {
            continue;
        };
        // serde ignores other fields beside the tag of a unit variant (CapturePolicy's `none`
        // and `headers`); struct variants, even empty ones (`node_cpu {}`), refuse them.
        let unit = name == "CapturePolicy" && o.properties.len() == 1;
        if closed_variants.contains(&name)
            && o.schema_type == SchemaType::Type(Type::Object)
            && !unit
        {
            o.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        }
        match name {
            "RuleScope" => {
                for (field, value) in o.properties.iter_mut() {
                    match field.as_str() {
                        "nodes" => *value = nodes().into(),
                        "api" | "client" => {
                            if let RefOr::T(Schema::Object(v)) = value {
                                v.pattern = Some(ID_PATTERN.into());
                            }
                        }
                        _ => {}
                    }
                }
            }
            // The plain form of an upstream, `"http[s]://host:port"`.
            "Upstream" if o.schema_type == SchemaType::Type(Type::String) => {
                o.pattern = Some(UPSTREAM_PATTERN.into());
            }
            _ => {}
        }
    }
}

/// Exactly one of an API's `prefix` and `path`, and of a channel's `email`, `line` and
/// `webhook`, is set (not null), as their validation requires.
fn exactly_one(kind: EntityKind, o: Object) -> RefOr<Schema> {
    let (fields, of): (&[&str], Type) = match kind {
        EntityKind::Api => (&["prefix", "path"], Type::String),
        EntityKind::Channel => (&["email", "line", "webhook"], Type::Object),
        EntityKind::ReportSubscription if o.properties.contains_key("language") => {
            return not_both(o, "lang", "language");
        }
        _ => return o.into(),
    };
    let mut one = OneOfBuilder::new();
    for f in fields {
        one = one.item(
            ObjectBuilder::new()
                .schema_type(SchemaType::AnyValue)
                .property(*f, ObjectBuilder::new().schema_type(of.clone()))
                .required(*f),
        );
    }
    let mut o = o;
    let (title, description) = (o.title.take(), o.description.take());
    AllOfBuilder::new()
        .item(o)
        .item(one)
        .title(title)
        .description(
            description.map(|d| format!("{d}; exactly one of {} is set", fields.join(", "))),
        )
        .into()
}

/// At most one of two fields (serde refuses a field and its alias together). JSON Schema's
/// `not` is not in utoipa's model, so: one of the two is absent, as a property no value
/// matches (a string both empty and not).
fn not_both(mut o: Object, a: &str, b: &str) -> RefOr<Schema> {
    let never = || string().min_length(Some(1)).max_length(Some(0));
    let (title, description) = (o.title.take(), o.description.take());
    AllOfBuilder::new()
        .item(o)
        .item(
            AnyOfBuilder::new()
                .item(
                    ObjectBuilder::new()
                        .schema_type(SchemaType::AnyValue)
                        .property(a, never()),
                )
                .item(
                    ObjectBuilder::new()
                        .schema_type(SchemaType::AnyValue)
                        .property(b, never()),
                ),
        )
        .title(title)
        .description(description.map(|d| format!("{d}; `{b}` is another name of `{a}`: give one")))
        .into()
}

/// The derived schema of a spec, which is an object for every entity kind.
fn object_of<T: PartialSchema>() -> Object {
    match T::schema() {
        RefOr::T(Schema::Object(o)) => o,
        // Not reached for the specs (the tests check every kind); an open object documents
        // nothing rather than something wrong.
        _ => Object::new(),
    }
}

/// The stored form of `kind`, as derived.
fn spec(kind: EntityKind) -> Object {
    match kind {
        EntityKind::Api => object_of::<ApiSpec>(),
        EntityKind::Client => object_of::<ClientSpec>(),
        EntityKind::ApiKey => object_of::<ApiKeySpec>(),
        EntityKind::Group => object_of::<GroupSpec>(),
        EntityKind::Product => object_of::<ProductSpec>(),
        EntityKind::User => object_of::<UserSpec>(),
        EntityKind::AlertRule => object_of::<AlertRuleSpec>(),
        EntityKind::Silence => object_of::<SilenceSpec>(),
        EntityKind::Channel => object_of::<ChannelSpec>(),
        EntityKind::ReportSubscription => object_of::<ReportSubscriptionSpec>(),
        EntityKind::NotificationPolicy => object_of::<NotificationPolicySpec>(),
        EntityKind::InhibitRule => object_of::<InhibitRuleSpec>(),
        EntityKind::ApiFamily => object_of::<ApiFamilySpec>(),
        EntityKind::Release => object_of::<ReleaseSpec>(),
    }
}

fn without(mut o: Object, fields: &[&str]) -> Object {
    for f in fields {
        o.properties.remove(*f);
    }
    o.required.retain(|r| !fields.contains(&r.as_str()));
    o
}

fn with(mut o: Object, name: &str, schema: impl Into<RefOr<Schema>>, required: bool) -> Object {
    o.properties.insert(name.to_string(), schema.into());
    if required && !o.required.iter().any(|r| r == name) {
        o.required.push(name.to_string());
    }
    o
}

fn titled(mut o: Object, title: &str, description: &str) -> Object {
    o.title = Some(title.to_string());
    o.description = Some(description.to_string());
    o
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn id_schema(description: &str) -> Object {
    string()
        .pattern(Some(ID_PATTERN))
        .description(Some(description))
        .build()
}

fn closed(mut o: Object) -> Object {
    o.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
    o
}

fn tokens_read() -> RefOr<Schema> {
    ArrayBuilder::new()
        .items(Ref::from_schema_name("TokenRead"))
        .into()
}

/// What a body of `kind` may hold on a write: the spec less its managed secrets, plus what a
/// GET answered that may be sent back, plus write-only inputs.
fn write(kind: EntityKind, create: bool) -> Object {
    let managed = kind.managed_fields();
    let hashes: Vec<&str> = managed
        .iter()
        .copied()
        .filter(|f| f.contains("hash"))
        .collect();
    let mut o = without(spec(kind), &hashes);
    match kind {
        EntityKind::Client => {
            o = with(
                o,
                "has_secret",
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .description(Some("As answered; ignored (the secret has its own action)")),
                false,
            );
            o = with(
                o,
                "has_signing_secret",
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .description(Some(
                        "As answered; ignored (the signing secret has its own action)",
                    )),
                false,
            );
            if let Some(RefOr::T(Schema::Object(e))) = o.properties.get_mut("signing_secret") {
                e.description = Some(
                    "Ignored: set by POST /api/v1/clients/{id}/signing-secret, kept on replace"
                        .into(),
                );
            }
        }
        EntityKind::User => {
            o = with(o, "tokens", tokens_read(), false);
            if let Some(RefOr::T(Schema::Object(e))) = o.properties.get_mut("session_epoch") {
                e.description = Some("As answered; ignored".into());
            }
            o = with(
                o,
                "password",
                string()
                    .min_length(Some(10))
                    .max_length(Some(256))
                    .write_only(Some(true))
                    .description(Some(
                        "A new password (10 characters or more); a create without one gets a \
                         generated password, answered once",
                    )),
                false,
            );
        }
        EntityKind::ReportSubscription => {
            o = with(o, "language", Lang::schema(), false);
        }
        _ => {}
    }
    let id = if create {
        "The new entity's id"
    } else {
        "The entity's id: absent, or the one in the path"
    };
    o = with(o, "id", id_schema(id), create);
    let (title, what) = if create {
        (create_schema(kind), "that creates (POST)")
    } else {
        (replace_schema(kind), "that replaces (PUT, with If-Match)")
    };
    closed(titled(
        o,
        title,
        &format!("A body {what} an entity of kind `{kind}`"),
    ))
}

/// `POST /api/v1/<kinds>` bodies. An API key is generated, not written: its create is the
/// key's client and the options of a new key.
fn create(kind: EntityKind) -> Object {
    if kind != EntityKind::ApiKey {
        return write(kind, true);
    }
    let o = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("client_id", id_schema("The client the key belongs to"))
        .required("client_id")
        .property(
            "expires_at",
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                .description(Some("Refused after this instant (RFC 3339)")),
        )
        .property(
            "products",
            ArrayBuilder::new().items(
                string()
                    .pattern(Some(ID_PATTERN))
                    .description(Some("A product to grant")),
            ),
        )
        .build();
    closed(titled(
        o,
        create_schema(kind),
        "A new API key for a client (the key is generated and answered once)",
    ))
}

/// An answer's `body` of `kind`: the stored spec as [`crate::entity::redact`] leaves it.
fn read(kind: EntityKind) -> Object {
    let mut o = without(
        spec(kind),
        &["secret_hash", "hash", "password_hash", "signing_secret"],
    );
    match kind {
        EntityKind::Client => {
            o = with(
                o,
                "has_secret",
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .description(Some("Whether a client secret (HTTP Basic) is set")),
                true,
            );
            o = with(
                o,
                "has_signing_secret",
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .description(Some(
                        "Whether a request-signing secret (`hmac-sha256`) is set",
                    )),
                true,
            );
        }
        EntityKind::User => {
            o = with(o, "tokens", tokens_read(), false);
        }
        _ => {}
    }
    closed(titled(
        o,
        read_schema(kind),
        &format!("An entity of kind `{kind}` as answered (secrets removed)"),
    ))
}

// Field schemas that the derive cannot say (constraints on the items of a list, a JSON value
// of two types), named by `#[schema(schema_with = …)]` on the fields. Each accepts at least
// what the field's validation accepts (an answer holds only validated values), and not much
// more (so that generated bodies mostly pass).

fn strings_matching(pattern: &str, description: &str) -> ArrayBuilder {
    ArrayBuilder::new()
        .items(string().pattern(Some(pattern)))
        .description(Some(description))
}

/// A client's certificate fingerprints ([`crate::client::FINGERPRINT_PATTERN`]), at most
/// [`crate::client::MAX_CERTIFICATES`].
pub(crate) fn fingerprints() -> ArrayBuilder {
    strings_matching(
        crate::client::FINGERPRINT_PATTERN,
        "Client certificates (mTLS): `sha256:` and the hex of the SHA-256 of each \
         certificate's DER (either case; kept in lower case), as `openssl x509 -outform der \
         | sha256sum` prints it",
    )
    .max_items(Some(crate::client::MAX_CERTIFICATES))
}

/// What [`crate::oauth::check_scope`] accepts (RFC 6749 §3.3's `scope-token`: printable ASCII
/// without space, `"` and `\\`), 1 to [`crate::oauth::MAX_SCOPE_BYTES`] of them.
pub const SCOPE_PATTERN: &str = "^[!#-\\[\\]-~]{1,128}$";

/// OAuth 2.0 scopes of a client, an API or a product ([`crate::oauth::check_scopes`]): scope
/// names, each once, at most [`crate::oauth::MAX_SCOPES`].
pub(crate) fn scopes() -> ArrayBuilder {
    strings_matching(
        SCOPE_PATTERN,
        "OAuth 2.0 scope names (RFC 6749 §3.3: printable ASCII without spaces, `\"` or `\\`, \
         at most 128 bytes), each listed once",
    )
    .max_items(Some(crate::oauth::MAX_SCOPES))
    .unique_items(true)
}

/// A list of entity ids (`groups`, `webhooks`).
pub(crate) fn ids() -> ArrayBuilder {
    strings_matching(ID_PATTERN, "Entity ids")
}

/// Rust's `char::is_whitespace`, as a character class body.
macro_rules! ws {
    () => {
        "\\u0009-\\u000d\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
    };
}

/// What [`crate::user::looks_like_email`] accepts: `local@domain`, the domain with a dot not at
/// its start or end, no whitespace (Rust's, which is this class: ECMAScript's `\s` differs).
pub const EMAIL_PATTERN: &str = concat!(
    "^[^@",
    ws!(),
    "]+@[^.",
    ws!(),
    "][^",
    ws!(),
    "]*\\.[^",
    ws!(),
    "]*[^.",
    ws!(),
    "]$"
);

/// E-mail addresses.
pub(crate) fn emails() -> ArrayBuilder {
    strings_matching(EMAIL_PATTERN, "E-mail addresses")
}

/// One address, or empty for none.
pub(crate) fn email_or_empty() -> ObjectBuilder {
    string()
        .pattern(Some(concat!(
            "^$|^[^@",
            ws!(),
            "]+@[^.",
            ws!(),
            "][^",
            ws!(),
            "]*\\.[^",
            ws!(),
            "]*[^.",
            ws!(),
            "]$"
        )))
        .description(Some(
            "An e-mail address, or empty for none (alert mail to a role)",
        ))
}

/// An API's methods: upper-case HTTP method names.
pub(crate) fn methods() -> ArrayBuilder {
    ArrayBuilder::new()
        .items(string().enum_values(Some(crate::api::METHODS)))
        .description(Some("Methods answered (upper case); empty means all"))
}

/// Days of the month, 1 to 31, at least one.
pub(crate) fn month_days() -> ArrayBuilder {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(31)),
        )
        .min_items(Some(1))
}

/// LINE push targets of a rule's recipients: letters and digits.
pub(crate) fn line_recipients() -> ArrayBuilder {
    strings_matching("^[A-Za-z0-9]{1,64}$", "LINE user, group or room ids")
}

/// A LINE channel's targets: `U`, `C` or `R` and 32 lowercase hex digits
/// ([`crate::channel::is_line_id`]), 1 to 20.
pub(crate) fn line_targets() -> ArrayBuilder {
    strings_matching(
        "^[UCR][0-9a-f]{32}$",
        "LINE user (U…), group (C…) or room (R…) ids",
    )
    .min_items(Some(1))
    .max_items(Some(crate::channel::MAX_LINE_TARGETS))
}

/// A node name: 1 to 200 bytes without control characters (a length in characters here).
pub const NODE_PATTERN: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]{1,200}$";

/// Node names of a rule's scope, at least one.
pub(crate) fn nodes() -> ArrayBuilder {
    strings_matching(NODE_PATTERN, "Node names").min_items(Some(1))
}

/// Mount points of a disk rule.
pub(crate) fn mounts() -> ArrayBuilder {
    strings_matching("^/", "Mount points (all when empty)")
}

/// Header names masked whole.
pub(crate) fn header_names() -> ArrayBuilder {
    strings_matching(
        "^[A-Za-z0-9_-]+$",
        "Header names masked whole (case-insensitive)",
    )
}

/// Query parameter names.
pub(crate) fn query_params() -> ArrayBuilder {
    ArrayBuilder::new()
        .items(string().min_length(Some(1)))
        .description(Some("Query parameters whose values are masked whole"))
}

/// A webhook's extra headers: token-character names; values without line breaks. A
/// credential header's value is answered as `****`.
pub(crate) fn webhook_headers() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(string().pattern(Some("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"))))
        .additional_properties(Some(
            string().pattern(Some("^[^\\u0000-\\u0008\\u000a-\\u001f\\u007f]*$")),
        ))
        .description(Some(
            "Extra request headers (e.g. an `Authorization` the receiver wants; answered as `****`, \
             which sent back keeps the stored value)",
        ))
}

/// A webhook's body template: a JSON object or array.
pub(crate) fn webhook_body() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([
            Type::Object,
            Type::Array,
            Type::Null,
        ]))
        .description(Some(
            "A JSON template (object or array): every string in it may hold the message \
             placeholders (`{{rule}}`, `{{value}}`, …)",
        ))
}

/// A subscription's formats, each once.
pub(crate) fn formats() -> ArrayBuilder {
    ArrayBuilder::new()
        .items(<crate::report_subscription::ReportFormat as PartialSchema>::schema())
        .unique_items(true)
        .description(Some(
            "What the mail carries besides its summary (default: both)",
        ))
}

/// A channel's addresses, at most [`crate::channel::MAX_EMAIL_TARGETS`].
pub(crate) fn email_targets() -> ArrayBuilder {
    emails().max_items(Some(crate::channel::MAX_EMAIL_TARGETS))
}

/// A subscription's addresses, at most 100.
pub(crate) fn report_emails() -> ArrayBuilder {
    emails().max_items(Some(crate::report_subscription::MAX_EMAILS))
}

#[cfg(test)]
mod tests;

/// An IANA zone name, as [`crate::client::parse_tz`] accepts it: one of chrono-tz's names.
fn time_zone_names() -> ObjectBuilder {
    string()
        .enum_values(Some(chrono_tz::TZ_VARIANTS.iter().map(|z| z.name())))
        .examples(["Asia/Taipei"])
        .description(Some("An IANA time zone"))
}

/// An optional zone (absent: the site's).
pub fn time_zone() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .item(Ref::from_schema_name("TimeZone"))
        .description(Some("An IANA time zone (default: the site's)"))
        .into()
}

/// Five or six whitespace-separated fields ([`crate::report_subscription::parse_cron`] reads
/// each; splitting on Rust's whitespace, which is the pattern's `\s` and U+0085).
pub const CRON_PATTERN: &str =
    "^[\\s\\u0085]*[0-9A-Za-z*/,?#-]+([\\s\\u0085]+[0-9A-Za-z*/,?#-]+){4,5}[\\s\\u0085]*$";

/// A subscription's cron schedule.
pub(crate) fn cron() -> ObjectBuilder {
    string()
        .pattern(Some(CRON_PATTERN))
        .examples(["0 8 * * 1"])
        .description(Some(
            "Five fields (minute hour day-of-month month day-of-week), or six with a seconds \
             field first",
        ))
}

/// The reports a subscription may mail: all but the call detail.
pub(crate) fn mailed_reports() -> ObjectBuilder {
    use crate::report::ReportKind;
    string()
        .enum_values(Some(
            ReportKind::ALL
                .into_iter()
                .filter(|k| *k != ReportKind::Calls)
                .filter_map(|k| serde_json::to_value(k).ok()),
        ))
        .description(Some("The report mailed (any but `calls`, the call detail)"))
}

/// A body that creates an entity of `kind` (the schema's example: API tools send it first).
pub fn create_example(kind: EntityKind) -> serde_json::Value {
    use serde_json::json;
    match kind {
        EntityKind::Api => json!({"id": "orders", "name": "Orders", "prefix": "/orders",
            "upstreams": ["http://10.0.0.7:8080"]}),
        EntityKind::Client => json!({"id": "acme", "name": "Acme",
            "tps": {"per_second": 20, "burst": 40}, "quota": {"per_day": 100000}}),
        EntityKind::ApiKey => json!({"client_id": "acme"}),
        EntityKind::Group => json!({"id": "partners", "name": "Partners", "apis": ["orders-*"]}),
        EntityKind::Product => json!({"id": "basic", "name": "Basic", "apis": ["orders"],
            "approval": "auto"}),
        EntityKind::User => json!({"id": "olive", "role": "ops", "email": "olive@example.tw",
            "password": "a long password"}),
        EntityKind::AlertRule => json!({"id": "cpu-high", "name": "CPU high",
            "kind": {"type": "node_cpu"}, "threshold": 90, "recovery": 80, "for_secs": 180,
            "recipients": {"roles": ["ops"]}}),
        EntityKind::Silence => json!({"id": "upgrade", "rule": "*",
            "from": "2030-01-01T10:00:00Z", "until": "2030-01-01T12:00:00Z", "who": "ops",
            "why": "upgrade"}),
        EntityKind::Channel => json!({"id": "ops-mail", "name": "Ops",
            "email": {"to": ["ops@example.tw"]}}),
        EntityKind::ReportSubscription => json!({"id": "weekly-usage", "name": "Weekly usage",
            "report": "usage", "params": {"range": "last_week"}, "cron": "0 8 * * 1",
            "timezone": "Asia/Taipei", "recipients": {"roles": ["manager"]}}),
        EntityKind::NotificationPolicy => {
            json!({"id": "cpu-by-rule", "name": "CPU, one message per rule",
            "matchers": ["kind=node_cpu"], "group_by": ["rule"], "group_wait_secs": 30,
            "group_interval_secs": 300, "repeat_interval_secs": 14400})
        }
        EntityKind::InhibitRule => {
            json!({"id": "silent-node", "name": "A silent node mutes its other alerts",
            "source_matchers": ["kind=node_silent"],
            "target_matchers": ["kind=~node_cpu|node_memory|process_memory|disk"], "equal": ["node"]})
        }
        EntityKind::ApiFamily => json!({"id": "orders", "name": "Orders",
            "default_version": "v1", "select": {"path": true, "header": "accept-version"},
            "canary": {"version": "v2", "percent": 10}}),
        EntityKind::Release => json!({"id": "2026-12-launch", "comment": "orders v2",
            "created_us": 1_796_000_000_000_000_i64,
            "entities": [{"kind": "api", "id": "orders-v1", "version": 3}]}),
    }
}

/// A body that replaces an entity of `kind`.
pub fn replace_example(kind: EntityKind) -> serde_json::Value {
    if kind == EntityKind::ApiKey {
        return serde_json::json!({"client_id": "acme", "hint": "gwk_3fA9xy",
            "expires_at": "2030-01-01T00:00:00Z"});
    }
    let mut v = create_example(kind);
    if let Some(o) = v.as_object_mut() {
        o.remove("id");
    }
    v
}

fn with_example(mut schema: RefOr<Schema>, example: serde_json::Value) -> RefOr<Schema> {
    match &mut schema {
        RefOr::T(Schema::Object(o)) => o.examples = vec![example],
        RefOr::T(Schema::AllOf(a)) => a.examples = vec![example],
        _ => {}
    }
    schema
}
