//! Detectors: card numbers, Taiwan IDs, e-mail addresses and phone numbers found in free text
//! and masked in place, in one left-to-right pass.
//!
//! The pass looks at each byte once, plus a bounded look-ahead (at most ~25 bytes for a card or
//! phone, the domain of an e-mail) or look-back (the local part of an e-mail) where a candidate
//! starts; a run of letters and digits that starts nothing is skipped whole. Text with nothing
//! to mask is returned borrowed, without an allocation.
//!
//! What each finds (a match must stand alone: no ASCII letter or digit right before or after):
//! - **card**: 13–19 digits, single spaces or dashes allowed between groups, first digit 2–6
//!   (the card networks' ranges; this keeps millisecond and microsecond timestamps, which start
//!   with 1, out), passing the Luhn check. A digit run that fails Luhn (an order id) is left.
//!   When a longer run fails, shorter ones ending at a group boundary are tried.
//! - **tw_id**: a letter (either case), then `1`/`2` (citizens) or `8`/`9` (new-style resident
//!   certificates), then 8 digits, with the official check digit; also the old-style resident
//!   certificate (letter, `A`–`D`, 8 digits, same checksum with the second letter's code).
//! - **email**: `local@domain.tld`, the local part of `[A-Za-z0-9._%+-]`, the domain at least
//!   two labels with an alphabetic top level of 2+ letters. The domain is kept.
//! - **phone**: Taiwan mobiles (`09` + 8 digits: `0912345678`, `0912-345-678`, `0912 345 678`;
//!   also `886 912 345 678` without the `+`) and international numbers written with `+` (`+886 912 345 678`, `+1 (415) 555-2671`):
//!   9–15 digits, single separators (space, dash, parentheses), not followed by `.digit` (an
//!   amount). Numbers without `+` or `09` are not taken: timestamps, amounts and ids stay.
//!
//! Masking replaces the letters and digits of a match with `*`, keeping separators, so the
//! length and shape stay readable: `**** **** **** 1111`, `A******789`, `a****@example.com`,
//! `****-***-678`. `keep_first`/`keep_last` count letters and digits only; whatever they say,
//! at least half of them are masked (`keep_first` gives way first).

use std::borrow::Cow;

use gatewatch_model::mask::{Detector, DetectorKind};

/// What to keep of one kind of match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Keep {
    pub first: u8,
    pub last: u8,
}

/// The enabled detectors of one API, ready to run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Detectors {
    card: Option<Keep>,
    tw_id: Option<Keep>,
    email: Option<Keep>,
    phone: Option<Keep>,
}

impl Detectors {
    /// From an API's list; when a kind is listed twice the last one wins.
    pub fn new(list: &[Detector]) -> Detectors {
        let mut d = Detectors::default();
        for det in list {
            let keep = Some(Keep {
                first: det.keep_first,
                last: det.keep_last,
            });
            match det.kind {
                DetectorKind::Card => d.card = keep,
                DetectorKind::TwId => d.tw_id = keep,
                DetectorKind::Email => d.email = keep,
                DetectorKind::Phone => d.phone = keep,
            }
        }
        d
    }

    pub fn is_empty(&self) -> bool {
        *self == Detectors::default()
    }

    /// `text` with every match masked; borrowed when nothing matched.
    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.is_empty() {
            return Cow::Borrowed(text);
        }
        let b = text.as_bytes();
        let n = b.len();
        let mut w = Writer {
            text,
            out: None,
            copied: 0,
        };
        let mut i = 0;
        while i < n {
            let c = b[i];
            if c.is_ascii_alphanumeric() {
                if boundary_before(b, i) {
                    let found = if c.is_ascii_digit() {
                        match self.phone.and_then(|k| Some((k, tw_mobile(b, i)?))) {
                            Some(f) => Some(f),
                            None => self.card.and_then(|k| Some((k, card(b, i)?))),
                        }
                    } else {
                        self.tw_id.and_then(|k| Some((k, tw_id(b, i)?)))
                    };
                    if let Some((keep, end)) = found {
                        w.masked(i, end, keep);
                        i = end;
                        continue;
                    }
                }
                // Nothing starts inside a word: skip it whole.
                while i < n && b[i].is_ascii_alphanumeric() {
                    i += 1;
                }
                continue;
            }
            let found = match c {
                b'+' if boundary_before(b, i) => {
                    self.phone.and_then(|k| Some((k, i, intl_phone(b, i)?)))
                }
                b'@' => self
                    .email
                    .and_then(|k| email(b, i, w.copied).map(|(s, e)| (k, s, e))),
                _ => None,
            };
            match found {
                Some((keep, start, end)) if c == b'@' => {
                    // Only the local part is masked; the domain is kept.
                    w.masked(start, i, keep);
                    i = end;
                }
                Some((keep, start, end)) => {
                    w.masked(start, end, keep);
                    i = end;
                }
                None => i += 1,
            }
        }
        w.finish()
    }
}

