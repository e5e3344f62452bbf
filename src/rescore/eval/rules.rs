//! The repository's alerting rules, read from `prometheus/rules/*.yml` and interpreted where they
//! are simple threshold rules: `<selector> <op> <number>`, where the selector is a metric with
//! label matchers (`=`, `!=`), optionally inside `rate(…[d])` or `increase(…[d])`, and several
//! such comparisons on the same metric joined by `and` / `or`. Anything else is reported as
//! skipped with the reason.

use serde::Deserialize;
use std::path::Path;

#[derive(Deserialize)]
struct RuleFile {
    groups: Vec<Group>,
}

#[derive(Deserialize)]
struct Group {
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
struct RawRule {
    alert: Option<String>,
    expr: String,
    #[serde(rename = "for")]
    for_: Option<String>,
    #[serde(default)]
    labels: std::collections::BTreeMap<String, String>,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl Op {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Eq => a == b,
            Op::Ne => a != b,
        }
    }
}

/// How the selected series is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// The sample value.
    Value,
    /// `rate(x[d])`, per second over `d` ms.
    Rate(i64),
    /// `increase(x[d])` over `d` ms.
    Increase(i64),
}

/// One comparison: `func(metric{matchers}) op threshold`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// How the series is read.
    pub func: Func,
    /// Metric name.
    pub metric: String,
    /// Label matchers: (label, must equal, value).
    pub matchers: Vec<Matcher>,
    /// Operator.
    pub op: Op,
    /// Threshold.
    pub threshold: f64,
}

impl Comparison {
    /// True when a series with these labels is selected.
    pub fn selects(&self, metric: &str, labels: &[(String, String)]) -> bool {
        metric == self.metric
            && self.matchers.iter().all(|(l, eq, v)| {
                let have = labels.iter().find(|(k, _)| k == l).map_or("", |(_, x)| x.as_str());
                (have == v) == *eq
            })
    }

    /// Whether the read value crosses the threshold.
    pub fn holds(&self, value: f64) -> bool {
        self.op.holds(value, self.threshold)
    }
}

/// An interpreted alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// `alert:` name.
    pub name: String,
    /// `labels.severity`.
    pub severity: String,
    /// `for:` in ms (0 when absent).
    pub for_ms: i64,
    /// The comparisons, all on one metric and function.
    pub terms: Vec<Comparison>,
    /// `true` when joined by `and` (all must hold), `false` for `or` (any).
    pub all: bool,
}

/// A rule that could not be interpreted, with the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    /// `alert:` name.
    pub name: String,
    /// Why.
    pub reason: String,
}

fn duration_ms(text: &str) -> Result<i64, String> {
    crate::sim::events::parse_duration(text).map(|s| (s * 1000.0).round() as i64)
}

/// Split `text` at top-level occurrences of `sep` (outside braces, brackets and parentheses).
fn split_top(text: &str, sep: &str) -> Vec<String> {
    let (mut depth, mut parts, mut cur) = (0i32, Vec::new(), String::new());
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < bytes.len() {
        let c = bytes[i] as char;
        match c {
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => depth -= 1,
            _ => {}
        }
        if depth == 0 && text[i..].starts_with(sep) {
            parts.push(cur.trim().to_string());
            cur.clear();
            i += sep.len();
            continue;
        }
        cur.push(c);
        i += 1;
    }
    parts.push(cur.trim().to_string());
    parts
}

/// A label matcher: (label, must equal, value).
type Matcher = (String, bool, String);

fn parse_selector(text: &str) -> Result<(Func, String, Vec<Matcher>), String> {
    let text = text.trim();
    let (func, inner) = if let Some(rest) = text.strip_prefix("rate(").or_else(|| text.strip_prefix("increase(")) {
        let body = rest.strip_suffix(')').ok_or("unbalanced parenthesis")?;
        let (sel, range) = body.rsplit_once('[').ok_or("a range vector needs [d]")?;
        let d = duration_ms(range.trim_end_matches(']'))?;
        (if text.starts_with("rate(") { Func::Rate(d) } else { Func::Increase(d) }, sel)
    } else {
        (Func::Value, text)
    };
    let (metric, matchers) = match inner.split_once('{') {
        Some((m, rest)) => (m, rest.strip_suffix('}').ok_or("unbalanced brace")?),
        None => (inner, ""),
    };
    if metric.is_empty() || !metric.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("`{inner}` is not a plain metric selector"));
    }
    let mut out = Vec::new();
    for m in matchers.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        if m.contains("=~") || m.contains("!~") {
            return Err("regular-expression matchers are not interpreted".into());
        }
        let (label, eq, value) = match m.split_once("!=") {
            Some((l, v)) => (l, false, v),
            None => {
                let (l, v) = m.split_once('=').ok_or_else(|| format!("matcher `{m}`"))?;
                (l, true, v)
            }
        };
        out.push((label.trim().to_string(), eq, value.trim().trim_matches('"').to_string()));
    }
    Ok((func, metric.to_string(), out))
}

