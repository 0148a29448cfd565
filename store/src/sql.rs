//! Quoting for the few places where SQL text holds a name instead of a bound `?`: identifiers
//! from the configuration (the database, a cluster) that no placeholder can stand for. Values,
//! above all a caller's, are bound (`crate::query::Sql`, `Query::bind`), never quoted into the
//! text; `quote_string`/`uuid_list` remain for the collector's "inserted once" look-ups of typed
//! UUIDs (`ingest`) until they move to binds too.

use std::fmt::Write;

/// Quotes an identifier with backquotes, escaping backslashes and backquotes.
pub fn quote_identifier(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('`');
    for c in name.chars() {
        match c {
            '`' => out.push_str("\\`"),
            '\\' => out.push_str("\\\\"),
            _ => out.push(c),
        }
    }
    out.push('`');
    out
}

/// Quotes a string literal with single quotes, escaping quotes, backslashes and control
/// characters, so that any input is one literal and nothing else.
pub fn quote_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `toUUID('…'), …` for an `IN (…)` list. A `Uuid` prints only hex digits and dashes.
pub fn uuid_list(ids: &[uuid::Uuid]) -> String {
    let mut out = String::with_capacity(ids.len() * 48);
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "toUUID({})", quote_string(&id.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_cannot_break_out() {
        assert_eq!(quote_identifier("gatewatch"), "`gatewatch`");
        assert_eq!(quote_identifier("a`b"), "`a\\`b`");
        assert_eq!(quote_identifier("a\\`; DROP"), "`a\\\\\\`; DROP`");
    }

    #[test]
    fn strings_cannot_break_out() {
        assert_eq!(quote_string("x"), "'x'");
        assert_eq!(quote_string("it's"), "'it\\'s'");
        assert_eq!(
            quote_string("\\'; DROP TABLE t; --"),
            "'\\\\\\'; DROP TABLE t; --'"
        );
        assert_eq!(quote_string("a\nb\0"), "'a\\nb\\0'");
        assert_eq!(quote_string("查詢"), "'查詢'");
    }

    #[test]
    fn uuid_lists() {
        let id = uuid::Uuid::nil();
        assert_eq!(
            uuid_list(&[id, id]),
            "toUUID('00000000-0000-0000-0000-000000000000'), toUUID('00000000-0000-0000-0000-000000000000')"
        );
        assert_eq!(uuid_list(&[]), "");
    }
}
