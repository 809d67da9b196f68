//! Markdown from agents and users, rendered to HTML that cannot run anything.
//!
//! Comments and descriptions are written by agents, and an agent may be steered by whatever it
//! read: its text is hostile input. CommonMark passes raw HTML through, so the rendered HTML is
//! cleaned by [`ammonia`] (an allow-list of tags and attributes; `script`, `style`, event
//! handlers, `javascript:` and `data:` URLs are removed) before it reaches a page. The
//! Content-Security-Policy the server sends is the second wall: even markup that slipped through
//! could not run inline script.

use std::sync::LazyLock;

use pulldown_cmark::{html::push_html, Options, Parser};

static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    b.url_schemes(["http", "https", "mailto"].into_iter().collect())
        .link_rel(Some("noopener noreferrer nofollow"));
    b
});

/// Markdown → sanitized HTML.
pub fn render(markdown: &str) -> String {
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    push_html(&mut out, Parser::new_ext(markdown, opts));
    CLEANER.clean(&out).to_string()
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn formatting_survives() {
        let h = render("# Plan\n\n- **bold** and `code`\n\n[docs](https://example.com/a)");
        assert!(h.contains("<h1>Plan</h1>"), "{h}");
        assert!(h.contains("<strong>bold</strong>"), "{h}");
        assert!(h.contains("<code>code</code>"), "{h}");
        assert!(
            h.contains(r#"href="https://example.com/a""#) && h.contains("noopener"),
            "{h}"
        );
    }

    #[test]
    fn script_of_every_shape_is_removed() {
        for payload in [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "[x](javascript:alert(1))",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<iframe src=\"https://evil.example\"></iframe>",
            "<svg onload=alert(1)>",
            "<a href=\"data:text/html;base64,PHNjcmlwdD4=\">x</a>",
            "<style>body{display:none}</style>",
            "<div style=\"background:url(javascript:alert(1))\">x</div>",
            "<form action=\"/api/companies\"><button>go</button></form>",
        ] {
            let h = render(payload).to_ascii_lowercase();
            for bad in [
                "<script",
                "onerror",
                "onload",
                "javascript:",
                "<iframe",
                "data:",
                "<style",
                "style=",
                "<form",
            ] {
                assert!(!h.contains(bad), "{payload:?} rendered as {h:?}");
            }
        }
    }
}
