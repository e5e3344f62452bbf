//! Reading YAML files (hospital, scenario, sidecar configuration) with errors that name the file
//! and, for a bad value, the field.

use serde::de::DeserializeOwned;
use std::path::Path;

/// A YAML file that could not be read or did not have the expected shape.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The YAML did not parse into the expected shape.
    #[error("{path}: {message}")]
    Parse {
        /// The file (or `<embedded default>`).
        path: String,
        /// serde's message, which names the field and position.
        message: String,
    },
}

/// A field of a configuration file that holds a value the program cannot use.
#[derive(Debug, thiserror::Error)]
#[error("{path}: field `{field}`: {reason}")]
pub struct FieldError {
    /// The file (or `<embedded default>`).
    pub path: String,
    /// Dotted path of the field, e.g. `departments[1].wards[0].beds`.
    pub field: String,
    /// What is wrong and what would be right.
    pub reason: String,
}

impl FieldError {
    /// The error for `field` of `path`.
    pub fn new(path: &str, field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { path: path.to_string(), field: field.into(), reason: reason.into() }
    }
}

/// Parse YAML text; `origin` names the file in errors.
pub fn parse<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, YamlError> {
    serde_yaml::from_str(text).map_err(|e| YamlError::Parse { path: origin.to_string(), message: e.to_string() })
}

/// Read and parse a YAML file.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<T, YamlError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| YamlError::Read { path: origin.clone(), source })?;
    parse(&text, &origin)
}
