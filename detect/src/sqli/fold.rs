//! Folding: tokens are read two or three at a time and runs that SQL evaluates to one value
//! (`1+1`, `'a' 'b'`, `x.y`, unary signs, `UNION` + `ALL`) are folded into one, so that the
//! five types left say what the input does. Returns how many tokens make the fingerprint.

// One branch per folding rule, even where two rules do the same, so each can be read
// against the rule it ports.
#![allow(clippy::if_same_then_else)]

use super::tokens::tokenize;
use super::{kind, words, State, Token, MAX_TOKENS, VAL_MAX};

/// Merges two words when together they are one SQL word (`UNION` `ALL`, `ORDER` `BY`).
fn merge_words(st: &mut State, left: usize) -> bool {
    let (a, b) = (&st.tokens[left], &st.tokens[left + 1]);
    let first = [
        kind::KEYWORD,
        kind::BAREWORD,
        kind::OPERATOR,
        kind::UNION,
        kind::FUNCTION,
        kind::EXPRESSION,
        kind::TSQL,
        kind::SQLTYPE,
    ];
    if !first.contains(&a.kind) || !(first.contains(&b.kind) || b.kind == kind::LOGIC_OPERATOR) {
        return false;
    }
    let total = a.len + b.len + 1;
    if total > VAL_MAX || !words::starts_phrase(a.val()) {
        return false;
    }
    let mut tmp = [0u8; VAL_MAX];
    tmp[..a.len].copy_from_slice(a.val());
    tmp[a.len] = b' ';
    tmp[a.len + 1..total].copy_from_slice(b.val());
    let ch = words::lookup(&tmp[..total]);
    if ch == kind::NONE {
        return false;
    }
    let pos = a.pos;
    st.tokens[left].assign(ch, pos, &tmp[..total]);
    true
}

/// Reads tokens into `st.tokens[*pos..]` until `*pos - left` reaches `want`; comments are
/// kept aside (only the last one, and only if the input ends with it).
fn read_up_to(
    st: &mut State,
    more: &mut bool,
    pos: &mut usize,
    left: usize,
    want: usize,
    last_comment: &mut Token,
) {
    while *more && *pos <= MAX_TOKENS && *pos - left < want {
        st.current = *pos;
        *more = tokenize(st);
        if *more {
            if st.tokens[*pos].kind == kind::COMMENT {
                *last_comment = st.tokens[*pos];
            } else {
                last_comment.kind = kind::NONE;
                *pos += 1;
            }
        }
    }
}

/// Words that are functions only when called (`USER()`), common as names otherwise.
const FUNCTION_WHEN_CALLED: [&[u8]; 11] = [
    b"USER_ID",
    b"USER_NAME",
    b"DATABASE",
    b"PASSWORD",
    b"USER",
    b"CURRENT_USER",
    b"CURRENT_DATE",
    b"CURRENT_TIME",
    b"CURRENT_TIMESTAMP",
    b"LOCALTIME",
    b"LOCALTIMESTAMP",
];

