//! Retry decisions as data, shared by every channel.
//!
//! A channel makes one delivery attempt and reports an [`Outcome`]; the dispatcher owns the loop,
//! the durable queue and the schedule ([`Backoff`]). Keeping the decision separate from the
//! waiting makes both testable without a network or a clock.

use chrono::{DateTime, NaiveDateTime, Utc};
use std::time::Duration;

/// Longest response body quoted in an outcome's reason, in characters.
const MAX_REASON_BODY_CHARS: usize = 300;

/// The result of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered: the channel accepted the message.
    Success,
    /// Not delivered, but a later attempt may succeed (rate limit, server error, timeout, ...).
    Retry {
        /// Delay the server asked for (e.g. `Retry-After`); `None` lets the caller's backoff decide.
        /// Not capped here: the caller should bound it.
        after: Option<Duration>,
        /// What went wrong, for logs; never contains secrets such as webhook URLs.
        reason: String,
    },
    /// Not delivered, and retrying the same message will not help (bad payload, revoked webhook, ...).
    Permanent {
        /// What went wrong, for logs; never contains secrets such as webhook URLs.
        reason: String,
    },
}

/// Classify an HTTP response: 2xx Success; 408, 429 (honouring Retry-After seconds or HTTP-date), 5xx → Retry;
/// every other 4xx → Permanent.
///
/// Statuses outside 2xx/4xx/5xx (an unfollowed redirect, a 1xx, garbage) are retried: Slack never sends
/// them, so they come from something in between — a proxy or captive portal during network work — and
/// giving up on an alert because of one would lose it by our own choice. `Retry-After` is honoured on every
/// retryable status (servers also send it with 503) and ignored otherwise. The reason quotes the (trimmed,
/// truncated) body, which is where Slack puts its error code (`invalid_payload`, `channel_not_found`, ...).
pub fn classify_http(status: u16, retry_after: Option<&str>, body: &str) -> Outcome {
    classify_http_at(status, retry_after, body, Utc::now())
}

/// [`classify_http`] with the current time given, for HTTP-date `Retry-After` values.
pub fn classify_http_at(status: u16, retry_after: Option<&str>, body: &str, now: DateTime<Utc>) -> Outcome {
    match status {
        200..=299 => Outcome::Success,
        408 | 429 | 500..=599 => Outcome::Retry {
            after: retry_after.and_then(|v| parse_retry_after(v, now)),
            reason: http_reason(status, body),
        },
        400..=499 => Outcome::Permanent { reason: http_reason(status, body) },
        _ => Outcome::Retry { after: None, reason: format!("unexpected answer: {}", http_reason(status, body)) },
    }
}

/// The delay a `Retry-After` value asks for at `now`: delta-seconds or an HTTP-date (IMF-fixdate, RFC 850 or
/// asctime, RFC 9110 §10.2.3). A date in the past means "now" (zero); an unparseable value gives `None`.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly many digits overflow u64: treat as "as long as possible" rather than "no advice".
        return Some(value.parse::<u64>().map_or(Duration::MAX, Duration::from_secs));
    }
    let date = parse_http_date(value)?;
    Some((date - now).to_std().unwrap_or(Duration::ZERO))
}

/// An HTTP-date in any of the three formats RFC 9110 requires recipients to accept.
fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc2822(value) {
        return Some(d.with_timezone(&Utc));
    }
    // RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6 08:49:37 1994").
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok())
        .map(|d| d.and_utc())
}

/// "HTTP 429 Too Many Requests: <body>", the body trimmed and truncated.
fn http_reason(status: u16, body: &str) -> String {
    let name = reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    let mut reason = format!("HTTP {status}");
    if !name.is_empty() {
        reason.push(' ');
        reason.push_str(name);
    }
    let body = body.trim();
    if !body.is_empty() {
        reason.push_str(": ");
        let mut chars = body.chars();
        reason.extend(chars.by_ref().take(MAX_REASON_BODY_CHARS));
        if chars.next().is_some() {
            reason.push('…');
        }
    }
    reason
}

/// Capped exponential backoff with full jitter: uniform in [0, min(cap, base·2^attempt)].
///
/// Full jitter spreads the retries of many notifications that failed together (a Slack outage) instead
/// of sending them back in lock-step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Ceiling of the first retry's delay (attempt 0).
    pub base: Duration,
    /// Largest ceiling, whatever the attempt.
    pub cap: Duration,
}

