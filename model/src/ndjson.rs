//! NDJSON: one JSON object per line, the wire format between gateway and collector.
//!
//! Decoding is per line: a bad line is reported with its 1-based line number, the field at
//! fault and what is wrong, and every good line is still returned, so one bad record never
//! costs its neighbours.
//!
//! Fields a line has that this version does not know are skipped, not refused: gateways and
//! collectors are upgraded one at a time, and a newer gateway's record must not be lost at an
//! older collector (which would refuse the batch as bad, and the gateway would drop it).
//! [`unknown_fields`] names them, so a collector can say so (answer, metric, log) and a
//! misspelt optional field is still seen.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::ops::Range;

use crate::{CallRecord, NodeSample};

/// A type that can be checked after decoding (ranges, non-empty names, …).
pub trait Validate {
    /// `Err((field, what is wrong))` when a decoded value is not acceptable.
    fn validate(&self) -> Result<(), (&'static str, String)>;
}

impl Validate for CallRecord {
    fn validate(&self) -> Result<(), (&'static str, String)> {
        CallRecord::validate(self)
    }
}

impl Validate for NodeSample {
    fn validate(&self) -> Result<(), (&'static str, String)> {
        NodeSample::validate(self)
    }
}

/// Why one line was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineError {
    /// 1-based line number in the (decompressed) body.
    pub line: usize,
    /// The field at fault, as a path (`status`, `disks[0].mount`); empty when the line is not
    /// JSON at all.
    pub field: String,
    /// What is wrong, in words.
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            write!(
                f,
                "line {}: field '{}': {}",
                self.line, self.field, self.message
            )
        }
    }
}

/// The result of decoding a body: the good values, where they were, and the bad lines.
#[derive(Debug)]
pub struct DecodedBatch<T> {
    /// Values of the good lines, in order.
    pub values: Vec<T>,
    /// Byte range of each good line in the body (without its newline), parallel to `values`.
    pub spans: Vec<Range<usize>>,
    /// The rejected lines.
    pub errors: Vec<LineError>,
}

/// Decodes every non-blank line of `body` as one `T`.
pub fn decode_lines<T: DeserializeOwned + Validate>(body: &[u8]) -> DecodedBatch<T> {
    let mut out = DecodedBatch {
        values: Vec::new(),
        spans: Vec::new(),
        errors: Vec::new(),
    };
    let mut start = 0usize;
    let mut line_no = 0usize;
    while start < body.len() {
        let end = memchr_newline(&body[start..]).map_or(body.len(), |i| start + i);
        line_no += 1;
        let line = trim_cr(&body[start..end]);
        if !line.iter().all(u8::is_ascii_whitespace) {
            match decode_one::<T>(line) {
                Ok(v) => {
                    out.values.push(v);
                    out.spans.push(start..start + line.len());
                }
                Err((field, message)) => out.errors.push(LineError {
                    line: line_no,
                    field,
                    message,
                }),
            }
        }
        start = end + 1;
    }
    out
}

fn decode_one<T: DeserializeOwned + Validate>(line: &[u8]) -> Result<T, (String, String)> {
    decode_line(line, true)
}

/// Decodes and validates one line (without its newline). `Err((field, what is wrong))` when it
/// is not a valid `T`. With `explain` false a bad line is not decoded again to name the field
/// (the error says only "not a valid record"): for a caller that has listed enough errors
/// already and only counts the rest, so a body of garbage costs one failed parse per line.
pub fn decode_line<T: DeserializeOwned + Validate>(
    line: &[u8],
    explain: bool,
) -> Result<T, (String, String)> {
    // The fast path: plain serde_json. Only a line that fails is decoded again with path
    // tracking, to name the field (tracking every line cost a third of the decoding time).
    let value = match serde_json::from_slice::<T>(line) {
        Ok(v) => v,
        Err(_) if !explain => return Err((String::new(), "not a valid record".into())),
        Err(_) => return Err(explain_line::<T>(line)),
    };
    value
        .validate()
        .map_err(|(field, msg)| (field.to_string(), msg))?;
    Ok(value)
}

/// The paths of the fields of `line` that `T` does not know (`future`, `disks[0].extra`), in
/// order; empty when there are none or the line is not a `T`. Decodes the line again: for a
/// sample of a batch, not every line.
pub fn unknown_fields<T: DeserializeOwned>(line: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(line);
    let decoded: Result<T, _> = serde_ignored::deserialize(&mut de, |path| {
        let mut s = String::new();
        write_path(&path, &mut s);
        found.push(s);
    });
    if decoded.is_err() {
        return Vec::new();
    }
    found
}

/// A path as [`LineError::field`] writes them (`disks[0].mount`), not serde_ignored's
/// `disks.0.mount`.
fn write_path(path: &serde_ignored::Path<'_>, out: &mut String) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            write_path(parent, out);
            out.push_str(&format!("[{index}]"));
        }
        Path::Map { parent, key } => {
            write_path(parent, out);
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(key);
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => write_path(parent, out),
    }
}

