//! An HTML5 tokenizer reduced to what XSS detection needs (libinjection's `html5`): text,
//! tag names, attribute names and values, comments and doctypes, with the browser quirks
//! that matter to an attacker (NULs ignored in tag names, backtick-quoted values, `<% %>`).
//! It starts in a given context — the value may land in text, or in an attribute value
//! quoted one way or another — and each call gives the next token.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    DataText,
    TagNameOpen,
    TagNameClose,
    TagNameSelfClose,
    TagClose,
    AttrName,
    AttrValue,
    TagComment,
    Doctype,
}

/// Where the input is read from: text, or an attribute value (unquoted, `'`, `"`, `` ` ``).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Context {
    Data,
    ValueNoQuote,
    ValueSingleQuote,
    ValueDoubleQuote,
    ValueBackQuote,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Eof,
    Data,
    TagOpen,
    TagNameClose,
    BeforeAttributeName,
    AfterAttributeName,
    BeforeAttributeValue,
    AfterAttributeValueQuoted,
    SelfClosingStartTag,
    ValueQuote(u8),
}

pub(crate) struct Tokenizer<'a> {
    s: &'a [u8],
    pos: usize,
    is_close: bool,
    state: State,
    pub start: usize,
    pub len: usize,
    pub kind: Kind,
}

