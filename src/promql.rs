//! What the code needs to understand of a PromQL expression, through one maintained parser
//! (`promql-parser`, a port of Prometheus's own grammar): the threshold of a comparison (for
//! charts), the metric names an expression reads, in order (for the rescoring focus), and the
//! replacement of a recording rule's output by its expression (for the evaluation).

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{self, Expr, ParenExpr, VectorSelector};

/// The expression parsed, or the parser's error.
pub fn parse(expr: &str) -> Result<Expr, String> {
    parser::parse(expr)
}

/// Split `<expr> <comparison> <number>` into the expression to chart and the threshold;
/// anything else (no comparison at the top, a non-numeric right side, `bool`, an expression
/// that does not parse) is returned whole with no threshold.
pub fn split_threshold(expr: &str) -> (String, Option<f64>) {
    match split_comparison(expr) {
        (chart, Some(Limit::Number(n))) => (chart, Some(n)),
        _ => (expr.trim().to_string(), None),
    }
}

/// What a rule compares its series with: a number, or another series (a patient's own alarm
/// limit: `spo2 < on (patient) spo2_alarm_low`).
#[derive(Debug, Clone, PartialEq)]
pub enum Limit {
    /// `<expr> <comparison> <number>`.
    Number(f64),
    /// `<expr> <comparison> <expr>`: the right side's expression.
    Series(String),
}

/// Split a comparison at the top of `expr` into the expression to chart and what it is compared
/// with ([`split_threshold`], and a right side that is itself a series); anything else is
/// returned whole with no limit.
pub fn split_comparison(expr: &str) -> (String, Option<Limit>) {
    let whole = (expr.trim().to_string(), None);
    let Ok(Expr::Binary(b)) = parse(expr) else { return whole };
    let returns_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    if !b.op.is_comparison_operator() || returns_bool {
        return whole;
    }
    match (&*b.lhs, &*b.rhs) {
        (_, Expr::NumberLiteral(n)) if n.val.is_finite() => (b.lhs.to_string(), Some(Limit::Number(n.val))),
        (Expr::NumberLiteral(_), _) | (_, Expr::NumberLiteral(_)) => whole,
        (lhs, rhs) => (lhs.to_string(), Some(Limit::Series(rhs.to_string()))),
    }
}

/// `expr` with `labels` (name, value) required of every series it selects, where a selector does
/// not already ask for that label: one entity's share of a rule's expression. An expression that
/// does not parse is returned as it is.
pub fn restricted(expr: &str, labels: &[(&str, &str)]) -> String {
    let Ok(mut ast) = parse(expr) else { return expr.to_owned() };
    let _ = walk(&mut ast, &mut |e| {
        let vs = match e {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(m) => &mut m.vs,
            _ => return Ok(false),
        };
        for (name, value) in labels {
            if !vs.matchers.matchers.iter().any(|m| m.name == *name) {
                vs.matchers.matchers.push(Matcher::new(MatchOp::Equal, name, value));
            }
        }
        Ok(true)
    });
    ast.to_string()
}

/// The metric names an expression selects, in the order they appear, each once.
pub fn metric_names(expr: &str) -> Vec<String> {
    let Ok(mut ast) = parse(expr) else { return Vec::new() };
    let mut names: Vec<String> = Vec::new();
    let _ = walk(&mut ast, &mut |e| {
        if let Some(name) = selector(e).and_then(|(vs, _)| vs.name.clone()) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        Ok(false)
    });
    names
}

/// The vector selector of a selector node, and whether it selects a range.
fn selector(e: &Expr) -> Option<(&VectorSelector, bool)> {
    match e {
        Expr::VectorSelector(vs) => Some((vs, false)),
        Expr::MatrixSelector(m) => Some((&m.vs, true)),
        _ => None,
    }
}

/// Whether a selector has label matchers besides its metric name.
fn has_label_matchers(vs: &VectorSelector) -> bool {
    vs.matchers.matchers.iter().any(|m| m.name != "__name__") || !vs.matchers.or_matchers.is_empty()
}

