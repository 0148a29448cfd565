//! XSS detection the way libinjection does it: the value is tokenized as HTML in each
//! context it could land in (text, an unquoted attribute value, one quoted with `'`, `"` or
//! `` ` ``), and it is XSS when that yields a dangerous tag (`script`, `iframe`, `svg`, ...),
//! an event handler attribute (`onerror`, `onload`, ...), a `style`, a URL attribute whose
//! value is a `javascript:`/`data:`/`vbscript:`/`view-source:` URL (HTML entities decoded),
//! a doctype, or an IE conditional comment. Text with `<` and `>` (`3 < 4 > 2`) is not.
//!
//! Beyond libinjection: any `on<letters>` attribute on a tag the value opens (not only known
//! events), a whole value that is a script URL (`javascript:alert(1)`, for a value put in an
//! `href`), a value breaking out of a script string to call `alert`/`prompt`/`confirm`/`eval`
//! (`'-alert(1)-'`), tabs and CRs ignored inside URL schemes, Netscape's `LAYER` and
//! JavaScript entities.

pub(crate) mod html5;

use html5::{Context, Kind, Tokenizer};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Attr {
    None,
    /// Always dangerous (event handlers, `xmlns`, IE data binding).
    Black,
    /// Takes a URL.
    Url,
    /// Style: CSS can run script in old browsers.
    Style,
    /// SVG's `attributeName`: the value names another attribute.
    Indirect,
}

