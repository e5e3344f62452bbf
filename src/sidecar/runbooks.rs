//! `GET /runbooks`: what each alert means and what to do, as one page the sidecar serves, so the
//! runbook link of a notification opens on a phone at the bedside — no repository, no Grafana.
//!
//! The page is the project's `docs/runbooks.md`, rendered once (CommonMark, by `pulldown-cmark`),
//! each heading given the anchor GitHub gives it, so `runbooks#hypoxiadetected` in a message
//! lands on the same section as `docs/runbooks.md#hypoxiadetected` in the repository.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use pulldown_cmark::{html, CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use std::sync::OnceLock;

/// The runbooks as written.
const RUNBOOKS_MD: &str = include_str!("../../docs/runbooks.md");

/// The path the page is served at.
pub const PATH: &str = "/runbooks";

/// `GET /runbooks`.
pub async fn page() -> Response {
    static PAGE: OnceLock<String> = OnceLock::new();
    let body = PAGE.get_or_init(|| render(RUNBOOKS_MD)).as_str();
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// GitHub's anchor of a heading: lower case, letters, digits, `-` and `_` kept, spaces as `-`,
/// the rest dropped.
pub fn anchor(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// The Markdown as a whole HTML page, headings anchored.
fn render(markdown: &str) -> String {
    let events: Vec<Event> = Parser::new_ext(markdown, Options::ENABLE_TABLES).collect();
    let mut out: Vec<Event> = Vec::with_capacity(events.len());
    let mut i = 0;
    while i < events.len() {
        if let Event::Start(Tag::Heading { level, .. }) = &events[i] {
            let level = *level;
            let end = events[i..].iter().position(|e| matches!(e, Event::End(TagEnd::Heading(_)))).map_or(i, |p| i + p);
            let text: String = events[i + 1..end]
                .iter()
                .filter_map(|e| match e {
                    Event::Text(t) | Event::Code(t) => Some(t.as_ref()),
                    _ => None,
                })
                .collect();
            let n = heading_number(level);
            out.push(Event::Html(CowStr::from(format!("<h{n} id=\"{}\">", anchor(&text)))));
            out.extend(events[i + 1..end].iter().cloned());
            out.push(Event::Html(CowStr::from(format!("</h{n}>\n"))));
            i = end + 1;
            continue;
        }
        out.push(events[i].clone());
        i += 1;
    }
    let mut body = String::with_capacity(markdown.len() * 2);
    html::push_html(&mut body, out.into_iter());
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>wardwatch runbooks</title><style>\
         body{{font-family:sans-serif;max-width:48em;margin:1em auto;padding:0 1em;line-height:1.45}}\
         h3{{border-top:1px solid #ddd;padding-top:.6em}} code{{background:#f4f4f4;padding:0 .2em}}\
         h3:target{{background:#fff3c4}}</style></head><body>{body}</body></html>"
    )
}

fn heading_number(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_heading_has_githubs_anchor() {
        assert_eq!(anchor("HypoxiaDetected"), "hypoxiadetected");
        assert_eq!(anchor("Clinical alerts"), "clinical-alerts");
        assert_eq!(anchor("What `for` costs (min)"), "what-for-costs-min");
        let page = render(RUNBOOKS_MD);
        assert!(page.contains("<h3 id=\"hypoxiadetected\">HypoxiaDetected</h3>"), "{}", &page[..2000]);
        assert!(page.contains("<h2 id=\"clinical-alerts\">Clinical alerts</h2>"));
        assert!(page.contains("<a href=\"#hypoxiaforecast\">HypoxiaForecast</a>"), "the index links to the sections");
        for line in RUNBOOKS_MD.lines().filter_map(|l| l.strip_prefix("### ")) {
            assert!(page.contains(&format!("id=\"{}\"", anchor(line))), "{line}");
        }
    }
}
