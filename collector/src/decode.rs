//! Turning an ingest request's body into checked records: content type, encoding, size limits,
//! then per-line NDJSON decoding, streamed (decompressed a chunk at a time, each line decoded as
//! it completes) so that what one request costs is bounded by [`Limits`], not by what the body
//! claims. Pure functions of the request; no I/O.

use bytes::Bytes;
use gatewatch_model::ndjson::{decode_line, unknown_fields, LineError, Validate};
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
    #[error("no line of the body is a valid record ({rejected} rejected)")]
    NoValidLine {
        /// The first lines rejected (at most [`MAX_LISTED_ERRORS`]).
        errors: Vec<LineError>,
        rejected: usize,
    },
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
            BodyError::NoValidLine { .. } => "no_valid_line",
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

/// Longest NDJSON line taken: 1 MiB. A longer line is a line error (and is skipped without
/// being kept in memory); a record as a gateway writes it is a few KiB, a few hundred at most.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// At most this many rejected lines are listed in an answer; the rest are counted.
pub const MAX_LISTED_ERRORS: usize = 100;
/// zstd frames that need a window over 2^23 bytes (8 MiB) to decode are refused: the window is
/// memory the decoder must hold, and a 1 KB frame may ask for 2 GiB. Gateways compress at
/// level 1 (a 512 KiB window); `zstd -19` needs 8 MiB.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 23;
/// Decompressed bytes read at a time.
const CHUNK: usize = 64 * 1024;

/// The work one request may cause.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Decompressed bytes at most; reading stops as soon as the body passes it (413).
    pub max_decoded_bytes: usize,
    /// Longest line.
    pub max_line_bytes: usize,
    /// Line errors listed at most.
    pub max_listed_errors: usize,
}

impl Limits {
    pub fn new(max_decoded_bytes: usize) -> Limits {
        Limits {
            max_decoded_bytes,
            max_line_bytes: MAX_LINE_BYTES,
            max_listed_errors: MAX_LISTED_ERRORS,
        }
    }
}

/// A reader of `body`'s decompressed bytes. Nothing is decompressed yet.
pub fn decoder<'a>(body: &'a [u8], enc: Encoding) -> Result<Box<dyn Read + Send + 'a>, BodyError> {
    Ok(match enc {
        Encoding::Identity => Box::new(body),
        Encoding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(body)),
        Encoding::Zstd => {
            let mut d =
                zstd::stream::read::Decoder::with_buffer(body).map_err(|e| corrupt(enc, e))?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(|e| corrupt(enc, e))?;
            Box::new(d)
        }
    })
}

fn corrupt(enc: Encoding, e: std::io::Error) -> BodyError {
    let detail = e.to_string();
    let detail = if detail.contains("too much memory") {
        format!(
            "{detail} (frames needing a window over {} MiB are refused)",
            1 << (ZSTD_WINDOW_LOG_MAX - 20)
        )
    } else {
        detail
    };
    BodyError::Corrupt {
        encoding: enc.name(),
        detail,
    }
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Zstd => "zstd",
        }
    }
}

/// A decoded body: the good values, the bytes to log (only the good lines), the bad lines.
#[derive(Debug)]
pub struct Decoded<T> {
    pub values: Vec<T>,
    /// The good lines, each ending in `\n`, as they came (a trailing `\r` dropped).
    pub payload: Bytes,
    /// The first [`Limits::max_listed_errors`] rejected lines.
    pub errors: Vec<LineError>,
    /// Every rejected line, listed or not.
    pub rejected: usize,
    /// Fields of the batch's first good line that this version does not know (a newer
    /// sender): kept out of the rows, named in the answer. One line is looked at, not all:
    /// a sender's lines share one shape.
    pub ignored_fields: Vec<String>,
}