/// Event names after `on` (libinjection's list, from WebKit's `EventNames.h`); an
/// attribute `on<event>...` is dangerous.
const EVENTS: &[&str] = &[
    "ABORT",
    "ACTIVATE",
    "ACTIVE",
    "ADDSOURCEBUFFER",
    "ADDSTREAM",
    "ADDTRACK",
    "AFTERPRINT",
    "ANIMATIONCANCEL",
    "ANIMATIONEND",
    "ANIMATIONITERATION",
    "ANIMATIONSTART",
    "AUDIOEND",
    "AUDIOPROCESS",
    "AUDIOSTART",
    "AUTOCOMPLETEERROR",
    "AUTOCOMPLETE",
    "BEFOREACTIVATE",
    "BEFORECOPY",
    "BEFORECUT",
    "BEFOREINPUT",
    "BEFORELOAD",
    "BEFOREPASTE",
    "BEFOREPRINT",
    "BEFOREUNLOAD",
    "BEGINEVENT",
    "BLOCKED",
    "BLUR",
    "BOUNDARY",
    "BUFFEREDAMOUNTLOW",
    "CACHED",
    "CANCEL",
    "CANPLAYTHROUGH",
    "CANPLAY",
    "CHANGE",
    "CHARGINGCHANGE",
    "CHARGINGTIMECHANGE",
    "CHECKING",
    "CLICK",
    "CLOSE",
    "COMPLETE",
    "COMPOSITIONEND",
    "COMPOSITIONSTART",
    "COMPOSITIONUPDATE",
    "CONNECTING",
    "CONNECTIONSTATECHANGE",
    "CONNECT",
    "CONTEXTMENU",
    "CONTROLLERCHANGE",
    "COPY",
    "CUECHANGE",
    "CUT",
    "DATAAVAILABLE",
    "DATACHANNEL",
    "DBLCLICK",
    "DEVICECHANGE",
    "DEVICEMOTION",
    "DEVICEORIENTATION",
    "DISCHARGINGTIMECHANGE",
    "DISCONNECT",
    "DOMACTIVATE",
    "DOMCHARACTERDATAMODIFIED",
    "DOMCONTENTLOADED",
    "DOMFOCUSIN",
    "DOMFOCUSOUT",
    "DOMNODEINSERTEDINTODOCUMENT",
    "DOMNODEINSERTED",
    "DOMNODEREMOVEDFROMDOCUMENT",
    "DOMNODEREMOVED",
    "DOMSUBTREEMODIFIED",
    "DOWNLOADING",
    "DRAGEND",
    "DRAGENTER",
    "DRAGLEAVE",
    "DRAGOVER",
    "DRAGSTART",
    "DRAG",
    "DROP",
    "DURATIONCHANGE",
    "EMPTIED",
    "ENCRYPTED",
    "ENDED",
    "ENDEVENT",
    "END",
    "ENTERPICTUREINPICTURE",
    "ENTER",
    "ERROR",
    "EXIT",
    "FETCH",
    "FINISH",
    "FOCUSIN",
    "FOCUSOUT",
    "FOCUS",
    "FORMCHANGE",
    "FORMINPUT",
    "GAMEPADCONNECTED",
    "GAMEPADDISCONNECTED",
    "GESTURECHANGE",
    "GESTUREEND",
    "GESTURESCROLLEND",
    "GESTURESCROLLSTART",
    "GESTURESCROLLUPDATE",
    "GESTURESTART",
    "GESTURETAPDOWN",
    "GESTURETAP",
    "GOTPOINTERCAPTURE",
    "HASHCHANGE",
    "ICECANDIDATEERROR",
    "ICECANDIDATE",
    "ICECONNECTIONSTATECHANGE",
    "ICEGATHERINGSTATECHANGE",
    "INACTIVE",
    "INPUTSOURCESCHANGE",
    "INPUT",
    "INSTALL",
    "INVALID",
    "KEYDOWN",
    "KEYPRESS",
    "KEYSTATUSESCHANGE",
    "KEYUP",
    "LANGUAGECHANGE",
    "LEAVEPICTUREINPICTURE",
    "LEVELCHANGE",
    "LOADEDDATA",
    "LOADEDMETADATA",
    "LOADEND",
    "LOADINGDONE",
    "LOADINGERROR",
    "LOADING",
    "LOADSTART",
    "LOAD",
    "LOSTPOINTERCAPTURE",
    "MARK",
    "MERCHANTVALIDATION",
    "MESSAGEERROR",
    "MESSAGE",
    "MOUSEDOWN",
    "MOUSEENTER",
    "MOUSELEAVE",
    "MOUSEMOVE",
    "MOUSEOUT",
    "MOUSEOVER",
    "MOUSEUP",
    "MOUSEWHEEL",
    "MUTE",
    "NEGOTIATIONNEEDED",
    "NEXTTRACK",
    "NOMATCH",
    "NOUPDATE",
    "OBSOLETE",
    "OFFLINE",
    "ONLINE",
    "OPEN",
    "ORIENTATIONCHANGE",
    "OVERCONSTRAINED",
    "OVERFLOWCHANGED",
    "PAGEHIDE",
    "PAGESHOW",
    "PASTE",
    "PAUSE",
    "PAYERDETAILCHANGE",
    "PAYMENTAUTHORIZED",
    "PAYMENTMETHODCHANGE",
    "PAYMENTMETHODSELECTED",
    "PLAYING",
    "PLAY",
    "POINTERCANCEL",
    "POINTERDOWN",
    "POINTERENTER",
    "POINTERLEAVE",
    "POINTERLOCKCHANGE",
    "POINTERLOCKERROR",
    "POINTERMOVE",
    "POINTEROUT",
    "POINTEROVER",
    "POINTERUP",
    "POPSTATE",
    "PREVIOUSTRACK",
    "PROCESSORERROR",
    "PROGRESS",
    "PROPERTYCHANGE",
    "RATECHANGE",
    "READYSTATECHANGE",
    "REJECTIONHANDLED",
    "REMOVESOURCEBUFFER",
    "REMOVESTREAM",
    "REMOVETRACK",
    "REMOVE",
    "RESET",
    "RESIZE",
    "RESOURCETIMINGBUFFERFULL",
    "RESULT",
    "RESUME",
    "SCROLL",
    "SEARCH",
    "SECURITYPOLICYVIOLATION",
    "SEEKED",
    "SEEKING",
    "SELECTEND",
    "SELECTIONCHANGE",
    "SELECTSTART",
    "SELECT",
    "SHIPPINGADDRESSCHANGE",
    "SHIPPINGCONTACTSELECTED",
    "SHIPPINGMETHODSELECTED",
    "SHIPPINGOPTIONCHANGE",
    "SHOW",
    "SIGNALINGSTATECHANGE",
    "SLOTCHANGE",
    "SOUNDEND",
    "SOUNDSTART",
    "SOURCECLOSE",
    "SOURCEENDED",
    "SOURCEOPEN",
    "SPEECHEND",
    "SPEECHSTART",
    "SQUEEZEEND",
    "SQUEEZESTART",
    "SQUEEZE",
    "STALLED",
    "STARTED",
    "START",
    "STATECHANGE",
    "STOP",
    "STORAGE",
    "SUBMIT",
    "SUCCESS",
    "SUSPEND",
    "TEXTINPUT",
    "TIMEOUT",
    "TIMEUPDATE",
    "TOGGLE",
    "TONECHANGE",
    "TOUCHCANCEL",
    "TOUCHEND",
    "TOUCHFORCECHANGE",
    "TOUCHMOVE",
    "TOUCHSTART",
    "TRACK",
    "TRANSITIONCANCEL",
    "TRANSITIONEND",
    "TRANSITIONRUN",
    "TRANSITIONSTART",
    "UNCAPTUREDERROR",
    "UNHANDLEDREJECTION",
    "UNLOAD",
    "UNMUTE",
    "UPDATEEND",
    "UPDATEFOUND",
    "UPDATEREADY",
    "UPDATESTART",
    "UPDATE",
    "UPGRADENEEDED",
    "VALIDATEMERCHANT",
    "VERSIONCHANGE",
    "VISIBILITYCHANGE",
    "VOLUMECHANGE",
    "WAITINGFORKEY",
    "WAITING",
    "WEBGLCONTEXTCHANGED",
    "WEBGLCONTEXTCREATIONERROR",
    "WEBGLCONTEXTLOST",
    "WEBGLCONTEXTRESTORED",
    "WEBKITANIMATIONEND",
    "WEBKITANIMATIONITERATION",
    "WEBKITANIMATIONSTART",
    "WEBKITBEFORETEXTINSERTED",
    "WEBKITBEGINFULLSCREEN",
    "WEBKITCURRENTPLAYBACKTARGETISWIRELESSCHANGED",
    "WEBKITENDFULLSCREEN",
    "WEBKITFULLSCREENCHANGE",
    "WEBKITFULLSCREENERROR",
    "WEBKITKEYADDED",
    "WEBKITKEYERROR",
    "WEBKITKEYMESSAGE",
    "WEBKITMOUSEFORCECHANGED",
    "WEBKITMOUSEFORCEDOWN",
    "WEBKITMOUSEFORCEUP",
    "WEBKITMOUSEFORCEWILLBEGIN",
    "WEBKITNEEDKEY",
    "WEBKITNETWORKINFOCHANGE",
    "WEBKITPLAYBACKTARGETAVAILABILITYCHANGED",
    "WEBKITPRESENTATIONMODECHANGED",
    "WEBKITREGIONOVERSETCHANGE",
    "WEBKITREMOVESOURCEBUFFER",
    "WEBKITSOURCECLOSE",
    "WEBKITSOURCEENDED",
    "WEBKITSOURCEOPEN",
    "WEBKITSPEECHCHANGE",
    "WEBKITTRANSITIONEND",
    "WEBKITWILLREVEALBOTTOM",
    "WEBKITWILLREVEALLEFT",
    "WEBKITWILLREVEALRIGHT",
    "WEBKITWILLREVEALTOP",
    "WHEEL",
    "WRITEEND",
    "WRITESTART",
    "WRITE",
    "ZOOM",
];

