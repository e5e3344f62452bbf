//! Features: pure functions of a window — levels, changes, slopes, variability, baselines.
