//! The SQL tokenizer: one parser per kind of first byte, each writing the current token and
//! returning where the next one starts (always past the current position, so a scan ends).

use super::{flag, kind, words, State, Token, VAL_MAX};

/// Reads the next token into `st.tokens[st.current]`; false at the end of the input.
pub(crate) fn tokenize(st: &mut State) -> bool {
    let slen = st.s.len();
    if slen == 0 {
        return false;
    }
    *st.cur() = Token::default();
    // In a quote context the input is read as if a quote came first.
    if st.pos == 0 && st.flags & (flag::QUOTE_SINGLE | flag::QUOTE_DOUBLE) != 0 {
        let delim = if st.flags & flag::QUOTE_SINGLE != 0 {
            b'\''
        } else {
            b'"'
        };
        let s = st.s;
        st.pos = string_core(s, 0, st.cur(), delim, 0);
        st.stats_tokens += 1;
        return true;
    }
    while st.pos < slen {
        st.pos = dispatch(st);
        if st.tokens[st.current].kind != kind::NONE {
            st.stats_tokens += 1;
            return true;
        }
    }
    false
}

fn dispatch(st: &mut State) -> usize {
    match st.s[st.pos] {
        0..=32 | 127 | 160 => st.pos + 1,
        b'!' | b'&' | b'*' | b':' | b'<' | b'=' | b'>' | b'|' => operator2(st),
        b'"' | b'\'' => string(st),
        b'#' => hash(st),
        b'$' => money(st),
        b'%' | b'+' | b'^' | b'~' => operator1(st),
        b'(' | b')' | b',' | b';' | b'{' | b'}' => single(st),
        b'-' => dash(st),
        b'.' | b'0'..=b'9' => number(st),
        b'/' => slash(st),
        b'?' | b']' => other(st),
        b'@' => var(st),
        b'B' | b'b' => bstring(st),
        b'E' | b'e' => estring(st),
        b'N' | b'n' => nqstring(st),
        b'Q' | b'q' => qstring(st),
        b'U' | b'u' => ustring(st),
        b'X' | b'x' => xstring(st),
        b'[' => bword(st),
        b'\\' => backslash(st),
        b'`' => tick(st),
        _ => word(st),
    }
}

/// SQL whitespace as libinjection has it (with NUL for Oracle and Latin-1's NBSP).
fn is_white(ch: u8) -> bool {
    matches!(ch, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0xa0 | 0)
}

/// A set of bytes as a table (a lookup per byte scanned, not a search of the set).
struct ByteSet([bool; 256]);

impl ByteSet {
    const fn of(bytes: &[u8]) -> ByteSet {
        let mut t = [false; 256];
        let mut i = 0;
        while i < bytes.len() {
            t[bytes[i] as usize] = true;
            i += 1;
        }
        ByteSet(t)
    }

    fn has(&self, c: u8) -> bool {
        self.0[usize::from(c)]
    }
}

/// Length of the prefix made of `accept` bytes (NUL counts as accepted, as in the C).
fn span(s: &[u8], accept: &ByteSet) -> usize {
    s.iter()
        .position(|c| *c != 0 && !accept.has(*c))
        .unwrap_or(s.len())
}

/// Length of the prefix free of `reject` bytes (NUL always rejects).
fn cspan(s: &[u8], reject: &ByteSet) -> usize {
    s.iter()
        .position(|c| *c == 0 || reject.has(*c))
        .unwrap_or(s.len())
}

const BINARY: ByteSet = ByteSet::of(b"01");
const HEX: ByteSet = ByteSet::of(b"0123456789ABCDEFabcdef");
const MONEY: ByteSet = ByteSet::of(b"0123456789.,");
const LETTERS: ByteSet = ByteSet::of(b"abcdefghjiklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");

fn find(s: &[u8], from: usize, ch: u8) -> Option<usize> {
    s.get(from..)?
        .iter()
        .position(|c| *c == ch)
        .map(|i| from + i)
}

fn find2(s: &[u8], from: usize, c0: u8, c1: u8) -> Option<usize> {
    s.get(from..)?
        .windows(2)
        .position(|w| w[0] == c0 && w[1] == c1)
        .map(|i| from + i)
}

