//! The journal: every call's record on disk before its answer's last byte leaves, so a killed
//! gateway loses no record of a call it answered.
//!
//! # What it promises
//!
//! - **Process crash (SIGKILL, panic, OOM kill).** The record of a call is written, as the
//!   very NDJSON line the collector gets ([`crate::record_json`]), to the journal with one
//!   `write(2)` when the call ends — for a response body of known length when its last frame
//!   is handed to hyper, i.e. just *before* hyper writes the last byte (otherwise just after
//!   its end). Once `write` has returned, the bytes are in the kernel's page cache, which
//!   outlives the process. After a restart the gateway replays what the journal holds and
//!   was not yet handed on (see *Recovery*). So every answered call has its row, and a call
//!   whose answer the kill cut short may have one too (at most one per open connection: a
//!   record made durable just before its answer went out).
//! - **Power loss or kernel crash.** The page cache is lost with the machine. With
//!   `[gateway] journal_fsync = "interval"` (the default) a background task `fdatasync`s the
//!   segment being written (and any closed since) once per second ([`SYNC_EVERY`]), off the
//!   proxy's path: at most the last second of records is lost. With `"never"` the kernel
//!   writes the pages back on its own schedule (`vm.dirty_expire_centisecs`, 30 s by
//!   default). A per-call `fsync` was not offered: it would cost a disk flush per call on
//!   the proxy's path.
//! - **Disk full, or the journal at its cap.** See *Bounded*: the record still ships from
//!   memory (exactly as before the journal existed), it is just not crash-safe; counted and
//!   shown by `/readyz`.
//!
//! # Format
//!
//! The journal lives in `<spool_dir>/journal/` (`<data_dir>/spool/journal/`: it is the
//! spool's first stage). Segment files `<16-digit sequence>.jnl`, each a run of frames:
//!
//! ```text
//! [4]     magic "GWJ1"
//! u32 LE  payload length (at most MAX_LINE)
//! u32 LE  CRC32C of the length field and the payload
//! [len]   payload: one record's NDJSON line, its newline included
//! ```
//!
//! Frames are appended with one `write(2)` each under a mutex (the fd is `O_APPEND`), so
//! frames never interleave. A segment is closed at a quarter of `journal_max_mb` (at most
//! [`SEGMENT_MAX`]), or — once everything in it was handed on — after [`ROTATE_IDLE`].
//!
//! # Nothing doubled: which mechanism, and why
//!
//! The journal is acknowledged **per segment**, not per record offset: each segment counts
//! the records appended to it and the records *handed on* — delivered to a collector
//! (2xx), refused by it for good, or written to the spool (fsynced files, which are then
//! responsible for them). A closed segment whose counts meet is deleted. Records reach the
//! shipper through the in-memory queue, not in file order (two workers append in one order
//! and queue in the other), so a single "acknowledged offset" could only advance to the
//! oldest record not yet handed on; counting per segment gives the same result without
//! tracking offsets. It means a restart replays whole segments, some of whose records may
//! already be stored. Those are sent with the replay header (`x-gatewatch-replay: 1`), and
//! the collector checks rows of such batches by **call id** before inserting
//! (`collector/src/inserter.rs`): duplicates are skipped there. The look-up by call id is
//! what makes the replay exactly-once; batch ids cannot (a replayed batch is cut
//! differently from the one first sent). The per-segment count only keeps the replay short.
//!
//! # Recovery
//!
//! On start, before the gateway serves, every segment left by the previous process is read
//! and each frame checked: the magic, a length within bounds, the CRC, and a payload that is
//! one JSON line. A frame that fails is *damaged*: the reader looks for the next magic
//! whose frame passes and goes on from there, counting the damaged stretch
//! (`gatewatch_gateway_journal_damaged_total`, `…_journal_skipped_bytes_total`, and a
//! warning naming the file and offset). An incomplete frame at the end of a file with
//! nothing valid after it is a *torn tail* (a write cut short): skipped and counted as
//! such. So a damaged journal yields every intact record before and after the damage, and
//! a damaged file can neither crash the gateway (every length is checked before it is
//! used) nor inject anything that is not a checksummed JSON line (which the collector then
//! validates like any other). The recovered lines become replay batches in the spool
//! (sent oldest first, with the replay header, by the spool's rules), and only then is the
//! segment deleted; a crash during recovery replays it again, which the collector's
//! look-up absorbs.
//!
//! # Bounded
//!
//! `[gateway] journal_max_mb` (default 256; 0 turns the journal off) caps the segments'
//! total size. An append that would pass it is refused: the record is not journalled, goes
//! on through memory as before, and is counted in
//! `gatewatch_gateway_records_unjournalled_total`; `gatewatch_gateway_journal_full` is 1 and
//! `/readyz` answers 503 until a segment is freed. A failing disk is treated the same. The
//! journal fills only while records cannot be handed on (every collector away *and* the
//! spool full or failing), since the spool takes them otherwise.
//!
//! # One owner
//!
//! `journal/LOCK` is locked for the life of the process: a second gateway on the same
//! directory fails to start, naming the lock (as the collector's write-ahead log and the
//! spool do).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tracing::{error, warn};

