//! Instructions per ordinary value (tuning; run under callgrind): the values of the bench's
//! call, `ROUNDS` times.
fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let values: [&[u8]; 5] = [b"checked", b"items", b"42", b"select a seat", b"O'Brien"];
    let mut found = 0;
    for _ in 0..rounds {
        for v in values {
            found += usize::from(gatewatch_detect::sqli(std::hint::black_box(v)).is_some());
            found += usize::from(gatewatch_detect::xss(std::hint::black_box(v)));
        }
    }
    println!("{found} found in {} values", rounds * values.len());
}
