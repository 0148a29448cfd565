//! The write-ahead log: write → drop → corrupt → reopen → count.

use bytes::Bytes;
use gatewatch_collector::wal::{AppendError, Kind, Wal, WalConfig, WalReader};
use std::io::Write;
use std::sync::Arc;
use uuid::Uuid;

fn config(dir: &std::path::Path) -> WalConfig {
    WalConfig::new(dir)
}

async fn append_n(wal: &Wal<String>, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = Uuid::now_v7();
        wal.append(
            Kind::Calls,
            id,
            0,
            1,
            Bytes::from(format!("line {i}")),
            None,
        )
        .await
        .unwrap();
        ids.push(id);
    }
    ids
}

#[tokio::test]
async fn entries_come_back_in_order_with_their_headers() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, mut reader, rec) = Wal::<String>::open(&config(dir.path())).unwrap();
    assert_eq!(rec.last_seq, 0);
    let ids = append_n(&wal, 5).await;
    for (i, id) in ids.iter().enumerate() {
        let e = reader.next().await.unwrap();
        assert_eq!(e.header.seq, i as u64 + 1);
        assert_eq!(e.header.batch_id, *id);
        assert_eq!(e.payload, Bytes::from(format!("line {i}")));
    }
    assert!(reader.try_next().unwrap().is_none());
}

#[tokio::test]
async fn reopen_reads_only_unacknowledged_entries() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (wal, _reader, _) = Wal::<String>::open(&config(dir.path())).unwrap();
        append_n(&wal, 10).await;
        wal.ack(6).unwrap();
    }
    let (wal, mut reader, rec) = Wal::<String>::open(&config(dir.path())).unwrap();
    assert_eq!((rec.acked, rec.last_seq, rec.pending_entries), (6, 10, 4));
    let mut seqs = Vec::new();
    while let Some(e) = reader.try_next().unwrap() {
        seqs.push(e.header.seq);
    }
    assert_eq!(seqs, vec![7, 8, 9, 10]);
    // new appends continue the sequence
    append_n(&wal, 1).await;
    assert_eq!(reader.next().await.unwrap().header.seq, 11);
}

#[tokio::test]
async fn torn_write_at_the_end_is_cut_away() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (wal, _r, _) = Wal::<String>::open(&config(dir.path())).unwrap();
        append_n(&wal, 3).await;
    }
    let seg = dir.path().join(format!("wal-{:020}.log", 1));
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, 5]).unwrap(); // a length and half a header
    drop(f);
    let (wal, mut reader, rec) = Wal::<String>::open(&config(dir.path())).unwrap();
    assert_eq!(rec.last_seq, 3);
    assert_eq!(rec.truncated_bytes, 9);
    append_n(&wal, 1).await;
    let mut n = 0;
    while let Some(e) = reader.try_next().unwrap() {
        n += 1;
        assert_eq!(e.header.seq, n);
    }
    assert_eq!(n, 4);
}

#[tokio::test]
async fn flipped_byte_fails_the_crc_and_is_not_returned() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (wal, _r, _) = Wal::<String>::open(&config(dir.path())).unwrap();
        append_n(&wal, 3).await;
    }
    let seg = dir.path().join(format!("wal-{:020}.log", 1));
    let mut bytes = std::fs::read(&seg).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff; // inside the third entry's payload
    std::fs::write(&seg, &bytes).unwrap();
    let (_wal, mut reader, rec) = Wal::<String>::open(&config(dir.path())).unwrap();
    assert_eq!(rec.last_seq, 2);
    assert!(rec.truncated_bytes > 0);
    assert_eq!(reader.try_next().unwrap().unwrap().header.seq, 1);
    assert_eq!(reader.try_next().unwrap().unwrap().header.seq, 2);
    assert!(reader.try_next().unwrap().is_none());
}

#[tokio::test]
async fn a_pending_batch_id_is_refused_and_accepted_again_after_ack() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _r, _) = Wal::<String>::open(&config(dir.path())).unwrap();
    let id = Uuid::now_v7();
    wal.append(Kind::Calls, id, 0, 1, Bytes::from_static(b"x"), None)
        .await
        .unwrap();
    let again = wal
        .append(Kind::Calls, id, 0, 1, Bytes::from_static(b"x"), None)
        .await;
    assert!(matches!(again, Err(AppendError::Duplicate(d)) if d == id));
    wal.ack(1).unwrap();
    assert_eq!(
        wal.append(Kind::Calls, id, 1, 1, Bytes::from_static(b"x"), None)
            .await
            .unwrap(),
        2
    );
}

#[tokio::test]
async fn pending_batch_ids_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let id = Uuid::now_v7();
    {
        let (wal, _r, _) = Wal::<String>::open(&config(dir.path())).unwrap();
        wal.append(Kind::Calls, id, 0, 1, Bytes::from_static(b"x"), None)
            .await
            .unwrap();
    }
    let (wal, _r, _) = Wal::<String>::open(&config(dir.path())).unwrap();
    let again = wal
        .append(Kind::Calls, id, 0, 1, Bytes::from_static(b"x"), None)
        .await;
    assert!(matches!(again, Err(AppendError::Duplicate(_))));
}

