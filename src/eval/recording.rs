//! Recording rules' outputs in alerting rules, replaced by the recording rules' expressions.
//!
//! A recording rule's output exists only where a Prometheus has recorded it, never over a
//! backfilled past, so an alerting rule that uses one is evaluated with the recording rule's
//! expression, parenthesised, in its place. That is the same series (but for `__name__`, which
//! an alert drops) except that it is computed at the alert's own evaluation instants rather than
//! read back from the recording group's last evaluation. A selector with label matchers or a
//! range cannot be replaced so, nor can a recording rule with labels of its own: those are
//! errors.

pub(super) use crate::promql::{substitute, Recording};

#[cfg(test)]
mod tests {
    use super::super::rules::{parse, RuleSet, RulesError};

    fn one(text: &str) -> Result<RuleSet, RulesError> {
        parse(&[("t.yml".to_string(), text.to_string())], 15_000)
    }

    #[test]
    fn a_recording_rules_output_is_replaced_by_its_expression_recursively() {
        let set = one("groups:
  - name: rec
    rules:
      - record: job:x:rate1m
        expr: rate(x_total[1m])
      - record: job:x:rate1m_max
        expr: max by (ward) (job:x:rate1m)
  - name: alerts
    rules:
      - alert: XHigh
        expr: job:x:rate1m_max > 3 and on (ward) up{job=\"job:x:rate1m\"} == 1
")
        .unwrap();
        let expected = "(max by (ward) ((rate(x_total[1m])))) > 3 and on (ward) up{job=\"job:x:rate1m\"} == 1";
        assert_eq!(crate::promql::parse(&set.alerts[0].expr), crate::promql::parse(expected), "{}", set.alerts[0].expr);
        let records: Vec<_> = set.substitutions.iter().map(|s| s.record.as_str()).collect();
        assert_eq!(records, ["job:x:rate1m_max", "job:x:rate1m"]);
    }

    #[test]
    fn a_recording_rule_selected_with_matchers_or_labels_cannot_be_replaced() {
        let rec = "groups:\n  - name: r\n    rules:\n      - record: a:b\n        expr: sum(m)\n";
        let e = one(&format!("{rec}      - alert: A\n        expr: a:b{{x=\"1\"}} > 1\n")).unwrap_err();
        assert!(e.to_string().contains("rule A") && e.to_string().contains("`a:b`"), "{e}");
        let e = one(&format!("{rec}      - alert: A\n        expr: max_over_time(a:b[5m]) > 1\n")).unwrap_err();
        assert!(e.to_string().contains("range"), "{e}");
        let labelled =
            "groups:\n  - name: r\n    rules:\n      - record: a:b\n        expr: sum(m)\n        labels: {k: v}\n";
        let e = one(&format!("{labelled}      - alert: A\n        expr: a:b > 1\n")).unwrap_err();
        assert!(e.to_string().contains("own labels"), "{e}");
    }
}