use crate::metrics::Metrics;

/// Bytes before each payload: magic, length, CRC.
pub(crate) const HEADER: usize = 12;
/// The frame's magic.
const MAGIC: [u8; 4] = *b"GWJ1";
/// Longest payload a frame may carry; the record caps (`caps.rs`) keep lines far below.
pub(crate) const MAX_LINE: usize = 16 << 20;
/// Largest segment.
pub(crate) const SEGMENT_MAX: u64 = 16 << 20;
/// A segment whose records were all handed on is closed (and deleted) once it is this old.
pub(crate) const ROTATE_IDLE: Duration = Duration::from_secs(1);
/// How often `journal_fsync = "interval"` syncs.
pub(crate) const SYNC_EVERY: Duration = Duration::from_secs(1);
/// Default cap: 256 MiB.
pub const DEFAULT_JOURNAL_MAX_BYTES: u64 = 256 << 20;
const LOCK_FILE: &str = "LOCK";
const SUFFIX: &str = ".jnl";

/// `[gateway] journal_fsync`: when the journal is flushed to the disk itself (see the module
/// doc for what each promises on power loss).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JournalFsync {
    /// Never: the kernel writes back on its own schedule.
    Never,
    /// Once per second, off the proxy's path.
    #[default]
    Interval,
}

impl std::str::FromStr for JournalFsync {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "never" => Ok(JournalFsync::Never),
            "interval" => Ok(JournalFsync::Interval),
            other => Err(format!("must be \"never\" or \"interval\", not {other:?}")),
        }
    }
}

/// Which segments a batch's records came from: `(segment, records)`, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Refs(pub Vec<(u64, u32)>);

