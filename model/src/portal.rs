//! What the developer portal shows of an API (`ApiSpec.portal`): whether it is published, its
//! category, summary, Markdown description, tags and OpenAPI 3 document.
//!
//! Only an API with `portal.published = true` appears on the portal; everything here is shown
//! to anyone who can reach the portal, so nothing secret belongs in it. The description is
//! Markdown that the portal renders and sanitizes; the OpenAPI document is kept as JSON and
//! read by the portal for its operations. Every limit below is checked on save
//! ([`PortalInfo::validate`]) and named in the refusal (`portal.summary`, `portal.tags[2]`).

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::ToSchema;

use crate::field::{bad, FieldError};

/// Longest category, in characters.
pub const MAX_CATEGORY_CHARS: usize = 64;
/// Longest summary, in characters.
pub const MAX_SUMMARY_CHARS: usize = 300;
/// Longest description (Markdown), in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 65_536;
/// Most tags.
pub const MAX_TAGS: usize = 20;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 32;
/// Largest OpenAPI document, as compact JSON, in bytes.
pub const MAX_OPENAPI_BYTES: usize = 512 * 1024;
/// Deepest nesting of the OpenAPI document (objects and arrays).
pub const MAX_OPENAPI_DEPTH: usize = 64;

/// One line of text: no control characters (the pattern the schema gives `category`,
/// `summary` and tags).
pub const LINE_PATTERN: &str = "^[^\\u0000-\\u001f\\u007f]*$";
/// Markdown: no control characters but tab, line feed and carriage return.
pub const MARKDOWN_PATTERN: &str = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$";

/// The portal fields of an API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ApiPortal)]
pub struct PortalInfo {
    /// Shown on the developer portal. Unpublished (the default): the portal answers 404 for
    /// it, as for an id that does not exist.
    #[serde(default)]
    pub published: bool,
    /// The catalogue's category (any language), e.g. `支付` or `Payments`; empty: none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schema(max_length = 64, pattern = "^[^\\u0000-\\u001f\\u007f]*$")]
    pub category: String,
    /// One line shown in the catalogue (any language).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schema(max_length = 300, pattern = "^[^\\u0000-\\u001f\\u007f]*$")]
    pub summary: String,
    /// The API's documentation in Markdown (CommonMark with tables); the portal renders it and
    /// removes scripts, event handlers, `javascript:` links and other unsafe HTML.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schema(
        max_length = 65536,
        pattern = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$"
    )]
    pub description: String,
    /// Search words (any language), each listed once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = tags_schema)]
    pub tags: Vec<String>,
    /// The API's OpenAPI 3 document (JSON): an object whose `openapi` is `3.x`. The portal
    /// lists its operations. At most 512 KiB as compact JSON, nested at most 64 deep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = openapi_schema)]
    pub openapi: Option<serde_json::Value>,
}

fn tags_schema() -> utoipa::openapi::schema::ArrayBuilder {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(MAX_TAG_CHARS))
                .pattern(Some(LINE_PATTERN)),
        )
        .max_items(Some(MAX_TAGS))
        .unique_items(true)
        .description(Some("Search words (any language), each listed once"))
}

fn openapi_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "openapi",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^3\\.")),
        )
        .required("openapi")
        .description(Some(
            "An OpenAPI 3 document (JSON object with `openapi: 3.x`), at most 512 KiB",
        ))
}

fn control(c: char) -> bool {
    c.is_control()
}

fn line(field: &str, v: &str, max: usize) -> Result<(), FieldError> {
    if v.chars().count() > max {
        return bad(field, format!("must be at most {max} characters"));
    }
    if v.chars().any(control) {
        return bad(field, "must be one line without control characters");
    }
    Ok(())
}