/// Attributes that are dangerous by name or by the URL or style they take.
const ATTRS: &[(&str, Attr)] = &[
    ("ACTION", Attr::Url),
    ("ATTRIBUTENAME", Attr::Indirect),
    ("BY", Attr::Url),
    ("BACKGROUND", Attr::Url),
    ("DATAFORMATAS", Attr::Black),
    ("DATASRC", Attr::Black),
    ("DYNSRC", Attr::Url),
    ("FILTER", Attr::Style),
    ("FORMACTION", Attr::Url),
    ("FOLDER", Attr::Url),
    ("FROM", Attr::Url),
    ("HANDLER", Attr::Url),
    ("HREF", Attr::Url),
    ("LOWSRC", Attr::Url),
    ("POSTER", Attr::Url),
    ("SRC", Attr::Url),
    ("STYLE", Attr::Style),
    ("TO", Attr::Url),
    ("VALUES", Attr::Url),
    ("XLINK:HREF", Attr::Url),
];

/// Tags that run or load something (plus anything starting `svg` or `xsl`).
/// (libinjection's list, plus Netscape's `LAYER`/`ILAYER` and IE's `BGSOUND`, which load a
/// URL of their own.)
const TAGS: &[&str] = &[
    "APPLET", "BASE", "BGSOUND", "COMMENT", "EMBED", "FRAME", "FRAMESET", "HANDLER", "IFRAME",
    "ILAYER", "IMPORT", "ISINDEX", "LAYER", "LINK", "LISTENER", "META", "NOSCRIPT", "OBJECT",
    "SCRIPT", "STYLE", "VMLFRAME", "XML", "XSS",
];

