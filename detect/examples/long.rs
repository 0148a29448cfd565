//! Times the detectors on long values built from a repeated unit (tuning; not a test):
//! `cargo run --release -p gatewatch-detect --example long [UNIT BYTES]`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let units: Vec<Vec<u8>> = match args.get(1) {
        Some(u) => vec![u.as_bytes().to_vec()],
        None => [
            &b"'"[..],
            b"/*",
            b"<",
            b"<a ",
            b"<!--",
            b"&#",
            b"1 or ",
            b"$$",
            b"q'[",
            b"\\",
            b"((",
        ]
        .iter()
        .map(|u| u.to_vec())
        .collect(),
    };
    let size: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1 << 20);
    for unit in units {
        let s: Vec<u8> = unit.iter().copied().cycle().take(size).collect();
        let t = std::time::Instant::now();
        let a = gatewatch_detect::sqli(&s);
        let t1 = t.elapsed();
        let b = gatewatch_detect::xss(&s);
        println!(
            "{:?} x {size} bytes: sqli {:?} ({a:?}), xss {:?} ({b})",
            String::from_utf8_lossy(&unit),
            t1,
            t.elapsed() - t1
        );
    }
}