impl Refs {
    pub fn add(&mut self, seg: Option<u64>) {
        let Some(seg) = seg else { return };
        match self.0.last_mut() {
            Some((s, n)) if *s == seg => *n += 1,
            _ => self.0.push((seg, 1)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Writes one frame into `buf` (cleared first): the header, then what `payload` appends.
pub(crate) fn frame_with(buf: &mut Vec<u8>, payload: impl FnOnce(&mut Vec<u8>)) {
    buf.clear();
    buf.extend_from_slice(&[0; HEADER]);
    payload(buf);
    let len = u32::try_from(buf.len() - HEADER).unwrap_or(u32::MAX);
    let len_bytes = len.to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&len_bytes), &buf[HEADER..]);
    buf[..4].copy_from_slice(&MAGIC);
    buf[4..8].copy_from_slice(&len_bytes);
    buf[8..12].copy_from_slice(&crc.to_le_bytes());
}

/// The segment being written.
struct Current {
    seq: u64,
    file: File,
    len: u64,
    appended: u64,
    released: u64,
    opened: Instant,
}

/// A closed segment not yet deleted.
#[derive(Debug)]
struct Closed {
    len: u64,
    appended: u64,
    released: u64,
}

struct State {
    current: Current,
    closed: BTreeMap<u64, Closed>,
    /// Bytes of all segments, the current one included.
    bytes: u64,
    /// Closed segments not yet synced (`Interval` only).
    unsynced: Vec<File>,
}

/// The journal; see the module doc. Shared by the proxy's workers (append) and the shipper
/// (release).
pub(crate) struct Journal {
    dir: PathBuf,
    max_bytes: u64,
    segment_max: u64,
    fsync: JournalFsync,
    state: Mutex<State>,
    metrics: Arc<Metrics>,
    _lock: File,
}

/// Segments left by an earlier process, oldest first: replay them, then [`delete`] each.
#[derive(Debug)]
pub(crate) struct Leftover {
    pub segments: Vec<PathBuf>,
}

/// Why the journal could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("journal {path}: {source}")]
pub struct OpenError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

fn lock_dir(path: &Path) -> io::Result<File> {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    for _ in 0..30 {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) => std::thread::sleep(Duration::from_millis(100)),
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::WouldBlock,
        "locked by another gateway process: the journal directory is in use (give each gateway its own data_dir)",
    ))
}

fn segment_name(seq: u64) -> String {
    format!("{seq:016}{SUFFIX}")
}

fn parse_segment(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(SUFFIX)?;
    (stem.len() == 16 && stem.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stem.parse().ok())
        .flatten()
}

fn open_segment(dir: &Path, seq: u64) -> io::Result<File> {
    fs::OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(dir.join(segment_name(seq)))
}