/// Does `s` (NULs in it ignored) spell `upper` case-insensitively, using at most `n` bytes
/// of `s`? With `n` shorter than `s` it is a prefix match, as for event names.
fn equals_skip_nul(upper: &[u8], s: &[u8], n: usize) -> bool {
    if s.len() < n {
        return false;
    }
    let mut a = upper.iter();
    for &b in &s[..n] {
        if b == 0 {
            continue;
        }
        match a.next() {
            Some(&ca) if ca == b.to_ascii_uppercase() => {}
            _ => return false,
        }
    }
    a.next().is_none()
}

fn is_black_tag(s: &[u8]) -> bool {
    if s.len() < 3 {
        return false;
    }
    if TAGS
        .iter()
        .any(|t| equals_skip_nul(t.as_bytes(), s, s.len()))
    {
        return true;
    }
    s[..3].eq_ignore_ascii_case(b"svg") || s[..3].eq_ignore_ascii_case(b"xsl")
}

fn black_attr(s: &[u8]) -> Attr {
    if s.len() < 2 {
        return Attr::None;
    }
    // Without NULs (nearly always) names compare as plain bytes, lengths first.
    let plain = !s.contains(&0);
    let prefix_is = |upper: &[u8], s: &[u8]| {
        if plain {
            s.len() >= upper.len() && s[..upper.len()].eq_ignore_ascii_case(upper)
        } else {
            equals_skip_nul(upper, s, upper.len())
        }
    };
    if s.len() >= 5 {
        if s[..2].eq_ignore_ascii_case(b"on") {
            let rest = &s[2..];
            if EVENTS.iter().any(|e| prefix_is(e.as_bytes(), rest)) {
                return Attr::Black;
            }
        }
        // Namespaces can make any tag.
        if prefix_is(b"XMLNS", s) || prefix_is(b"XLINK", s) {
            return Attr::Black;
        }
    }
    ATTRS
        .iter()
        .find(|(name, _)| {
            if plain {
                name.len() == s.len() && s.eq_ignore_ascii_case(name.as_bytes())
            } else {
                equals_skip_nul(name.as_bytes(), s, s.len())
            }
        })
        .map_or(Attr::None, |(_, a)| *a)
}

/// One character of HTML at the start of `src`, character references (`&#106;`,
/// `&#x6A;`) decoded; with how many bytes it took.
fn decode_char(src: &[u8]) -> (i32, usize) {
    let Some(&first) = src.first() else {
        return (-1, 0);
    };
    if first != b'&' || src.len() < 2 {
        return (i32::from(first), 1);
    }
    if src[1] != b'#' {
        // Named references do not matter here.
        return (i32::from(b'&'), 1);
    }
    let at = |i: usize| src.get(i).copied().unwrap_or(0);
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as i32);
    let (first_digit, base, mut i) = if matches!(at(2), b'x' | b'X') {
        match hex(at(3)) {
            Some(d) => (d, 16, 4),
            None => return (i32::from(b'&'), 1),
        }
    } else {
        match (at(2) as char).to_digit(10) {
            Some(d) => (d as i32, 10, 3),
            None => return (i32::from(b'&'), 1),
        }
    };
    let mut val = first_digit;
    while i < src.len() {
        let ch = src[i];
        if ch == b';' {
            return (val, i + 1);
        }
        let digit = if base == 16 {
            hex(ch)
        } else {
            (ch as char).to_digit(10).map(|d| d as i32)
        };
        let Some(d) = digit else {
            return (val, i);
        };
        val = val * base + d;
        if val > 0x10_00FF {
            return (i32::from(b'&'), 1);
        }
        i += 1;
    }
    (val, i)
}

