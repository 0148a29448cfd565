//! The part of RFC 8941 (Structured Field Values) that `Signature-Input`, `Signature` and
//! `Content-Digest` use: dictionaries whose members are items or inner lists, with
//! parameters; integers, strings, tokens, byte sequences and booleans. Strict (anything else
//! is an error naming what was wrong) and bounded by the caller's header size.

use base64::Engine as _;

/// A bare item (RFC 8941 §3.3); decimals are not used by these fields and are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Integer(i64),
    String(String),
    Token(String),
    Bytes(Vec<u8>),
    Boolean(bool),
}

/// Parameters, in order (a repeated key keeps its last value, in its first place).
pub type Params = Vec<(String, Item)>;

/// A dictionary member's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    Item(Item, Params),
    Inner(Vec<(Item, Params)>, Params),
}

/// A dictionary, in order (a repeated key keeps its last value, in its first place).
pub type Dictionary = Vec<(String, Member)>;

/// Most digits of an integer (RFC 8941 §3.3.1).
const MAX_INT_DIGITS: usize = 15;

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

/// Parses a whole dictionary field value (RFC 8941 §4.2.2).
pub fn parse_dictionary(input: &str) -> Result<Dictionary, String> {
    let mut p = Parser {
        s: input.as_bytes(),
        i: 0,
    };
    p.skip_sp();
    let mut out: Dictionary = Vec::new();
    while p.i < p.s.len() {
        let key = p.key()?;
        let member = if p.peek() == Some(b'=') {
            p.i += 1;
            if p.peek() == Some(b'(') {
                let items = p.inner_list()?;
                Member::Inner(items, p.params()?)
            } else {
                let item = p.bare_item()?;
                Member::Item(item, p.params()?)
            }
        } else {
            Member::Item(Item::Boolean(true), p.params()?)
        };
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = member,
            None => out.push((key, member)),
        }
        p.skip_ows();
        if p.i == p.s.len() {
            return Ok(out);
        }
        if p.peek() != Some(b',') {
            return Err(format!("expected ',' at byte {}", p.i));
        }
        p.i += 1;
        p.skip_ows();
        if p.i == p.s.len() {
            return Err("trailing ','".into());
        }
    }
    Ok(out)
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn key(&mut self) -> Result<String, String> {
        let start = self.i;
        match self.peek() {
            Some(c) if c.is_ascii_lowercase() || c == b'*' => self.i += 1,
            _ => return Err(format!("expected a key at byte {start}")),
        }
        while let Some(c) = self.peek() {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-.*".contains(&c) {
                self.i += 1;
            } else {
                break;
            }
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn params(&mut self) -> Result<Params, String> {
        let mut out: Params = Vec::new();
        while self.peek() == Some(b';') {
            self.i += 1;
            self.skip_sp();
            let key = self.key()?;
            let value = if self.peek() == Some(b'=') {
                self.i += 1;
                self.bare_item()?
            } else {
                Item::Boolean(true)
            };
            match out.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => out.push((key, value)),
            }
        }
        Ok(out)
    }

    fn inner_list(&mut self) -> Result<Vec<(Item, Params)>, String> {
        self.i += 1; // '('
        let mut items = Vec::new();
        loop {
            self.skip_sp();
            if self.peek() == Some(b')') {
                self.i += 1;
                return Ok(items);
            }
            let item = self.bare_item()?;
            items.push((item, self.params()?));
            match self.peek() {
                Some(b' ' | b')') => {}
                _ => return Err(format!("expected ' ' or ')' at byte {}", self.i)),
            }
        }
    }

    fn bare_item(&mut self) -> Result<Item, String> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => self.integer(),
            Some(b'"') => self.string(),
            Some(b':') => self.bytes(),
            Some(b'?') => self.boolean(),
            Some(c) if c.is_ascii_alphabetic() || c == b'*' => Ok(self.token()),
            _ => Err(format!("expected an item at byte {}", self.i)),
        }
    }

    fn integer(&mut self) -> Result<Item, String> {
        let neg = self.peek() == Some(b'-');
        if neg {
            self.i += 1;
        }
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let digits = &self.s[start..self.i];
        if digits.is_empty() || digits.len() > MAX_INT_DIGITS {
            return Err(format!("bad integer at byte {start}"));
        }
        if self.peek() == Some(b'.') {
            return Err(format!("decimal at byte {start}: not used here"));
        }
        let mut v: i64 = 0;
        for d in digits {
            v = v * 10 + i64::from(d - b'0');
        }
        Ok(Item::Integer(if neg { -v } else { v }))
    }

    fn string(&mut self) -> Result<Item, String> {
        let start = self.i;
        self.i += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(format!("unterminated string at byte {start}")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(Item::String(out));
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => out.push(c as char),
                        _ => return Err(format!("bad escape in string at byte {}", self.i)),
                    }
                    self.i += 1;
                }
                Some(c @ 0x20..=0x7e) => {
                    out.push(c as char);
                    self.i += 1;
                }
                Some(_) => return Err(format!("bad character in string at byte {}", self.i)),
            }
        }
    }

    fn token(&mut self) -> Item {
        let start = self.i;
        self.i += 1;
        let tchar = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&c);
        while self.peek().is_some_and(tchar) {
            self.i += 1;
        }
        Item::Token(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn bytes(&mut self) -> Result<Item, String> {
        let start = self.i;
        self.i += 1;
        let from = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || b"+/=".contains(&c))
        {
            self.i += 1;
        }
        if self.peek() != Some(b':') {
            return Err(format!("bad byte sequence at byte {start}"));
        }
        let b64 = &self.s[from..self.i];
        self.i += 1;
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map(Item::Bytes)
            .map_err(|_| format!("bad base64 in byte sequence at byte {start}"))
    }

    fn boolean(&mut self) -> Result<Item, String> {
        self.i += 1;
        let v = match self.peek() {
            Some(b'1') => true,
            Some(b'0') => false,
            _ => return Err(format!("bad boolean at byte {}", self.i)),
        };
        self.i += 1;
        Ok(Item::Boolean(v))
    }
}