impl Journal {
    /// Opens (creating) the journal in `dir` with a cap of `max_bytes`: takes the lock,
    /// lists the segments an earlier process left (to be replayed by the caller) and starts
    /// a new one after them. Blocking; called once at start.
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        fsync: JournalFsync,
        metrics: Arc<Metrics>,
    ) -> Result<(Journal, Leftover), OpenError> {
        let err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OpenError { path, source }
        };
        fs::create_dir_all(dir).map_err(err(dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = lock_dir(&lock_path).map_err(err(&lock_path))?;
        let mut old = Vec::new();
        for item in fs::read_dir(dir).map_err(err(dir))? {
            let item = item.map_err(err(dir))?;
            let name = item.file_name();
            let name = name.to_string_lossy();
            if name == LOCK_FILE {
                continue;
            }
            match parse_segment(&name) {
                Some(seq) if item.file_type().map_err(err(&item.path()))?.is_file() => {
                    old.push(seq)
                }
                _ => {
                    warn!(path = %item.path().display(), "ignoring a file in the journal that is not a segment")
                }
            }
        }
        old.sort_unstable();
        let seq = old.last().map_or(1, |s| s + 1);
        let file = open_segment(dir, seq).map_err(err(&dir.join(segment_name(seq))))?;
        metrics.journal_max_bytes.store(max_bytes, Relaxed);
        let journal = Journal {
            dir: dir.to_path_buf(),
            max_bytes,
            segment_max: (max_bytes / 4).clamp(1, SEGMENT_MAX),
            fsync,
            state: Mutex::new(State {
                current: Current {
                    seq,
                    file,
                    len: 0,
                    appended: 0,
                    released: 0,
                    opened: Instant::now(),
                },
                closed: BTreeMap::new(),
                bytes: 0,
                unsynced: Vec::new(),
            }),
            metrics,
            _lock: lock,
        };
        let segments = old.into_iter().map(|s| dir.join(segment_name(s))).collect();
        Ok((journal, Leftover { segments }))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends one frame (made by [`frame_with`]); the segment it went to, or `None` when it
    /// was refused (cap reached, disk failing: counted, see the module doc).
    pub fn append(&self, frame: &[u8]) -> Option<u64> {
        let n = frame.len() as u64;
        let mut st = self.state();
        if st.bytes + n > self.max_bytes {
            drop(st);
            self.refuse("the journal is full (journal_max_mb)", None);
            return None;
        }
        if st.current.len > 0 && st.current.len + n > self.segment_max {
            if let Err(e) = self.rotate(&mut st) {
                drop(st);
                self.refuse("cannot open a new journal segment", Some(e));
                return None;
            }
        }
        if let Err(e) = (&st.current.file).write_all(frame) {
            // Part of the frame may be on disk: recovery skips it by its CRC. The next
            // append starts a new segment.
            st.current.len = self.segment_max;
            drop(st);
            self.refuse("cannot write to the journal", Some(e));
            return None;
        }
        st.current.len += n;
        st.current.appended += 1;
        st.bytes += n;
        self.metrics.journal_bytes.store(st.bytes, Relaxed);
        Some(st.current.seq)
    }

    fn refuse(&self, why: &str, e: Option<io::Error>) {
        self.metrics.journal_full.store(true, Relaxed);
        let n = self.metrics.records_unjournalled.fetch_add(1, Relaxed) + 1;
        // The first and every 10 000th: a full journal must not flood the log.
        if n == 1 || n.is_multiple_of(10_000) {
            match e {
                Some(e) => {
                    error!(error = %e, unjournalled_so_far = n, "{why}; records ship from memory only (lost if the gateway is killed)")
                }
                None => {
                    warn!(
                        unjournalled_so_far = n,
                        "{why}; records ship from memory only (lost if the gateway is killed)"
                    )
                }
            }
        }
    }

    /// Closes the current segment and opens the next.
    fn rotate(&self, st: &mut State) -> io::Result<()> {
        let seq = st.current.seq + 1;
        let file = open_segment(&self.dir, seq)?;
        let old = std::mem::replace(
            &mut st.current,
            Current {
                seq,
                file,
                len: 0,
                appended: 0,
                released: 0,
                opened: Instant::now(),
            },
        );
        st.closed.insert(
            old.seq,
            Closed {
                len: old.len,
                appended: old.appended,
                released: old.released,
            },
        );
        if self.fsync == JournalFsync::Interval {
            st.unsynced.push(old.file);
        }
        Ok(())
    }

    /// The records of `refs` were handed on (delivered, refused for good, spooled, or
    /// dropped and counted): segments all of whose records were are deleted.
    pub fn release(&self, refs: &Refs) {
        let mut st = self.state();
        for &(seg, n) in &refs.0 {
            if seg == st.current.seq {
                st.current.released += u64::from(n);
            } else if let Some(c) = st.closed.get_mut(&seg) {
                c.released += u64::from(n);
            }
        }
        let cur = &st.current;
        if cur.appended > 0 && cur.released >= cur.appended && cur.opened.elapsed() >= ROTATE_IDLE {
            if let Err(e) = self.rotate(&mut st) {
                warn!(error = %e, "cannot open a new journal segment; the current one is kept");
            }
        }
        let done: Vec<u64> = st
            .closed
            .iter()
            .filter(|(_, c)| c.released >= c.appended)
            .map(|(s, _)| *s)
            .collect();
        for seq in done {
            if let Some(c) = st.closed.remove(&seq) {
                st.bytes = st.bytes.saturating_sub(c.len);
                let path = self.dir.join(segment_name(seq));
                if let Err(e) = fs::remove_file(&path) {
                    if e.kind() != io::ErrorKind::NotFound {
                        error!(path = %path.display(), error = %e, "cannot delete a journal segment whose records were all handed on; it is replayed after a restart");
                    }
                }
            }
        }
        self.metrics.journal_bytes.store(st.bytes, Relaxed);
        if st.bytes < self.max_bytes {
            self.metrics.journal_full.store(false, Relaxed);
        }
    }

    /// `fdatasync`s the current segment and those closed since the last call. Blocking.
    pub fn sync(&self) -> io::Result<()> {
        let (closed, current) = {
            let mut st = self.state();
            (
                std::mem::take(&mut st.unsynced),
                st.current.file.try_clone(),
            )
        };
        for f in closed {
            f.sync_data()?;
        }
        current?.sync_data()
    }

    /// A clean stop: when every record was handed on, the current segment is deleted too.
    pub fn close(&self) {
        let st = self.state();
        if st.closed.is_empty() && st.current.released >= st.current.appended {
            let path = self.dir.join(segment_name(st.current.seq));
            if let Err(e) = fs::remove_file(&path) {
                warn!(path = %path.display(), error = %e, "cannot delete the last journal segment");
            }
        }
    }
}

/// What [`scan`] found in a segment.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// The intact lines (payloads, each ending in its newline), in order.
    pub lines: Vec<Vec<u8>>,
    /// Damaged stretches skipped (each cost at least one record).
    pub damaged: u64,
    /// Bytes in those stretches.
    pub skipped_bytes: u64,
    /// Bytes of an incomplete frame at the end (a write cut short).
    pub torn_bytes: u64,
}