fn find_seq(s: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    s.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| from + i)
}

fn operator1(st: &mut State) -> usize {
    let (pos, ch) = (st.pos, st.s[st.pos]);
    st.cur().assign_char(kind::OPERATOR, pos, ch);
    pos + 1
}

fn other(st: &mut State) -> usize {
    let (pos, ch) = (st.pos, st.s[st.pos]);
    st.cur().assign_char(kind::UNKNOWN, pos, ch);
    pos + 1
}

/// `(`, `)`, `,`, `;`, `{`, `}`: the byte is its own type.
fn single(st: &mut State) -> usize {
    let (pos, ch) = (st.pos, st.s[st.pos]);
    st.cur().assign_char(ch, pos, ch);
    pos + 1
}

fn eol_comment(st: &mut State) -> usize {
    let (s, pos) = (st.s, st.pos);
    match find(s, pos, b'\n') {
        None => {
            st.cur().assign(kind::COMMENT, pos, &s[pos..]);
            s.len()
        }
        Some(end) => {
            st.cur().assign(kind::COMMENT, pos, &s[pos..end]);
            end + 1
        }
    }
}

/// `#`: an operator in ANSI SQL, an end-of-line comment in MySQL.
fn hash(st: &mut State) -> usize {
    st.stats_comment_hash += 1;
    if st.flags & flag::SQL_MYSQL != 0 {
        st.stats_comment_hash += 1;
        eol_comment(st)
    } else {
        let pos = st.pos;
        st.cur().assign_char(kind::OPERATOR, pos, b'#');
        pos + 1
    }
}

fn dash(st: &mut State) -> usize {
    let (s, pos) = (st.s, st.pos);
    let slen = s.len();
    let next_dash = pos + 1 < slen && s[pos + 1] == b'-';
    // `--` then whitespace or the end: a comment everywhere.
    if next_dash && (pos + 2 == slen || (pos + 2 < slen && is_white(s[pos + 2]))) {
        eol_comment(st)
    } else if next_dash && st.flags & flag::SQL_ANSI != 0 {
        // `--x`: a comment in ANSI SQL, two minus signs in MySQL.
        st.stats_comment_ddx += 1;
        eol_comment(st)
    } else {
        st.cur().assign_char(kind::OPERATOR, pos, b'-');
        pos + 1
    }
}

fn slash(st: &mut State) -> usize {
    let (s, pos) = (st.s, st.pos);
    let slen = s.len();
    if pos + 1 == slen || s[pos + 1] != b'*' {
        return operator1(st);
    }
    let end = find2(s, pos + 2, b'*', b'/');
    let clen = match end {
        None => slen - pos,
        Some(e) => e + 2 - pos,
    };
    // A `/*` inside the comment (PostgreSQL nests them) or MySQL's `/*!` executable
    // comment: parsed differently by different databases, so evil.
    let nested = end.is_some_and(|e| find2(&s[..e + 1], pos + 2, b'/', b'*').is_some());
    let mysql = pos + 2 < slen && s[pos + 2] == b'!';
    let ctype = if nested || mysql {
        kind::EVIL
    } else {
        kind::COMMENT
    };
    st.cur().assign(ctype, pos, &s[pos..pos + clen]);
    pos + clen
}

fn backslash(st: &mut State) -> usize {
    let (s, pos) = (st.s, st.pos);
    // MySQL's `\N` is NULL.
    if pos + 1 < s.len() && s[pos + 1] == b'N' {
        st.cur().assign(kind::NUMBER, pos, &s[pos..pos + 2]);
        pos + 2
    } else {
        st.cur().assign_char(kind::BACKSLASH, pos, b'\\');
        pos + 1
    }
}