fn is_white(ch: u8) -> bool {
    matches!(ch, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn find(s: &[u8], from: usize, ch: u8) -> Option<usize> {
    s.get(from..)?
        .iter()
        .position(|c| *c == ch)
        .map(|i| from + i)
}

impl<'a> Tokenizer<'a> {
    pub fn new(s: &'a [u8], context: Context) -> Tokenizer<'a> {
        let state = match context {
            Context::Data => State::Data,
            Context::ValueNoQuote => State::BeforeAttributeName,
            Context::ValueSingleQuote => State::ValueQuote(b'\''),
            Context::ValueDoubleQuote => State::ValueQuote(b'"'),
            Context::ValueBackQuote => State::ValueQuote(b'`'),
        };
        Tokenizer {
            s,
            pos: 0,
            is_close: false,
            state,
            start: 0,
            len: 0,
            kind: Kind::DataText,
        }
    }

    /// The current token's bytes.
    pub fn token(&self) -> &'a [u8] {
        &self.s[self.start..self.start + self.len]
    }

    /// Reads the next token; false at the end.
    pub fn next_token(&mut self) -> bool {
        match self.state {
            State::Eof => false,
            State::Data => self.data(),
            State::TagOpen => self.tag_open(),
            State::TagNameClose => self.tag_name_close(),
            State::BeforeAttributeName => self.before_attribute_name(),
            State::AfterAttributeName => self.after_attribute_name(),
            State::BeforeAttributeValue => self.before_attribute_value(),
            State::AfterAttributeValueQuoted => self.after_attribute_value_quoted(),
            State::SelfClosingStartTag => self.self_closing_start_tag(),
            State::ValueQuote(q) => self.attribute_value_quote(q),
        }
    }

    fn emit(&mut self, kind: Kind, start: usize, len: usize) -> bool {
        self.kind = kind;
        self.start = start;
        self.len = len;
        true
    }

    /// Skips whitespace (and NUL, vertical tab and CR as old IE did); the byte after.
    fn skip_white(&mut self) -> Option<u8> {
        while self.pos < self.s.len() {
            let ch = self.s[self.pos];
            if matches!(ch, 0 | b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
                self.pos += 1;
            } else {
                return Some(ch);
            }
        }
        None
    }

    fn data(&mut self) -> bool {
        let (s, pos) = (self.s, self.pos);
        match find(s, pos, b'<') {
            None => {
                self.state = State::Eof;
                if s.len() == pos {
                    return false;
                }
                self.emit(Kind::DataText, pos, s.len() - pos)
            }
            Some(lt) => {
                self.pos = lt + 1;
                self.state = State::TagOpen;
                if lt == pos {
                    return self.tag_open();
                }
                self.emit(Kind::DataText, pos, lt - pos)
            }
        }
    }

    fn tag_open(&mut self) -> bool {
        let Some(&ch) = self.s.get(self.pos) else {
            return false;
        };
        match ch {
            b'!' => {
                self.pos += 1;
                self.markup_declaration_open()
            }
            b'/' => {
                self.pos += 1;
                self.is_close = true;
                self.end_tag_open()
            }
            b'?' => {
                self.pos += 1;
                self.bogus_comment()
            }
            // `<% ... %>`: not in the standard, a comment to old IE and Safari.
            b'%' => {
                self.pos += 1;
                self.bogus_comment2()
            }
            b'a'..=b'z' | b'A'..=b'Z' | 0 => self.tag_name(),
            _ => {
                if self.pos == 0 {
                    return self.data();
                }
                self.state = State::Data;
                self.emit(Kind::DataText, self.pos - 1, 1)
            }
        }
    }

    fn end_tag_open(&mut self) -> bool {
        let Some(&ch) = self.s.get(self.pos) else {
            return false;
        };
        match ch {
            b'>' => self.data(),
            b'a'..=b'z' | b'A'..=b'Z' => self.tag_name(),
            _ => {
                self.is_close = false;
                self.bogus_comment()
            }
        }
    }

    fn tag_name_close(&mut self) -> bool {
        self.is_close = false;
        let at = self.pos;
        self.pos += 1;
        self.state = if self.pos < self.s.len() {
            State::Data
        } else {
            State::Eof
        };
        self.emit(Kind::TagNameClose, at, 1)
    }

    fn tag_name(&mut self) -> bool {
        let (s, start) = (self.s, self.pos);
        let mut pos = start;
        while pos < s.len() {
            let ch = s[pos];
            if ch == 0 {
                // Old browsers ignore NULs in tag names.
                pos += 1;
            } else if is_white(ch) {
                self.pos = pos + 1;
                self.state = State::BeforeAttributeName;
                return self.emit(Kind::TagNameOpen, start, pos - start);
            } else if ch == b'/' {
                self.pos = pos + 1;
                self.state = State::SelfClosingStartTag;
                return self.emit(Kind::TagNameOpen, start, pos - start);
            } else if ch == b'>' {
                if self.is_close {
                    self.pos = pos + 1;
                    self.is_close = false;
                    self.state = State::Data;
                    return self.emit(Kind::TagClose, start, pos - start);
                }
                self.pos = pos;
                self.state = State::TagNameClose;
                return self.emit(Kind::TagNameOpen, start, pos - start);
            } else {
                pos += 1;
            }
        }
        self.state = State::Eof;
        self.emit(Kind::TagNameOpen, start, s.len() - start)
    }

    fn before_attribute_name(&mut self) -> bool {
        loop {
            match self.skip_white() {
                None => return false,
                Some(b'/') => {
                    self.pos += 1;
                    // `/` not followed by `>`: back to attribute names (a loop, not
                    // recursion, however many slashes come).
                    if self.pos < self.s.len() && self.s[self.pos] != b'>' {
                        continue;
                    }
                    return self.self_closing_start_tag();
                }
                Some(b'>') => {
                    self.state = State::Data;
                    let at = self.pos;
                    self.pos += 1;
                    return self.emit(Kind::TagNameClose, at, 1);
                }
                Some(_) => return self.attribute_name(),
            }
        }
    }

    fn attribute_name(&mut self) -> bool {
        let (s, start) = (self.s, self.pos);
        let mut pos = start + 1;
        while pos < s.len() {
            let ch = s[pos];
            let next = if is_white(ch) {
                Some((State::AfterAttributeName, pos + 1))
            } else if ch == b'/' {
                Some((State::SelfClosingStartTag, pos + 1))
            } else if ch == b'=' {
                Some((State::BeforeAttributeValue, pos + 1))
            } else if ch == b'>' {
                Some((State::TagNameClose, pos))
            } else {
                None
            };
            if let Some((state, at)) = next {
                self.state = state;
                self.pos = at;
                return self.emit(Kind::AttrName, start, pos - start);
            }
            pos += 1;
        }
        self.state = State::Eof;
        self.pos = s.len();
        self.emit(Kind::AttrName, start, s.len() - start)
    }

    fn after_attribute_name(&mut self) -> bool {
        match self.skip_white() {
            None => false,
            Some(b'/') => {
                self.pos += 1;
                self.self_closing_start_tag()
            }
            Some(b'=') => {
                self.pos += 1;
                self.before_attribute_value()
            }
            Some(b'>') => self.tag_name_close(),
            Some(_) => self.attribute_name(),
        }
    }

    fn before_attribute_value(&mut self) -> bool {
        match self.skip_white() {
            None => {
                self.state = State::Eof;
                false
            }
            Some(q @ (b'"' | b'\'' | b'`')) => self.attribute_value_quote(q),
            Some(_) => self.attribute_value_no_quote(),
        }
    }

    fn attribute_value_quote(&mut self, q: u8) -> bool {
        // Past the opening quote, unless the input starts inside the value.
        if self.pos > 0 {
            self.pos += 1;
        }
        let (s, start) = (self.s, self.pos.min(self.s.len()));
        match find(s, start, q) {
            None => {
                self.state = State::Eof;
                self.emit(Kind::AttrValue, start, s.len() - start)
            }
            Some(end) => {
                self.state = State::AfterAttributeValueQuoted;
                self.pos = end + 1;
                self.emit(Kind::AttrValue, start, end - start)
            }
        }
    }

    fn attribute_value_no_quote(&mut self) -> bool {
        let (s, start) = (self.s, self.pos);
        let mut pos = start;
        while pos < s.len() {
            let ch = s[pos];
            if is_white(ch) {
                self.pos = pos + 1;
                self.state = State::BeforeAttributeName;
                return self.emit(Kind::AttrValue, start, pos - start);
            } else if ch == b'>' {
                self.pos = pos;
                self.state = State::TagNameClose;
                return self.emit(Kind::AttrValue, start, pos - start);
            }
            pos += 1;
        }
        self.state = State::Eof;
        self.emit(Kind::AttrValue, start, s.len() - start)
    }

    fn after_attribute_value_quoted(&mut self) -> bool {
        let Some(&ch) = self.s.get(self.pos) else {
            return false;
        };
        if is_white(ch) {
            self.pos += 1;
            self.before_attribute_name()
        } else if ch == b'/' {
            self.pos += 1;
            self.self_closing_start_tag()
        } else if ch == b'>' {
            let at = self.pos;
            self.pos += 1;
            self.state = State::Data;
            self.emit(Kind::TagNameClose, at, 1)
        } else {
            self.before_attribute_name()
        }
    }

    fn self_closing_start_tag(&mut self) -> bool {
        let Some(&ch) = self.s.get(self.pos) else {
            return false;
        };
        if ch == b'>' && self.pos > 0 {
            let at = self.pos - 1;
            self.state = State::Data;
            self.pos += 1;
            return self.emit(Kind::TagNameSelfClose, at, 2);
        }
        self.before_attribute_name()
    }

    fn bogus_comment(&mut self) -> bool {
        let (s, start) = (self.s, self.pos);
        match find(s, start, b'>') {
            None => {
                self.pos = s.len();
                self.state = State::Eof;
                self.emit(Kind::TagComment, start, s.len() - start)
            }
            Some(gt) => {
                self.pos = gt + 1;
                self.state = State::Data;
                self.emit(Kind::TagComment, start, gt - start)
            }
        }
    }

    /// `<% ... %>`
    fn bogus_comment2(&mut self) -> bool {
        let (s, start) = (self.s, self.pos);
        let mut pos = start;
        loop {
            match find(s, pos, b'%') {
                Some(pc) if pc + 1 < s.len() => {
                    if s[pc + 1] != b'>' {
                        pos = pc + 1;
                        continue;
                    }
                    self.pos = pc + 2;
                    self.state = State::Data;
                    return self.emit(Kind::TagComment, start, pc - start);
                }
                _ => {
                    self.pos = s.len();
                    self.state = State::Eof;
                    return self.emit(Kind::TagComment, start, s.len() - start);
                }
            }
        }
    }

    fn markup_declaration_open(&mut self) -> bool {
        let rest = &self.s[self.pos.min(self.s.len())..];
        if rest.len() >= 7 && rest[..7].eq_ignore_ascii_case(b"DOCTYPE") {
            return self.doctype();
        }
        if rest.len() >= 7 && &rest[..7] == b"[CDATA[" {
            self.pos += 7;
            return self.cdata();
        }
        if rest.len() >= 2 && &rest[..2] == b"--" {
            self.pos += 2;
            return self.comment();
        }
        self.bogus_comment()
    }

    /// A comment ends at `-->`, `--!>` (NULs between the dashes ignored), or the input's end.
    fn comment(&mut self) -> bool {
        let (s, start) = (self.s, self.pos);
        let end = s.len();
        let mut pos = start;
        let to_eof = |me: &mut Self| {
            me.state = State::Eof;
            me.emit(Kind::TagComment, start, end - start)
        };
        loop {
            let Some(dash) = find(s, pos, b'-') else {
                return to_eof(self);
            };
            if dash + 3 > end {
                return to_eof(self);
            }
            let mut off = 1;
            while dash + off < end && s[dash + off] == 0 {
                off += 1;
            }
            if dash + off == end {
                return to_eof(self);
            }
            let ch = s[dash + off];
            if ch != b'-' && ch != b'!' {
                pos = dash + 1;
                continue;
            }
            off += 1;
            if dash + off == end {
                return to_eof(self);
            }
            if s[dash + off] != b'>' {
                pos = dash + 1;
                continue;
            }
            off += 1;
            self.pos = dash + off;
            self.state = State::Data;
            return self.emit(Kind::TagComment, start, dash - start);
        }
    }

    fn cdata(&mut self) -> bool {
        let (s, start) = (self.s, self.pos.min(self.s.len()));
        let mut pos = start;
        loop {
            match find(s, pos, b']') {
                Some(rb) if rb + 3 <= s.len() => {
                    if s[rb + 1] == b']' && s[rb + 2] == b'>' {
                        self.state = State::Data;
                        self.pos = rb + 3;
                        return self.emit(Kind::DataText, start, rb - start);
                    }
                    pos = rb + 1;
                }
                _ => {
                    self.state = State::Eof;
                    return self.emit(Kind::DataText, start, s.len() - start);
                }
            }
        }
    }

    fn doctype(&mut self) -> bool {
        let (s, start) = (self.s, self.pos);
        match find(s, start, b'>') {
            None => {
                self.state = State::Eof;
                self.emit(Kind::Doctype, start, s.len() - start)
            }
            Some(gt) => {
                self.state = State::Data;
                self.pos = gt + 1;
                self.emit(Kind::Doctype, start, gt - start)
            }
        }
    }
}
