//! Content negotiation: which format and encoding a scraper asked for.
//!
//! Prometheus 2.42 sends `Accept: application/openmetrics-text;version=1.0.0,
//! application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1`
//! and `Accept-Encoding: gzip` (Prometheus 2.42's scrape request). OpenMetrics is served when it is acceptable in
//! version 1.0.0 (or unversioned) and preferred at least as much as text; otherwise text 0.0.4.

use super::Format;

/// One media range of an `Accept` header.
struct MediaRange<'a> {
    mime: &'a str,
    version: Option<&'a str>,
    q: f32,
}

fn parse_ranges(accept: &str) -> impl Iterator<Item = MediaRange<'_>> {
    accept.split(',').filter_map(|part| {
        let mut pieces = part.split(';');
        let mime = pieces.next()?.trim();
        if mime.is_empty() {
            return None;
        }
        let (mut version, mut q) = (None, 1.0f32);
        for param in pieces {
            let (k, v) = param.split_once('=')?;
            match k.trim().to_ascii_lowercase().as_str() {
                "version" => version = Some(v.trim().trim_matches('"')),
                "q" => q = v.trim().parse().unwrap_or(0.0),
                _ => {}
            }
        }
        Some(MediaRange { mime, version, q })
    })
}

/// The format to answer an `Accept` header with (text when absent or unparseable).
pub fn format(accept: Option<&str>) -> Format {
    let Some(accept) = accept else { return Format::Text };
    let (mut om_q, mut text_q) = (0.0f32, 0.0f32);
    for r in parse_ranges(accept) {
        let mime = r.mime.to_ascii_lowercase();
        if mime == "application/openmetrics-text" && matches!(r.version, None | Some("1.0.0")) {
            om_q = om_q.max(r.q);
        } else if mime == "text/plain" || mime == "*/*" || mime == "text/*" {
            text_q = text_q.max(r.q);
        }
    }
    if om_q > 0.0 && om_q >= text_q {
        Format::OpenMetrics
    } else {
        Format::Text
    }
}

/// True when `Accept-Encoding` allows gzip.
pub fn wants_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding
        .is_some_and(|h| parse_ranges(h).any(|r| (r.mime.eq_ignore_ascii_case("gzip") || r.mime == "*") && r.q > 0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMETHEUS_2_42: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    #[test]
    fn prometheus_gets_openmetrics_first() {
        assert_eq!(format(Some(PROMETHEUS_2_42)), Format::OpenMetrics);
    }

    #[test]
    fn plain_clients_get_text() {
        assert_eq!(format(None), Format::Text);
        assert_eq!(format(Some("*/*")), Format::Text);
        assert_eq!(format(Some("text/plain;version=0.0.4")), Format::Text);
        assert_eq!(format(Some("garbage;;;")), Format::Text);
    }

    #[test]
    fn only_openmetrics_1_0_0_is_served() {
        assert_eq!(format(Some("application/openmetrics-text;version=0.0.1")), Format::Text);
        assert_eq!(format(Some("application/openmetrics-text")), Format::OpenMetrics);
    }

    #[test]
    fn preference_by_quality_is_honoured() {
        let h = "application/openmetrics-text;version=1.0.0;q=0.2,text/plain;version=0.0.4;q=0.9";
        assert_eq!(format(Some(h)), Format::Text);
        assert_eq!(format(Some("application/openmetrics-text;q=0")), Format::Text);
    }

    #[test]
    fn gzip_only_when_asked_and_not_refused() {
        assert!(wants_gzip(Some("gzip")));
        assert!(wants_gzip(Some("deflate, gzip;q=0.5")));
        assert!(!wants_gzip(Some("gzip;q=0")));
        assert!(!wants_gzip(Some("identity")));
        assert!(!wants_gzip(None));
    }
}
