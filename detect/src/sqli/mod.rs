//! SQL-injection detection the way libinjection does it: the input is tokenized as SQL (as
//! is, and as if it followed a `'` or a `"`), runs of tokens are folded (`1+1` → `1`), and the
//! types of the first five tokens — the fingerprint, such as `s&1` for `' or 1` — are looked up
//! in libinjection's list of fingerprints seen in injections, with a few rules against false
//! positives on short ones. A port written for this crate; the word list, the fingerprints
//! and the test cases are libinjection's (see `NOTICE`).

mod fold;
mod tokens;
mod words;

use std::fmt;

pub(crate) use words::warm;

/// Token types (libinjection's one-letter codes, which make up the fingerprints).
pub(crate) mod kind {
    pub const NONE: u8 = 0;
    pub const KEYWORD: u8 = b'k';
    pub const UNION: u8 = b'U';
    pub const GROUP: u8 = b'B';
    pub const EXPRESSION: u8 = b'E';
    pub const SQLTYPE: u8 = b't';
    pub const FUNCTION: u8 = b'f';
    pub const BAREWORD: u8 = b'n';
    pub const NUMBER: u8 = b'1';
    pub const VARIABLE: u8 = b'v';
    pub const STRING: u8 = b's';
    pub const OPERATOR: u8 = b'o';
    pub const LOGIC_OPERATOR: u8 = b'&';
    pub const COMMENT: u8 = b'c';
    pub const COLLATE: u8 = b'A';
    pub const LEFTPARENS: u8 = b'(';
    pub const RIGHTPARENS: u8 = b')';
    pub const LEFTBRACE: u8 = b'{';
    pub const RIGHTBRACE: u8 = b'}';
    pub const DOT: u8 = b'.';
    pub const COMMA: u8 = b',';
    pub const COLON: u8 = b':';
    pub const SEMICOLON: u8 = b';';
    pub const TSQL: u8 = b'T';
    pub const UNKNOWN: u8 = b'?';
    pub const EVIL: u8 = b'X';
    pub const BACKSLASH: u8 = b'\\';
}

/// Parsing modes: the context the input is read in, and the SQL dialect's comments.
pub(crate) mod flag {
    pub const QUOTE_NONE: u32 = 1;
    pub const QUOTE_SINGLE: u32 = 2;
    pub const QUOTE_DOUBLE: u32 = 4;
    pub const SQL_ANSI: u32 = 8;
    pub const SQL_MYSQL: u32 = 16;
}

/// Most tokens in a fingerprint.
pub(crate) const MAX_TOKENS: usize = 5;
/// Bytes of a token's value kept (libinjection's 32-byte buffer less its terminator).
pub(crate) const VAL_MAX: usize = 31;

/// One SQL token: its type, where it starts, and up to [`VAL_MAX`] bytes of it.
#[derive(Clone, Copy, Default)]
pub(crate) struct Token {
    pub pos: usize,
    pub len: usize,
    /// For variables: how many `@` opened it.
    pub count: u8,
    pub kind: u8,
    pub str_open: u8,
    pub str_close: u8,
    pub val: [u8; VAL_MAX],
}

impl Token {
    pub fn val(&self) -> &[u8] {
        &self.val[..self.len]
    }

    /// The byte at `i` of the value, 0 past its end (as C's terminator reads).
    pub fn at(&self, i: usize) -> u8 {
        if i < self.len {
            self.val[i]
        } else {
            0
        }
    }

    pub fn assign(&mut self, kind: u8, pos: usize, value: &[u8]) {
        let len = value.len().min(VAL_MAX);
        self.kind = kind;
        self.pos = pos;
        self.len = len;
        self.val[..len].copy_from_slice(&value[..len]);
    }

    pub fn assign_char(&mut self, kind: u8, pos: usize, value: u8) {
        self.kind = kind;
        self.pos = pos;
        self.len = 1;
        self.val[0] = value;
    }

    /// Is the value this upper-case word (ASCII case-insensitive)?
    pub fn is(&self, upper: &[u8]) -> bool {
        self.val().eq_ignore_ascii_case(upper)
    }