impl Backoff {
    /// The upper bound of the delay before retry number `attempt` (0-based): min(cap, base·2^attempt),
    /// saturating at `cap` instead of overflowing.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        1u32.checked_shl(attempt).and_then(|factor| self.base.checked_mul(factor)).map_or(self.cap, |d| d.min(self.cap))
    }

    /// A delay drawn uniformly from [0, [`ceiling`](Self::ceiling)(attempt)], nanosecond resolution.
    pub fn delay<R: rand::Rng + ?Sized>(&self, attempt: u32, rng: &mut R) -> Duration {
        let ceiling = u64::try_from(self.ceiling(attempt).as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.random_range(0..=ceiling))
    }

    /// The wait before retry number `attempt`: the server's own delay (`Retry-After`) when it gave
    /// one, but never longer than `cap` — a server asking for a year, or for more seconds than a
    /// date can hold, gets its retry at `cap` — else the jittered [`delay`](Self::delay).
    pub fn wait<R: rand::Rng + ?Sized>(&self, asked: Option<Duration>, attempt: u32, rng: &mut R) -> Duration {
        match asked {
            Some(asked) => asked.min(self.cap),
            None => self.delay(attempt, rng),
        }
    }
}

/// `now + wait`, saturating at the latest time a date can hold instead of overflowing.
pub fn after(now: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    chrono::TimeDelta::from_std(wait).ok().and_then(|d| now.checked_add_signed(d)).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn retry_after_of(o: &Outcome) -> Option<Duration> {
        match o {
            Outcome::Retry { after, .. } => *after,
            other => panic!("expected Retry, got {other:?}"),
        }
    }

    fn permanent_reason(o: Outcome) -> String {
        match o {
            Outcome::Permanent { reason } => reason,
            other => panic!("expected Permanent, got {other:?}"),
        }
    }

    #[test]
    fn success_statuses() {
        assert_eq!(classify_http(200, None, "ok"), Outcome::Success);
        assert_eq!(classify_http(204, Some("5"), ""), Outcome::Success);
    }

    #[test]
    fn too_many_requests_honours_retry_after_seconds() {
        let o = classify_http(429, Some("7"), "rate_limited");
        assert_eq!(retry_after_of(&o), Some(Duration::from_secs(7)));
        assert_eq!(retry_after_of(&classify_http(429, Some(" 0 "), "")), Some(Duration::ZERO));
    }

    #[test]
    fn too_many_requests_honours_retry_after_http_date() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T01:00:00Z").unwrap().with_timezone(&Utc);
        let o = classify_http_at(429, Some("Sun, 22 Nov 2026 01:00:30 GMT"), "", now);
        assert_eq!(retry_after_of(&o), Some(Duration::from_secs(30)));
        let past = classify_http_at(429, Some("Sun, 22 Nov 2026 00:59:00 GMT"), "", now);
        assert_eq!(retry_after_of(&past), Some(Duration::ZERO), "a past date means retry now");
        let rfc850 = parse_retry_after("Sunday, 22-Nov-26 01:01:00 GMT", now);
        assert_eq!(rfc850, Some(Duration::from_secs(60)));
        let asctime = parse_retry_after("Sun Nov 22 01:00:05 2026", now);
        assert_eq!(asctime, Some(Duration::from_secs(5)));
    }

    #[test]
    fn too_many_requests_without_usable_header_leaves_delay_to_caller() {
        assert_eq!(retry_after_of(&classify_http(429, None, "")), None);
        assert_eq!(retry_after_of(&classify_http(429, Some("soon"), "")), None);
        assert_eq!(retry_after_of(&classify_http(429, Some("-3"), "")), None);
        let huge = classify_http(429, Some("99999999999999999999999"), "");
        assert_eq!(retry_after_of(&huge), Some(Duration::MAX));
    }

    #[test]
    fn server_errors_and_request_timeout_are_retried() {
        for status in [500, 502, 503, 504, 599, 408] {
            assert!(matches!(classify_http(status, None, "rollup_error"), Outcome::Retry { .. }), "{status}");
        }
        let o = classify_http(503, Some("2"), "");
        assert_eq!(retry_after_of(&o), Some(Duration::from_secs(2)), "503 may carry Retry-After too");
        match classify_http(500, None, "rollup_error") {
            Outcome::Retry { reason, .. } => assert_eq!(reason, "HTTP 500 Internal Server Error: rollup_error"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn client_errors_are_permanent_with_slack_error_code() {
        let cases = [
            (400, "invalid_payload"),
            (403, "action_prohibited"),
            (404, "channel_not_found"),
            (410, "channel_is_archived"),
            (401, "invalid_token"),
        ];
        for (status, body) in cases {
            let reason = permanent_reason(classify_http(status, Some("5"), body));
            assert!(reason.contains(body) && reason.contains(&status.to_string()), "{reason}");
        }
    }

    #[test]
    fn odd_statuses_are_retried_and_reasons_are_bounded() {
        for status in [0, 100, 302, 304, 307, 600, 999] {
            match classify_http(status, Some("5"), "<html>captive portal</html>") {
                Outcome::Retry { after: None, reason } => assert!(reason.contains("unexpected"), "{reason}"),
                other => panic!("{status}: {other:?}"),
            }
        }
        assert_eq!(permanent_reason(classify_http(400, None, "  \n")), "HTTP 400 Bad Request");
        let reason = permanent_reason(classify_http(400, None, &"x".repeat(10_000)));
        assert!(reason.chars().count() <= MAX_REASON_BODY_CHARS + 30 && reason.ends_with('…'), "{reason}");
    }

    #[test]
    fn backoff_never_exceeds_cap() {
        let b = Backoff { base: Duration::from_millis(100), cap: Duration::from_secs(5) };
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 0..200 {
            let ceiling = b.ceiling(attempt);
            assert!(ceiling <= b.cap);
            for _ in 0..50 {
                assert!(b.delay(attempt, &mut rng) <= ceiling);
            }
        }
        assert_eq!(b.ceiling(0), Duration::from_millis(100));
        assert_eq!(b.ceiling(3), Duration::from_millis(800));
        assert_eq!(b.ceiling(6), b.cap);
    }

    #[test]
    fn backoff_full_jitter_covers_the_range() {
        let b = Backoff { base: Duration::from_secs(1), cap: Duration::from_secs(60) };
        let mut rng = StdRng::seed_from_u64(42);
        let ceiling = b.ceiling(2).as_secs_f64(); // 4 s
        let draws: Vec<f64> = (0..4000).map(|_| b.delay(2, &mut rng).as_secs_f64()).collect();
        let (min, max) = draws.iter().fold((f64::MAX, 0f64), |(lo, hi), &d| (lo.min(d), hi.max(d)));
        assert!(min < 0.05 * ceiling, "full jitter reaches near zero: {min}");
        assert!(max > 0.95 * ceiling && max <= ceiling, "and near the ceiling: {max}");
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - ceiling / 2.0).abs() < 0.1 * ceiling, "uniform: mean {mean}");
        for quarter in 0..4 {
            let (lo, hi) = (quarter as f64 * ceiling / 4.0, (quarter + 1) as f64 * ceiling / 4.0);
            let n = draws.iter().filter(|&&d| d >= lo && d < hi).count();
            assert!(n > 800, "quarter {quarter} has {n} of 4000 draws");
        }
    }

    #[test]
    fn a_server_delay_is_honoured_up_to_the_cap_whatever_it_says() {
        let b = Backoff { base: Duration::from_millis(100), cap: Duration::from_secs(300) };
        let mut rng = StdRng::seed_from_u64(3);
        let now = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(b.wait(Some(Duration::from_secs(7)), 0, &mut rng), Duration::from_secs(7));
        for header in ["100000000000000", "99999999999999999999999", "18446744073709551615"] {
            let asked = parse_retry_after(header, now);
            let wait = b.wait(asked, 9, &mut rng);
            assert_eq!(wait, b.cap, "{header}");
            assert_eq!(after(now, wait), now + chrono::TimeDelta::seconds(300), "{header}");
        }
        for header in ["-5", "soon", "", "1.5", "Wed, 21 Oct 2015 07:28:00 GMT"] {
            let wait = b.wait(parse_retry_after(header, now), 2, &mut rng);
            assert!(wait <= b.ceiling(2), "{header:?}: a bounded wait, got {wait:?}");
        }
        assert_eq!(after(now, Duration::MAX), DateTime::<Utc>::MAX_UTC, "saturates instead of panicking");
        assert_eq!(after(DateTime::<Utc>::MAX_UTC, Duration::from_secs(1)), DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn backoff_attempt_overflow_is_safe() {
        let mut rng = StdRng::seed_from_u64(1);
        let b = Backoff { base: Duration::from_secs(1), cap: Duration::from_secs(300) };
        for attempt in [31, 32, 33, 63, 64, 1000, u32::MAX] {
            assert_eq!(b.ceiling(attempt), b.cap, "attempt {attempt}");
            assert!(b.delay(attempt, &mut rng) <= b.cap);
        }
        let huge = Backoff { base: Duration::MAX, cap: Duration::MAX };
        assert_eq!(huge.ceiling(5), Duration::MAX);
        let _ = huge.delay(u32::MAX, &mut rng); // nanoseconds beyond u64 saturate, no panic
        let zero = Backoff { base: Duration::ZERO, cap: Duration::from_secs(1) };
        assert_eq!(zero.delay(10, &mut rng), Duration::ZERO);
    }
}
