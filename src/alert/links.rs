//! The links a notification carries — an Alertmanager silence, the entity's Grafana dashboard —
//! built one way for every channel. Channels add only their own limits on top (Slack's URL
//! length and its `<url|label>` syntax).

use crate::alert::payload::LabelSet;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Grafana dashboard UID for one patient (variable `patient`).
pub const PATIENT_DASHBOARD_UID: &str = "wardwatch-patient";
/// Grafana dashboard UID for one ward (variable `ward`), used when an alert names no patient.
pub const WARD_DASHBOARD_UID: &str = "wardwatch-ward";

/// Everything but RFC 3986's unreserved characters is encoded in a query value.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// `s` percent-encoded as a query value (RFC 3986: everything but unreserved characters).
pub fn query_value(s: &str) -> String {
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// A configured base URL without surrounding space and trailing slashes; `None` if empty.
pub fn base_url(url: Option<&str>) -> Option<&str> {
    url.map(|u| u.trim().trim_end_matches('/')).filter(|u| !u.is_empty())
}

/// Label matchers in Alertmanager's and PromQL's syntax: `{alertname="X",ward="icu-1"}`.
pub fn matchers<'a>(labels: impl IntoIterator<Item = (&'a String, &'a String)>) -> String {
    let parts: Vec<String> = labels
        .into_iter()
        .map(|(k, v)| {
            let v = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", parts.join(","))
}

/// Alertmanager's "new silence" page pre-filled with these labels.
pub fn silence_url<'a>(alertmanager: &str, labels: impl IntoIterator<Item = (&'a String, &'a String)>) -> String {
    format!("{alertmanager}/#/silences/new?filter={}", query_value(&matchers(labels)))
}

/// Which dashboard a link opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dashboard {
    /// The patient's.
    Patient,
    /// The ward's, for an alert that names no patient.
    Ward,
}

impl Dashboard {
    /// How a link to it reads.
    pub fn title(self) -> &'static str {
        match self {
            Dashboard::Patient => "Grafana patient dashboard",
            Dashboard::Ward => "Grafana ward dashboard",
        }
    }
}

/// The patient's Grafana dashboard (`{grafana}/d/wardwatch-patient?var-patient=…`), else the
/// ward's; `range` is appended as is (e.g. `&from=…&to=now`). `None` when neither is labelled.
pub fn dashboard_url(grafana: &str, labels: &LabelSet, range: &str) -> Option<(Dashboard, String)> {
    let nonempty = |k: &str| labels.get(k).filter(|v| !v.is_empty());
    match (nonempty("patient"), nonempty("ward")) {
        (Some(p), _) => Some((
            Dashboard::Patient,
            format!("{grafana}/d/{PATIENT_DASHBOARD_UID}?var-patient={}{range}", query_value(p)),
        )),
        (None, Some(w)) => {
            Some((Dashboard::Ward, format!("{grafana}/d/{WARD_DASHBOARD_UID}?var-ward={}{range}", query_value(w))))
        }
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_query_value_keeps_only_unreserved_characters() {
        assert_eq!(query_value("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(query_value("{a=\"b c\"}/&?#é"), "%7Ba%3D%22b%20c%22%7D%2F%26%3F%23%C3%A9");
    }

    #[test]
    fn matchers_escape_what_would_end_the_value() {
        let l = labels(&[("alertname", "X"), ("note", "say \"hi\"\\\nbye")]);
        assert_eq!(matchers(&l), r#"{alertname="X",note="say \"hi\"\\\nbye"}"#);
    }

    #[test]
    fn base_urls_lose_trailing_slashes_and_blanks_are_none() {
        assert_eq!(base_url(Some(" http://am:9093/ ")), Some("http://am:9093"));
        assert_eq!(base_url(Some("  ")), None);
        assert_eq!(base_url(None), None);
    }

    #[test]
    fn the_dashboard_is_the_patients_else_the_wards() {
        let both = labels(&[("patient", "p 1"), ("ward", "icu-1")]);
        let (kind, url) = dashboard_url("http://g", &both, "&from=1&to=now").unwrap();
        assert_eq!(
            (kind, url.as_str()),
            (Dashboard::Patient, "http://g/d/wardwatch-patient?var-patient=p%201&from=1&to=now")
        );
        let ward = labels(&[("ward", "icu-1"), ("patient", "")]);
        assert_eq!(
            dashboard_url("http://g", &ward, ""),
            Some((Dashboard::Ward, "http://g/d/wardwatch-ward?var-ward=icu-1".into()))
        );
        assert_eq!(dashboard_url("http://g", &LabelSet::new(), ""), None);
        assert!(
            silence_url("http://am", &ward).starts_with("http://am/#/silences/new?filter=%7Bpatient%3D%22%22%2Cward")
        );
    }
}
