//! The operations of an API's OpenAPI 3 document, read for the portal's API page: each path
//! and method with its summary, parameters (path-level ones merged in, local `$ref`s to
//! `#/components/…` followed), request body content types and responses.
//!
//! The document was checked on save (`model::portal`: an object, `openapi: 3.x`, at most
//! 512 KiB and 64 levels); this reader still expects anything of its shape and skips what is
//! not as OpenAPI says, so a strange document gives fewer rows, never an error. Text is
//! carried as text: the UI shows it as text nodes, never as HTML.

use serde::Serialize;
use serde_json::{Map, Value};

/// The methods of a path item, in the order shown.
const METHODS: [&str; 8] = [
    "get", "post", "put", "patch", "delete", "head", "options", "trace",
];
/// Most operations read from one document.
pub const MAX_OPERATIONS: usize = 500;
/// Most parameters kept per operation.
const MAX_PARAMETERS: usize = 100;
/// Longest text kept from the document (summaries, descriptions), in characters.
const MAX_TEXT: usize = 2_000;
/// Most text (bytes of strings) a reference carries in all: `$ref`s let a small document
/// name one big object many times, and the reference is what every page view sends.
pub const MAX_REFERENCE_BYTES: usize = 1 << 20;
/// `$ref` hops followed for one object.
const MAX_REF_HOPS: usize = 8;

/// What the page shows of the document.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Reference {
    pub openapi: String,
    pub title: String,
    pub version: String,
    pub operations: Vec<Operation>,
    /// More operations than [`MAX_OPERATIONS`] were in the document.
    pub truncated: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Operation {
    pub method: String,
    pub path: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub operation_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub summary: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    pub deprecated: bool,
    pub parameters: Vec<Parameter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<RequestBody>,
    pub responses: Vec<Response>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Parameter {
    pub name: String,
    /// `path`, `query`, `header` or `cookie`.
    #[serde(rename = "in")]
    pub location: String,
    pub required: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The schema's `type` (and `format`), or the name of its `$ref`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub schema: String,
    pub deprecated: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RequestBody {
    pub required: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub content_types: Vec<String>,
    /// The first content type's schema: its `$ref` name or type.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub schema: String,
    /// Its example (`example`, or the first of `examples`), as indented JSON, cut.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub example: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Response {
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub content_types: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub schema: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub example: String,
}

/// Longest example kept, in characters.
const MAX_EXAMPLE: usize = 4_000;

/// The schema and example of a `content` map's first media type.
fn media(doc: &Value, content: Option<&Value>) -> (String, String) {
    let Some(m) = content
        .and_then(Value::as_object)
        .and_then(|m| m.values().next())
    else {
        return (String::new(), String::new());
    };
    let example = m.get("example").or_else(|| {
        m.get("examples")
            .and_then(Value::as_object)
            .and_then(|e| e.values().next())
            .and_then(|e| resolve(doc, e))
            .and_then(|e| e.get("value"))
    });
    let example = match example {
        None => String::new(),
        Some(Value::String(s)) => s.chars().take(MAX_EXAMPLE).collect(),
        Some(v) => {
            let pretty = serde_json::to_string_pretty(v).unwrap_or_default();
            let mut cut: String = pretty.chars().take(MAX_EXAMPLE).collect();
            if cut.len() < pretty.len() {
                cut.push('…');
            }
            cut
        }
    };
    (schema_text(m.get("schema")), example)
}

fn text(v: Option<&Value>) -> String {
    v.and_then(Value::as_str)
        .map(|s| s.chars().take(MAX_TEXT).collect())
        .unwrap_or_default()
}

fn flag(v: Option<&Value>) -> bool {
    v.and_then(Value::as_bool).unwrap_or(false)
}

/// Follows local `$ref`s (`#/components/parameters/X`) from `v`, at most a few hops.
fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> Option<&'a Value> {
    for _ in 0..MAX_REF_HOPS {
        let Some(r) = v.get("$ref").and_then(Value::as_str) else {
            return Some(v);
        };
        let pointer = r.strip_prefix('#')?;
        v = doc.pointer(pointer)?;
    }
    None
}

/// The last segment of a `$ref`: `#/components/schemas/Order` → `Order`.
fn ref_name(r: &str) -> String {
    r.rsplit('/')
        .next()
        .unwrap_or(r)
        .chars()
        .take(128)
        .collect()
}

fn schema_text(s: Option<&Value>) -> String {
    let Some(s) = s else {
        return String::new();
    };
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        return ref_name(r);
    }
    let ty = match s.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => String::new(),
    };
    let ty = if ty == "array" {
        let inner = schema_text(s.get("items"));
        if inner.is_empty() {
            ty
        } else {
            format!("array of {inner}")
        }
    } else {
        ty
    };
    match s.get("format").and_then(Value::as_str) {
        Some(f) if !ty.is_empty() => format!("{ty} ({})", f.chars().take(64).collect::<String>()),
        _ => ty,
    }
    .chars()
    .take(256)
    .collect()
}