/// Decodes a line known to be bad again, with path tracking, to say where and what.
fn explain_line<T: DeserializeOwned>(line: &[u8]) -> (String, String) {
    let mut de = serde_json::Deserializer::from_slice(line);
    let value: Result<T, _> = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path == "?" {
            String::new()
        } else {
            path
        };
        let inner = e.into_inner();
        // serde_json reports a missing field at the enclosing object: name the field itself.
        let msg = inner.to_string();
        let field = match missing_field_name(&msg) {
            Some(name) if field.is_empty() => name,
            Some(name) => format!("{field}.{name}"),
            None => field,
        };
        (field, strip_position(&msg))
    });
    match value {
        Err(e) => e,
        Ok(_) => match de.end() {
            Err(e) => (String::new(), strip_position(&e.to_string())),
            Ok(()) => (String::new(), "not a valid record".into()),
        },
    }
}

fn missing_field_name(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_string())
}

/// serde_json appends "at line 1 column N"; the line number is ours to give.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn memchr_newline(s: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', s)
}

fn trim_cr(s: &[u8]) -> &[u8] {
    s.strip_suffix(b"\r").unwrap_or(s)
}

/// Encodes values as NDJSON, one line each, each line ending in `\n`.
pub fn encode_lines<'a, T: Serialize + 'a>(
    values: impl IntoIterator<Item = &'a T>,
    out: &mut Vec<u8>,
) -> Result<(), serde_json::Error> {
    for v in values {
        serde_json::to_writer(&mut *out, v)?;
        out.push(b'\n');
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;
    use uuid::Uuid;

    fn line(status: u16) -> String {
        let mut r = CallRecord::new(Uuid::now_v7(), 1_764_000_000_000_000, "gw1", "GET", "/x");
        r.status = status;
        r.outcome = Outcome::from_upstream_status(status);
        serde_json::to_string(&r).unwrap()
    }

    #[test]
    fn good_lines_are_kept_and_bad_ones_named() {
        let body = format!(
            "{}\n{{not json\n{}\n{}\n\n{}",
            line(200),
            line(404),
            line(42),
            line(503)
        );
        let d = decode_lines::<CallRecord>(body.as_bytes());
        assert_eq!(d.values.len(), 3);
        assert_eq!(d.errors.len(), 2);
        assert_eq!(d.errors[0].line, 2);
        assert_eq!(d.errors[0].field, "");
        assert_eq!(d.errors[1].line, 4);
        assert_eq!(d.errors[1].field, "status");
        // spans point at exactly the good lines
        for (v, span) in d.values.iter().zip(&d.spans) {
            let back: CallRecord = serde_json::from_slice(&body.as_bytes()[span.clone()]).unwrap();
            assert_eq!(&back, v);
        }
    }

    #[test]
    fn wrong_type_names_the_field() {
        let body = line(200).replace("\"status\":200", "\"status\":\"ok\"");
        let d = decode_lines::<CallRecord>(body.as_bytes());
        assert_eq!(d.errors[0].field, "status");
        assert!(
            d.errors[0].message.contains("invalid type"),
            "{}",
            d.errors[0].message
        );
    }

    #[test]
    fn missing_field_is_named() {
        let body = line(200).replace("\"method\":\"GET\",", "");
        let d = decode_lines::<CallRecord>(body.as_bytes());
        assert_eq!(d.errors[0].field, "method");
    }

    #[test]
    fn unknown_fields_are_kept_out_but_named() {
        // A newer sender's line: a top-level field and one inside a nested sample.
        let body = line(200).replace(
            "\"status\":200",
            "\"status\":200,\"stauts\":1,\"tls\":{\"v\":\"1.3\"}",
        );
        let d = decode_lines::<CallRecord>(body.as_bytes());
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        assert_eq!(d.values.len(), 1);
        assert_eq!(d.values[0].status, 200);
        assert_eq!(
            unknown_fields::<CallRecord>(body.as_bytes()),
            ["stauts", "tls"]
        );
        assert!(unknown_fields::<CallRecord>(line(200).as_bytes()).is_empty());
        assert!(unknown_fields::<CallRecord>(b"{not json").is_empty());
        let sample = r#"{"ts_us":1,"node":"gw1","cpu_pct":1.0,"mem_used_bytes":1,"mem_total_bytes":2,
            "rss_bytes":1,"disks":[{"mount":"/","used_bytes":1,"total_bytes":2,"inodes":7}],"gpu":0}"#;
        assert_eq!(
            unknown_fields::<crate::NodeSample>(sample.as_bytes()),
            ["disks[0].inodes", "gpu"]
        );
    }

    #[test]
    fn bad_outcome_is_named() {
        let body = line(200).replace("\"outcome\":\"ok\"", "\"outcome\":\"fine\"");
        let d = decode_lines::<CallRecord>(body.as_bytes());
        assert_eq!(d.errors[0].field, "outcome");
    }

    #[test]
    fn trailing_garbage_and_crlf() {
        let body = format!("{} x\n{}\r\n", line(200), line(200));
        let d = decode_lines::<CallRecord>(body.as_bytes());
        assert_eq!(d.values.len(), 1);
        assert_eq!(d.errors.len(), 1);
        assert_eq!(d.errors[0].line, 1);
    }

    #[test]
    fn encode_then_decode() {
        let a: Vec<CallRecord> = (0..3)
            .map(|_| CallRecord::new(Uuid::now_v7(), 1_764_000_000_000_000, "n", "GET", "/"))
            .collect();
        let mut buf = Vec::new();
        encode_lines(&a, &mut buf).unwrap();
        let d = decode_lines::<CallRecord>(&buf);
        assert_eq!(d.values, a);
    }
}
