//! The isolation forest's errors.

/// What can go wrong fitting, scoring, or reading a model file of an isolation forest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is out of range.
    #[error("invalid isolation forest parameter: {0}")]
    Params(String),
    /// Fitting was given no rows.
    #[error("no training rows: an isolation forest needs at least one")]
    NoRows,
    /// A flat matrix whose length is not a whole number of rows.
    #[error("{len} values do not make whole rows of {n_features} features")]
    Shape {
        /// Values given.
        len: usize,
        /// Features per row.
        n_features: usize,
    },
    /// A row with the wrong number of values.
    #[error("row {row} has {got} values; the model has {expected} features")]
    RowLength {
        /// Row index, from 0.
        row: usize,
        /// Values in the row.
        got: usize,
        /// Features expected.
        expected: usize,
    },
    /// NaN or an infinity in the input.
    #[error("row {row}, feature {feature} ('{name}') is {value}: values must be finite numbers (NaN and infinity are rejected)")]
    NotFinite {
        /// Row index, from 0.
        row: usize,
        /// Feature index, from 0.
        feature: usize,
        /// Feature name.
        name: String,
        /// The value.
        value: f32,
    },
    /// Feature names that are empty, duplicated or of the wrong count.
    #[error("feature names: {0}")]
    FeatureNames(String),
    /// A model file that parses but does not describe a valid forest.
    #[error("not a valid isolation forest model: {0}")]
    InvalidModel(String),
    /// JSON that does not parse as a model file.
    #[error("model JSON: {0}")]
    Json(#[from] serde_json::Error),
}
