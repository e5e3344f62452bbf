//! The audit log: one JSON line per decision, with its score, reasons, model and inputs.