/// Reads NDJSON lines from `reader` (the decompressing reader of [`decoder`]) and decodes each
/// as a `T` that must also pass `check`; the payload keeps exactly the good lines. A body with
/// lines but no good one is refused whole.
///
/// Memory stays bounded whatever the body: the good lines (at most `max_decoded_bytes`), one
/// line in progress (at most `max_line_bytes` plus one chunk) and the listed errors; a bad
/// line costs nothing once it is counted. Reading stops as soon as the decompressed size
/// passes `max_decoded_bytes`.
pub fn decode_stream<T, C>(
    mut reader: impl Read,
    enc: Encoding,
    limits: Limits,
    size_hint: usize,
    check: C,
) -> Result<Decoded<T>, BodyError>
where
    T: DeserializeOwned + Validate,
    C: Fn(&T) -> Result<(), (String, String)>,
{
    let mut st = LineState::<T, C> {
        limits,
        check,
        values: Vec::new(),
        errors: Vec::new(),
        rejected: 0,
        ignored_fields: None,
        line_no: 0,
    };
    // `buf[..kept]` holds the good lines so far, `buf[kept..]` the line in progress. Good lines
    // are moved down over the bad ones as they are found, so a bad line's bytes are reused.
    let mut buf: Vec<u8> = Vec::with_capacity(size_hint.min(limits.max_decoded_bytes) + CHUNK);
    let mut kept = 0usize;
    let mut total = 0usize;
    // Inside a line that has passed the line cap: its bytes are dropped up to its newline.
    let mut skipping = false;
    loop {
        let scan_from = buf.len();
        buf.resize(scan_from + CHUNK, 0);
        let n = loop {
            match reader.read(&mut buf[scan_from..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(corrupt(enc, e)),
            }
        };
        buf.truncate(scan_from + n);
        total += n;
        if total > limits.max_decoded_bytes {
            return Err(BodyError::TooLarge {
                limit: limits.max_decoded_bytes,
                decompressed: enc != Encoding::Identity,
            });
        }
        if n == 0 {
            // The last line may lack its newline.
            if !skipping && buf.len() > kept {
                let (start, end) = (kept, buf.len());
                // Room for the newline the kept line gets.
                buf.push(b'\n');
                st.line_no += 1;
                st.take_line(&mut buf, &mut kept, start, end);
            }
            buf.truncate(kept);
            break;
        }
        // Complete lines in what was read; `start` is where the line in progress begins.
        let mut start = kept;
        let mut at = scan_from;
        while let Some(i) = memchr::memchr(b'\n', &buf[at..]) {
            let end = at + i;
            if skipping {
                // The end of a line already counted as too long.
                skipping = false;
            } else {
                st.line_no += 1;
                if end - start > limits.max_line_bytes {
                    st.reject_long();
                } else {
                    st.take_line(&mut buf, &mut kept, start, end);
                }
            }
            at = end + 1;
            start = at;
        }
        // The line in progress moves down to follow the kept lines, unless it is too long
        // already: then it is counted now and its bytes dropped up to its newline.
        let partial = buf.len() - start;
        if !skipping && partial > limits.max_line_bytes {
            st.line_no += 1;
            st.reject_long();
            skipping = true;
        }
        if skipping {
            buf.truncate(kept);
        } else {
            buf.copy_within(start.., kept);
            buf.truncate(kept + partial);
        }
    }
    let LineState {
        values,
        errors,
        rejected,
        ignored_fields,
        ..
    } = st;
    if values.is_empty() && rejected > 0 {
        return Err(BodyError::NoValidLine { errors, rejected });
    }
    // The payload lives on in the log's cache, which counts its length: do not let a generous
    // size hint keep a much larger allocation alive with it.
    if buf.capacity() > buf.len() + buf.len() / 2 + CHUNK {
        buf.shrink_to_fit();
    }
    Ok(Decoded {
        values,
        payload: Bytes::from(buf),
        errors,
        rejected,
        ignored_fields: ignored_fields.unwrap_or_default(),
    })
}

struct LineState<T, C> {
    limits: Limits,
    check: C,
    values: Vec<T>,
    errors: Vec<LineError>,
    rejected: usize,
    ignored_fields: Option<Vec<String>>,
    line_no: usize,
}

impl<T, C> LineState<T, C>
where
    T: DeserializeOwned + Validate,
    C: Fn(&T) -> Result<(), (String, String)>,
{
    /// Decodes the line `buf[start..end]` and, if it is good, moves it down to `buf[kept..]`
    /// (`kept <= start`) followed by a newline.
    fn take_line(&mut self, buf: &mut [u8], kept: &mut usize, start: usize, end: usize) {
        let line = &buf[start..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let explain = self.errors.len() < self.limits.max_listed_errors;
        // Past the listed errors a line that cannot be a JSON object is only counted: a body
        // of garbage then costs a byte look per line, not a failed parse.
        if !explain && line.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            self.rejected += 1;
            return;
        }
        let decoded = decode_line::<T>(line, explain).and_then(|v| (self.check)(&v).map(|()| v));
        match decoded {
            Ok(v) => {
                if self.ignored_fields.is_none() {
                    self.ignored_fields = Some(unknown_fields::<T>(line));
                }
                let len = line.len();
                self.values.push(v);
                buf.copy_within(start..start + len, *kept);
                buf[*kept + len] = b'\n';
                *kept += len + 1;
            }
            Err((field, message)) => self.reject(field, message),
        }
    }

    fn reject_long(&mut self) {
        self.reject(
            String::new(),
            format!(
                "line is longer than {} bytes (the line cap); skipped",
                self.limits.max_line_bytes
            ),
        );
    }

    fn reject(&mut self, field: String, message: String) {
        self.rejected += 1;
        if self.errors.len() < self.limits.max_listed_errors {
            self.errors.push(LineError {
                line: self.line_no,
                field,
                message,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatewatch_model::CallRecord;
    use std::io::Write;

    fn good_line() -> String {
        serde_json::to_string(&CallRecord::new(
            uuid::Uuid::now_v7(),
            1_764_000_000_000_000,
            "n",
            "GET",
            "/",
        ))
        .unwrap()
    }

    fn decode(
        body: &[u8],
        enc: Encoding,
        limits: Limits,
    ) -> Result<Decoded<CallRecord>, BodyError> {
        decode_stream(
            decoder(body, enc)?,
            enc,
            limits,
            body.len(),
            |_: &CallRecord| Ok(()),
        )
    }

    fn plain(body: &[u8]) -> Result<Decoded<CallRecord>, BodyError> {
        decode(body, Encoding::Identity, Limits::new(64 << 20))
    }

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
        e.write_all(format!("{}\n", good_line()).repeat(100).as_bytes())
            .unwrap();
        let gz = e.finish().unwrap();
        let err = decode(&gz[..gz.len() / 2], Encoding::Gzip, Limits::new(1 << 20)).unwrap_err();
        assert_eq!(err.code(), "corrupt_body");
        assert!(err.to_string().contains("gzip"), "{err}");
    }

    #[test]
    fn decompression_bomb_is_cut_at_the_limit() {
        let z = zstd::encode_all(&vec![b'a'; 5 << 20][..], 3).unwrap();
        let err = decode(&z, Encoding::Zstd, Limits::new(1 << 20)).unwrap_err();
        assert_eq!(err.status(), 413);
        assert!(err.to_string().contains("once decompressed"), "{err}");
        let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        g.write_all(&vec![b'\n'; 5 << 20]).unwrap();
        let err = decode(&g.finish().unwrap(), Encoding::Gzip, Limits::new(1 << 20)).unwrap_err();
        assert_eq!(err.status(), 413);
    }

    #[test]
    fn a_zstd_frame_asking_for_a_huge_window_is_refused() {
        let mut c = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        c.set_parameter(zstd::zstd_safe::CParameter::WindowLog(27))
            .unwrap();
        c.set_pledged_src_size(None).unwrap();
        c.write_all(&vec![b'x'; 1 << 20]).unwrap();
        let z = c.finish().unwrap();
        let err = decode(&z, Encoding::Zstd, Limits::new(64 << 20)).unwrap_err();
        assert_eq!(err.code(), "corrupt_body", "{err}");
        assert!(err.to_string().contains("8 MiB"), "{err}");
    }

    #[test]
    fn payload_keeps_only_good_lines() {
        let good = good_line();
        let body = format!("{good}\nnope\n\n{good}\r\n{good}");
        let d = plain(body.as_bytes()).unwrap();
        assert_eq!(d.values.len(), 3);
        assert_eq!(d.rejected, 1);
        assert_eq!(d.errors[0].line, 2);
        assert_eq!(d.payload, Bytes::from(format!("{good}\n{good}\n{good}\n")));
        let all_bad = plain(b"x\ny\n").unwrap_err();
        assert_eq!(all_bad.code(), "no_valid_line");
    }

    #[test]
    fn lines_are_found_across_chunks_whatever_their_length() {
        // Lines of many lengths, good and bad, so boundaries fall everywhere in a chunk.
        let mut body = String::new();
        let mut want = String::new();
        let mut bad = Vec::new();
        let mut line_no = 0;
        for i in 0..3000 {
            line_no += 1;
            if i % 7 == 3 {
                body.push_str(&"y".repeat(i * 13 % 5000));
                body.push('\n');
                bad.push(line_no);
            } else {
                let mut r =
                    CallRecord::new(uuid::Uuid::now_v7(), 1_764_000_000_000_000, "n", "GET", "/");
                r.path = "/".to_string() + &"p".repeat(i * 31 % 9000);
                let l = serde_json::to_string(&r).unwrap();
                body.push_str(&l);
                body.push('\n');
                want.push_str(&l);
                want.push('\n');
            }
        }
        let d = plain(body.as_bytes()).unwrap();
        assert_eq!(d.payload, Bytes::from(want.clone()));
        assert_eq!(d.rejected, bad.len());
        let listed: Vec<usize> = d.errors.iter().map(|e| e.line).collect();
        assert_eq!(listed, bad[..MAX_LISTED_ERRORS]);
        // The same through zstd and gzip.
        let z = zstd::encode_all(body.as_bytes(), 1).unwrap();
        let dz = decode(&z, Encoding::Zstd, Limits::new(64 << 20)).unwrap();
        assert_eq!(dz.payload, Bytes::from(want.clone()));
        let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        g.write_all(body.as_bytes()).unwrap();
        let dg = decode(&g.finish().unwrap(), Encoding::Gzip, Limits::new(64 << 20)).unwrap();
        assert_eq!(dg.values.len(), dz.values.len());
    }

    #[test]
    fn errors_are_listed_up_to_the_cap_and_counted_beyond() {
        let body = "x\n".repeat(10_000) + &good_line();
        let d = plain(body.as_bytes()).unwrap();
        assert_eq!(d.values.len(), 1);
        assert_eq!(d.rejected, 10_000);
        assert_eq!(d.errors.len(), MAX_LISTED_ERRORS);
        assert_eq!(d.errors[99].line, 100);
        let err = plain("x\n".repeat(10_000).as_bytes()).unwrap_err();
        match err {
            BodyError::NoValidLine { errors, rejected } => {
                assert_eq!((errors.len(), rejected), (MAX_LISTED_ERRORS, 10_000));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_line_over_the_cap_is_an_error_and_the_next_lines_are_kept() {
        let good = good_line();
        let limits = Limits {
            max_line_bytes: 1000,
            ..Limits::new(64 << 20)
        };
        // Longer than the cap, within one chunk; longer than a chunk; and at the end unended.
        let body = format!(
            "{good}\n{}\n{good}\n{}\n{good}\n{}",
            "a".repeat(1001),
            "b".repeat(3 * CHUNK),
            "c".repeat(2 * CHUNK)
        );
        let d = decode(body.as_bytes(), Encoding::Identity, limits).unwrap();
        assert_eq!(d.values.len(), 3);
        let lines: Vec<usize> = d.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 4, 6]);
        assert!(
            d.errors[0].message.contains("longer than 1000 bytes"),
            "{:?}",
            d.errors
        );
        assert_eq!(d.payload, Bytes::from(format!("{good}\n{good}\n{good}\n")));
        // A line exactly at the cap is decoded.
        let limits = Limits {
            max_line_bytes: good.len(),
            ..Limits::new(64 << 20)
        };
        assert_eq!(
            decode(good.as_bytes(), Encoding::Identity, limits)
                .unwrap()
                .values
                .len(),
            1
        );
    }

    #[test]
    fn the_check_refuses_lines_by_field() {
        let good = good_line();
        let body = format!("{good}\n{good}\n");
        let n = std::cell::Cell::new(0);
        let d = decode_stream(
            decoder(body.as_bytes(), Encoding::Identity).unwrap(),
            Encoding::Identity,
            Limits::new(1 << 20),
            0,
            |_: &CallRecord| {
                n.set(n.get() + 1);
                if n.get() == 2 {
                    Err(("path".to_string(), "too long".to_string()))
                } else {
                    Ok(())
                }
            },
        )
        .unwrap();
        assert_eq!(d.values.len(), 1);
        assert_eq!((d.errors[0].line, d.errors[0].field.as_str()), (2, "path"));
    }
}
