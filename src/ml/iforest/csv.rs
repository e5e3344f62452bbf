//! `wardwatch-sidecar model fit|score`: an isolation forest from and onto CSV files whose first
//! row names the features and whose other rows are numbers.

use super::{Error, IsolationForest, Params};
use std::io::Write;
use std::path::Path;

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
    let in_file = |e: Error| Error::InFile { path: path.into(), source: Box::new(e) };
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(in_file(Error::FeatureNames("the file is empty; expected a header row of feature names".into())));
    };
    let names: Vec<String> = header.split(',').map(|n| n.trim().trim_matches('"').to_string()).collect();
    super::check_feature_names(&names).map_err(in_file)?;
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
        .map_err(|e| Error::InFile { path: csv.into(), source: Box::new(e) })?;
    forest.save(out)?;
    Ok(())
}

/// `wardwatch-sidecar model score`: one `score_samples` value per CSV row, at full precision (the
/// shortest decimal that reads back as the same `f64`).
pub fn score_csv(model: &Path, csv: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let forest = IsolationForest::load(model)?;
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
}
