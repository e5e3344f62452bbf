//! The binary's subcommands over files and other servers: `model fit|score` (an isolation
//! forest on CSV files), `model fit --prometheus` (a model file fitted on a site's history) and
//! `detect` (the streaming detector over a NAB CSV). Files are read and written here so that the
//! models in [`crate::ml`] stay pure; nothing but the binary depends on this module.

pub mod csv;
pub mod detect;
pub mod fit;