fn operator2(st: &mut State) -> usize {
    let (s, pos) = (st.s, st.pos);
    let slen = s.len();
    if pos + 1 >= slen {
        return operator1(st);
    }
    if pos + 2 < slen && &s[pos..pos + 3] == b"<=>" {
        st.cur().assign(kind::OPERATOR, pos, &s[pos..pos + 3]);
        return pos + 3;
    }
    let ch = words::lookup(&s[pos..pos + 2]);
    if ch != kind::NONE {
        st.cur().assign(ch, pos, &s[pos..pos + 2]);
        return pos + 2;
    }
    if s[pos] == b':' {
        st.cur().assign(kind::COLON, pos, &s[pos..pos + 1]);
        return pos + 1;
    }
    operator1(st)
}

/// Is the byte at `end` preceded by an odd run of backslashes (so escaped)? `start` bounds
/// the look back.
fn backslash_escaped(s: &[u8], end: usize, start: usize) -> bool {
    // `end` is the quote's index; count backslashes in s[start..end] backwards.
    let run = s[start..end]
        .iter()
        .rev()
        .take_while(|c| **c == b'\\')
        .count();
    run % 2 == 1
}

/// A string from `pos + offset` to the closing `delim` (doubled or backslashed quotes stay
/// inside). `offset` 0 is the simulated opening quote of a quote context.
pub(crate) fn string_core(
    s: &[u8],
    pos: usize,
    tok: &mut Token,
    delim: u8,
    offset: usize,
) -> usize {
    let start = pos + offset;
    tok.str_open = if offset > 0 { delim } else { 0 };
    let mut q = find(s, start, delim);
    loop {
        match q {
            None => {
                tok.assign(kind::STRING, start, &s[start..]);
                tok.str_close = 0;
                return s.len();
            }
            Some(i) if backslash_escaped(s, i, start) => q = find(s, i + 1, delim),
            Some(i) if i + 1 < s.len() && s[i + 1] == s[i] => q = find(s, i + 2, delim),
            Some(i) => {
                tok.assign(kind::STRING, start, &s[start..i]);
                tok.str_close = delim;
                return i + 1;
            }
        }
    }
}

fn string(st: &mut State) -> usize {
    let (s, pos) = (st.s, st.pos);
    string_core(s, pos, st.cur(), s[pos], 1)
}

/// `E'...'` (PostgreSQL escaped string), `N'...'` (national character set).
fn estring(st: &mut State) -> usize {
    let (s, pos) = (st.s, st.pos);
    if pos + 2 >= s.len() || s[pos + 1] != b'\'' {
        return word(st);
    }
    string_core(s, pos, st.cur(), b'\'', 2)
}

/// `U&'...'` (unicode string).
fn ustring(st: &mut State) -> usize {
    let (s, pos) = (st.s, st.pos);
    if pos + 2 < s.len() && s[pos + 1] == b'&' && s[pos + 2] == b'\'' {
        st.pos += 2;
        let next = string(st);
        let tok = st.cur();
        tok.str_open = b'u';
        if tok.str_close == b'\'' {
            tok.str_close = b'u';
        }
        next
    } else {
        word(st)
    }
}

/// Oracle's `q'[...]'` strings (and `nq'...'`).
fn qstring_core(st: &mut State, offset: usize) -> usize {
    let s = st.s;
    let slen = s.len();
    let pos = st.pos + offset;
    if pos >= slen || !matches!(s[pos], b'q' | b'Q') || pos + 2 >= slen || s[pos + 1] != b'\'' {
        return word(st);
    }
    let open = s[pos + 2];
    // C reads this byte signed: anything from 128 is "below 33" too.
    if !(33..128).contains(&open) {
        return word(st);
    }
    let close = match open {
        b'(' => b')',
        b'[' => b']',
        b'{' => b'}',
        b'<' => b'>',
        c => c,
    };
    match find2(s, pos + 3, close, b'\'') {
        None => {
            let tok = st.cur();
            tok.assign(kind::STRING, pos + 3, &s[pos + 3..]);
            tok.str_open = b'q';
            tok.str_close = 0;
            slen
        }
        Some(end) => {
            let tok = st.cur();
            tok.assign(kind::STRING, pos + 3, &s[pos + 3..end]);
            tok.str_open = b'q';
            tok.str_close = b'q';
            end + 2
        }
    }
}

fn qstring(st: &mut State) -> usize {
    qstring_core(st, 0)
}