enum At {
    /// A valid frame: its payload, and where the next starts.
    Frame(std::ops::Range<usize>, usize),
    /// Too short for a whole frame (header or payload past the end).
    Short,
    Bad,
}

fn frame_at(data: &[u8], p: usize) -> At {
    let rest = &data[p..];
    if rest.len() < HEADER {
        return At::Short;
    }
    if rest[..4] != MAGIC {
        return At::Bad;
    }
    let len_bytes: [u8; 4] = [rest[4], rest[5], rest[6], rest[7]];
    let len = u32::from_le_bytes(len_bytes) as usize;
    if len == 0 || len > MAX_LINE {
        return At::Bad;
    }
    let Some(payload) = rest.get(HEADER..HEADER + len) else {
        return At::Short;
    };
    let crc = u32::from_le_bytes([rest[8], rest[9], rest[10], rest[11]]);
    if crc32c::crc32c_append(crc32c::crc32c(&len_bytes), payload) != crc {
        return At::Bad;
    }
    // A checksummed frame must still be one JSON line: nothing else is shipped.
    let (last, body) = payload.split_last().unwrap_or((&0, &[]));
    if *last != b'\n'
        || body.contains(&b'\n')
        || serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err()
    {
        return At::Bad;
    }
    At::Frame(p + HEADER..p + HEADER + len, p + HEADER + len)
}

/// The next position at or after `from` holding a valid frame.
fn resync(data: &[u8], from: usize) -> Option<usize> {
    let mut q = from;
    while q + MAGIC.len() <= data.len() {
        let i = data[q..].windows(MAGIC.len()).position(|w| w == MAGIC)?;
        q += i;
        if let At::Frame(..) = frame_at(data, q) {
            return Some(q);
        }
        q += 1;
    }
    None
}

/// Reads a segment's frames (see *Recovery* in the module doc). Never panics on any input.
pub(crate) fn scan(data: &[u8]) -> Scan {
    let mut out = Scan::default();
    let mut p = 0;
    while p < data.len() {
        match frame_at(data, p) {
            At::Frame(payload, next) => {
                out.lines.push(data[payload].to_vec());
                p = next;
            }
            bad_or_short => match resync(data, p + 1) {
                Some(q) => {
                    out.damaged += 1;
                    out.skipped_bytes += (q - p) as u64;
                    p = q;
                }
                None => {
                    let rest = (data.len() - p) as u64;
                    match bad_or_short {
                        // Nothing valid after an incomplete frame: a write cut short.
                        At::Short => out.torn_bytes += rest,
                        _ => {
                            out.damaged += 1;
                            out.skipped_bytes += rest;
                        }
                    }
                    break;
                }
            },
        }
    }
    out
}

