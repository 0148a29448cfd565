//! Chart colours: one palette for the web UI and for mail. Outcome series keep their meaning
//! across charts (success green, client errors amber, server errors red, refusals grey); other
//! series take the palette in order, skipping colours a meaning already took.

use plotters::style::RGBColor;

/// Tableau 10: distinct, readable on white, and kind to the common colour-vision deficiencies.
pub const SERIES: [RGBColor; 10] = [
    RGBColor(0x4e, 0x79, 0xa7), // blue
    RGBColor(0xf2, 0x8e, 0x2b), // orange
    RGBColor(0xe1, 0x57, 0x59), // red
    RGBColor(0x76, 0xb7, 0xb2), // teal
    RGBColor(0x59, 0xa1, 0x4f), // green
    RGBColor(0xed, 0xc9, 0x48), // yellow
    RGBColor(0xb0, 0x7a, 0xa1), // purple
    RGBColor(0xff, 0x9d, 0xa7), // pink
    RGBColor(0x9c, 0x75, 0x5f), // brown
    RGBColor(0xba, 0xb0, 0xac), // grey
];

pub const BACKGROUND: RGBColor = RGBColor(0xff, 0xff, 0xff);
pub const TEXT: RGBColor = RGBColor(0x33, 0x33, 0x33);
pub const MUTED: RGBColor = RGBColor(0x77, 0x77, 0x77);
pub const AXIS: RGBColor = RGBColor(0xa0, 0xa0, 0xa0);
pub const GRID: RGBColor = RGBColor(0xe8, 0xe8, 0xe8);

/// The colour a series name means, if it names an outcome class.
fn meaning(name: &str) -> Option<RGBColor> {
    let n = name.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| n.contains(w));
    // Order matters: "server error" before "error", "refused" before the rest.
    if has(&["refus", "reject", "denied", "blocked"]) {
        Some(SERIES[9])
    } else if has(&["timeout", "timed out", "unreachable"]) {
        Some(SERIES[6])
    } else if has(&["server", "5xx", "upstream error"]) {
        Some(SERIES[2])
    } else if has(&["client", "4xx"]) {
        Some(SERIES[5])
    } else if has(&["success", "2xx", "3xx"]) || n == "ok" {
        Some(SERIES[4])
    } else {
        None
    }
}

/// One colour per series name, in order.
pub fn for_series<S: AsRef<str>>(names: &[S]) -> Vec<RGBColor> {
    let meant: Vec<Option<RGBColor>> = names.iter().map(|n| meaning(n.as_ref())).collect();
    // A meaning shared by two series (two kinds of refusal) is no meaning: palette them.
    let shared = |c: RGBColor| meant.iter().filter(|m| **m == Some(c)).count() > 1;
    let fixed: Vec<Option<RGBColor>> = meant.iter().map(|m| m.filter(|c| !shared(*c))).collect();
    let mut free = SERIES
        .iter()
        .copied()
        .filter(|c| !fixed.contains(&Some(*c)))
        .collect::<Vec<_>>()
        .into_iter()
        .cycle();
    fixed
        .into_iter()
        .map(|f| f.unwrap_or_else(|| free.next().unwrap_or(SERIES[0])))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_series_keep_their_meaning_and_others_take_the_rest() {
        let c = for_series(&["success", "client error", "server error", "refused"]);
        assert_eq!(c, vec![SERIES[4], SERIES[5], SERIES[2], SERIES[9]]);
        let c = for_series(&["查詢服務", "success", "訂單"]);
        assert_eq!(c, vec![SERIES[0], SERIES[4], SERIES[1]]);
    }

    #[test]
    fn many_series_cycle_the_palette() {
        let names: Vec<String> = (0..12).map(|i| format!("api {i}")).collect();
        let c = for_series(&names);
        assert_eq!(c[0], SERIES[0]);
        assert_eq!(c[10], SERIES[0]);
    }
}