fn nqstring(st: &mut State) -> usize {
    let (s, pos) = (st.s, st.pos);
    if pos + 2 < s.len() && s[pos + 1] == b'\'' {
        return estring(st);
    }
    qstring_core(st, 1)
}

/// `b'0101'` and `x'ABCD'` literals: numbers.
fn literal(st: &mut State, digits: &ByteSet) -> usize {
    let (s, pos) = (st.s, st.pos);
    let slen = s.len();
    if pos + 2 >= slen || s[pos + 1] != b'\'' {
        return word(st);
    }
    let wlen = span(&s[pos + 2..], digits);
    if pos + 2 + wlen >= slen || s[pos + 2 + wlen] != b'\'' {
        return word(st);
    }
    st.cur().assign(kind::NUMBER, pos, &s[pos..pos + wlen + 3]);
    pos + 2 + wlen + 1
}

fn bstring(st: &mut State) -> usize {
    literal(st, &BINARY)
}

fn xstring(st: &mut State) -> usize {
    literal(st, &HEX)
}

/// SQL Server's `[bracketed name]`.
fn bword(st: &mut State) -> usize {
    let (s, pos) = (st.s, st.pos);
    match find(s, pos, b']') {
        None => {
            st.cur().assign(kind::BAREWORD, pos, &s[pos..]);
            s.len()
        }
        Some(end) => {
            st.cur().assign(kind::BAREWORD, pos, &s[pos..end + 1]);
            end + 1
        }
    }
}

const WORD_END: ByteSet = ByteSet::of(b" []{}<>:\\?=@!#~+-*/&|^%(),';\t\n\x0b\x0c\r\"\xa0");

fn word(st: &mut State) -> usize {
    let (s, pos) = (st.s, st.pos);
    let wlen = cspan(&s[pos..], &WORD_END);
    st.cur().assign(kind::BAREWORD, pos, &s[pos..pos + wlen]);
    // `SELECT.1`, SELECT`col`: a keyword before a `.` or a backtick is a token of its own.
    let tok = *st.cur();
    for i in 0..tok.len {
        if tok.val[i] == b'.' || tok.val[i] == b'`' {
            let ch = words::lookup(&tok.val[..i]);
            if ch != kind::NONE && ch != kind::BAREWORD {
                let cur = st.cur();
                *cur = Token::default();
                cur.assign(ch, pos, &s[pos..pos + i]);
                return pos + i;
            }
        }
    }
    if wlen <= VAL_MAX {
        let ch = words::lookup(&tok.val[..tok.len]);
        st.cur().kind = if ch == kind::NONE { kind::BAREWORD } else { ch };
    }
    pos + wlen
}

/// MySQL's backtick names: a function name stays a function, anything else is a word.
fn tick(st: &mut State) -> usize {
    let (s, pos) = (st.s, st.pos);
    let next = string_core(s, pos, st.cur(), b'`', 1);
    let tok = st.cur();
    tok.kind = if words::lookup(tok.val()) == kind::FUNCTION {
        kind::FUNCTION
    } else {
        kind::BAREWORD
    };
    next
}

const VAR_END: ByteSet = ByteSet::of(b" <>:\\?=@!#~+-*/&|^%(),';\t\n\x0b\x0c\r'`\"");

/// `@name`, `@@name`, ``@@`name` ``, `@'name'`.
fn var(st: &mut State) -> usize {
    let s = st.s;
    let slen = s.len();
    let mut pos = st.pos + 1;
    if pos < slen && s[pos] == b'@' {
        pos += 1;
        st.cur().count = 2;
    } else {
        st.cur().count = 1;
    }
    if pos < slen {
        if s[pos] == b'`' {
            st.pos = pos;
            let next = tick(st);
            st.cur().kind = kind::VARIABLE;
            return next;
        } else if s[pos] == b'\'' || s[pos] == b'"' {
            st.pos = pos;
            let next = string(st);
            st.cur().kind = kind::VARIABLE;
            return next;
        }
    }
    let xlen = cspan(&s[pos..], &VAR_END);
    st.cur().assign(kind::VARIABLE, pos, &s[pos..pos + xlen]);
    pos + xlen
}

