//! API descriptions: Markdown (CommonMark with tables, strikethrough and task lists) rendered
//! by pulldown-cmark, then cleaned by ammonia's allow-list, so what reaches a browser is
//! inert whatever an admin typed:
//!
//! - raw HTML in the Markdown passes through pulldown-cmark, so ammonia is the one gate: only
//!   its default tags survive (no `script`, `style`, `iframe`, `object`, `form`, `svg`), with
//!   no event handlers (`onerror=`) and no `style` or `class` attributes;
//! - link and image URLs keep only `http`, `https` and `mailto` (and relative ones): a
//!   `javascript:` or `data:` link loses its `href`;
//! - every link gets `rel="noopener noreferrer nofollow"`.
//!
//! The page's CSP (no inline script, images from the site only) is a second wall behind this.

use pulldown_cmark::{html, Options, Parser};
use std::collections::HashSet;

/// The description as sanitized HTML.
pub fn render(markdown: &str) -> String {
    let mut opts = Options::empty();
    opts.insert(Options::ENABLE_TABLES);
    opts.insert(Options::ENABLE_STRIKETHROUGH);
    opts.insert(Options::ENABLE_TASKLISTS);
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut raw, Parser::new_ext(markdown, opts));
    clean(&raw)
}

fn clean(html: &str) -> String {
    ammonia::Builder::default()
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inert(html: &str) {
        let lower = html.to_ascii_lowercase();
        for bad in [
            "<script",
            "javascript:",
            "onerror",
            "onload",
            "onclick",
            "<iframe",
            "<style",
            "<svg",
            "<object",
            "<form",
            "style=",
            "data:text",
            "vbscript:",
        ] {
            assert!(!lower.contains(bad), "{bad:?} in {html}");
        }
    }

    #[test]
    fn markdown_renders_headings_tables_and_code() {
        let h = render("# 訂單 API\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n`x < y`\n\n- [x] done\n");
        assert!(h.contains("<h1>訂單 API</h1>"), "{h}");
        assert!(h.contains("<table>") && h.contains("<td>1</td>"), "{h}");
        assert!(h.contains("<code>x &lt; y</code>"), "{h}");
    }

    #[test]
    fn attacks_come_out_inert() {
        for attack in [
            "<script>alert(1)</script>",
            "<SCRIPT SRC=//evil/x.js></SCRIPT>",
            "[click](javascript:alert(1))",
            "[click](JaVaScRiPt:alert(1))",
            "[click](java\tscript:alert(1))",
            "[x](vbscript:msgbox(1))",
            "![x](javascript:alert(1))",
            "<img src=x onerror=alert(1)>",
            "<a href=\"javascript:alert(1)\">a</a>",
            "<iframe src=\"https://evil\"></iframe>",
            "<svg onload=alert(1)>",
            "<div style=\"background:url(javascript:alert(1))\">x</div>",
            "<p onclick=\"alert(1)\">x</p>",
            "<style>body{display:none}</style>",
            "<object data=\"x\"></object>",
            "<form action=\"https://evil\"><input></form>",
            "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
            "<a href=\"&#106;avascript:alert(1)\">x</a>",
            "<<script>script>alert(1)<</script>/script>",
        ] {
            inert(&render(attack));
        }
    }

    #[test]
    fn links_keep_safe_schemes_with_rel() {
        let h = render("[docs](https://example.tw/a?b=1) [m](mailto:a@b.tw) [r](/apis/x)");
        assert!(h.contains("href=\"https://example.tw/a?b=1\""), "{h}");
        assert!(h.contains("href=\"mailto:a@b.tw\""), "{h}");
        assert!(h.contains("href=\"/apis/x\""), "{h}");
        assert!(h.contains("rel=\"noopener noreferrer nofollow\""), "{h}");
    }
}
