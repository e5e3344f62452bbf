//! Encode a `prometheus` crate registry (the binaries' own instrumentation) in either format.
//!
//! The crate's own encoder writes text 0.0.4 only; OpenMetrics differs in counter family names
//! (no `_total` on the family, `_total` on the sample) and needs the same samples otherwise.

use super::Format;
use prometheus::proto::{LabelPair, MetricFamily, MetricType};

/// Append the families gathered from a registry to `buf` in `format` (without `# EOF`).
pub fn encode(families: &[MetricFamily], format: Format, buf: &mut Vec<u8>) {
    for mf in families {
        let name = mf.name();
        let (kind, family_name) = match (mf.get_field_type(), format) {
            (MetricType::COUNTER, Format::OpenMetrics) => ("counter", name.strip_suffix("_total").unwrap_or(name)),
            (MetricType::COUNTER, Format::Text) => ("counter", name),
            (MetricType::GAUGE, _) => ("gauge", name),
            (MetricType::HISTOGRAM, _) => ("histogram", name),
            // Summaries and untyped metrics are not used by wardwatch's binaries.
            _ => continue,
        };
        line(buf, &["# HELP ", family_name, " ", &escape_help(mf.help())]);
        line(buf, &["# TYPE ", family_name, " ", kind]);
        for m in mf.get_metric() {
            let labels = m.get_label();
            match mf.get_field_type() {
                MetricType::COUNTER => {
                    let sample = format!("{family_name}_total");
                    let sample = if format == Format::Text { name } else { &sample };
                    sample_line(buf, sample, labels, None, m.get_counter().value());
                }
                MetricType::GAUGE => sample_line(buf, name, labels, None, m.get_gauge().value()),
                _ => {
                    let h = m.get_histogram();
                    let bucket = format!("{name}_bucket");
                    for b in h.get_bucket() {
                        let le = fmt_f64(b.upper_bound());
                        sample_line(buf, &bucket, labels, Some(&le), b.cumulative_count() as f64);
                    }
                    sample_line(buf, &bucket, labels, Some("+Inf"), h.get_sample_count() as f64);
                    sample_line(buf, &format!("{name}_sum"), labels, None, h.get_sample_sum());
                    sample_line(buf, &format!("{name}_count"), labels, None, h.get_sample_count() as f64);
                }
            }
        }
    }
}

fn line(buf: &mut Vec<u8>, parts: &[&str]) {
    for p in parts {
        buf.extend_from_slice(p.as_bytes());
    }
    buf.push(b'\n');
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        ryu::Buffer::new().format(v).to_string()
    }
}

fn sample_line(buf: &mut Vec<u8>, name: &str, labels: &[LabelPair], le: Option<&str>, value: f64) {
    let mut pairs: Vec<(&str, &str)> = labels.iter().map(|l| (l.name(), l.value())).collect();
    if let Some(le) = le {
        pairs.push(("le", le));
    }
    buf.extend_from_slice(name.as_bytes());
    if !pairs.is_empty() {
        buf.extend_from_slice(super::render_labels(&pairs).as_bytes());
    }
    buf.push(b' ');
    buf.extend_from_slice(fmt_f64(value).as_bytes());
    buf.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts, Registry};

    fn registry() -> Registry {
        let r = Registry::new();
        let c = IntCounterVec::new(Opts::new("demo_requests_total", "Requests."), &["code"]).unwrap();
        c.with_label_values(&["200"]).inc_by(3);
        let h = Histogram::with_opts(HistogramOpts::new("demo_seconds", "Latency.").buckets(vec![0.1, 1.0])).unwrap();
        h.observe(0.5);
        r.register(Box::new(c)).unwrap();
        r.register(Box::new(h)).unwrap();
        r
    }

    #[test]
    fn text_matches_the_crates_own_encoder_sample_for_sample() {
        let r = registry();
        let mut ours = Vec::new();
        encode(&r.gather(), Format::Text, &mut ours);
        let ours = String::from_utf8(ours).unwrap();
        let theirs = prometheus::TextEncoder::new().encode_to_string(&r.gather()).unwrap();
        let samples = |s: &str| -> Vec<(String, f64)> {
            s.lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| {
                    let (k, v) = l.rsplit_once(' ').unwrap();
                    (k.replace("le=\"1.0\"", "le=\"1\""), v.parse().unwrap())
                })
                .collect()
        };
        assert_eq!(samples(&ours), samples(&theirs));
    }

    #[test]
    fn openmetrics_counter_family_drops_total_but_samples_keep_it() {
        let mut om = Vec::new();
        encode(&registry().gather(), Format::OpenMetrics, &mut om);
        let om = String::from_utf8(om).unwrap();
        assert!(om.contains("# TYPE demo_requests counter\n"), "{om}");
        assert!(om.contains("demo_requests_total{code=\"200\"} 3"), "{om}");
        assert!(om.contains("demo_seconds_bucket{le=\"+Inf\"} 1"), "{om}");
    }
}
