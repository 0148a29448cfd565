//! Prints each line of stdin with its SQL fingerprints per mode and the XSS verdict.
use std::io::BufRead;
fn main() {
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let fps = gatewatch_detect::fingerprints(line.as_bytes());
        let x = gatewatch_detect::xss(line.as_bytes());
        println!("{fps:?} xss={x} | {line}");
    }
}
