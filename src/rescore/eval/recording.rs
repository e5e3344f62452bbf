//! Recording rules' outputs in alerting rules, replaced by the recording rules' expressions.
//!
//! A recording rule's output exists only where a Prometheus has recorded it, never over a
//! backfilled past, so an alerting rule that uses one is evaluated with the recording rule's
//! expression, parenthesised, in its place. That is the same series (but for `__name__`, which
//! an alert drops) except that it is computed at the alert's own evaluation instants rather than
//! read back from the recording group's last evaluation. A selector with label matchers or a
//! range cannot be replaced so, nor can a recording rule with labels of its own: those are
//! errors.

/// A recording rule: its name, expression and whether it adds labels.
pub(super) struct Recording {
    /// `record:` name.
    pub name: String,
    /// Its expression.
    pub expr: String,
    /// Whether it adds `labels:` of its own.
    pub labelled: bool,
}

/// Byte ranges of the names in a PromQL expression (outside string literals), with what follows
/// each one (its first non-blank character).
fn names(expr: &str) -> Vec<(usize, usize, Option<u8>)> {
    let b = expr.as_bytes();
    let is_name = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    let (mut out, mut quote, mut i) = (Vec::new(), None::<u8>, 0);
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) if c == b'\\' && q != b'`' => i += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'"' || c == b'\'' || c == b'`' => quote = Some(c),
            None if is_name(c) => {
                let start = i;
                while i < b.len() && is_name(b[i]) {
                    i += 1;
                }
                let next = b[i..].iter().copied().find(|c| !c.is_ascii_whitespace());
                if !c.is_ascii_digit() {
                    out.push((start, i, next));
                }
                continue;
            }
            None => {}
        }
        i += 1;
    }
    out
}

/// `expr` with every recording rule's name replaced by its parenthesised expression, repeatedly
/// (recording rules built on others); the recording rules used.
pub(super) fn substitute(expr: &str, records: &[Recording]) -> Result<(String, Vec<String>), String> {
    let (mut expr, mut used) = (expr.to_string(), Vec::new());
    for _ in 0..=records.len() {
        let mut replaced = false;
        for (start, end, next) in names(&expr).into_iter().rev() {
            let Some(r) = records.iter().find(|r| r.name == expr[start..end]) else { continue };
            if matches!(next, Some(b'{' | b'[')) {
                return Err(format!(
                    "it selects the recording rule `{}` with label matchers or a range, which cannot be \
                     replaced by its expression; write the expression out in the alerting rule",
                    r.name
                ));
            }
            if r.labelled {
                return Err(format!(
                    "it uses the recording rule `{}`, whose own labels its expression does not carry; \
                     write the expression out in the alerting rule",
                    r.name
                ));
            }
            expr.replace_range(start..end, &format!("({})", r.expr));
            if !used.contains(&r.name) {
                used.push(r.name.clone());
            }
            replaced = true;
        }
        if !replaced {
            return Ok((expr, used));
        }
    }
    Err("its recording rules refer to each other in a cycle".into())
}

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
        assert_eq!(
            set.alerts[0].expr,
            "(max by (ward) ((rate(x_total[1m])))) > 3 and on (ward) up{job=\"job:x:rate1m\"} == 1"
        );
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