/// A recording rule, for [`substitute`].
#[derive(Debug, Clone)]
pub struct Recording {
    /// `record:` name.
    pub name: String,
    /// Its expression.
    pub expr: String,
    /// Whether it adds `labels:` of its own.
    pub labelled: bool,
}

/// `expr` with every plain selection of a recording rule's output (its bare name) replaced by
/// the rule's parenthesised expression, repeatedly (recording rules built on others), and the
/// recording rules used, in the order met. A selection with label matchers, a range or an
/// offset, or a rule with labels of its own, cannot be replaced so: an error says which.
pub fn substitute(expr: &str, records: &[Recording]) -> Result<(String, Vec<String>), String> {
    let mut ast = parse(expr)?;
    let mut used: Vec<String> = Vec::new();
    for _ in 0..=records.len() {
        let mut replaced = false;
        walk(&mut ast, &mut |e| {
            let Some((vs, range)) = selector(e) else { return Ok(false) };
            let Some(r) = vs.name.as_ref().and_then(|n| records.iter().find(|r| &r.name == n)) else {
                return Ok(false);
            };
            if range || has_label_matchers(vs) || vs.offset.is_some() || vs.at.is_some() {
                return Err(format!(
                    "it selects the recording rule `{}` with label matchers, a range or an offset, which cannot \
                     be replaced by its expression; write the expression out in the alerting rule",
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
            let inner = parse(&r.expr).map_err(|e| format!("the recording rule `{}` does not parse: {e}", r.name))?;
            *e = Expr::Paren(ParenExpr { expr: Box::new(inner) });
            if !used.contains(&r.name) {
                used.push(r.name.clone());
            }
            replaced = true;
            Ok(true)
        })?;
        if !replaced {
            // Untouched, the expression is kept as written.
            let out = if used.is_empty() { expr.trim().to_string() } else { ast.to_string() };
            return Ok((out, used));
        }
    }
    Err("its recording rules refer to each other in a cycle".into())
}

/// Visit every node of `e`, parents before children and left before right; `f` answers whether
/// it replaced the node (whose children are then not visited).
fn walk(e: &mut Expr, f: &mut impl FnMut(&mut Expr) -> Result<bool, String>) -> Result<(), String> {
    if f(e)? {
        return Ok(());
    }
    match e {
        Expr::Aggregate(a) => {
            if let Some(p) = a.param.as_mut() {
                walk(p, f)?;
            }
            walk(&mut a.expr, f)
        }
        Expr::Unary(u) => walk(&mut u.expr, f),
        Expr::Binary(b) => {
            walk(&mut b.lhs, f)?;
            walk(&mut b.rhs, f)
        }
        Expr::Paren(p) => walk(&mut p.expr, f),
        Expr::Subquery(s) => walk(&mut s.expr, f),
        Expr::Call(c) => c.args.args.iter_mut().try_for_each(|a| walk(a, f)),
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::VectorSelector(_)
        | Expr::MatrixSelector(_)
        | Expr::Extension(_) => Ok(()),
    }
}

/// The PromQL expression of a Prometheus `generatorURL` (`g0.expr`), if it has a non-empty one.
pub fn expression_from_generator_url(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
    pairs.into_iter().find(|(k, _)| k == "g0.expr").map(|(_, v)| v.trim().to_string()).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expression_restricted_to_one_patient_selects_only_their_series() {
        let one = [("patient", "p00003"), ("ward", "icu-1")];
        let r = restricted("wardwatch_patient_spo2_ratio", &one);
        assert_eq!(metric_names(&r), ["wardwatch_patient_spo2_ratio"]);
        assert!(r.contains("patient=\"p00003\"") && r.contains("ward=\"icu-1\""), "{r}");
        let r = restricted("avg_over_time(hr{ward=\"icu-2\"}[10m]) - avg_over_time(hr[1h] offset 2h)", &one);
        assert_eq!(r.matches("patient=\"p00003\"").count(), 2, "every selector: {r}");
        assert!(
            r.contains("ward=\"icu-2\"") && r.matches("ward=\"icu-1\"").count() == 1,
            "its own matcher stands: {r}"
        );
        assert!(parse(&r).is_ok(), "{r}");
        assert_eq!(restricted("not promql ((", &one), "not promql ((");
    }

    #[test]
    fn a_comparison_with_a_series_splits_into_the_series_and_its_limit() {
        let rule =
            "wardwatch_patient_spo2_ratio < on (department, ward, bed, patient) wardwatch_patient_spo2_alarm_low_ratio";
        let (chart, limit) = split_comparison(rule);
        assert_eq!(chart, "wardwatch_patient_spo2_ratio");
        assert_eq!(limit, Some(Limit::Series("wardwatch_patient_spo2_alarm_low_ratio".into())));
        assert_eq!(split_comparison("spo2 < 90"), ("spo2".into(), Some(Limit::Number(90.0))));
        for e in ["x > bool y", "x and y", "3 < x", "up"] {
            assert_eq!(split_comparison(e), (e.to_string(), None), "{e}");
        }
    }

    #[test]
    fn a_comparison_with_a_number_splits_into_the_series_and_its_threshold() {
        assert_eq!(split_threshold("spo2{ward=\"icu-1\"} < 90"), ("spo2{ward=\"icu-1\"}".into(), Some(90.0)));
        assert_eq!(split_threshold("avg_over_time(hr[5m]) >= 130.5"), ("avg_over_time(hr[5m])".into(), Some(130.5)));
        assert_eq!(split_threshold("x != -1"), ("x".into(), Some(-1.0)));
        assert_eq!(split_threshold("x{a!=\"b\", c=~\"d>\"} > 3").1, Some(3.0));
        let others = ["up", "a > b", "x > bool 3", "x > 3 and y < 2", "sum(x > 3)", "x > 0.9 * 100", "x > NaN", "> 3"];
        for e in others.into_iter().chain(["rate(x[5m])", "x{a=\">\"}", "not promql ((", "3 < x"]) {
            assert_eq!(split_threshold(e), (e.to_string(), None), "{e}");
        }
    }

    #[test]
    fn metric_names_come_in_order_each_once_and_not_from_strings() {
        let e = "wardwatch_b > on (p) wardwatch_a_limit and rate(wardwatch_b[5m]) > 0 or label_replace(up, \"x\", \"wardwatch_c\", \"\", \"\")";
        assert_eq!(metric_names(e), ["wardwatch_b", "wardwatch_a_limit", "up"]);
        assert!(metric_names("((").is_empty());
    }

    fn rec(name: &str, expr: &str, labelled: bool) -> Recording {
        Recording { name: name.into(), expr: expr.into(), labelled }
    }

    #[test]
    fn a_recording_rules_output_is_replaced_by_its_expression_recursively() {
        let records =
            [rec("job:x:rate1m", "rate(x_total[1m])", false), rec("job:x:max", "max by (ward) (job:x:rate1m)", false)];
        let (out, used) = substitute("job:x:max > 3 and on (ward) up{job=\"job:x:rate1m\"} == 1", &records).unwrap();
        assert_eq!(used, ["job:x:max", "job:x:rate1m"]);
        let expected = parse("(max by (ward) ((rate(x_total[1m])))) > 3 and on (ward) up{job=\"job:x:rate1m\"} == 1");
        assert_eq!(parse(&out), expected, "{out}");
        let e = substitute("a > (b", &records).unwrap_err();
        assert!(!e.is_empty());
        assert_eq!(substitute("x  >  1", &records).unwrap(), ("x  >  1".into(), vec![]), "kept as written");
    }

    #[test]
    fn a_recording_rule_with_matchers_a_range_or_labels_is_not_replaced() {
        let records = [rec("a:b", "sum(m)", false), rec("a:c", "sum(m)", true)];
        assert!(substitute("a:b{x=\"y\"} > 1", &records).unwrap_err().contains("label matchers"));
        assert!(substitute("rate(a:b[5m]) > 1", &records).unwrap_err().contains("range"));
        assert!(substitute("a:b offset 5m > 1", &records).unwrap_err().contains("offset"));
        assert!(substitute("a:c > 1", &records).unwrap_err().contains("own labels"));
        let cycle = [rec("a:x", "a:y + 1", false), rec("a:y", "a:x + 1", false)];
        assert!(substitute("a:x > 1", &cycle).unwrap_err().contains("cycle"));
    }
}