/// The output being built: untouched text is copied lazily, only once something matched.
struct Writer<'a> {
    text: &'a str,
    out: Option<String>,
    /// Bytes before this are in `out` (or, while `out` is `None`, unchanged).
    copied: usize,
}

impl<'a> Writer<'a> {
    fn masked(&mut self, start: usize, end: usize, keep: Keep) {
        let o = self
            .out
            .get_or_insert_with(|| String::with_capacity(self.text.len()));
        o.push_str(&self.text[self.copied..start]);
        push_masked(o, &self.text.as_bytes()[start..end], keep);
        self.copied = end;
    }

    fn finish(self) -> Cow<'a, str> {
        match self.out {
            None => Cow::Borrowed(self.text),
            Some(mut o) => {
                o.push_str(&self.text[self.copied..]);
                Cow::Owned(o)
            }
        }
    }
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

fn boundary_before(b: &[u8], i: usize) -> bool {
    i == 0 || !is_word(b[i - 1])
}

fn boundary_after(b: &[u8], end: usize) -> bool {
    end >= b.len() || !is_word(b[end])
}

/// Pushes `span` (ASCII) with its letters and digits masked as `keep` says.
pub(crate) fn push_masked(out: &mut String, span: &[u8], keep: Keep) {
    let total = span.iter().filter(|c| c.is_ascii_alphanumeric()).count();
    let (first, last) = kept(total, keep);
    let mut k = 0;
    for &c in span {
        if c.is_ascii_alphanumeric() {
            out.push(if k < first || k >= total - last {
                c as char
            } else {
                '*'
            });
            k += 1;
        } else {
            out.push(c as char);
        }
    }
}

/// How many to keep at each end of `total` characters: at most half in all.
fn kept(total: usize, keep: Keep) -> (usize, usize) {
    let budget = total / 2;
    let last = (keep.last as usize).min(budget);
    let first = (keep.first as usize).min(budget - last);
    (first, last)
}

fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (k, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d);
        if k % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// A card number starting at `i` (a digit at a word boundary): its end.
fn card(b: &[u8], i: usize) -> Option<usize> {
    if !(b'2'..=b'6').contains(&b[i]) {
        return None;
    }
    let mut digits = [0u8; 19];
    let mut count = 0;
    // Candidate ends: (byte end, digit count) at the end of each group of digits.
    let mut ends: [(usize, usize); 19] = [(0, 0); 19];
    let mut n_ends = 0;
    let mut j = i;
    loop {
        while j < b.len() && b[j].is_ascii_digit() {
            if count == 19 {
                // More than 19 digits in this group: an id, not a card.
                return best_card(&digits, &ends[..n_ends], b);
            }
            digits[count] = b[j] - b'0';
            count += 1;
            j += 1;
        }
        ends[n_ends] = (j, count);
        n_ends += 1;
        let sep = j < b.len() && (b[j] == b' ' || b[j] == b'-');
        if sep && j + 1 < b.len() && b[j + 1].is_ascii_digit() && count < 19 {
            j += 1;
        } else {
            break;
        }
    }
    best_card(&digits, &ends[..n_ends], b)
}

