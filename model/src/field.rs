//! [`FieldError`]: what every validation in this crate returns — the field's path and what is
//! wrong with it, so an admin API answer or a `config apply` message can point at it.

use std::fmt;

/// A bad value, named by its path (`upstreams[1].weight`, `service_hours.timezone`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error under a parent path: `weight` in `upstreams[1]` → `upstreams[1].weight`.
    pub fn under(self, parent: &str) -> FieldError {
        let field = if self.field.is_empty() {
            parent.to_string()
        } else if self.field.starts_with('[') {
            format!("{parent}{}", self.field)
        } else {
            format!("{parent}.{}", self.field)
        };
        FieldError { field, ..self }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// Shorthand for the validators.
pub(crate) fn bad<T>(
    field: impl Into<String>,
    message: impl Into<String>,
) -> Result<T, FieldError> {
    Err(FieldError::new(field, message))
}

/// Checks an entity id: 1–64 characters of `A-Z a-z 0-9 - _ .`, so ids are safe in URLs,
/// file names and logs.
pub fn check_id(field: &str, id: &str) -> Result<(), FieldError> {
    if id.is_empty() || id.len() > 64 {
        return bad(field, format!("{id:?} must be 1 to 64 characters"));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return bad(
            field,
            format!("{id:?} may only hold letters, digits, '-', '_' and '.'"),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_nest() {
        let e = FieldError::new("weight", "must be 1 to 1000").under("upstreams[1]");
        assert_eq!(e.to_string(), "upstreams[1].weight: must be 1 to 1000");
        assert_eq!(FieldError::new("[2]", "x").under("days").field, "days[2]");
        assert!(check_id("id", "orders-v1.2_x").is_ok());
        assert!(check_id("id", "").is_err());
        assert!(check_id("id", "a/b")
            .unwrap_err()
            .message
            .contains("letters"));
    }
}