    pub fn is_arithmetic_op(&self) -> bool {
        self.kind == kind::OPERATOR && self.len == 1 && b"*/-+%".contains(&self.val[0])
    }

    pub fn is_unary_op(&self) -> bool {
        if self.kind != kind::OPERATOR {
            return false;
        }
        match self.len {
            1 => b"+-!~".contains(&self.val[0]),
            2 => self.val[0] == b'!' && self.val[1] == b'!',
            3 => self.is(b"NOT"),
            _ => false,
        }
    }
}

/// The parse of one input in one mode.
pub(crate) struct State<'a> {
    pub s: &'a [u8],
    pub flags: u32,
    pub pos: usize,
    pub tokens: [Token; 8],
    /// The token the tokenizer writes next.
    pub current: usize,
    pub fingerprint: [u8; MAX_TOKENS + 1],
    pub fingerprint_len: usize,
    pub stats_comment_ddx: u32,
    pub stats_comment_hash: u32,
    pub stats_tokens: u32,
}

impl<'a> State<'a> {
    pub fn new(s: &'a [u8], flags: u32) -> State<'a> {
        State {
            s,
            flags: if flags == 0 {
                flag::QUOTE_NONE | flag::SQL_ANSI
            } else {
                flags
            },
            pos: 0,
            tokens: [Token::default(); 8],
            current: 0,
            fingerprint: [0; MAX_TOKENS + 1],
            fingerprint_len: 0,
            stats_comment_ddx: 0,
            stats_comment_hash: 0,
            stats_tokens: 0,
        }
    }

    pub fn cur(&mut self) -> &mut Token {
        &mut self.tokens[self.current]
    }

    /// Tokenizes and folds in `flags`' mode and keeps the fingerprint.
    fn fingerprint(&mut self, flags: u32) -> &[u8] {
        *self = State::new(self.s, flags);
        let tlen = fold::fold(self);
        // An unclosed, empty backtick word at the end: PHP's backtick "comment".
        if tlen > 2 {
            let last = &mut self.tokens[tlen - 1];
            if last.kind == kind::BAREWORD
                && last.str_open == b'`'
                && last.len == 0
                && last.str_close == 0
            {
                last.kind = kind::COMMENT;
            }
        }
        for i in 0..tlen {
            self.fingerprint[i] = self.tokens[i].kind;
        }
        self.fingerprint_len = tlen;
        // A token that could not be parsed the same by every database: evil as a whole.
        if self.fingerprint[..tlen].contains(&kind::EVIL) {
            self.fingerprint = [0; MAX_TOKENS + 1];
            self.fingerprint[0] = kind::EVIL;
            self.fingerprint_len = 1;
            self.tokens[0] = Token::default();
            self.tokens[0].kind = kind::EVIL;
            self.tokens[0].val[0] = kind::EVIL;
            self.tokens[0].len = 1;
            self.tokens[1].kind = kind::NONE;
        }
        &self.fingerprint[..self.fingerprint_len]
    }

    fn fp(&self) -> &[u8] {
        &self.fingerprint[..self.fingerprint_len]
    }

    /// The fingerprint is an injection's and no rule says the input is harmless.
    fn check_fingerprint(&self) -> bool {
        !self.fp().is_empty() && words::is_fingerprint(self.fp()) && self.not_whitelisted()
    }

    /// Rules against false positives of short fingerprints (libinjection's
    /// `not_whitelist`): true when the input still looks like an injection.
    fn not_whitelisted(&self) -> bool {
        let fp = self.fp();
        let t = &self.tokens;
        let tlen = fp.len();
        // SQL Server's audit log hides statements with `sp_password` in a comment.
        if tlen > 1 && fp[tlen - 1] == kind::COMMENT && contains(self.s, b"sp_password") {
            return true;
        }
        match tlen {
            2 => {
                if fp[1] == kind::UNION {
                    // `1 union` alone is ordinary text; folded or commented, it is not.
                    return self.stats_tokens != 2;
                }
                if t[1].at(0) == b'#' {
                    // `#` is too common in text to count (`7" #2 needle`) — except as MySQL's
                    // login bypass: one word closed by the input's quote, then an empty `#`
                    // comment ending the input (`admin' #`). Beyond libinjection.
                    return t[0].kind == kind::STRING
                        && t[0].str_open == 0
                        && matches!(t[0].str_close, b'\'' | b'"')
                        && !t[0].val().is_empty()
                        && t[0]
                            .val()
                            .iter()
                            .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
                        && t[1].val().iter().skip(1).all(|c| c.is_ascii_whitespace());
                }
                if t[0].kind == kind::BAREWORD && t[1].kind == kind::COMMENT && t[1].at(0) != b'/' {
                    return false;
                }
                if t[0].kind == kind::NUMBER && t[1].kind == kind::COMMENT {
                    if t[1].at(0) == b'/' {
                        return true;
                    }
                    if self.stats_tokens > 2 {
                        return true;
                    }
                    // Only a true number right before the comment (`1234 --`, `1--`), not
                    // base64-looking text such as `1234-ABCD--`.
                    let byte = |i: usize| self.s.get(i).copied().unwrap_or(0);
                    let ch = byte(t[0].len);
                    if ch <= 32 || ch >= 128 {
                        return true;
                    }
                    if ch == b'/' && byte(t[0].len + 1) == b'*' {
                        return true;
                    }
                    if ch == b'-' && byte(t[0].len + 1) == b'-' {
                        return true;
                    }
                    return false;
                }
                // `--` inside plain text is common: only an input ending with it counts.
                if t[1].len > 2 && t[1].at(0) == b'-' {
                    return false;
                }
                true
            }
            3 => {
                if fp == b"sos" || fp == b"s&s" {
                    // `...foo' + 'bar...`: open at both ends, data in each string.
                    return t[0].str_open == 0
                        && t[2].str_close == 0
                        && t[0].str_close == t[2].str_open;
                }
                if matches!(fp, b"s&n" | b"n&1" | b"1&1" | b"1&v" | b"1&s") {
                    // `sexy and 17` is text; `sexy and 17<18` is not.
                    return self.stats_tokens != 3;
                }
                if t[1].kind == kind::KEYWORD
                    && (t[1].len < 5 || !t[1].val()[..4].eq_ignore_ascii_case(b"INTO"))
                {
                    // Only MySQL's `INTO OUTFILE` / `INTO DUMPFILE` stay suspicious.
                    return false;
                }
                true
            }
            _ => true,
        }
    }

    fn reparse_as_mysql(&self) -> bool {
        self.stats_comment_ddx > 0 || self.stats_comment_hash > 0
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The fingerprint of an input found to be an SQL injection (`s&1`, `1UE`, ...).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    bytes: [u8; MAX_TOKENS],
    len: u8,
}

impl Fingerprint {
    fn of(fp: &[u8]) -> Fingerprint {
        let mut bytes = [0; MAX_TOKENS];
        let len = fp.len().min(MAX_TOKENS);
        bytes[..len].copy_from_slice(&fp[..len]);
        Fingerprint {
            bytes,
            len: len as u8,
        }
    }

    pub fn as_str(&self) -> &str {
        // Token types are ASCII.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("?")
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.as_str())
    }
}

/// Is `input` an SQL injection? Its fingerprint when it is.
///
/// Tried as is (ANSI, then MySQL comments when the input had `#` or `--x`), then as if it
/// followed a `'` when it holds one, then a `"` (libinjection's contexts); then, when it can
/// only continue a statement — it opens with `)`, `;`, a logic operator (`or 1=1`) or
/// `ORDER BY`/`GROUP BY` — as if it followed a number (`1 or 1=1`), which is how such a
/// payload reaches the database (a context libinjection does not try). Work is linear in
/// the input's length.
pub fn sqli(input: &[u8]) -> Option<Fingerprint> {
    if input.is_empty() {
        return None;
    }
    if let Some(fp) = sqli_in_contexts(input) {
        return Some(fp);
    }
    if continues_a_statement(input) {
        let mut after_number = Vec::with_capacity(input.len() + 2);
        after_number.extend_from_slice(b"1 ");
        after_number.extend_from_slice(input);
        let mut st = State::new(&after_number, 0);
        for mode in [flag::SQL_ANSI, flag::SQL_MYSQL] {
            if mode == flag::SQL_MYSQL && !st.reparse_as_mysql() {
                break;
            }
            st.fingerprint(flag::QUOTE_NONE | mode);
            // `group by color` is text: after ORDER BY / GROUP BY some SQL must follow (a
            // call, a parenthesis, a comment, another statement).
            let by = st.fp().get(1) == Some(&kind::GROUP);
            let sql_follows = st.fp()[2.min(st.fp().len())..].iter().any(|k| {
                matches!(
                    *k,
                    kind::FUNCTION
                        | kind::LEFTPARENS
                        | kind::COMMENT
                        | kind::SEMICOLON
                        | kind::UNION
                )
            });
            if st.check_fingerprint() && (!by || sql_follows) {
                return Some(Fingerprint::of(st.fp()));
            }
        }
    }
    None
}

/// Does the input open with what can only follow an operand: `)`, `;`, a logic operator,
/// `ORDER BY`/`GROUP BY`?
fn continues_a_statement(input: &[u8]) -> bool {
    let mut st = State::new(input, flag::QUOTE_NONE | flag::SQL_ANSI);
    if !tokens::tokenize(&mut st) {
        return false;
    }
    let first = st.tokens[0];
    match first.kind {
        kind::RIGHTPARENS | kind::SEMICOLON | kind::LOGIC_OPERATOR => true,
        // `ORDER`/`GROUP` read alone are words; with `BY` they fold into one.
        _ => {
            let word = first.val();
            (word.eq_ignore_ascii_case(b"ORDER") || word.eq_ignore_ascii_case(b"GROUP"))
                && tokens::tokenize(&mut st)
                && st.tokens[0].is(b"BY")
        }
    }
}

fn sqli_in_contexts(input: &[u8]) -> Option<Fingerprint> {
    let mut st = State::new(input, 0);
    let modes: [(u32, bool); 3] = [
        (flag::QUOTE_NONE, true),
        (flag::QUOTE_SINGLE, input.contains(&b'\'')),
        (flag::QUOTE_DOUBLE, input.contains(&b'"')),
    ];
    for (quote, applies) in modes {
        if !applies {
            continue;
        }
        if quote == flag::QUOTE_DOUBLE {
            // libinjection reads the double-quote context with MySQL comments only.
            st.fingerprint(quote | flag::SQL_MYSQL);
            if st.check_fingerprint() {
                return Some(Fingerprint::of(st.fp()));
            }
            continue;
        }
        st.fingerprint(quote | flag::SQL_ANSI);
        if st.check_fingerprint() {
            return Some(Fingerprint::of(st.fp()));
        }
        if st.reparse_as_mysql() {
            st.fingerprint(quote | flag::SQL_MYSQL);
            if st.check_fingerprint() {
                return Some(Fingerprint::of(st.fp()));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;

/// The fingerprint of `input` in each of libinjection's modes (as is ANSI, as is MySQL,
/// after `'` ANSI, after `'` MySQL, after `"` MySQL), matched or not: for tuning.
#[doc(hidden)]
pub fn fingerprints(input: &[u8]) -> Vec<(String, bool)> {
    let mut st = State::new(input, 0);
    let modes = [
        flag::QUOTE_NONE | flag::SQL_ANSI,
        flag::QUOTE_NONE | flag::SQL_MYSQL,
        flag::QUOTE_SINGLE | flag::SQL_ANSI,
        flag::QUOTE_SINGLE | flag::SQL_MYSQL,
        flag::QUOTE_DOUBLE | flag::SQL_MYSQL,
    ];
    modes
        .iter()
        .map(|m| {
            let fp = String::from_utf8_lossy(st.fingerprint(*m)).into_owned();
            (fp, st.check_fingerprint())
        })
        .collect()
}