/// How deep a JSON value nests (a scalar is 0).
fn depth(v: &serde_json::Value) -> usize {
    // Iterative, so a deep document cannot exhaust the stack here.
    let mut deepest = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        match v {
            serde_json::Value::Array(a) => stack.extend(a.iter().map(|x| (x, d + 1))),
            serde_json::Value::Object(o) => stack.extend(o.values().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    deepest
}

impl PortalInfo {
    /// Checks the limits; the error names the field under `portal` (`portal.tags[1]`).
    pub fn validate(&self) -> Result<(), FieldError> {
        self.check().map_err(|e| e.under("portal"))
    }

    fn check(&self) -> Result<(), FieldError> {
        line("category", &self.category, MAX_CATEGORY_CHARS)?;
        line("summary", &self.summary, MAX_SUMMARY_CHARS)?;
        if self.description.chars().count() > MAX_DESCRIPTION_CHARS {
            return bad(
                "description",
                format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
            );
        }
        if self
            .description
            .chars()
            .any(|c| control(c) && !matches!(c, '\n' | '\r' | '\t'))
        {
            return bad(
                "description",
                "must not hold control characters (but tab and line breaks)",
            );
        }
        if self.tags.len() > MAX_TAGS {
            return bad("tags", format!("at most {MAX_TAGS} tags"));
        }
        for (i, t) in self.tags.iter().enumerate() {
            let field = format!("tags[{i}]");
            if t.is_empty() {
                return bad(field, "must not be empty");
            }
            line(&field, t, MAX_TAG_CHARS)?;
            if self.tags[..i].contains(t) {
                return bad(field, format!("{t:?} is listed twice"));
            }
        }
        if let Some(doc) = &self.openapi {
            check_openapi(doc).map_err(|m| FieldError::new("openapi", m))?;
        }
        Ok(())
    }
}

/// An OpenAPI 3 document within the limits: an object, `openapi` a string `3.…`, `paths` (if
/// any) an object.
fn check_openapi(doc: &serde_json::Value) -> Result<(), String> {
    let Some(o) = doc.as_object() else {
        return Err("must be a JSON object (an OpenAPI 3 document)".into());
    };
    match o.get("openapi").and_then(|v| v.as_str()) {
        Some(v) if v.starts_with("3.") => {}
        Some(v) => {
            return Err(format!(
                "`openapi` is {:?}: only OpenAPI 3 documents (`3.0.3`, `3.1.0`) are taken",
                v.chars().take(32).collect::<String>()
            ))
        }
        None => return Err("must have an `openapi` field (`3.0.3`, `3.1.0`)".into()),
    }
    if o.get("paths").is_some_and(|p| !p.is_object()) {
        return Err("`paths` must be an object".into());
    }
    if depth(doc) > MAX_OPENAPI_DEPTH {
        return Err(format!("nests deeper than {MAX_OPENAPI_DEPTH} levels"));
    }
    let size = serde_json::to_vec(doc)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_OPENAPI_BYTES {
        return Err(format!(
            "is {size} bytes as JSON; at most {MAX_OPENAPI_BYTES}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn info(v: serde_json::Value) -> PortalInfo {
        serde_json::from_value(v).unwrap()
    }

    fn refused(v: serde_json::Value) -> FieldError {
        info(v).validate().unwrap_err()
    }

    #[test]
    fn a_full_entry_is_taken_and_defaults_to_unpublished() {
        let p = info(json!({"category": "支付", "summary": "訂單查詢",
            "description": "# 訂單\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
            "tags": ["訂單", "orders"], "openapi": {"openapi": "3.0.3", "paths": {}}}));
        assert!(!p.published);
        p.validate().unwrap();
        info(json!({})).validate().unwrap();
    }

    #[test]
    fn each_refusal_names_its_field() {
        let long = "x".repeat(MAX_SUMMARY_CHARS + 1);
        for (body, field) in [
            (json!({"summary": long}), "portal.summary"),
            (json!({"summary": "a\nb"}), "portal.summary"),
            (json!({"category": "c".repeat(65)}), "portal.category"),
            (json!({"category": "a\u{0}"}), "portal.category"),
            (
                json!({"description": "d".repeat(MAX_DESCRIPTION_CHARS + 1)}),
                "portal.description",
            ),
            (json!({"description": "bell\u{7}"}), "portal.description"),
            (json!({"tags": vec!["t"; 21]}), "portal.tags"),
            (json!({"tags": ["a", ""]}), "portal.tags[1]"),
            (json!({"tags": ["a", "a"]}), "portal.tags[1]"),
            (json!({"tags": ["x".repeat(33)]}), "portal.tags[0]"),
            (json!({"openapi": []}), "portal.openapi"),
            (json!({"openapi": "3.0.0"}), "portal.openapi"),
            (json!({"openapi": {"swagger": "2.0"}}), "portal.openapi"),
            (json!({"openapi": {"openapi": "2.0"}}), "portal.openapi"),
            (json!({"openapi": {"openapi": 3}}), "portal.openapi"),
            (
                json!({"openapi": {"openapi": "3.0.0", "paths": []}}),
                "portal.openapi",
            ),
        ] {
            assert_eq!(refused(body.clone()).field, field, "{body}");
        }
    }

    #[test]
    fn an_oversized_or_deep_document_is_refused() {
        let big = "x".repeat(MAX_OPENAPI_BYTES);
        let e = refused(json!({"openapi": {"openapi": "3.0.0", "info": {"description": big}}}));
        assert_eq!(e.field, "portal.openapi");
        assert!(e.message.contains("bytes"), "{e}");
        let mut deep = json!(1);
        for _ in 0..70 {
            deep = json!([deep]);
        }
        let e = refused(json!({"openapi": {"openapi": "3.0.0", "x": deep}}));
        assert!(e.message.contains("deeper"), "{e}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_value::<PortalInfo>(json!({"publish": true})).is_err());
    }
}