/// Does HTML-encoded `s` start with `prefix` (upper case), ignoring leading whitespace and
/// control characters, NULs, tabs and newlines anywhere, and case?
fn html_starts_with(prefix: &[u8], mut s: &[u8]) -> bool {
    let mut want = prefix.iter().peekable();
    let mut first = true;
    while !s.is_empty() {
        let Some(&&a) = want.peek() else {
            return true;
        };
        let (mut cb, used) = decode_char(s);
        s = &s[used..];
        if first && cb <= 32 {
            continue;
        }
        first = false;
        // Browsers drop tabs and newlines anywhere in a URL (libinjection skips only
        // newlines: `jav&#x09;ascript:` got through).
        if matches!(cb, 0 | 9 | 10 | 13) {
            continue;
        }
        if (i32::from(b'a')..=i32::from(b'z')).contains(&cb) {
            cb -= 0x20;
        }
        // C compares the low byte of the decoded character.
        if a != (cb & 0xff) as u8 {
            return false;
        }
        want.next();
    }
    want.peek().is_none()
}

fn is_black_url(s: &[u8]) -> bool {
    // Leading whitespace, controls and non-ASCII bytes (some browsers skip UTF-8 spaces).
    let start = s
        .iter()
        .position(|c| *c > 32 && *c < 127)
        .unwrap_or(s.len());
    let s = &s[start..];
    // (libinjection's schemes, plus Netscape's `livescript:` and `mocha:`.)
    [
        &b"DATA"[..],
        b"VIEW-SOURCE",
        b"JAVA",
        b"VBSCRIPT",
        b"LIVESCRIPT",
        b"MOCHA",
    ]
    .iter()
    .any(|p| html_starts_with(p, s))
}

/// Is the whole value a script URL, ready for an `href` or `src` it may be put in
/// (`javascript:alert(1)`, `data:text/html,...`)? Stricter than [`is_black_url`], which
/// only looks inside an attribute the input itself wrote: the scheme must be complete and
/// followed by code (no space after the colon, so "JavaScript: the good parts" is text).
fn is_script_url_value(s: &[u8]) -> bool {
    let start = s
        .iter()
        .position(|c| *c > 32 && *c < 127)
        .unwrap_or(s.len());
    let s = &s[start..];
    let code_follows = |rest: &[u8]| rest.first().is_some_and(|c| *c > b' ');
    for scheme in [&b"JAVASCRIPT:"[..], b"VBSCRIPT:", b"LIVESCRIPT:", b"MOCHA:"] {
        if let Some(used) = html_prefix_len(scheme, s) {
            return code_follows(&s[used..]);
        }
    }
    [
        &b"DATA:TEXT/HTML"[..],
        b"DATA:IMAGE/SVG",
        b"DATA:APPLICATION/XHTML",
    ]
    .iter()
    .any(|p| html_prefix_len(p, s).is_some())
}

/// Bytes of `s` that spell `prefix` as [`html_starts_with`] reads it, if they do.
fn html_prefix_len(prefix: &[u8], s: &[u8]) -> Option<usize> {
    let mut want = prefix.iter();
    let mut next = want.next();
    let mut used = 0;
    let mut first = true;
    while let Some(&a) = next {
        let (mut cb, n) = decode_char(&s[used..]);
        if n == 0 {
            return None;
        }
        used += n;
        if first && cb <= 32 {
            continue;
        }
        first = false;
        if matches!(cb, 0 | 9 | 10 | 13) {
            continue;
        }
        if (i32::from(b'a')..=i32::from(b'z')).contains(&cb) {
            cb -= 0x20;
        }
        if a != (cb & 0xff) as u8 {
            return None;
        }
        next = want.next();
    }
    Some(used)
}

/// Sinks a payload calls once it breaks out of a JavaScript string or block.
const JS_SINKS: &[&[u8]] = &[b"alert", b"prompt", b"confirm", b"eval"];

