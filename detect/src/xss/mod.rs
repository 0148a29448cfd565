//! XSS detection the way libinjection does it: the value is tokenized as HTML in each
//! context it could land in (text, an unquoted attribute value, one quoted with `'`, `"` or
//! `` ` ``), and it is XSS when that yields a dangerous tag (`script`, `iframe`, `svg`, ...),
//! an event handler attribute (`onerror`, `onload`, ...), a `style`, a URL attribute whose
//! value is a `javascript:`/`data:`/`vbscript:`/`view-source:` URL (HTML entities decoded),
//! a doctype, or an IE conditional comment. Text with `<` and `>` (`3 < 4 > 2`) is not.

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
const TAGS: &[&str] = &[
    "APPLET", "BASE", "COMMENT", "EMBED", "FRAME", "FRAMESET", "HANDLER", "IFRAME", "IMPORT",
    "ISINDEX", "LINK", "LISTENER", "META", "NOSCRIPT", "OBJECT", "SCRIPT", "STYLE", "VMLFRAME",
    "XML", "XSS",
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
    if s.len() >= 5 {
        if s[..2].eq_ignore_ascii_case(b"on") {
            let rest = &s[2..];
            if EVENTS
                .iter()
                .any(|e| equals_skip_nul(e.as_bytes(), rest, e.len()))
            {
                return Attr::Black;
            }
        }
        // Namespaces can make any tag.
        if equals_skip_nul(b"XMLNS", s, 5) || equals_skip_nul(b"XLINK", s, 5) {
            return Attr::Black;
        }
    }
    ATTRS
        .iter()
        .find(|(name, _)| equals_skip_nul(name.as_bytes(), s, s.len()))
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
    [&b"DATA"[..], b"VIEW-SOURCE", b"JAVA", b"VBSCRIPT"]
        .iter()
        .any(|p| html_starts_with(p, s))
}

fn is_xss_in(s: &[u8], context: Context) -> bool {
    let mut h5 = Tokenizer::new(s, context);
    let mut attr = Attr::None;
    while h5.next_token() {
        let token = h5.token();
        if h5.kind != Kind::AttrValue {
            attr = Attr::None;
        }
        match h5.kind {
            Kind::Doctype => return true,
            Kind::TagNameOpen if is_black_tag(token) => return true,
            Kind::AttrName => attr = black_attr(token),
            Kind::AttrValue => {
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