/// Reads and scans one leftover segment. Blocking.
pub(crate) fn read_segment(path: &Path) -> io::Result<Scan> {
    Ok(scan(&fs::read(path)?))
}

/// Deletes a leftover segment once its records are in the spool. Blocking.
pub(crate) fn delete(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(i: usize) -> Vec<u8> {
        let mut f = Vec::new();
        frame_with(&mut f, |b| {
            b.extend_from_slice(format!("{{\"n\":{i}}}\n").as_bytes())
        });
        f
    }

    fn open(dir: &Path, max: u64) -> (Journal, Leftover, Arc<Metrics>) {
        let m = Arc::new(Metrics::default());
        let (j, l) = Journal::open(dir, max, JournalFsync::Interval, m.clone()).unwrap();
        (j, l, m)
    }

    fn texts(s: &Scan) -> Vec<String> {
        s.lines
            .iter()
            .map(|l| String::from_utf8(l.clone()).unwrap())
            .collect()
    }

    #[test]
    fn appended_lines_come_back_after_a_reopen_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (j, left, _) = open(dir.path(), 1 << 20);
        assert!(left.segments.is_empty());
        for i in 0..5 {
            assert_eq!(j.append(&line(i)), Some(1));
        }
        j.sync().unwrap();
        drop(j);
        let (j, left, _) = open(dir.path(), 1 << 20);
        assert_eq!(left.segments.len(), 1);
        let s = read_segment(&left.segments[0]).unwrap();
        assert_eq!(
            texts(&s),
            (0..5)
                .map(|i| format!("{{\"n\":{i}}}\n"))
                .collect::<Vec<_>>()
        );
        assert_eq!((s.damaged, s.skipped_bytes, s.torn_bytes), (0, 0, 0));
        // The new process writes a segment after the old ones.
        assert_eq!(j.append(&line(9)), Some(2));
        delete(&left.segments[0]).unwrap();
        assert!(!left.segments[0].exists());
    }

    #[test]
    fn a_torn_tail_is_cut_away_and_measured() {
        let mut data: Vec<u8> = (0..3).flat_map(line).collect();
        let last = line(3);
        for cut in [1, HEADER - 1, HEADER, last.len() - 1] {
            let mut d = data.clone();
            d.extend_from_slice(&last[..cut]);
            let s = scan(&d);
            assert_eq!(s.lines.len(), 3, "cut {cut}");
            assert_eq!((s.damaged, s.torn_bytes), (0, cut as u64), "cut {cut}");
        }
        data.extend_from_slice(&last);
        assert_eq!(scan(&data).lines.len(), 4);
    }

    #[test]
    fn a_flipped_byte_is_caught_by_the_crc_and_the_rest_recovered() {
        let frames: Vec<Vec<u8>> = (0..5).map(line).collect();
        let data: Vec<u8> = frames.concat();
        let start2 = frames[0].len() + frames[1].len();
        // Flip a byte in each part of frame 2: magic, length, CRC, payload.
        for off in [0, 5, 9, HEADER + 2] {
            let mut d = data.clone();
            d[start2 + off] ^= 0x40;
            let s = scan(&d);
            assert_eq!(
                texts(&s),
                ["{\"n\":0}\n", "{\"n\":1}\n", "{\"n\":3}\n", "{\"n\":4}\n"],
                "offset {off}"
            );
            assert_eq!(s.damaged, 1, "offset {off}");
            assert_eq!(s.skipped_bytes, frames[2].len() as u64, "offset {off}");
            assert_eq!(s.torn_bytes, 0);
        }
        // Damage in the last frame: nothing valid after it, counted as damage, not torn.
        let mut d = data.clone();
        let n = d.len();
        d[n - 3] ^= 1;
        let s = scan(&d);
        assert_eq!((s.lines.len(), s.damaged), (4, 1));
    }

    #[test]
    fn hostile_bytes_neither_crash_nor_inject() {
        // A frame with a valid CRC whose payload is not one JSON line is refused.
        let mut f = Vec::new();
        frame_with(&mut f, |b| b.extend_from_slice(b"not json\n"));
        let mut g = Vec::new();
        frame_with(&mut g, |b| b.extend_from_slice(b"{}\n{}\n"));
        let mut data = [f, g, line(1)].concat();
        // A length far past the end and past the bound.
        data.extend_from_slice(b"GWJ1\xff\xff\xff\xff\0\0\0\0");
        data.extend_from_slice(b"GWJ1\x00\x00\x00\x7f\0\0\0\0");
        let s = scan(&data);
        assert_eq!(texts(&s), ["{\"n\":1}\n"]);
        assert_eq!(s.damaged, 2);
        // Random garbage and every truncation of a valid run: no panic.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let junk: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let s = scan(&junk);
        assert!(s.lines.is_empty());
        let valid: Vec<u8> = (0..4).flat_map(line).collect();
        for cut in 0..valid.len() {
            let _ = scan(&valid[..cut]);
        }
        assert!(scan(&[]).lines.is_empty());
    }

    #[test]
    fn a_full_journal_refuses_counts_and_frees_when_handed_on() {
        let dir = tempfile::tempdir().unwrap();
        let one = line(1).len() as u64;
        // Segments of one frame (a quarter of the cap), room for four.
        let (j, _, m) = open(dir.path(), one * 4);
        let segs: Vec<u64> = (0..4).map(|i| j.append(&line(i)).unwrap()).collect();
        assert_eq!(segs, [1, 2, 3, 4]);
        assert_eq!(j.append(&line(5)), None);
        assert_eq!(j.append(&line(6)), None);
        assert_eq!(m.records_unjournalled.load(Relaxed), 2);
        assert!(m.journal_full.load(Relaxed));
        assert_eq!(m.journal_bytes.load(Relaxed), one * 4);
        // Handing on the first two frees their segments (closed ones are deleted).
        let mut refs = Refs::default();
        refs.add(Some(1));
        refs.add(Some(2));
        j.release(&refs);
        assert!(!m.journal_full.load(Relaxed));
        assert_eq!(m.journal_bytes.load(Relaxed), one * 2);
        assert!(!dir.path().join(segment_name(1)).exists());
        assert!(dir.path().join(segment_name(3)).exists());
        assert!(j.append(&line(7)).is_some());
    }

    #[test]
    fn a_clean_close_leaves_nothing_to_replay() {
        let dir = tempfile::tempdir().unwrap();
        let (j, _, _) = open(dir.path(), 1 << 20);
        let mut refs = Refs::default();
        for i in 0..3 {
            refs.add(j.append(&line(i)));
        }
        assert_eq!(refs.0, [(1, 3)]);
        j.close();
        assert!(
            dir.path().join(segment_name(1)).exists(),
            "not handed on yet"
        );
        j.release(&refs);
        j.close();
        drop(j);
        let (_, left, _) = open(dir.path(), 1 << 20);
        assert!(left.segments.is_empty());
    }

    #[test]
    fn a_second_gateway_is_refused_naming_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let (_first, _, _) = open(dir.path(), 1 << 20);
        let err = Journal::open(
            dir.path(),
            1 << 20,
            JournalFsync::Never,
            Arc::new(Metrics::default()),
        )
        .err()
        .expect("must fail");
        let text = err.to_string();
        assert!(text.contains("LOCK"), "{text}");
        assert!(text.contains("another gateway process"), "{text}");
    }

    #[test]
    fn fsync_policy_parses() {
        assert_eq!("never".parse(), Ok(JournalFsync::Never));
        assert_eq!("interval".parse(), Ok(JournalFsync::Interval));
        assert!("always".parse::<JournalFsync>().is_err());
    }
}
