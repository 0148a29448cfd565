//! What the OpenAPI document says of one route: its query parameters (from the handler's own
//! query type, so the two cannot part), its body, its successful answers and the errors beyond
//! those [`crate::openapi`] derives from the route itself (401/403 behind a login, 404 with a
//! path parameter, 412/428 with `If-Match`, …). Written next to the access rule of the route
//! in [`crate::access::rules`].

use utoipa::openapi::header::HeaderBuilder;
pub use utoipa::openapi::link::Link;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Ref, Required, Response, ResponseBuilder};
use utoipa::IntoParams;

/// A request body: the schema's component name, and whether it may be left out.
#[derive(Debug, Clone)]
pub struct Body {
    pub schema: String,
    pub required: bool,
}

/// The document's part of one route.
#[derive(Debug, Clone, Default)]
pub struct Doc {
    pub summary: String,
    pub description: Option<String>,
    /// Query and header parameters (path parameters are read off the path).
    pub params: Vec<Parameter>,
    /// A JSON body.
    pub body: Option<Body>,
    /// The answers other than errors: status and description, content, headers.
    pub ok: Vec<(u16, Response)>,
    /// Error statuses the route answers beyond those derived from its shape.
    pub errors: Vec<u16>,
    /// Whether the route takes `If-Match` (412 when stale, 428 when required and missing).
    pub if_match: Option<IfMatch>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMatch {
    Required,
    Optional,
}

impl Doc {
    pub fn new(summary: &str) -> Doc {
        Doc {
            summary: summary.to_string(),
            ..Doc::default()
        }
    }

    pub fn describe(&mut self, text: &str) -> &mut Doc {
        self.description = Some(text.to_string());
        self
    }

    /// The query parameters of the handler's query type.
    pub fn query<P: IntoParams>(&mut self) -> &mut Doc {
        self.params
            .extend(P::into_params(|| Some(ParameterIn::Query)));
        self
    }

    /// Query parameters given one by one (a role whose handler reads raw pairs).
    pub fn params(&mut self, params: Vec<Parameter>) -> &mut Doc {
        self.params.extend(params);
        self
    }

    /// A JSON body of the named schema.
    pub fn body(&mut self, schema: &str) -> &mut Doc {
        self.body = Some(Body {
            schema: schema.to_string(),
            required: true,
        });
        self
    }

    /// A JSON body that may be left out (an empty body takes every default).
    pub fn body_optional(&mut self, schema: &str) -> &mut Doc {
        self.body = Some(Body {
            schema: schema.to_string(),
            required: false,
        });
        self
    }

    pub fn ok(&mut self, status: u16, response: impl Into<Response>) -> &mut Doc {
        self.ok.push((status, response.into()));
        self
    }

    pub fn errors(&mut self, statuses: &[u16]) -> &mut Doc {
        self.errors.extend_from_slice(statuses);
        self
    }

    /// `If-Match: "<version>"` required: 412 when stale, 428 when missing.
    pub fn if_match(&mut self) -> &mut Doc {
        self.if_match = Some(IfMatch::Required);
        self
    }

    /// `If-Match` checked when sent.
    pub fn optional_if_match(&mut self) -> &mut Doc {
        self.if_match = Some(IfMatch::Optional);
        self
    }

    /// `If-None-Match`: 304 when the ETag still matches.
    pub fn if_none_match(&mut self) -> &mut Doc {
        self.params.push(header_param(
            "If-None-Match",
            false,
            "an ETag from an earlier answer: 304 while it is current",
        ));
        self.ok.push((
            304,
            ResponseBuilder::new().description("not modified").build(),
        ));
        self
    }

    /// `X-Comment`: the change's comment in the configuration log.
    pub fn comment(&mut self) -> &mut Doc {
        self.params.push(header_param(
            "X-Comment",
            false,
            "the change's comment, kept in the entity's history (at most 1000 characters)",
        ));
        self
    }
}

pub fn header_param(name: &str, required: bool, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(if required {
            Required::True
        } else {
            Required::False
        })
        .description(Some(description))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build()
}

/// A JSON answer of the named schema.
pub fn json(description: &str, schema: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(schema)))
            .build(),
    )
}

/// An answer of another content type, with a schema when it has one.
pub fn content(
    description: &str,
    content_type: &str,
    schema: Option<utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>>,
) -> ResponseBuilder {
    ResponseBuilder::new()
        .description(description)
        .content(content_type, ContentBuilder::new().schema(schema).build())
}

/// Plain text.
pub fn text(description: &str) -> ResponseBuilder {
    content(
        description,
        "text/plain; charset=utf-8",
        Some(ObjectBuilder::new().schema_type(Type::String).into()),
    )
}

/// No body.
pub fn no_content(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description)
}

/// A file of the web UI: each content type it serves.
pub fn ui_file() -> ResponseBuilder {
    let mut r = ResponseBuilder::new().description("the file; `ETag` for revalidation");
    let mut types: Vec<&str> = crate::ui::ASSETS.iter().map(|a| a.content_type).collect();
    types.sort_unstable();
    types.dedup();
    for t in types {
        r = r.content(t, ContentBuilder::new().build());
    }
    r
}

/// A link from an answer to a next call (schemathesis's stateful phase follows them): the
/// operation, and where each of its parameters comes from (`$response.body#/id`,
/// `header.If-Match` from `$response.header.ETag`).
pub fn link(method: axum::http::Method, path: &str, params: &[(&str, &str)]) -> Link {
    let mut l = LinkBuilder::new().operation_id(crate::openapi::operation_id(&method, path));
    for (name, value) in params {
        l = l.parameter(*name, serde_json::Value::String(value.to_string()));
    }
    l.build()
}

/// Links from an answer holding an entity (its `id` in the body, its version in `ETag`) to
/// the calls on that entity.
pub fn entity_links(base: &str, id_from: &str) -> Vec<(String, Link)> {
    use axum::http::Method;
    let one = format!("{base}/{{id}}");
    let id = ("id", id_from);
    let version = ("header.If-Match", "$response.header.ETag");
    vec![
        ("Get".into(), link(Method::GET, &one, &[id])),
        ("Replace".into(), link(Method::PUT, &one, &[id, version])),
        ("Delete".into(), link(Method::DELETE, &one, &[id, version])),
        (
            "History".into(),
            link(Method::GET, &format!("{one}/history"), &[id]),
        ),
    ]
}

/// Answer headers the API sets.
pub trait Headers {
    /// Links to next calls.
    fn links(self, links: Vec<(String, Link)>) -> Self;
    /// `ETag: "<version>"`.
    fn etag(self) -> Self;
    /// `Location` of a created entity.
    fn location(self) -> Self;
}

impl Headers for ResponseBuilder {
    fn links(mut self, links: Vec<(String, Link)>) -> Self {
        for (name, l) in links {
            self = self.link(name, l);
        }
        self
    }
    fn etag(self) -> Self {
        self.header(
            "ETag",
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String))
                .description(Some(
                    "the entity's version, quoted: send it back as If-Match",
                ))
                .build(),
        )
    }
    fn location(self) -> Self {
        self.header(
            "Location",
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String))
                .description(Some("the new entity's URL path"))
                .build(),
        )
    }
}