/// The longest candidate end that is 13–19 digits, stands alone and passes Luhn.
fn best_card(digits: &[u8; 19], ends: &[(usize, usize)], b: &[u8]) -> Option<usize> {
    ends.iter()
        .rev()
        .find(|&&(end, count)| {
            (13..=19).contains(&count) && boundary_after(b, end) && luhn(&digits[..count])
        })
        .map(|&(end, _)| end)
}

/// Numeric code of an ID's leading letter (A=10 … Z=33, in the official, not alphabetical,
/// order).
fn letter_code(c: u8) -> Option<u32> {
    const CODES: [u8; 26] = [
        10, 11, 12, 13, 14, 15, 16, 17, 34, 18, 19, 20, 21, 22, 35, 23, 24, 25, 26, 27, 28, 29, 32,
        30, 31, 33,
    ];
    let u = c.to_ascii_uppercase();
    u.is_ascii_uppercase()
        .then(|| u32::from(CODES[usize::from(u - b'A')]))
}

/// A Taiwan national ID or resident certificate starting at `i`: its end.
fn tw_id(b: &[u8], i: usize) -> Option<usize> {
    let end = i + 10;
    if end > b.len() || !boundary_after(b, end) {
        return None;
    }
    let code = letter_code(b[i])?;
    let second = b[i + 1];
    let rest = &b[i + 2..end];
    if !rest.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Weights over: letter tens, letter units, then the 9 characters after the letter.
    let d2 = match second {
        b'1' | b'2' | b'8' | b'9' => u32::from(second - b'0'),
        // Old-style resident certificate: the second letter's code, units digit.
        b'A'..=b'D' => letter_code(second)? % 10,
        _ => return None,
    };
    let mut sum = code / 10 + (code % 10) * 9 + d2 * 8;
    for (k, &c) in rest.iter().enumerate() {
        let w = if k == 7 { 1 } else { 7 - k as u32 };
        sum += u32::from(c - b'0') * w;
    }
    sum.is_multiple_of(10).then_some(end)
}

/// Digits with single separators from `seps` (parentheses may follow or precede a space)
/// starting at `j`; returns (end, digit count, first digits).
fn digit_run(b: &[u8], mut j: usize, seps: &[u8], max: usize) -> (usize, usize) {
    let mut count = 0;
    let mut end = j;
    while j < b.len() {
        let c = b[j];
        if c.is_ascii_digit() {
            count += 1;
            j += 1;
            end = j;
            if count > max {
                return (end, count);
            }
        } else if seps.contains(&c) {
            // Up to two separator characters in a row, e.g. ") " or " (".
            let mut k = j + 1;
            if k < b.len() && seps.contains(&b[k]) && b[k] != c {
                k += 1;
            }
            if k < b.len() && b[k].is_ascii_digit() {
                j = k;
            } else {
                break;
            }
        } else {
            break;
        }
    }
    // A closing parenthesis right after the last digit belongs to the number's shape only
    // when digits follow; otherwise the number ends at its last digit.
    (end, count)
}

/// Is the number ending at `end` followed by something that makes it not a phone: a letter
/// or digit, or a decimal part (`.5`)?
fn continues(b: &[u8], end: usize) -> bool {
    !boundary_after(b, end)
        || (end + 1 < b.len() && (b[end] == b'.' || b[end] == b',') && b[end + 1].is_ascii_digit())
}

/// A Taiwan mobile number starting at `i`: `09` and 8 more digits, or the same with the
/// country code and no `+` (`886 9` and 8 digits).
fn tw_mobile(b: &[u8], i: usize) -> Option<usize> {
    let want = if b[i..].starts_with(b"09") {
        10
    } else if b[i..].starts_with(b"886") {
        12
    } else {
        return None;
    };
    let (end, count) = digit_run(b, i, b" -", want);
    if count != want || continues(b, end) || followed_by_group(b, end) {
        return None;
    }
    // After `886`, the national number must be a mobile's: its first digit is 9.
    let ninth = b[i..end].iter().filter(|c| c.is_ascii_digit()).nth(3);
    (want == 10 || ninth == Some(&b'9')).then_some(end)
}

