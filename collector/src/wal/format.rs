//! The entry layout (see the module doc of [`super`]) and a checking scanner.

use bytes::{BufMut, Bytes};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use uuid::Uuid;

use super::WalError;

/// What a batch holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    Calls = 1,
    NodeSamples = 2,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Calls),
            2 => Some(Kind::NodeSamples),
            _ => None,
        }
    }
}

/// Set on an entry whose rows may already be stored (a shipper's resend, a replay): the
/// inserter checks ClickHouse before inserting it.
pub const FLAG_MAYBE_STORED: u8 = 1;

/// An entry's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryHeader {
    pub seq: u64,
    pub batch_id: Uuid,
    pub kind: Kind,
    pub flags: u8,
    pub count: u32,
}

/// length + crc
pub(crate) const PREFIX: usize = 8;
/// seq + batch id + kind + flags + count
pub(crate) const HEADER: usize = 8 + 16 + 1 + 1 + 4;
/// Entries larger than this are corrupt by definition (the ingest body cap is far below).
pub(crate) const MAX_PAYLOAD: usize = 1 << 30;

pub(crate) fn encode(h: &EntryHeader, payload: &[u8], out: &mut Vec<u8>) {
    let mut body = Vec::with_capacity(HEADER);
    body.put_u64_le(h.seq);
    body.put_slice(h.batch_id.as_bytes());
    body.put_u8(h.kind as u8);
    body.put_u8(h.flags);
    body.put_u32_le(h.count);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&body), payload);
    out.put_u32_le(payload.len() as u32);
    out.put_u32_le(crc);
    out.extend_from_slice(&body);
    out.extend_from_slice(payload);
}

/// Reads one entry. `Ok(None)` at a clean end of file; `Err(Bad)` for a torn or corrupt entry.
pub(crate) fn read_entry(r: &mut impl Read) -> Result<Option<(EntryHeader, Bytes)>, ReadError> {
    let mut prefix = [0u8; PREFIX];
    match read_full(r, &mut prefix)? {
        0 => return Ok(None),
        n if n < PREFIX => return Err(ReadError::Bad),
        _ => {}
    }
    let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    let crc = u32::from_le_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]);
    if len > MAX_PAYLOAD {
        return Err(ReadError::Bad);
    }
    let mut rest = vec![0u8; HEADER + len];
    if read_full(r, &mut rest)? < rest.len() {
        return Err(ReadError::Bad);
    }
    if crc32c::crc32c(&rest) != crc {
        return Err(ReadError::Bad);
    }
    let seq = u64::from_le_bytes(rest[0..8].try_into().map_err(|_| ReadError::Bad)?);
    let batch_id = Uuid::from_slice(&rest[8..24]).map_err(|_| ReadError::Bad)?;
    let kind = Kind::from_u8(rest[24]).ok_or(ReadError::Bad)?;
    let flags = rest[25];
    let count = u32::from_le_bytes(rest[26..30].try_into().map_err(|_| ReadError::Bad)?);
    let payload = Bytes::from(rest).slice(HEADER..);
    Ok(Some((
        EntryHeader {
            seq,
            batch_id,
            kind,
            flags,
            count,
        },
        payload,
    )))
}

#[derive(Debug)]
pub(crate) enum ReadError {
    Bad,
    Io(io::Error),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

pub(crate) struct Scan {
    pub headers: Vec<EntryHeader>,
    /// Bytes up to the end of the last good entry.
    pub good_bytes: u64,
    /// A torn or corrupt entry follows `good_bytes`.
    pub bad_tail: bool,
}

/// Checks every entry of a segment.
pub(crate) fn scan_segment(path: &Path) -> Result<Scan, WalError> {
    let f = File::open(path).map_err(|e| WalError::io(path, e))?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let mut scan = Scan {
        headers: Vec::new(),
        good_bytes: 0,
        bad_tail: false,
    };
    let mut expected: Option<u64> = None;
    loop {
        match read_entry(&mut r) {
            Ok(None) => break,
            Ok(Some((h, payload))) => {
                // Sequence numbers must follow each other; a jump means garbage that happened
                // to pass the CRC, which we treat as corruption too.
                if expected.is_some_and(|e| e != h.seq) {
                    scan.bad_tail = true;
                    break;
                }
                expected = Some(h.seq + 1);
                scan.good_bytes += (PREFIX + HEADER + payload.len()) as u64;
                scan.headers.push(h);
            }
            Err(ReadError::Bad) => {
                scan.bad_tail = true;
                break;
            }
            Err(ReadError::Io(e)) => return Err(WalError::io(path, e)),
        }
    }
    Ok(scan)
}