fn parse_comparison(text: &str) -> Result<Comparison, String> {
    for (token, op) in [(">=", Op::Ge), ("<=", Op::Le), ("==", Op::Eq), ("!=", Op::Ne), (">", Op::Gt), ("<", Op::Lt)] {
        let parts = split_top(text, token);
        if parts.len() == 2 {
            let threshold: f64 = parts[1]
                .parse()
                .map_err(|_| format!("`{}` is not a number (only `<selector> <op> <number>`)", parts[1]))?;
            let (func, metric, matchers) = parse_selector(&parts[0])?;
            return Ok(Comparison { func, metric, matchers, op, threshold });
        }
    }
    Err(format!("`{text}` is not a comparison with a number"))
}

/// Interpret one rule's expression.
pub fn interpret(name: &str, expr: &str, for_: Option<&str>, severity: &str) -> Result<Rule, String> {
    let expr = expr.split_whitespace().collect::<Vec<_>>().join(" ");
    let (parts, all) = match (split_top(&expr, " and "), split_top(&expr, " or ")) {
        (a, o) if a.len() > 1 && o.len() > 1 => return Err("mixes `and` and `or`".into()),
        (a, _) if a.len() > 1 => (a, true),
        (_, o) => (o, false),
    };
    let terms = parts.iter().map(|p| parse_comparison(p)).collect::<Result<Vec<_>, _>>()?;
    if terms.iter().any(|t| t.metric != terms[0].metric || t.func != terms[0].func) {
        return Err("joins different metrics".into());
    }
    let for_ms = for_.map(duration_ms).transpose()?.unwrap_or(0);
    Ok(Rule { name: name.to_string(), severity: severity.to_string(), for_ms, terms, all })
}

/// Read every `*.yml` rule file in `dir` (sorted by name): the interpreted rules and the skipped.
pub fn load(dir: &Path) -> anyhow::Result<(Vec<Rule>, Vec<Skipped>)> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    paths.sort();
    let (mut rules, mut skipped) = (Vec::new(), Vec::new());
    for path in paths {
        let text = std::fs::read_to_string(&path)?;
        let file: RuleFile = serde_yaml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        for r in file.groups.into_iter().flat_map(|g| g.rules) {
            let Some(name) = r.alert else { continue };
            let severity = r.labels.get("severity").cloned().unwrap_or_default();
            match interpret(&name, &r.expr, r.for_.as_deref(), &severity) {
                Ok(rule) => rules.push(rule),
                Err(reason) => skipped.push(Skipped { name, reason }),
            }
        }
    }
    Ok((rules, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simple_threshold_rule_is_interpreted_with_its_for_and_severity() {
        let r = interpret("HypoxiaDetected", "wardwatch_patient_spo2_ratio < 0.90", Some("10s"), "critical").unwrap();
        assert_eq!(r.for_ms, 10_000);
        assert_eq!(r.terms[0].op, Op::Lt);
        assert!(r.terms[0].holds(0.89) && !r.terms[0].holds(0.90));
    }

    #[test]
    fn matchers_rates_and_joins_on_one_metric_are_interpreted() {
        let r = interpret("L", "m{tier=\"wan\"} > 0.12 or m{tier!=\"wan\"} > 0.02", None, "warning").unwrap();
        assert!(!r.all && r.terms.len() == 2);
        let wan = vec![("tier".to_string(), "wan".to_string())];
        assert!(r.terms[0].selects("m", &wan) && !r.terms[1].selects("m", &wan));
        let r = interpret("U", "rate(x_total[2m]) > 1e6", Some("2m"), "critical").unwrap();
        assert_eq!(r.terms[0].func, Func::Rate(120_000));
        let r = interpret("N", "n >= 5 and n < 7", None, "warning").unwrap();
        assert!(r.all);
    }

    #[test]
    fn what_is_not_a_simple_threshold_is_skipped_with_a_reason() {
        assert!(interpret("P", "predict_linear(m[1h], 3600) > 1", None, "w").is_err());
        assert!(interpret("J", "up{job=~\"w.*\"} == 0", None, "w").unwrap_err().contains("regular"));
        assert!(interpret("D", "a > 1 or b > 2", None, "w").unwrap_err().contains("different"));
        assert!(interpret("V", "a > b", None, "w").is_err());
    }
}