/// Appends `payload` until the log answers full; how many went in.
async fn fill(wal: &Wal<String>, payload: &Bytes) -> u64 {
    let mut ok = 0;
    loop {
        match wal
            .append(Kind::Calls, Uuid::now_v7(), 0, 1, payload.clone(), None)
            .await
        {
            Ok(_) => ok += 1,
            Err(AppendError::Full { .. }) => return ok,
            Err(e) => panic!("{e}"),
        }
    }
}

/// Reads every entry there is; the last sequence number read (0: none).
fn read_all(reader: &mut WalReader<String>) -> u64 {
    let mut last = 0;
    while let Some(e) = reader.try_next().unwrap() {
        last = e.header.seq;
    }
    last
}

#[tokio::test]
async fn a_full_log_refuses_appends_until_acked() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.segment_bytes = 200;
    cfg.max_bytes = 1000;
    let (wal, mut reader, _) = Wal::<String>::open(&cfg).unwrap();
    let payload = Bytes::from(vec![b'a'; 100]);
    let ok = fill(&wal, &payload).await;
    assert!(ok >= 6, "{ok}");
    let last = read_all(&mut reader);
    assert_eq!(last, ok);
    wal.ack(last).unwrap();
    assert!(
        wal.disk_bytes() < 300,
        "acked segments deleted: {}",
        wal.disk_bytes()
    );
    wal.append(Kind::Calls, Uuid::now_v7(), 0, 1, payload, None)
        .await
        .unwrap();
}

/// A log capped below one segment's size (`[collector] wal_max_mb` smaller than a segment):
/// once everything in it is stored, appends go on. Before segments were cut to a quarter of
/// the cap, the one segment being written held the whole cap and was never closed, so the
/// collector answered 503 for good after a long ClickHouse outage.
#[tokio::test]
async fn a_log_capped_below_a_segment_frees_space_once_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_bytes = 2000;
    let (wal, mut reader, _) = Wal::<String>::open(&cfg).unwrap();
    let payload = Bytes::from(vec![b'a'; 100]);
    for round in 0..3 {
        let ok = fill(&wal, &payload).await;
        assert!(ok >= 3, "round {round}: {ok} appends before full");
        wal.ack(read_all(&mut reader)).unwrap();
        assert!(
            wal.disk_bytes() <= 1000,
            "round {round}: stored segments deleted, {} bytes left",
            wal.disk_bytes()
        );
    }
}

#[tokio::test]
async fn rotated_segments_are_read_across_and_deleted_after_ack() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.segment_bytes = 300;
    {
        let (wal, mut reader, _) = Wal::<String>::open(&cfg).unwrap();
        append_n(&wal, 50).await;
        for i in 1..=50 {
            assert_eq!(reader.next().await.unwrap().header.seq, i);
        }
        wal.ack(30).unwrap();
    }
    let segs = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("wal-")
        })
        .count();
    assert!(segs < 50 / 2, "segments left: {segs}");
    let (_wal, mut reader, rec) = Wal::<String>::open(&cfg).unwrap();
    assert_eq!(rec.pending_entries, 20);
    for i in 31..=50 {
        assert_eq!(reader.try_next().unwrap().unwrap().header.seq, i);
    }
}

#[tokio::test]
async fn concurrent_appends_share_syncs_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, mut reader, _) = Wal::<String>::open(&config(dir.path())).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let wal = wal.clone();
        tasks.push(tokio::spawn(async move { append_n(&wal, 200).await }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut n = 0u64;
    while let Some(e) = reader.try_next().unwrap() {
        n += 1;
        assert_eq!(e.header.seq, n);
    }
    assert_eq!(n, 1600);
}

#[tokio::test]
async fn decoded_values_are_handed_to_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, mut reader, _) = Wal::<String>::open(&config(dir.path())).unwrap();
    wal.append(
        Kind::NodeSamples,
        Uuid::now_v7(),
        0,
        1,
        Bytes::from_static(b"p"),
        Some(Arc::new("decoded".to_string())),
    )
    .await
    .unwrap();
    let e = reader.next().await.unwrap();
    assert_eq!(e.header.kind, Kind::NodeSamples);
    assert_eq!(e.cached.as_deref().map(String::as_str), Some("decoded"));
}

#[tokio::test]
async fn a_second_process_cannot_open_the_same_log() {
    let dir = tempfile::tempdir().unwrap();
    let (_wal, _r, _) = Wal::<String>::open(&config(dir.path())).unwrap();
    let err = Wal::<String>::open(&config(dir.path()))
        .err()
        .expect("second open must fail");
    assert!(
        err.to_string().contains("another collector process"),
        "{err}"
    );
}
