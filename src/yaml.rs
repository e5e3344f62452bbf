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

/// Deserialize a value written as text (or a bare number) through its `TryFrom<String>`, so a
/// value that does not read is refused where it stands: serde_yaml then names the whole dotted
/// field and the value's own line and column, which `#[serde(try_from)]` — converting after the
/// text has been read — would leave at the enclosing section.
pub fn from_text<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<String, Error = String>,
{
    parsed_text(d, |text| T::try_from(text.to_owned()))
}

/// [`from_text`] with the reading given: `parse` takes the text and says why it is wrong.
pub fn parsed_text<'de, D, T>(d: D, parse: impl Fn(&str) -> Result<T, String>) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Text<F>(F);
    impl<T, F: Fn(&str) -> Result<T, String>> serde::de::Visitor<'_> for Text<F> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
            (self.0)(v).map_err(E::custom)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
            self.visit_str(&v.to_string())
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
            self.visit_str(&v.to_string())
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<T, E> {
            self.visit_str(&v.to_string())
        }
    }
    d.deserialize_any(Text(parse))
}

/// What every value written as text shares, for a type with a `text: String` field and a
/// `TryFrom<String, Error = String>`: read through that (refused where it stands, see
/// [`from_text`]), parsed from a `&str`, written back and shown as its text.
macro_rules! text_value {
    ($t:ty) => {
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::yaml::from_text(d)
            }
        }

        impl std::str::FromStr for $t {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, String> {
                Self::try_from(text.to_owned())
            }
        }

        impl From<$t> for String {
            fn from(value: $t) -> String {
                value.text
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.text)
            }
        }

        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{:?}", self.text)
            }
        }
    };
}
pub(crate) use text_value;

/// Parse YAML text; `origin` names the file in errors.
pub fn parse<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, YamlError> {
    serde_yaml::from_str(text).map_err(|e| YamlError::Parse { path: origin.to_string(), message: message(&e) })
}

/// serde_yaml's message, its leading dotted field (`retry.base: …`) written as a [`FieldError`]
/// writes it (``field `retry.base`: …``), so both kinds of error read alike.
fn message(e: &serde_yaml::Error) -> String {
    let text = e.to_string();
    match text.split_once(": ") {
        Some((path, rest))
            if !path.is_empty() && path.chars().all(|c| c.is_ascii_alphanumeric() || "_.[]".contains(c)) =>
        {
            format!("field `{path}`: {rest}")
        }
        _ => text,
    }
}

/// Read and parse a YAML file.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<T, YamlError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| YamlError::Read { path: origin.clone(), source })?;
    parse(&text, &origin)
}
