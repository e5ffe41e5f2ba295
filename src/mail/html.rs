//! The HTML part of notification emails: Markdown rendered by pulldown-cmark, sanitised by
//! ammonia, inside one plain responsive layout that carries the conference name.
//!
//! Attendee values never reach this module raw: the template renders the HTML source with
//! minijinja's HTML auto-escaping (see `domain::template`), so a first name `<script>`
//! arrives here as `&lt;script&gt;`, which Markdown keeps as text. ammonia then removes
//! anything an admin's own Markdown could smuggle in (raw `<script>`, `javascript:` links,
//! event handlers), so the result is safe whatever the template says.
use pulldown_cmark::{Options, Parser, html};

/// Markdown (already escaped where it holds attendee values) → sanitised HTML fragment.
pub fn markdown_to_html(markdown: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TABLES);
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut raw, Parser::new_ext(markdown, options));
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer"))
        .url_schemes(["http", "https", "mailto"].into())
        .clean(&raw)
        .to_string()
}

/// A whole HTML document around a sanitised fragment: the conference name as the heading,
/// the message, and (for notifications) a visible unsubscribe link.
pub fn document(conference_name: &str, fragment: &str, unsubscribe_url: Option<&str>) -> String {
    let name = escape(conference_name);
    let footer = match unsubscribe_url {
        Some(url) => format!(
            r#"<p style="margin:24px 0 0;font-size:12px;color:#6b7280">You receive this because you registered for {name}. <a href="{}" style="color:#6b7280">Unsubscribe</a>.</p>"#,
            escape(url)
        ),
        None => String::new(),
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name}</title>
</head>
<body style="margin:0;padding:0;background:#f3f4f6">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f3f4f6">
<tr><td align="center" style="padding:16px">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:600px;background:#ffffff;border-radius:6px">
<tr><td style="padding:20px 24px;border-bottom:1px solid #e5e7eb;font:600 18px/1.3 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#111827">{name}</td></tr>
<tr><td style="padding:20px 24px;font:16px/1.5 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#111827">
{fragment}{footer}
</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
"#
    )
}

/// Escapes text for HTML element content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_html() {
        let html = markdown_to_html("# Hi\n\nSee **you** at [the venue](https://example.org).");
        assert!(html.contains("<h1>Hi</h1>"), "{html}");
        assert!(html.contains("<strong>you</strong>"), "{html}");
        assert!(
            html.contains(r#"<a href="https://example.org" rel="noopener noreferrer">"#),
            "{html}"
        );
    }

    #[test]
    fn raw_html_and_script_links_in_the_template_are_removed() {
        let html = markdown_to_html(
            "<script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src=x onerror=alert(1)>",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
    }

    #[test]
    fn escaped_values_stay_text() {
        let html = markdown_to_html("Hello &lt;script&gt;alert(1)&lt;/script&gt;");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script"), "{html}");
    }

    #[test]
    fn the_layout_carries_the_escaped_conference_name() {
        let doc = document(
            "R&D <Conf>",
            "<p>x</p>",
            Some("https://t.example/u/a?b=1&c=2"),
        );
        assert!(doc.contains("<title>R&amp;D &lt;Conf&gt;</title>"), "{doc}");
        assert!(
            doc.contains(r#"href="https://t.example/u/a?b=1&amp;c=2""#),
            "{doc}"
        );
        assert!(doc.contains("width=device-width"), "{doc}");
    }
}
