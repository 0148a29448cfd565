//! Turning an ingest request's body into checked records: content type, encoding, size limits,
//! then per-line NDJSON decoding. Pure functions of the request; no I/O.

use bytes::Bytes;
use gatewatch_model::ndjson::{decode_lines, unknown_fields, LineError, Validate};
use serde::de::DeserializeOwned;
use std::io::Read;

/// Why a body was refused as a whole. Each maps to one HTTP status and a stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    #[error("header 'content-type' is {0:?}; send NDJSON as 'application/x-ndjson'")]
    ContentType(String),
    #[error("header 'content-encoding' is {0:?}; supported: identity, gzip, zstd")]
    ContentEncoding(String),
    #[error("body is larger than {limit} bytes{}", if *.decompressed { " once decompressed" } else { "" })]
    TooLarge { limit: usize, decompressed: bool },
    #[error("body: {encoding} stream is truncated or corrupt: {detail}")]
    Corrupt {
        encoding: &'static str,
        detail: String,
    },
    #[error("header '{header}' is not a UUID: {value:?}")]
    BadHeader { header: &'static str, value: String },
    #[error("no line of the body is a valid record ({} rejected)", .0.len())]
    NoValidLine(Vec<LineError>),
}

impl BodyError {
    /// The HTTP status for this refusal.
    pub fn status(&self) -> u16 {
        match self {
            BodyError::ContentType(_) | BodyError::ContentEncoding(_) => 415,
            BodyError::TooLarge { .. } => 413,
            _ => 400,
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            BodyError::ContentType(_) => "unsupported_content_type",
            BodyError::ContentEncoding(_) => "unsupported_content_encoding",
            BodyError::TooLarge { .. } => "body_too_large",
            BodyError::Corrupt { .. } => "corrupt_body",
            BodyError::BadHeader { .. } => "bad_header",
            BodyError::NoValidLine(_) => "no_valid_line",
        }
    }
}

/// How the body is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Zstd,
}

/// Checks `Content-Type` (the media type; parameters such as `charset` are ignored).
pub fn check_content_type(value: Option<&str>) -> Result<(), BodyError> {
    let v = value.unwrap_or("");
    let media = v
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/x-jsonlines" => Ok(()),
        _ => Err(BodyError::ContentType(v.to_string())),
    }
}

/// Reads `Content-Encoding`.
pub fn parse_encoding(value: Option<&str>) -> Result<Encoding, BodyError> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("identity") => Ok(Encoding::Identity),
        Some("gzip") | Some("x-gzip") => Ok(Encoding::Gzip),
        Some("zstd") => Ok(Encoding::Zstd),
        Some(_) => Err(BodyError::ContentEncoding(value.unwrap_or("").to_string())),
    }
}

/// Decompresses up to `limit` bytes.
pub fn decompress(body: Bytes, enc: Encoding, limit: usize) -> Result<Bytes, BodyError> {
    let (name, reader): (&'static str, Box<dyn Read + '_>) = match enc {
        Encoding::Identity => return Ok(body),
        Encoding::Gzip => (
            "gzip",
            Box::new(flate2::read::MultiGzDecoder::new(&body[..])),
        ),
        Encoding::Zstd => (
            "zstd",
            Box::new(zstd::stream::read::Decoder::new(&body[..]).map_err(|e| {
                BodyError::Corrupt {
                    encoding: "zstd",
                    detail: e.to_string(),
                }
            })?),
        ),
    };
    let mut out = Vec::with_capacity((body.len() * 6).min(limit));
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Corrupt {
            encoding: name,
            detail: e.to_string(),
        })?;
    if out.len() > limit {
        return Err(BodyError::TooLarge {
            limit,
            decompressed: true,
        });
    }
    Ok(Bytes::from(out))
}

/// A decoded body: the good values, the bytes to log (only the good lines), the bad lines.
#[derive(Debug)]
pub struct Decoded<T> {
    pub values: Vec<T>,
    pub payload: Bytes,
    pub errors: Vec<LineError>,
    /// Fields of the batch's first good line that this version does not know (a newer
    /// sender): kept out of the rows, named in the answer. One line is looked at, not all:
    /// a sender's lines share one shape.
    pub ignored_fields: Vec<String>,
}

/// Decodes NDJSON lines; the payload keeps exactly the good lines. A body with lines but no
/// good one is refused whole.
pub fn decode_body<T: DeserializeOwned + Validate>(body: Bytes) -> Result<Decoded<T>, BodyError> {
    let batch = decode_lines::<T>(&body);
    if batch.values.is_empty() && !batch.errors.is_empty() {
        return Err(BodyError::NoValidLine(batch.errors));
    }
    let ignored_fields = batch
        .spans
        .first()
        .map(|span| unknown_fields::<T>(&body[span.clone()]))
        .unwrap_or_default();
    let payload = if batch.errors.is_empty() {
        body
    } else {
        let mut p = Vec::with_capacity(body.len());
        for span in &batch.spans {
            p.extend_from_slice(&body[span.clone()]);
            p.push(b'\n');
        }
        Bytes::from(p)
    };
    Ok(Decoded {
        values: batch.values,
        payload,
        errors: batch.errors,
        ignored_fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatewatch_model::CallRecord;
    use std::io::Write;

    #[test]
    fn content_types() {
        assert!(check_content_type(Some("application/x-ndjson")).is_ok());
        assert!(check_content_type(Some("application/x-ndjson; charset=utf-8")).is_ok());
        assert_eq!(
            check_content_type(Some("text/html")).unwrap_err().status(),
            415
        );
        assert!(check_content_type(None).is_err());
    }

    #[test]
    fn encodings() {
        assert_eq!(parse_encoding(None).unwrap(), Encoding::Identity);
        assert_eq!(parse_encoding(Some("GZIP")).unwrap(), Encoding::Gzip);
        assert_eq!(
            parse_encoding(Some("br")).unwrap_err().code(),
            "unsupported_content_encoding"
        );
    }

    #[test]
    fn truncated_gzip_is_named() {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&vec![b'x'; 10_000]).unwrap();
        let gz = e.finish().unwrap();
        let cut = Bytes::copy_from_slice(&gz[..gz.len() / 2]);
        let err = decompress(cut, Encoding::Gzip, 1 << 20).unwrap_err();
        assert_eq!(err.code(), "corrupt_body");
        assert!(err.to_string().contains("gzip"), "{err}");
    }

    #[test]
    fn decompression_bomb_is_cut_at_the_limit() {
        let z = zstd::encode_all(&vec![b'a'; 5 << 20][..], 3).unwrap();
        let err = decompress(Bytes::from(z), Encoding::Zstd, 1 << 20).unwrap_err();
        assert_eq!(err.status(), 413);
    }

    #[test]
    fn payload_keeps_only_good_lines() {
        let good = serde_json::to_string(&CallRecord::new(
            uuid::Uuid::now_v7(),
            1_764_000_000_000_000,
            "n",
            "GET",
            "/",
        ))
        .unwrap();
        let body = format!("{good}\nnope\n{good}\n");
        let d = decode_body::<CallRecord>(Bytes::from(body)).unwrap();
        assert_eq!(d.values.len(), 2);
        assert_eq!(d.errors.len(), 1);
        assert_eq!(d.payload, Bytes::from(format!("{good}\n{good}\n")));
        let all_bad = decode_body::<CallRecord>(Bytes::from_static(b"x\ny\n")).unwrap_err();
        assert_eq!(all_bad.code(), "no_valid_line");
    }
}
