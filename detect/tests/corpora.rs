//! The corpora (`corpora/*.txt`): attack strings from public payload lists must be caught
//! (>= 95 % each), ordinary values never (zero by either detector).

use gatewatch_detect::{sqli, xss};

fn entries(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect()
}

fn rate(name: &str, text: &str, min: usize, caught: impl Fn(&str) -> bool) {
    let all = entries(text);
    assert!(
        all.len() >= min,
        "{name}: {} strings, want >= {min}",
        all.len()
    );
    let missed: Vec<&&str> = all.iter().filter(|s| !caught(s)).collect();
    let found = all.len() - missed.len();
    let pct = found as f64 * 100.0 / all.len() as f64;
    println!("{name}: {found} of {} caught ({pct:.1} %)", all.len());
    for m in &missed {
        println!("  missed: {m}");
    }
    assert!(
        found * 100 >= all.len() * 95,
        "{name}: {pct:.1} % caught, want >= 95 %; missed: {missed:#?}"
    );
}

#[test]
fn sqli_attacks_are_caught() {
    rate(
        "sqli_attacks",
        include_str!("../corpora/sqli_attacks.txt"),
        200,
        |s| sqli(s.as_bytes()).is_some(),
    );
}

#[test]
fn xss_attacks_are_caught() {
    rate(
        "xss_attacks",
        include_str!("../corpora/xss_attacks.txt"),
        200,
        |s| xss(s.as_bytes()),
    );
}

#[test]
fn ordinary_values_are_never_flagged() {
    let all = entries(include_str!("../corpora/ordinary.txt"));
    assert!(all.len() >= 200, "{} ordinary strings", all.len());
    let flagged: Vec<String> = all
        .iter()
        .filter_map(|s| {
            let fp = sqli(s.as_bytes());
            let x = xss(s.as_bytes());
            (fp.is_some() || x).then(|| format!("{s:?}: sqli {fp:?}, xss {x}"))
        })
        .collect();
    println!("ordinary: {} of {} flagged", flagged.len(), all.len());
    assert!(flagged.is_empty(), "flagged: {flagged:#?}");
}

#[test]
fn libinjections_false_positive_list_is_mostly_passed() {
    let all = entries(include_str!("../corpora/libinjection_false_positives.txt"));
    let flagged: Vec<&&str> = all
        .iter()
        .filter(|s| sqli(s.as_bytes()).is_some() || xss(s.as_bytes()))
        .collect();
    println!(
        "libinjection_false_positives: {} of {} flagged: {flagged:?}",
        flagged.len(),
        all.len()
    );
    assert!(flagged.len() * 100 <= all.len() * 5, "{flagged:#?}");
}