fn parameters(doc: &Value, list: Option<&Value>, out: &mut Vec<Parameter>) {
    let Some(list) = list.and_then(Value::as_array) else {
        return;
    };
    for p in list {
        let Some(p) = resolve(doc, p) else { continue };
        let (Some(name), Some(location)) = (
            p.get("name").and_then(Value::as_str),
            p.get("in").and_then(Value::as_str),
        ) else {
            continue;
        };
        let param = Parameter {
            name: name.chars().take(256).collect(),
            location: location.chars().take(16).collect(),
            // Path parameters are always required (OpenAPI 3).
            required: location == "path" || flag(p.get("required")),
            description: text(p.get("description")),
            schema: schema_text(p.get("schema")),
            deprecated: flag(p.get("deprecated")),
        };
        // An operation's parameter replaces the path item's of the same name and place.
        if let Some(i) = out
            .iter()
            .position(|x| x.name == param.name && x.location == param.location)
        {
            out[i] = param;
        } else if out.len() < MAX_PARAMETERS {
            out.push(param);
        }
    }
}

fn content_types(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.keys()
                .take(16)
                .map(|k| k.chars().take(128).collect())
                .collect()
        })
        .unwrap_or_default()
}

fn operation(
    doc: &Value,
    path: &str,
    method: &str,
    item: &Map<String, Value>,
    op: &Value,
) -> Operation {
    let mut params = Vec::new();
    parameters(doc, item.get("parameters"), &mut params);
    parameters(doc, op.get("parameters"), &mut params);
    let request_body = op
        .get("requestBody")
        .and_then(|b| resolve(doc, b))
        .filter(|b| b.is_object())
        .map(|b| {
            let (schema, example) = media(doc, b.get("content"));
            RequestBody {
                required: flag(b.get("required")),
                description: text(b.get("description")),
                content_types: content_types(b.get("content")),
                schema,
                example,
            }
        });
    let responses = op
        .get("responses")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .take(64)
                .filter_map(|(status, r)| {
                    let r = resolve(doc, r)?;
                    let (schema, example) = media(doc, r.get("content"));
                    Some(Response {
                        status: status.chars().take(16).collect(),
                        description: text(r.get("description")),
                        content_types: content_types(r.get("content")),
                        schema,
                        example,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Operation {
        method: method.to_ascii_uppercase(),
        path: path.chars().take(1024).collect(),
        operation_id: text(op.get("operationId")),
        summary: text(op.get("summary")),
        description: text(op.get("description")),
        tags: op
            .get("tags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .take(16)
                    .map(|t| t.chars().take(64).collect())
                    .collect()
            })
            .unwrap_or_default(),
        deprecated: flag(op.get("deprecated")),
        parameters: params,
        request_body,
        responses,
    }
}

/// The bytes of text an operation carries (what its JSON costs, near enough).
fn weight(o: &Operation) -> usize {
    let strs = |v: &[String]| v.iter().map(|s| json_len(s)).sum::<usize>();
    let fixed = 64;
    fixed
        + json_len(&o.method)
        + json_len(&o.path)
        + json_len(&o.operation_id)
        + json_len(&o.summary)
        + json_len(&o.description)
        + strs(&o.tags)
        + o.parameters
            .iter()
            .map(|p| {
                fixed
                    + json_len(&p.name)
                    + json_len(&p.location)
                    + json_len(&p.description)
                    + json_len(&p.schema)
            })
            .sum::<usize>()
        + o.request_body.as_ref().map_or(0, |b| {
            fixed
                + json_len(&b.description)
                + strs(&b.content_types)
                + json_len(&b.schema)
                + json_len(&b.example)
        })
        + o.responses
            .iter()
            .map(|r| {
                fixed
                    + json_len(&r.status)
                    + json_len(&r.description)
                    + strs(&r.content_types)
                    + json_len(&r.schema)
                    + json_len(&r.example)
            })
            .sum::<usize>()
}

/// The bytes of `s` as a JSON string's contents (control characters, `"` and `\\` escaped).
fn json_len(s: &str) -> usize {
    s.len()
        + s.bytes()
            .map(|b| match b {
                b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 1,
                0..0x20 => 5,
                _ => 0,
            })
            .sum::<usize>()
}

/// The reference of a document: at most [`MAX_OPERATIONS`] operations and about
/// [`MAX_REFERENCE_BYTES`] of text (`truncated` says when the document had more).
pub fn read(doc: &Value) -> Reference {
    let info = doc.get("info");
    let mut operations = Vec::new();
    let mut truncated = false;
    let mut bytes = 0;
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        'paths: for (path, item) in paths {
            let Some(item) = resolve(doc, item).and_then(Value::as_object) else {
                continue;
            };
            for m in METHODS {
                let Some(op) = item.get(m).filter(|o| o.is_object()) else {
                    continue;
                };
                if operations.len() == MAX_OPERATIONS {
                    truncated = true;
                    break 'paths;
                }
                let o = operation(doc, path, m, item, op);
                bytes += weight(&o);
                if bytes > MAX_REFERENCE_BYTES {
                    truncated = true;
                    break 'paths;
                }
                operations.push(o);
            }
        }
    }
    Reference {
        openapi: text(doc.get("openapi")),
        title: text(info.and_then(|i| i.get("title"))),
        version: text(info.and_then(|i| i.get("version"))),
        operations,
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operations_parameters_and_refs_are_read() {
        let doc = json!({
            "openapi": "3.0.3",
            "info": {"title": "訂單", "version": "2.1"},
            "paths": {
                "/orders/{id}": {
                    "parameters": [{"$ref": "#/components/parameters/Id"},
                                   {"name": "lang", "in": "query"}],
                    "get": {"summary": "查詢訂單", "operationId": "getOrder",
                        "parameters": [{"name": "lang", "in": "query", "required": true,
                                        "schema": {"type": "string"}}],
                        "responses": {"200": {"description": "訂單",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"},
                                "example": {"id": 7, "品項": "茶"}}}},
                            "404": {"$ref": "#/components/responses/NotFound"}}},
                    "delete": {"deprecated": true, "responses": {}}
                },
                "/orders": {"post": {
                    "requestBody": {"required": true,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}}},
                    "responses": {"201": {"description": "created"}}}}
            },
            "components": {
                "parameters": {"Id": {"name": "id", "in": "path",
                    "schema": {"type": "integer", "format": "int64"}}},
                "responses": {"NotFound": {"description": "no such order"}}
            }
        });
        let r = read(&doc);
        assert_eq!((r.title.as_str(), r.version.as_str()), ("訂單", "2.1"));
        assert_eq!(r.operations.len(), 3);
        let get = r.operations.iter().find(|o| o.method == "GET").unwrap();
        assert_eq!(get.summary, "查詢訂單");
        assert_eq!(get.parameters.len(), 2);
        assert_eq!(get.parameters[0].name, "id");
        assert!(get.parameters[0].required);
        assert_eq!(get.parameters[0].schema, "integer (int64)");
        assert!(get.parameters[1].required, "the operation's lang wins");
        assert_eq!(get.responses[1].description, "no such order");
        let post = r.operations.iter().find(|o| o.method == "POST").unwrap();
        let body = post.request_body.as_ref().unwrap();
        assert_eq!(body.content_types, ["application/json"]);
        assert_eq!(body.schema, "Order");
        assert_eq!(get.responses[0].schema, "Order");
        assert!(
            get.responses[0].example.contains("\"品項\": \"茶\""),
            "{:?}",
            get.responses[0]
        );
        assert!(r
            .operations
            .iter()
            .any(|o| o.method == "DELETE" && o.deprecated));
    }

    #[test]
    fn strange_documents_give_fewer_rows_not_errors() {
        for doc in [
            json!({"openapi": "3.0.0"}),
            json!({"openapi": "3.0.0", "paths": {"/a": 1, "/b": {"get": "x"}}}),
            json!({"openapi": "3.0.0", "paths": {"/a": {"get": {"parameters": [1, {"$ref": "#/nowhere"}, {"$ref": "http://evil/x"}]}}}}),
            json!({"openapi": "3.0.0", "components": {"parameters": {"A": {"$ref": "#/components/parameters/A"}}},
                   "paths": {"/a": {"get": {"parameters": [{"$ref": "#/components/parameters/A"}]}}}}),
        ] {
            let r = read(&doc);
            assert!(
                r.operations.iter().all(|o| o.parameters.is_empty()),
                "{doc}"
            );
        }
    }

    /// A small document whose `$ref`s share one big path item and big parameters: without a
    /// total budget its reference (built for every anonymous page view) is ~100 MB of JSON.
    #[test]
    fn shared_refs_cannot_blow_the_reference_up() {
        blow_up("<img src=x onerror=alert(1)>".repeat(70));
        // Control characters cost six bytes each in JSON (`\u0001`).
        blow_up("\u{1}".repeat(700));
    }

    fn blow_up(long: String) {
        let mut params = serde_json::Map::new();
        let mut refs = Vec::new();
        for i in 0..MAX_PARAMETERS {
            params.insert(
                format!("P{i}"),
                json!({"name": format!("p{i}"), "in": "query", "description": long}),
            );
            refs.push(json!({"$ref": format!("#/components/parameters/P{i}")}));
        }
        let mut item = serde_json::Map::new();
        item.insert("parameters".into(), json!(refs));
        for m in METHODS {
            item.insert(m.into(), json!({"responses": {}}));
        }
        let mut paths = serde_json::Map::new();
        for i in 0..MAX_OPERATIONS / METHODS.len() + 1 {
            paths.insert(
                format!("/p{i}"),
                json!({"$ref": "#/components/pathItems/X"}),
            );
        }
        let doc = json!({"openapi": "3.1.0", "paths": paths,
            "components": {"parameters": params, "pathItems": {"X": item}}});
        let size = serde_json::to_vec(&doc).unwrap().len();
        assert!(size < 512 << 10, "the document itself is {size} bytes");
        let r = read(&doc);
        let out = serde_json::to_vec(&r).unwrap().len();
        assert!(
            out <= 2 * MAX_REFERENCE_BYTES,
            "{out} bytes of reference from {size}"
        );
        assert!(r.truncated);
        assert!(!r.operations.is_empty());
    }

    #[test]
    fn operations_are_capped() {
        let mut paths = serde_json::Map::new();
        for i in 0..MAX_OPERATIONS + 5 {
            paths.insert(format!("/p{i}"), json!({"get": {}}));
        }
        let r = read(&json!({"openapi": "3.1.0", "paths": paths}));
        assert_eq!(r.operations.len(), MAX_OPERATIONS);
        assert!(r.truncated);
    }
}
