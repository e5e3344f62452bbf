//! The Numenta Anomaly Benchmark's scorer (standard profile), ported from `nab/sweeper.py`.
