//! Which series belong to an alert: configuration keyed by labels, with defaults for the repository's rules.
