//! The HTML part of notification emails: Markdown rendered by pulldown-cmark into one plain
//! responsive layout that carries the conference name.
//!
//! Attendee values never reach this module raw: the template renders the HTML source with
//! minijinja's HTML auto-escaping (see `domain::template`), so a first name `<script>`
//! arrives here as `&lt;script&gt;`, which Markdown keeps as text. What is left to guard is
//! what Markdown itself can produce:
//! - **Links and images** are checked as the events stream past, the way cmark's safe mode
//!   does: only `http`, `https` and `mailto` (and scheme-less) destinations survive, and
//!   links carry `rel="noopener noreferrer"`. Everything else pulldown-cmark writes is
//!   escaped by construction.
//! - **Raw HTML** in an admin's Markdown is the one thing the writer copies verbatim. A
//!   message that has any goes through ammonia, which removes what could run (`<script>`,
//!   event handlers, `javascript:` URLs, including those an attendee value fills in). The
//!   HTML sanitiser costs more than the rest of the render together, so the usual message,
//!   plain Markdown, skips it (docs/BENCHMARKS.md).
use pulldown_cmark::{CowStr, Event, LinkType, Options, Parser, Tag, TagEnd, html};
use pulldown_cmark_escape::{escape_href, escape_html};

/// The URL schemes a link or image may use; a destination without a scheme is relative.
const ALLOWED_SCHEMES: [&str; 3] = ["http", "https", "mailto"];

/// Markdown (already escaped where it holds attendee values) → safe HTML fragment.
pub fn markdown_to_html(markdown: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TABLES);
    let events: Vec<Event> = Parser::new_ext(markdown, options).collect();
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    if events
        .iter()
        .any(|e| matches!(e, Event::Html(_) | Event::InlineHtml(_)))
    {
        html::push_html(&mut out, events.into_iter());
        return sanitise(&out);
    }
    html::push_html(&mut out, checked_links(events));
    out
}

/// ammonia with the same policy as [`checked_links`], for Markdown that holds raw HTML.
fn sanitise(raw: &str) -> String {
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer"))
        .url_schemes(ALLOWED_SCHEMES.into())
        .clean(raw)
        .to_string()
}

/// Rewrites links as `<a href rel>` when their destination is allowed, and drops the link
/// (keeping its text) or the image (keeping its alt text) when it is not.
fn checked_links(events: Vec<Event<'_>>) -> impl Iterator<Item = Event<'_>> {
    // For each open link or image: whether its start tag was kept.
    let mut open: Vec<bool> = Vec::new();
    events.into_iter().filter_map(move |event| match event {
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            ..
        }) => {
            let href = match link_type {
                LinkType::Email => CowStr::from(format!("mailto:{dest_url}")),
                _ => dest_url,
            };
            let allowed = is_allowed_url(&href);
            open.push(allowed);
            allowed.then(|| Event::Html(anchor(&href, &title).into()))
        }
        Event::End(TagEnd::Link) => open
            .pop()
            .unwrap_or(false)
            .then(|| Event::Html("</a>".into())),
        Event::Start(tag @ Tag::Image { .. }) => {
            let Tag::Image { dest_url, .. } = &tag else {
                unreachable!()
            };
            let allowed = is_allowed_url(dest_url);
            open.push(allowed);
            allowed.then_some(Event::Start(tag))
        }
        Event::End(TagEnd::Image) => open
            .pop()
            .unwrap_or(false)
            .then_some(Event::End(TagEnd::Image)),
        other => Some(other),
    })
}

/// `<a href="…" title="…" rel="noopener noreferrer">`, escaped.
fn anchor(href: &str, title: &str) -> String {
    // Writing to a String cannot fail.
    let mut tag = String::from("<a href=\"");
    let _ = escape_href(&mut tag, href);
    if !title.is_empty() {
        tag.push_str("\" title=\"");
        let _ = escape_html(&mut tag, title);
    }
    tag.push_str("\" rel=\"noopener noreferrer\">");
    tag
}

/// A destination is allowed when it has no scheme (relative) or one of
/// [`ALLOWED_SCHEMES`]. Anything with whitespace or control characters is refused, since
/// browsers skip those inside a scheme (`java\tscript:`).
fn is_allowed_url(url: &str) -> bool {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some(colon) = url.find(':') else {
        return true;
    };
    let before = &url[..colon];
    if before.contains(['/', '?', '#']) {
        return true;
    }
    ALLOWED_SCHEMES
        .iter()
        .any(|scheme| before.eq_ignore_ascii_case(scheme))
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
    fn links_that_could_run_are_dropped_and_their_text_kept() {
        for markdown in [
            "[x](javascript:alert(1))",
            "[x](JavaScript:alert(1))",
            "[x](javascript&#58;alert(1))",
            "[x](<java\tscript:alert(1)>)",
            "[x](data:text/html,hi)",
            "<javascript:alert(1)>",
            "![x](javascript:alert(1))",
        ] {
            let html = markdown_to_html(markdown);
            assert!(!html.contains("<a"), "{markdown}: {html}");
            assert!(!html.contains("<img"), "{markdown}: {html}");
        }
        for (markdown, href) in [
            (
                "[x](https://example.org/a?b=1&c=2)",
                "https://example.org/a?b=1&amp;c=2",
            ),
            ("[x](mailto:ada@example.org)", "mailto:ada@example.org"),
            ("<ada@example.org>", "mailto:ada@example.org"),
            ("[x](/relative:path)", "/relative:path"),
        ] {
            let html = markdown_to_html(markdown);
            assert!(
                html.contains(&format!(r#"<a href="{href}" rel="noopener noreferrer">"#)),
                "{markdown}: {html}"
            );
        }
        let image = markdown_to_html("![the venue](https://example.org/v.png \"Venue\")");
        assert!(
            image.contains(r#"<img src="https://example.org/v.png" alt="the venue" title="Venue""#),
            "{image}"
        );
    }

    #[test]
    fn an_attendee_value_inside_raw_html_cannot_add_a_script_link() {
        // `<a href="{{ first_name }}">`, filled in with an attendee's value.
        let html = markdown_to_html(r#"<a href="javascript:alert(1)">site</a> and <b>bold</b>"#);
        assert!(!html.contains("javascript:"), "{html}");
        assert!(
            html.contains("<b>bold</b>"),
            "raw HTML that is safe is kept: {html}"
        );
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