/// `$1,000.00` (money), `$$...$$` and `$tag$...$tag$` (PostgreSQL strings), or a `$`.
fn money(st: &mut State) -> usize {
    let (s, pos) = (st.s, st.pos);
    let slen = s.len();
    if pos + 1 == slen {
        st.cur().assign_char(kind::BAREWORD, pos, b'$');
        return slen;
    }
    let xlen = span(&s[pos + 1..], &MONEY);
    if xlen == 0 {
        if s[pos + 1] == b'$' {
            let tok_from = pos + 2;
            return match find2(s, tok_from, b'$', b'$') {
                None => {
                    let tok = st.cur();
                    tok.assign(kind::STRING, tok_from, &s[tok_from..]);
                    tok.str_open = b'$';
                    tok.str_close = 0;
                    slen
                }
                Some(end) => {
                    let tok = st.cur();
                    tok.assign(kind::STRING, tok_from, &s[tok_from..end]);
                    tok.str_open = b'$';
                    tok.str_close = b'$';
                    end + 2
                }
            };
        }
        let xlen = span(&s[pos + 1..], &LETTERS);
        if xlen == 0 || pos + xlen + 1 == slen || s[pos + xlen + 1] != b'$' {
            st.cur().assign_char(kind::BAREWORD, pos, b'$');
            return pos + 1;
        }
        // `$tag$ ... $tag$`
        let tag = &s[pos..pos + xlen + 2];
        let from = pos + xlen + 2;
        return match find_seq(s, from, tag) {
            None => {
                let tok = st.cur();
                tok.assign(kind::STRING, from, &s[from..]);
                tok.str_open = b'$';
                tok.str_close = 0;
                slen
            }
            Some(end) => {
                let tok = st.cur();
                tok.assign(kind::STRING, from, &s[from..end]);
                tok.str_open = b'$';
                tok.str_close = b'$';
                end + xlen + 2
            }
        };
    }
    if xlen == 1 && s[pos + 1] == b'.' {
        return word(st);
    }
    st.cur().assign(kind::NUMBER, pos, &s[pos..pos + 1 + xlen]);
    pos + 1 + xlen
}

fn number(st: &mut State) -> usize {
    let s = st.s;
    let slen = s.len();
    let mut pos = st.pos;
    if s[pos] == b'0' && pos + 1 < slen {
        let digits = match s[pos + 1] {
            b'X' | b'x' => Some(&HEX),
            b'B' | b'b' => Some(&BINARY),
            _ => None,
        };
        if let Some(digits) = digits {
            let xlen = span(&s[pos + 2..], digits);
            let t = if xlen == 0 {
                kind::BAREWORD
            } else {
                kind::NUMBER
            };
            st.cur().assign(t, pos, &s[pos..pos + 2 + xlen]);
            return pos + 2 + xlen;
        }
    }
    let start = pos;
    while pos < slen && s[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos < slen && s[pos] == b'.' {
        pos += 1;
        while pos < slen && s[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos - start == 1 {
            st.cur().assign_char(kind::DOT, start, b'.');
            return pos;
        }
    }
    let (mut have_e, mut have_exp) = (false, false);
    if pos < slen && matches!(s[pos], b'E' | b'e') {
        have_e = true;
        pos += 1;
        if pos < slen && matches!(s[pos], b'+' | b'-') {
            pos += 1;
        }
        while pos < slen && s[pos].is_ascii_digit() {
            have_exp = true;
            pos += 1;
        }
    }
    // Oracle's float/double suffixes: `1.2f`, and `1fUNION` read as `1f UNION`.
    if pos < slen
        && matches!(s[pos], b'd' | b'D' | b'f' | b'F')
        && (pos + 1 == slen
            || is_white(s[pos + 1])
            || s[pos + 1] == b';'
            || matches!(s[pos + 1], b'u' | b'U'))
    {
        pos += 1;
    }
    // `1234.e`, `10.10E`: a word, not a number.
    let t = if have_e && !have_exp {
        kind::BAREWORD
    } else {
        kind::NUMBER
    };
    st.cur().assign(t, start, &s[start..pos]);
    pos
}
