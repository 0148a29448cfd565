//! Reading the log in order, from the first unacknowledged entry.

use bytes::Bytes;
use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::sync::Arc;
use tokio::sync::watch;

use super::format::{read_entry, EntryHeader, ReadError};
use super::{lock, Shared, WalError};

/// One entry read back, with the decoded value the ingest path left in the cache, if any.
pub struct Entry<T> {
    pub header: EntryHeader,
    pub payload: Bytes,
    pub cached: Option<Arc<T>>,
}

/// Reads entries in sequence order; only entries already on disk (durable) are returned.
pub struct WalReader<T> {
    shared: Arc<Shared<T>>,
    durable: watch::Receiver<u64>,
    next_seq: u64,
    open: Option<OpenSegment>,
}

struct OpenSegment {
    first_seq: u64,
    reader: BufReader<File>,
}

impl<T> WalReader<T> {
    pub(crate) fn new(shared: Arc<Shared<T>>, durable: watch::Receiver<u64>, acked: u64) -> Self {
        WalReader {
            shared,
            durable,
            next_seq: acked + 1,
            open: None,
        }
    }

    /// The sequence number the next entry will have.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Waits for the next entry.
    pub async fn next(&mut self) -> Result<Entry<T>, WalError> {
        loop {
            if let Some(e) = self.try_next()? {
                return Ok(e);
            }
            if self.durable.changed().await.is_err() {
                return Err(WalError::Closed);
            }
        }
    }

    /// The next entry if it is already on disk.
    pub fn try_next(&mut self) -> Result<Option<Entry<T>>, WalError> {
        loop {
            if self.next_seq > *self.durable.borrow() {
                return Ok(None);
            }
            if self.open.is_none() {
                self.open_segment_for(self.next_seq)?;
            }
            let Some(seg) = self.open.as_mut() else {
                return Ok(None);
            };
            let seg_first = seg.first_seq;
            match read_entry(&mut seg.reader) {
                Ok(Some((h, payload))) if h.seq < self.next_seq => {
                    let _ = payload;
                }
                Ok(Some((header, payload))) => {
                    if header.seq != self.next_seq {
                        tracing::error!(
                            expected = self.next_seq,
                            found = header.seq,
                            "write-ahead log entries missing"
                        );
                    }
                    self.next_seq = header.seq + 1;
                    let cached = {
                        let mut c = lock(&self.shared.cache);
                        c.map.remove(&header.seq).map(|(v, len)| {
                            c.bytes -= len;
                            v
                        })
                    };
                    return Ok(Some(Entry {
                        header,
                        payload,
                        cached,
                    }));
                }
                Ok(None) | Err(ReadError::Bad) => {
                    // End of this segment (or a corrupt rest of it): go on with the next one.
                    let next_first = lock(&self.shared.segments)
                        .iter()
                        .map(|s| s.first_seq)
                        .find(|&f| f > seg_first);
                    match next_first {
                        Some(f) => {
                            if f > self.next_seq {
                                tracing::error!(
                                    from = self.next_seq,
                                    to = f - 1,
                                    "write-ahead log entries lost to corruption are skipped"
                                );
                                self.next_seq = f;
                            }
                            self.open = None;
                        }
                        None => return Ok(None),
                    }
                }
                Err(ReadError::Io(e)) => {
                    let path = self.segment_path(seg_first);
                    self.open = None;
                    return Err(WalError::io(&path, e));
                }
            }
        }
    }

    fn segment_path(&self, first_seq: u64) -> std::path::PathBuf {
        super::segment_path(&self.shared.dir, first_seq)
    }

    fn open_segment_for(&mut self, seq: u64) -> Result<(), WalError> {
        let first = lock(&self.shared.segments)
            .iter()
            .filter(|s| s.first_seq <= seq)
            .map(|s| s.first_seq)
            .next_back();
        let Some(first_seq) = first else {
            return Ok(());
        };
        let path = self.segment_path(first_seq);
        let mut f = File::open(&path).map_err(|e| WalError::io(&path, e))?;
        f.seek(SeekFrom::Start(0))
            .map_err(|e| WalError::io(&path, e))?;
        self.open = Some(OpenSegment {
            first_seq,
            reader: BufReader::with_capacity(1 << 20, f),
        });
        Ok(())
    }
}
