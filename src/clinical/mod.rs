//! Clinical reference logic shared by the simulation and the alert rescoring: NEWS2, and a
//! patient's own alarm limits.

pub mod limits;
pub mod news2;