pub(crate) fn fold(st: &mut State) -> usize {
    use kind::*;
    let mut last_comment = Token::default();
    // Where the next token goes, and how many are settled.
    let mut pos: usize = 0;
    let mut left: usize = 0;
    let mut more;

    // Leading comments, `(`, SQL types and unary operators say nothing: skip them.
    st.current = 0;
    loop {
        more = tokenize(st);
        let t = &st.tokens[0];
        if !(t.kind == COMMENT || t.kind == LEFTPARENS || t.kind == SQLTYPE || t.is_unary_op()) {
            break;
        }
        if !more {
            break;
        }
    }
    if !more {
        return 0;
    }
    pos += 1;

    loop {
        // Five tokens of a few known shapes say nothing yet: start over from them.
        if pos >= MAX_TOKENS {
            let k = |i: usize| st.tokens[i].kind;
            let restart = (k(0) == NUMBER
                && (k(1) == OPERATOR || k(1) == COMMA)
                && k(2) == LEFTPARENS
                && k(3) == NUMBER
                && k(4) == RIGHTPARENS)
                || (k(0) == BAREWORD
                    && k(1) == OPERATOR
                    && k(2) == LEFTPARENS
                    && (k(3) == BAREWORD || k(3) == NUMBER)
                    && k(4) == RIGHTPARENS)
                || (k(0) == NUMBER
                    && k(1) == RIGHTPARENS
                    && k(2) == COMMA
                    && k(3) == LEFTPARENS
                    && k(4) == NUMBER)
                || (k(0) == BAREWORD
                    && k(1) == RIGHTPARENS
                    && k(2) == OPERATOR
                    && k(3) == LEFTPARENS
                    && k(4) == BAREWORD);
            if restart {
                if pos > MAX_TOKENS {
                    st.tokens[1] = st.tokens[MAX_TOKENS];
                    pos = 2;
                } else {
                    pos = 1;
                }
                left = 0;
            }
        }

        if !more || left >= MAX_TOKENS {
            left = pos;
            break;
        }

        read_up_to(st, &mut more, &mut pos, left, 2, &mut last_comment);
        if pos - left < 2 {
            left = pos;
            continue;
        }

        let (a, b) = (st.tokens[left], st.tokens[left + 1]);
        if a.kind == STRING && b.kind == STRING {
            // "foo" "bar" is one string.
            pos -= 1;
            continue;
        } else if a.kind == SEMICOLON && b.kind == SEMICOLON {
            pos -= 1;
            continue;
        } else if (a.kind == OPERATOR || a.kind == LOGIC_OPERATOR)
            && (b.is_unary_op() || b.kind == SQLTYPE)
        {
            pos -= 1;
            left = 0;
            continue;
        } else if a.kind == LEFTPARENS && b.is_unary_op() {
            pos -= 1;
            left = left.saturating_sub(1);
            continue;
        } else if merge_words(st, left) {
            pos -= 1;
            left = left.saturating_sub(1);
            continue;
        } else if a.kind == SEMICOLON
            && b.kind == FUNCTION
            && matches!(b.at(0), b'I' | b'i')
            && matches!(b.at(1), b'F' | b'f')
        {
            // `; IF ...`: T-SQL's control flow, not the IF() function.
            st.tokens[left + 1].kind = TSQL;
            continue;
        } else if (a.kind == BAREWORD || a.kind == VARIABLE)
            && b.kind == LEFTPARENS
            && FUNCTION_WHEN_CALLED.iter().any(|w| a.is(w))
        {
            st.tokens[left].kind = FUNCTION;
            continue;
        } else if a.kind == KEYWORD && (a.is(b"IN") || a.is(b"NOT IN")) {
            // `IN (` is an operator; `IN BOOLEAN MODE` and the like are not.
            st.tokens[left].kind = if b.kind == LEFTPARENS {
                OPERATOR
            } else {
                BAREWORD
            };
            continue;
        } else if a.kind == OPERATOR && (a.is(b"LIKE") || a.is(b"NOT LIKE")) {
            if b.kind == LEFTPARENS {
                st.tokens[left].kind = FUNCTION;
            }
        } else if a.kind == SQLTYPE
            && matches!(
                b.kind,
                BAREWORD | NUMBER | SQLTYPE | LEFTPARENS | FUNCTION | VARIABLE | STRING
            )
        {
            st.tokens[left] = st.tokens[left + 1];
            pos -= 1;
            left = 0;
            continue;
        } else if a.kind == COLLATE && b.kind == BAREWORD {
            // Too many collations to list: a word with `_` after COLLATE is one.
            if b.val().contains(&b'_') {
                st.tokens[left + 1].kind = SQLTYPE;
                left = 0;
            }
        } else if a.kind == BACKSLASH {
            if b.is_arithmetic_op() {
                // T-SQL reads `\%1` as `0 % 1`.
                st.tokens[left].kind = NUMBER;
            } else {
                st.tokens[left] = st.tokens[left + 1];
                pos -= 1;
            }
            left = 0;
            continue;
        } else if (a.kind == LEFTPARENS && b.kind == LEFTPARENS)
            || (a.kind == RIGHTPARENS && b.kind == RIGHTPARENS)
        {
            pos -= 1;
            left = 0;
            continue;
        } else if a.kind == LEFTBRACE && b.kind == BAREWORD {
            // MySQL's `{ ``.``.id }`: too odd to fold, evil.
            if b.len == 0 {
                st.tokens[left + 1].kind = EVIL;
                return left + 2;
            }
            // ODBC's `{foo expr}` is `expr`.
            left = 0;
            pos -= 2;
            continue;
        } else if b.kind == RIGHTBRACE {
            pos -= 1;
            left = 0;
            continue;
        }

        // Nothing folds two tokens: try three.
        read_up_to(st, &mut more, &mut pos, left, 3, &mut last_comment);
        if pos - left < 3 {
            left = pos;
            continue;
        }

        let (a, b, c) = (st.tokens[left], st.tokens[left + 1], st.tokens[left + 2]);
        if a.kind == NUMBER && b.kind == OPERATOR && c.kind == NUMBER {
            pos -= 2;
            left = 0;
            continue;
        } else if a.kind == OPERATOR && b.kind != LEFTPARENS && c.kind == OPERATOR {
            left = 0;
            pos -= 2;
            continue;
        } else if a.kind == LOGIC_OPERATOR && c.kind == LOGIC_OPERATOR {
            pos -= 2;
            left = 0;
            continue;
        } else if a.kind == VARIABLE
            && b.kind == OPERATOR
            && matches!(c.kind, VARIABLE | NUMBER | BAREWORD)
        {
            pos -= 2;
            left = 0;
            continue;
        } else if matches!(a.kind, BAREWORD | NUMBER)
            && b.kind == OPERATOR
            && matches!(c.kind, NUMBER | BAREWORD)
        {
            pos -= 2;
            left = 0;
            continue;
        } else if matches!(a.kind, BAREWORD | NUMBER | VARIABLE | STRING)
            && b.kind == OPERATOR
            && b.val() == b"::"
            && c.kind == SQLTYPE
        {
            pos -= 2;
            left = 0;
            continue;
        } else if matches!(a.kind, BAREWORD | NUMBER | STRING | VARIABLE)
            && b.kind == COMMA
            && matches!(c.kind, NUMBER | BAREWORD | STRING | VARIABLE)
        {
            pos -= 2;
            left = 0;
            continue;
        } else if matches!(a.kind, EXPRESSION | GROUP | COMMA)
            && b.is_unary_op()
            && c.kind == LEFTPARENS
        {
            // `SELECT + (`, `LIMIT + (`: drop the sign.
            st.tokens[left + 1] = st.tokens[left + 2];
            pos -= 1;
            left = 0;
            continue;
        } else if matches!(a.kind, KEYWORD | EXPRESSION | GROUP)
            && b.is_unary_op()
            && matches!(c.kind, NUMBER | BAREWORD | VARIABLE | STRING | FUNCTION)
        {
            st.tokens[left + 1] = st.tokens[left + 2];
            pos -= 1;
            left = 0;
            continue;
        } else if a.kind == COMMA
            && b.is_unary_op()
            && matches!(c.kind, NUMBER | BAREWORD | VARIABLE | STRING)
        {
            // `1,-1` → `1`: and back up to fold more.
            st.tokens[left + 1] = st.tokens[left + 2];
            left = 0;
            pos = pos.saturating_sub(3);
            continue;
        } else if a.kind == COMMA && b.is_unary_op() && c.kind == FUNCTION {
            st.tokens[left + 1] = st.tokens[left + 2];
            pos -= 1;
            left = 0;
            continue;
        } else if a.kind == BAREWORD && b.kind == DOT && c.kind == BAREWORD {
            // `database.table`
            pos -= 2;
            left = 0;
            continue;
        } else if a.kind == EXPRESSION && b.kind == DOT && c.kind == BAREWORD {
            // SELECT . `foo` → SELECT `foo`
            st.tokens[left + 1] = st.tokens[left + 2];
            pos -= 1;
            left = 0;
            continue;
        } else if a.kind == FUNCTION && b.kind == LEFTPARENS && c.kind != RIGHTPARENS {
            // USER() takes no arguments: `user(foo)` is a name.
            if a.is(b"USER") {
                st.tokens[left].kind = BAREWORD;
            }
        }

        // Nothing folds: the leftmost token is settled.
        left += 1;
    }

    // A trailing comment counts when there is room for it.
    if left < MAX_TOKENS && last_comment.kind == COMMENT {
        st.tokens[left] = last_comment;
        left += 1;
    }
    left.min(MAX_TOKENS)
}