/// `+` and 9–15 digits.
fn intl_phone(b: &[u8], i: usize) -> Option<usize> {
    if !matches!(b.get(i + 1), Some(b'1'..=b'9')) {
        return None;
    }
    let (end, count) = digit_run(b, i + 1, b" -()", 15);
    ((9..=15).contains(&count) && !continues(b, end) && !followed_by_group(b, end)).then_some(end)
}

/// A separator and more digits right after: the number goes on (it is longer than a phone).
fn followed_by_group(b: &[u8], end: usize) -> bool {
    end + 1 < b.len() && b[end] == b'-' && b[end + 1].is_ascii_digit()
}

fn is_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

/// An e-mail address around the `@` at `at`: (start of the local part, end of the domain).
/// The local part does not reach back before `floor` (text already written out).
fn email(b: &[u8], at: usize, floor: usize) -> Option<(usize, usize)> {
    let mut start = at;
    while start > floor && at - start < 64 && is_local(b[start - 1]) {
        start -= 1;
    }
    // Inside a JSON string, `\n` or `\t` right before an address is an escape, not part of it.
    if start > 0 && start < at && b[start - 1] == b'\\' {
        start += 1;
    }
    while start < at && matches!(b[start], b'.' | b'+' | b'-') {
        start += 1;
    }
    if start == at {
        return None;
    }
    // Domain: labels of letters, digits and dashes, separated by single dots.
    let mut j = at + 1;
    let mut labels = 0;
    let mut last_label_alpha = false;
    let mut end = at + 1;
    loop {
        let s = j;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'-') {
            j += 1;
        }
        if j == s {
            break;
        }
        labels += 1;
        last_label_alpha = j - s >= 2 && b[s..j].iter().all(u8::is_ascii_alphabetic);
        end = j;
        if j + 1 < b.len() && b[j] == b'.' && b[j + 1].is_ascii_alphanumeric() {
            j += 1;
        } else {
            break;
        }
    }
    (labels >= 2 && last_label_alpha).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Detectors {
        Detectors::new(&Detector::defaults())
    }

    fn m(text: &str) -> String {
        all().mask(text).into_owned()
    }

    #[test]
    fn cards_pass_luhn_and_keep_the_last_four() {
        assert_eq!(m("4111111111111111"), "************1111");
        assert_eq!(m("card 4111 1111 1111 1111."), "card **** **** **** 1111.");
        assert_eq!(m("5500-0000-0000-0004"), "****-****-****-0004");
        assert_eq!(m("amex 378282246310005"), "amex ***********0005");
        assert_eq!(m("卡號4111111111111111號"), "卡號************1111號");
        assert_eq!(m("a=4111111111111111&b"), "a=************1111&b");
        // 19 digits (UnionPay) and a 13-digit Visa.
        assert_eq!(m("6212345678901234567").matches('*').count(), 0); // fails Luhn
        assert_eq!(m("4222222222222"), "*********2222");
    }

    #[test]
    fn digit_runs_that_are_not_cards_stay() {
        for s in [
            "4111111111111112",     // Luhn fails: an order id
            "1764000000123",        // epoch milliseconds (starts with 1)
            "1764000000123456",     // epoch microseconds
            "41111111111111111111", // 20 digits
            "x4111111111111111",    // inside a word
            "4111111111111111x",    // inside a word
            "2024-01-15 12:00:00",  // a date
            "order 411111111111",   // 12 digits
        ] {
            assert_eq!(m(s), s, "{s}");
        }
        // A card followed by more digit groups: the longest valid prefix is found.
        assert_eq!(m("4111 1111 1111 1111 99"), "**** **** **** 1111 99");
        // Date then card.
        assert_eq!(
            m("2024-01-15 4111111111111111"),
            "2024-01-15 ************1111"
        );
    }

    #[test]
    fn taiwan_ids_need_the_check_digit() {
        assert_eq!(m("A123456789"), "A******789");
        assert_eq!(m("id=a123456789;"), "id=a******789;");
        assert_eq!(m("A123456788"), "A123456788");
        assert_eq!(m("A323456789"), "A323456789"); // 3 is no gender digit
        assert_eq!(m("XA123456789"), "XA123456789");
        assert_eq!(m("A1234567890"), "A1234567890");
        // New-style resident certificate (8/9) and old-style (second letter A–D).
        assert!(tw_id(b"A800000014", 0).is_some());
        assert!(tw_id(b"AA00000009", 0).is_some());
        assert!(tw_id(b"AA00000008", 0).is_none());
    }

    #[test]
    fn emails_keep_the_domain() {
        assert_eq!(
            m("mail alice@example.com now"),
            "mail a****@example.com now"
        );
        assert_eq!(
            m("<bob.smith+tag@mail.co.uk>"),
            "<b**.*****+***@mail.co.uk>"
        );
        // One character: nothing may be kept of it.
        assert_eq!(m("x@y.tw"), "*@y.tw");
        assert_eq!(m("user@localhost"), "user@localhost");
        assert_eq!(m("a@b.c1"), "a@b.c1");
        assert_eq!(m("@example.com"), "@example.com");
        assert_eq!(m(r#""x\nbob@ex.com""#), r#""x\nb**@ex.com""#);
    }

    #[test]
    fn phones_taiwan_and_international() {
        assert_eq!(m("0912345678"), "*******678");
        assert_eq!(m("tel 0912-345-678."), "tel ****-***-678.");
        assert_eq!(m("0912 345 678"), "**** *** 678");
        assert_eq!(m("+886912345678"), "+*********678");
        assert_eq!(m("+886-912-345-678"), "+***-***-***-678");
        assert_eq!(m("+1 (415) 555-2671"), "+* (***) ***-*671");
        assert_eq!(m("call +44 20 7946 0958"), "call +** ** **** *958");
        assert_eq!(m("886912345678"), "*********678");
        assert_eq!(m("886-912-345-678"), "***-***-***-678");
        assert_eq!(m("+886 (0)912 345 678"), "+*** (*)*** *** 678");
    }

    #[test]
    fn phones_leave_timestamps_amounts_and_ids() {
        for s in [
            "1764000000",                // epoch seconds
            "2024-11-25T09:12:34+08:00", // an ISO time
            "+12345678",                 // 8 digits: too short
            "+123456789.50",             // an amount
            "+1234567890,50",
            "091234567",   // 9 digits
            "09123456789", // 11 digits
            "0812345678",  // not a mobile
            "x0912345678", // in a word
            "0912-345-678-9",
            "total 1+912345678",
            "886212345678", // a Taipei landline with the country code
            "88691234567",  // one digit short
            "price 12,345,678.90",
            "ip 192.168.100.200",
            "uuid 0190f3c2-5e45-7d4e-b7dc-1c2ab6511f31",
            "version 10.0.19045.3930",
            "order #20241125000123",
        ] {
            assert_eq!(m(s), s, "{s}");
        }
    }

    #[test]
    fn keep_options_and_the_half_rule() {
        let d = Detectors::new(&[Detector {
            kind: DetectorKind::Card,
            keep_first: 6,
            keep_last: 4,
        }]);
        // 16 digits: at most 8 kept, keep_first gives way.
        assert_eq!(d.mask("4111111111111111"), "4111********1111");
        let d = Detectors::new(&[Detector {
            kind: DetectorKind::Phone,
            keep_first: 0,
            keep_last: 0,
        }]);
        assert_eq!(d.mask("0912345678"), "**********");
        // Disabled kinds are left alone.
        assert_eq!(
            d.mask("4111111111111111 A123456789"),
            "4111111111111111 A123456789"
        );
        assert!(matches!(
            Detectors::new(&[]).mask("0912345678"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(all().mask("nothing here 12345"), Cow::Borrowed(_)));
    }

    #[test]
    fn many_in_one_text() {
        assert_eq!(
            m("{\"c\":\"4111111111111111\",\"id\":\"A123456789\",\"e\":\"z@ex.com\",\"p\":\"0912345678\"}"),
            "{\"c\":\"************1111\",\"id\":\"A******789\",\"e\":\"*@ex.com\",\"p\":\"*******678\"}"
        );
    }
}
