//! The writer thread: group commit of appends.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

use super::format::encode;
use super::{lock, segment_path, AppendReq, Segment, Shared, WalError};

/// Appends waiting beyond this many bytes wait for the next round.
const GROUP_BYTES: usize = 16 << 20;

pub(crate) fn start<T: Send + Sync + 'static>(
    shared: Arc<Shared<T>>,
    segment_bytes: u64,
    last_seq: u64,
    rx: mpsc::Receiver<AppendReq<T>>,
    durable: watch::Sender<u64>,
) -> Result<(), WalError> {
    let (file, seg_bytes) = {
        let mut segs = lock(&shared.segments);
        if segs.is_empty() {
            let path = segment_path(&shared.dir, last_seq + 1);
            let f = create_segment(&shared.dir, &path)?;
            segs.push(Segment {
                first_seq: last_seq + 1,
                path,
                bytes: 0,
            });
            (f, 0)
        } else {
            let last = segs.last().map(|s| (s.path.clone(), s.bytes));
            let (path, bytes) = last.unwrap_or_default();
            let f = OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(|e| WalError::io(&path, e))?;
            (f, bytes)
        }
    };
    let mut w = Writer {
        shared,
        segment_bytes,
        next_seq: last_seq + 1,
        file,
        seg_bytes,
        durable,
        buf: Vec::with_capacity(1 << 20),
    };
    std::thread::Builder::new()
        .name("wal-writer".into())
        .spawn(move || w.run(rx))
        .map_err(|e| WalError::io(std::path::Path::new("wal-writer thread"), e))?;
    Ok(())
}

struct Writer<T> {
    shared: Arc<Shared<T>>,
    segment_bytes: u64,
    next_seq: u64,
    file: File,
    seg_bytes: u64,
    durable: watch::Sender<u64>,
    buf: Vec<u8>,
}

impl<T: Send + Sync + 'static> Writer<T> {
    fn run(&mut self, mut rx: mpsc::Receiver<AppendReq<T>>) {
        while let Some(first) = rx.blocking_recv() {
            let mut group = vec![first];
            let mut bytes = group[0].payload.len();
            while bytes < GROUP_BYTES {
                match rx.try_recv() {
                    Ok(req) => {
                        bytes += req.payload.len();
                        group.push(req);
                    }
                    Err(_) => break,
                }
            }
            self.commit(group);
            if self.seg_bytes >= self.segment_bytes {
                if let Err(e) = self.rotate() {
                    tracing::error!(error = %e, "cannot start a new write-ahead log segment");
                }
            }
        }
    }

    fn commit(&mut self, mut group: Vec<AppendReq<T>>) {
        self.buf.clear();
        let first_seq = self.next_seq;
        for req in &mut group {
            req.header.seq = self.next_seq;
            self.next_seq += 1;
            encode(&req.header, &req.payload, &mut self.buf);
        }
        let result = self
            .file
            .write_all(&self.buf)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = result {
            // Cut back whatever part of the group reached the file: those seqs are reused.
            let _ = self.file.set_len(self.seg_bytes);
            self.next_seq = first_seq;
            let path = lock(&self.shared.segments)
                .last()
                .map(|s| s.path.clone())
                .unwrap_or_default();
            tracing::error!(path = %path.display(), error = %e, "write-ahead log write failed");
            for req in group {
                let _ = req.reply.send(Err(WalError::io(
                    &path,
                    std::io::Error::new(e.kind(), e.to_string()),
                )));
            }
            return;
        }
        let n = self.buf.len() as u64;
        self.seg_bytes += n;
        self.shared.disk_bytes.fetch_add(n, Ordering::Relaxed);
        if let Some(s) = lock(&self.shared.segments).last_mut() {
            s.bytes = self.seg_bytes;
        }
        {
            let mut cache = lock(&self.shared.cache);
            for req in &mut group {
                let len = req.payload.len() as u64;
                if let Some(v) = req.cached.take() {
                    if cache.bytes + len <= self.shared.cache_bytes {
                        cache.bytes += len;
                        cache.map.insert(req.header.seq, (v, len));
                    }
                }
            }
        }
        self.durable.send_replace(self.next_seq - 1);
        for req in group {
            let _ = req.reply.send(Ok(req.header.seq));
        }
    }

    fn rotate(&mut self) -> Result<(), WalError> {
        let path = segment_path(&self.shared.dir, self.next_seq);
        let f = create_segment(&self.shared.dir, &path)?;
        self.file = f;
        self.seg_bytes = 0;
        lock(&self.shared.segments).push(Segment {
            first_seq: self.next_seq,
            path,
            bytes: 0,
        });
        Ok(())
    }
}

fn create_segment(dir: &std::path::Path, path: &std::path::Path) -> Result<File, WalError> {
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| WalError::io(path, e))?;
    // The new name must survive a crash too.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| WalError::io(dir, e))?;
    let _ = fs::metadata(path);
    Ok(f)
}
