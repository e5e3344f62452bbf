//! Clinical reference logic shared by the simulation and, later, the alert rescoring.

pub mod news2;
