//! `wardwatch-sidecar model fit|score`: an isolation forest from and onto CSV files whose first
//! row names the features and whose other rows are numbers, and its JSON model file on disk.

use crate::ml::iforest::{self, IsolationForest, Params};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What can go wrong reading or writing the files of `model fit|score`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An error about the contents of a named file.
    #[error("{}: {source}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong in it.
        source: iforest::Error,
    },
    /// A CSV cell that is not a number, or a row of the wrong width.
    #[error("{}:{line}: column {column} ('{name}'): {message}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// Line, from 1 (the header is line 1).
        line: usize,
        /// Column, from 1.
        column: usize,
        /// The column's header name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A CSV to score whose columns are not the model's features.
    #[error("{}: header {found:?} does not match the model's features {expected:?}", path.display())]
    HeaderMismatch {
        /// The CSV.
        path: PathBuf,
        /// The CSV's header.
        found: Vec<String>,
        /// The model's feature names.
        expected: Vec<String>,
    },
    /// An error of the model itself (fitting, scoring), not tied to a file.
    #[error(transparent)]
    Forest(#[from] iforest::Error),
}

/// Write `forest`'s model file ([`IsolationForest::to_json`]).
pub fn save_forest(forest: &IsolationForest, path: &Path) -> Result<(), Error> {
    std::fs::write(path, forest.to_json()).map_err(|source| Error::Io { path: path.into(), source })
}

/// Read a model file written by [`save_forest`].
pub fn load_forest(path: &Path) -> Result<IsolationForest, Error> {
    let json = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.into(), source })?;
    IsolationForest::from_json(&json).map_err(|source| Error::InFile { path: path.into(), source })
}

/// A numeric CSV: its header and its values, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Column names from the header row.
    pub names: Vec<String>,
    /// Values, row-major, `names.len()` per row.
    pub values: Vec<f32>,
    /// Data rows (the header not counted).
    pub rows: usize,
}

/// Read a numeric CSV with a header row. Blank lines are skipped; errors name the file, and for
/// a bad cell its line, column and column name.
pub fn read_csv(path: &Path) -> Result<Table, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.into(), source })?;
    let in_file = |e: iforest::Error| Error::InFile { path: path.into(), source: e };
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(in_file(iforest::Error::FeatureNames(
            "the file is empty; expected a header row of feature names".into(),
        )));
    };
    let names: Vec<String> = header.split(',').map(|n| n.trim().trim_matches('"').to_string()).collect();
    iforest::check_feature_names(&names).map_err(in_file)?;
    let mut values = Vec::new();
    let mut rows = 0;
    for (i, line) in lines {
        let cell_error = |column: usize, message: String| Error::Csv {
            path: path.into(),
            line: i + 1,
            column: column + 1,
            name: names.get(column).cloned().unwrap_or_default(),
            message,
        };
        let mut n = 0;
        for cell in line.split(',') {
            if n == names.len() {
                return Err(cell_error(n, format!("extra value: the header has {} columns", names.len())));
            }
            let cell = cell.trim();
            match cell.parse::<f32>() {
                Ok(v) if v.is_finite() => values.push(v),
                Ok(_) => return Err(cell_error(n, format!("'{cell}' is not a finite 32-bit number"))),
                Err(_) => return Err(cell_error(n, format!("'{cell}' is not a number"))),
            }
            n += 1;
        }
        if n < names.len() {
            return Err(cell_error(n, format!("missing value: the row has {n} values, the header {}", names.len())));
        }
        rows += 1;
    }
    Ok(Table { names, values, rows })
}

/// `wardwatch-sidecar model fit`: fit on a CSV (header row of feature names) and write the model.
pub fn fit_csv(csv: &Path, out: &Path, seed: u64) -> anyhow::Result<()> {
    let table = read_csv(csv)?;
    let params = Params { seed, ..Params::default() };
    let forest = IsolationForest::fit_named(table.names, &table.values, &params)
        .map_err(|e| Error::InFile { path: csv.into(), source: e })?;
    save_forest(&forest, out)?;
    Ok(())
}

/// `wardwatch-sidecar model score`: one `score_samples` value per CSV row, at full precision (the
/// shortest decimal that reads back as the same `f64`).
pub fn score_csv(model: &Path, csv: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let forest = load_forest(model)?;
    let table = read_csv(csv)?;
    if table.names != forest.feature_names() {
        return Err(Error::HeaderMismatch {
            path: csv.into(),
            found: table.names,
            expected: forest.feature_names().to_vec(),
        }
        .into());
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for score in forest.score_batch_parallel(&table.values, threads)? {
        writeln!(out, "{score}")?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn reads_a_header_and_rows_skipping_blank_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "a.csv", "hr, \"spo2\"\n70,0.97\n\n 80 , 0.95\r\n");
        let t = read_csv(&path).unwrap();
        assert_eq!(t.names, ["hr", "spo2"]);
        assert_eq!(t.values, [70.0, 0.97, 80.0, 0.95]);
        assert_eq!(t.rows, 2);
    }

    #[test]
    fn a_bad_value_is_named_by_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "bad.csv", "hr,spo2\n70,0.97\n80,abc\n");
        let message = read_csv(&path).unwrap_err().to_string();
        assert!(message.contains("bad.csv:3: column 2 ('spo2')"), "{message}");
        assert!(message.contains("'abc' is not a number"), "{message}");
        let path = write(&dir, "nan.csv", "hr,spo2\nNaN,0.97\n");
        let message = read_csv(&path).unwrap_err().to_string();
        assert!(message.contains("nan.csv:2: column 1 ('hr')") && message.contains("finite"), "{message}");
    }

    #[test]
    fn rows_of_the_wrong_width_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let short = write(&dir, "short.csv", "a,b,c\n1,2\n");
        assert!(read_csv(&short).unwrap_err().to_string().contains("short.csv:2: column 3 ('c'): missing value"));
        let long = write(&dir, "long.csv", "a,b\n1,2,3\n");
        assert!(read_csv(&long).unwrap_err().to_string().contains("long.csv:2: column 3 (''): extra value"));
    }

    #[test]
    fn a_missing_file_and_an_empty_or_duplicated_header_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.csv");
        let message = read_csv(&missing).unwrap_err().to_string();
        assert!(message.contains("nope.csv"), "{message}");
        let empty = write(&dir, "empty.csv", "\n");
        assert!(read_csv(&empty).unwrap_err().to_string().contains("empty.csv: feature names: the file is empty"));
        let dup = write(&dir, "dup.csv", "a,a\n1,2\n");
        assert!(read_csv(&dup).unwrap_err().to_string().contains("'a' appears twice"));
    }

    #[test]
    fn a_model_file_round_trips_and_a_missing_or_corrupt_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<f32> = (0..400).map(|i| ((i * 7919) % 101) as f32).collect();
        let forest = IsolationForest::fit(&rows, 2, &Params { n_trees: 5, ..Params::default() }).unwrap();
        let path = dir.path().join("model.json");
        save_forest(&forest, &path).unwrap();
        assert_eq!(load_forest(&path).unwrap().to_json(), forest.to_json());
        let message = load_forest(&dir.path().join("missing.json")).unwrap_err().to_string();
        assert!(message.contains("missing.json"), "{message}");
        let corrupt = write(&dir, "corrupt.json", "{");
        let message = load_forest(&corrupt).unwrap_err().to_string();
        assert!(message.contains("corrupt.json: model JSON"), "{message}");
    }
}
