//! Cross-signal evidence of sensor artifacts (probe-off, lead-off, impossible rates, stuck sensors).
