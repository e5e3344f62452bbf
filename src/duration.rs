//! Durations as the configuration files write them, read in one place.
//!
//! Two syntaxes, written by hand because no maintained crate reads either exactly: the
//! project's own (`90s`, `10m`, `1.5h`, `2d`, or a bare number of seconds), which the sidecar's
//! and the simulator's files use, and Prometheus's (`1h30m`, integers, units largest first),
//! which rule files use and which must be read as Prometheus reads them. `humantime`, for one,
//! reads neither `1.5h` nor Prometheus's `y` as a 365-day year.

use std::time::Duration;

/// Parse a duration like `90s`, `10m`, `6h`, `1d` or a plain number of seconds.
pub fn seconds(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let factor = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return Err(format!("`{s}`: unit must be ms, s, m, h or d")),
    };
    let n: f64 = num.trim().parse().map_err(|_| format!("`{s}` is not a duration like 90s, 10m, 6h"))?;
    if !n.is_finite() || n < 0.0 {
        return Err(format!("`{s}` must be a non-negative duration"));
    }
    Ok(n * factor)
}

/// A positive or non-negative duration of the project's syntax ([`seconds`]).
pub fn parse(text: &str, positive: bool) -> Result<Duration, String> {
    let secs = seconds(text)?;
    let d = Duration::try_from_secs_f64(secs).map_err(|_| format!("`{text}` is too long"))?;
    if positive && d.is_zero() {
        return Err(format!("`{text}` must be longer than zero"));
    }
    Ok(d)
}

/// A positive duration as a configuration file writes it (`90s`, `10m`, `1.5h`, `2d`): read once,
/// when the file is, so a zero or unreadable one cannot exist past parsing. It keeps its text, so
/// a configuration written back says what its author wrote.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
#[serde(into = "String")]
pub struct Span {
    text: String,
    value: Duration,
}

impl Span {
    /// The duration.
    pub fn get(&self) -> Duration {
        self.value
    }

    /// As written.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl TryFrom<String> for Span {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let value = parse(&text, true)?;
        Ok(Self { text, value })
    }
}

crate::yaml::text_value!(Span);

/// A Prometheus duration (`1h30m`, `10s`, `0s`, `250ms`; units y w d h m s ms in that order,
/// integers), in ms, as Prometheus' `model.ParseDuration` reads it
/// (<https://prometheus.io/docs/prometheus/latest/configuration/configuration/#duration>).
pub fn prometheus_ms(text: &str) -> Result<i64, String> {
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let bad = || format!("`{text}` is not a duration like 30s, 5m or 1h30m");
    match text {
        "" => return Err(bad()),
        "0" => return Ok(0),
        _ => {}
    }
    let (mut rest, mut total, mut next_unit) = (text, 0i64, 0usize);
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let at = UNITS[next_unit..].iter().position(|(u, _)| *u == unit).ok_or_else(bad)? + next_unit;
        total = n.checked_mul(UNITS[at].1).and_then(|v| total.checked_add(v)).ok_or_else(bad)?;
        next_unit = at + 1;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_reject_garbage() {
        assert_eq!(seconds("90s"), Ok(90.0));
        assert_eq!(seconds("10m"), Ok(600.0));
        assert_eq!(seconds("1.5h"), Ok(5400.0));
        assert_eq!(seconds("2d"), Ok(172_800.0));
        assert_eq!(seconds("30"), Ok(30.0));
        assert!(seconds("10 parsecs").is_err());
        assert!(seconds("-3m").is_err());
    }

    #[test]
    fn a_positive_duration_refuses_zero_and_overflow() {
        assert_eq!(parse("90s", true), Ok(Duration::from_secs(90)));
        assert_eq!(parse("0s", false), Ok(Duration::ZERO));
        assert!(parse("0s", true).unwrap_err().contains("longer than zero"));
        assert!(parse("1000000000000000000000d", true).unwrap_err().contains("too long"));
    }

    #[test]
    fn a_span_is_checked_when_read_and_written_back_as_it_was_written() {
        let span: Span = serde_yaml::from_str("1.5h").unwrap();
        assert_eq!((span.get(), span.text()), (Duration::from_secs(5400), "1.5h"));
        assert_eq!(serde_yaml::to_string(&span).unwrap().trim(), "1.5h");
        for bad in ["0s", "soon", "-1m"] {
            let e = serde_yaml::from_str::<Span>(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn durations_read_as_prometheus_reads_them() {
        assert_eq!(prometheus_ms("10s"), Ok(10_000));
        assert_eq!(prometheus_ms("1h30m"), Ok(5_400_000));
        assert_eq!(prometheus_ms("0s"), Ok(0));
        assert_eq!(prometheus_ms("0"), Ok(0));
        assert_eq!(prometheus_ms("250ms"), Ok(250));
        assert_eq!(prometheus_ms("1d2h"), Ok(93_600_000));
        for bad in ["", "10", "1.5m", "30m1h", "5x", "m", "1s1s"] {
            assert!(prometheus_ms(bad).is_err(), "{bad}");
        }
    }
}
