//! Where windows come from: Prometheus's HTTP API, or memory (tests, evaluation, backfill).
