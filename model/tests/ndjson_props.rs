//! Property tests of the NDJSON decoder: it never panics, accounts for every line, keeps every
//! good record in order whatever surrounds it, and names the line of every bad one.

use gatewatch_model::call::{MAX_TS_US, MIN_TS_US};
use gatewatch_model::ndjson::encode_lines;
use gatewatch_model::{decode_lines, CallRecord, Header, Outcome};
use proptest::prelude::*;
use uuid::Uuid;

fn record() -> impl Strategy<Value = CallRecord> {
    (
        any::<u128>().prop_filter("not nil", |u| *u != 0),
        MIN_TS_US..MAX_TS_US,
        "[a-z0-9-]{1,12}",
        prop::sample::select(vec!["GET", "POST", "PUT", "DELETE"]),
        "/[^\n\r]{0,40}",
        100u16..=599,
        prop::sample::select(Outcome::ALL.to_vec()),
        "\\PC{0,30}",
        prop::collection::vec(("[a-z-]{1,10}", "\\PC{0,20}"), 0..3),
        any::<u32>(),
    )
        .prop_map(
            |(id, ts, node, method, path, status, outcome, body, headers, lat)| {
                let mut r = CallRecord::new(Uuid::from_u128(id), ts, &node, method, &path);
                r.status = status;
                r.outcome = outcome;
                r.api_name = "訂單查詢".into();
                r.request_body = body;
                r.request_headers = headers.into_iter().map(|(k, v)| Header(k, v)).collect();
                r.latency_us = lat as u64;
                r
            },
        )
}

/// A line that is not a valid record: junk, a truncated record, or a record with a bad field.
fn bad_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^\n{}\\s][^\n]{0,30}",
        record().prop_map(|r| {
            let s = serde_json::to_string(&r).unwrap();
            let mut cut = s.len() / 2;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s[..cut].to_string()
        }),
        record().prop_map(|r| serde_json::to_string(&r).unwrap().replacen(
            "\"status\":",
            "\"status\":\"x\",\"z\":",
            1
        )),
        Just("{}".to_string()),
        Just("[1,2]".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic_and_every_line_is_accounted_for(
        body in prop::collection::vec(any::<u8>(), 0..2048)
    ) {
        let out = decode_lines::<CallRecord>(&body);
        let non_blank = body
            .split(|b| *b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .count();
        prop_assert_eq!(out.values.len() + out.errors.len(), non_blank);
        prop_assert_eq!(out.values.len(), out.spans.len());
        for s in &out.spans {
            prop_assert!(s.end <= body.len());
        }
    }

    #[test]
    fn good_records_survive_any_neighbours(
        lines in prop::collection::vec(
            prop_oneof![record().prop_map(Ok), bad_line().prop_map(Err)],
            0..20,
        ),
        crlf in any::<bool>(),
    ) {
        let mut body = Vec::new();
        let mut want_good = Vec::new();
        let mut want_bad_lines = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            match l {
                Ok(r) => {
                    encode_lines([r], &mut body).unwrap();
                    body.pop();
                    want_good.push(r.clone());
                }
                Err(junk) => {
                    body.extend_from_slice(junk.as_bytes());
                    want_bad_lines.push(i + 1);
                }
            }
            body.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        }
        let out = decode_lines::<CallRecord>(&body);
        prop_assert_eq!(&out.values, &want_good);
        let got_bad: Vec<usize> = out.errors.iter().map(|e| e.line).collect();
        prop_assert_eq!(got_bad, want_bad_lines);
        // Each span is exactly the record's own bytes, so the WAL can keep the line as sent.
        for (v, s) in out.values.iter().zip(&out.spans) {
            let again: CallRecord = serde_json::from_slice(&body[s.clone()]).unwrap();
            prop_assert_eq!(&again, v);
        }
    }
}
