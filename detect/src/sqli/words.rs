//! The SQL words and the fingerprints of injections, read once from the data files
//! (`data/`, taken from libinjection) into sorted tables searched without allocating.

use std::sync::OnceLock;

/// Longest word a lookup can match (libinjection keeps 31 bytes of a token).
pub(crate) const WORD_MAX: usize = 31;

struct Tables {
    /// (upper-case word, token type), sorted by length, then bytes: a search compares
    /// lengths first and bytes only among words of the key's length.
    words: Vec<(&'static [u8], u8)>,
    /// Beginnings of the multi-word entries (`UNION` of `UNION ALL`), sorted the same way:
    /// two tokens are only looked up together when the first is one of them.
    firsts: Vec<&'static [u8]>,
    /// Upper-case fingerprints, sorted.
    fingerprints: Vec<&'static [u8]>,
}

/// Length first, then bytes.
fn by_len(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut words: Vec<(&'static [u8], u8)> =
            data_lines(include_str!("../../data/sqli_words.tsv"))
                .filter_map(|line| {
                    let (word, kind) = line.split_once('\t')?;
                    Some((word.as_bytes(), *kind.as_bytes().first()?))
                })
                .collect();
        words.sort_unstable_by(|a, b| by_len(a.0, b.0));
        // Every prefix before a space: `AT` and `AT TIME` of `AT TIME ZONE` (merged in two
        // steps).
        let mut firsts: Vec<&'static [u8]> = words
            .iter()
            .flat_map(|(w, _)| {
                w.iter()
                    .enumerate()
                    .filter(|(_, c)| **c == b' ')
                    .map(|(sp, _)| &w[..sp])
            })
            .collect();
        firsts.sort_unstable_by(|a, b| by_len(a, b));
        firsts.dedup();
        let mut fingerprints: Vec<&'static [u8]> =
            data_lines(include_str!("../../data/sqli_fingerprints.txt"))
                .map(str::as_bytes)
                .collect();
        fingerprints.sort_unstable_by(|a, b| by_len(a, b));
        Tables {
            words,
            firsts,
            fingerprints,
        }
    })
}

fn data_lines(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// `key` upper-cased into `buf`; `None` when too long to be in any table.
fn upper<'b>(key: &[u8], buf: &'b mut [u8; WORD_MAX]) -> Option<&'b [u8]> {
    let out = buf.get_mut(..key.len())?;
    for (o, k) in out.iter_mut().zip(key) {
        *o = k.to_ascii_uppercase();
    }
    Some(out)
}

/// The type of a word (case-insensitive), 0 when it is no SQL word.
pub(crate) fn lookup(word: &[u8]) -> u8 {
    let mut buf = [0u8; WORD_MAX];
    let Some(key) = upper(word, &mut buf) else {
        return 0;
    };
    let words = &tables().words;
    match words.binary_search_by(|(w, _)| by_len(w, key)) {
        Ok(i) => words[i].1,
        Err(_) => 0,
    }
}

/// Can `word` start a multi-word SQL word (`UNION` of `UNION ALL`)?
pub(crate) fn starts_phrase(word: &[u8]) -> bool {
    let mut buf = [0u8; WORD_MAX];
    match upper(word, &mut buf) {
        Some(key) => tables().firsts.binary_search_by(|w| by_len(w, key)).is_ok(),
        None => false,
    }
}

/// Is this fingerprint (token types) one of an injection?
pub(crate) fn is_fingerprint(fp: &[u8]) -> bool {
    let mut buf = [0u8; WORD_MAX];
    match upper(fp, &mut buf) {
        Some(key) => tables()
            .fingerprints
            .binary_search_by(|f| by_len(f, key))
            .is_ok(),
        None => false,
    }
}

/// Loads the tables now (a gateway does it when a route turns checks on, not on a call).
pub(crate) fn warm() {
    tables();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_hold_what_libinjection_ships() {
        assert_eq!(tables().words.len(), 985);
        assert_eq!(tables().fingerprints.len(), 8367);
        assert_eq!(lookup(b"select"), b'E');
        assert_eq!(lookup(b"UNION ALL"), b'U');
        assert_eq!(lookup(b"sleep"), b'f');
        assert_eq!(lookup(b"||"), b'&');
        assert_eq!(lookup(b"nothing-here"), 0);
        assert!(is_fingerprint(b"s&1"));
        assert!(is_fingerprint(b"1UE"));
        assert!(!is_fingerprint(b"n"));
        assert!(starts_phrase(b"union"));
        assert!(starts_phrase(b"ORDER"));
        assert!(!starts_phrase(b"<"));
        assert!(!starts_phrase(b"ALL"));
        assert!(starts_phrase(b"AT TIME"));
    }
}