/// RFC 8941 §4.1 serialization of an item (and its parameters) into `out`.
pub fn write_item(out: &mut String, item: &Item, params: &Params) {
    match item {
        Item::Integer(v) => out.push_str(&v.to_string()),
        Item::String(s) => {
            out.push('"');
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        Item::Token(t) => out.push_str(t),
        Item::Bytes(b) => {
            out.push(':');
            out.push_str(&base64::engine::general_purpose::STANDARD.encode(b));
            out.push(':');
        }
        Item::Boolean(b) => out.push_str(if *b { "?1" } else { "?0" }),
    }
    write_params(out, params);
}

fn write_params(out: &mut String, params: &Params) {
    for (k, v) in params {
        out.push(';');
        out.push_str(k);
        if *v != Item::Boolean(true) {
            out.push('=');
            write_item(out, v, &Vec::new());
        }
    }
}

/// RFC 8941 §4.1.1.1 serialization of an inner list and its parameters.
pub fn write_inner(out: &mut String, items: &[(Item, Params)], params: &Params) {
    out.push('(');
    for (n, (item, p)) in items.iter().enumerate() {
        if n > 0 {
            out.push(' ');
        }
        write_item(out, item, p);
    }
    out.push(')');
    write_params(out, params);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_signature_input_and_serializes_it_back_canonically() {
        let v = r#"sig1=("@method" "@path"  "content-digest");created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2", sig2=()"#;
        let d = parse_dictionary(v).unwrap();
        assert_eq!(d.len(), 2);
        let Member::Inner(items, params) = &d[0].1 else {
            panic!()
        };
        assert_eq!(items.len(), 3);
        assert_eq!(params[0], ("created".into(), Item::Integer(1618884473)));
        let mut s = String::new();
        write_inner(&mut s, items, params);
        assert_eq!(
            s,
            r#"("@method" "@path" "content-digest");created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2""#
        );
    }

    #[test]
    fn parses_byte_sequences_booleans_tokens() {
        let d = parse_dictionary("sha-256=:AAEC:, a, b=?0, c=tok/en;x").unwrap();
        assert_eq!(d[0].1, Member::Item(Item::Bytes(vec![0, 1, 2]), vec![]));
        assert_eq!(d[1].1, Member::Item(Item::Boolean(true), vec![]));
        assert_eq!(d[2].1, Member::Item(Item::Boolean(false), vec![]));
        assert_eq!(
            d[3].1,
            Member::Item(
                Item::Token("tok/en".into()),
                vec![("x".into(), Item::Boolean(true))]
            )
        );
    }

    #[test]
    fn refuses_malformed_fields_without_panicking() {
        for bad in [
            "",
            "sig1=",
            "Sig1=()",
            "sig1=(",
            "sig1=(\"a\"",
            "sig1=(\"a\"\"b\")",
            "sig1=:AAEC",
            "sig1=:A*EC:",
            "sig1=:AAE:",
            "sig1=\"unterminated",
            "sig1=\"bad\\n\"",
            "sig1=\"tab\there\"",
            "sig1=1.5",
            "sig1=1234567890123456",
            "sig1=-",
            "sig1=?2",
            "sig1=(), ",
            "sig1=()x",
            "sig1=();=1",
            "sig1=\u{e9}",
            "1sig=()",
        ] {
            assert!(
                bad.is_empty() || parse_dictionary(bad).is_err(),
                "{bad:?} parsed"
            );
        }
        assert_eq!(parse_dictionary("").unwrap(), vec![]);
    }
}
