fn main() {
    for unit in [
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
    ] {
        let s: Vec<u8> = unit.iter().copied().cycle().take(1 << 20).collect();
        let t = std::time::Instant::now();
        let a = gatewatch_detect::sqli(&s);
        let t1 = t.elapsed();
        let b = gatewatch_detect::xss(&s);
        println!(
            "{:?}: sqli {:?} {:?}, xss {:?} {}",
            String::from_utf8_lossy(unit),
            t1,
            a,
            t.elapsed() - t1,
            b
        );
    }
}