/// Does the value break out of a script string or block to call a sink
/// (`'-alert(1)-'`, `";alert(1)//`, `}alert(1);{`)? A quote, `;`, `}` or an operator,
/// then (spaces allowed) `alert`/`prompt`/`confirm`/`eval` and `(` or a backtick.
fn breaks_out_of_script(s: &[u8]) -> bool {
    for (i, &c) in s.iter().enumerate() {
        if !matches!(
            c,
            b'\'' | b'"' | b';' | b'}' | b'-' | b'+' | b'*' | b'|' | b'&'
        ) {
            continue;
        }
        let rest = &s[i + 1..];
        let at = rest
            .iter()
            .position(|c| !c.is_ascii_whitespace())
            .unwrap_or(rest.len());
        let rest = &rest[at..];
        for sink in JS_SINKS {
            if rest.len() > sink.len()
                && rest[..sink.len()].eq_ignore_ascii_case(sink)
                && matches!(rest[sink.len()], b'(' | b'`')
            {
                return true;
            }
        }
    }
    false
}

/// An attribute named like an event handler (`on` and letters): any such attribute on a
/// tag the input opens is treated as one, known event or not (`<x onnewevent=...>`).
fn is_event_like(s: &[u8]) -> bool {
    s.len() >= 3
        && s[..2].eq_ignore_ascii_case(b"on")
        && s[2..].iter().all(|c| c.is_ascii_alphabetic())
}

fn is_xss_in(s: &[u8], context: Context) -> bool {
    let mut h5 = Tokenizer::new(s, context);
    let mut attr = Attr::None;
    // The input opened a tag of its own.
    let mut opened = false;
    while h5.next_token() {
        let token = h5.token();
        if h5.kind != Kind::AttrValue {
            attr = Attr::None;
        }
        match h5.kind {
            Kind::Doctype => return true,
            Kind::TagNameOpen => {
                // `<scr<script>`: a filter that strips the inner tag leaves the outer.
                let inner = token
                    .iter()
                    .rposition(|c| *c == b'<')
                    .map_or(&token[..0], |i| &token[i + 1..]);
                if is_black_tag(token) || is_black_tag(inner) {
                    return true;
                }
                opened = true;
            }
            Kind::AttrName => {
                attr = black_attr(token);
                if attr == Attr::None && opened && is_event_like(token) {
                    attr = Attr::Black;
                }
            }
            Kind::AttrValue => {
                // Netscape's JavaScript entities `&{...};` in a tag the input wrote.
                if opened && token.windows(2).any(|w| w == b"&{") {
                    return true;
                }
                match attr {
                    Attr::None => {}
                    Attr::Black | Attr::Style => return true,
                    Attr::Url if is_black_url(token) => return true,
                    Attr::Indirect if black_attr(token) != Attr::None => return true,
                    _ => {}
                }
                attr = Attr::None;
            }
            Kind::TagComment => {
                // IE ends tags with a backtick.
                if token.contains(&b'`') {
                    return true;
                }
                // IE conditional comments, XML processing.
                if token.len() > 3
                    && (token[..3].eq_ignore_ascii_case(b"[if")
                        || token[..3].eq_ignore_ascii_case(b"xml"))
                {
                    return true;
                }
                // IE's `<?import`, XML entity definitions.
                if token.len() > 5
                    && (equals_skip_nul(b"IMPORT", token, 6)
                        || equals_skip_nul(b"ENTITY", token, 6))
                {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// Is `input` cross-site scripting in any context it could be placed in?
pub fn xss(input: &[u8]) -> bool {
    // One pass over the bytes says which checks can fire at all (most values end here).
    let (mut markup, mut colon, mut call) = (false, false, false);
    for &c in input {
        match c {
            b'<' | b'=' => markup = true,
            b':' => colon = true,
            b'(' | b'`' => call = true,
            _ => {}
        }
    }
    if (colon && is_script_url_value(input)) || (call && breaks_out_of_script(input)) {
        return true;
    }
    // Without `<` no tag, comment or doctype opens, and without `=` no attribute gets a
    // value: the HTML contexts cannot fire.
    if !markup {
        return false;
    }
    [
        Context::Data,
        Context::ValueNoQuote,
        Context::ValueSingleQuote,
        Context::ValueDoubleQuote,
        Context::ValueBackQuote,
    ]
    .into_iter()
    .any(|c| is_xss_in(input, c))
}

#[cfg(test)]
mod tests;
