//! A batch as the shipper sends it and the spool keeps it (its own module, so that the spool
//! need not know the shipper).

use std::io;

use bytes::Bytes;
use uuid::Uuid;

/// zstd level of batch bodies: level 1 is several times faster than the default and still
/// shrinks repetitive NDJSON about tenfold.
const ZSTD_LEVEL: i32 = 1;

/// What a batch carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Records,
    Samples,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Records => "records",
            Kind::Samples => "samples",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "records" => Some(Kind::Records),
            "samples" => Some(Kind::Samples),
            _ => None,
        }
    }
}

/// One encoded batch: the exact HTTP body and what it is.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    pub kind: Kind,
    pub id: Uuid,
    pub body: Bytes,
    /// Records or samples in it.
    pub count: usize,
    /// Sent with the replay mark: a half of a batch that came from the spool.
    pub replay: bool,
    /// The journal segments its records came from; released once it is handed on
    /// (delivered, refused for good, spooled, or dropped and counted).
    pub journal: crate::journal::Refs,
}

/// zstd with the content checksum on, so a damaged spool file is detected.
pub(crate) fn compress(raw: &[u8]) -> io::Result<Vec<u8>> {
    let mut c = zstd::bulk::Compressor::new(ZSTD_LEVEL)?;
    c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
    c.compress(raw)
}
