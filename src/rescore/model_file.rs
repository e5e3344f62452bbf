//! The anomaly model as a file: what the sidecar scores with, versioned by its content.
//!
//! A model file is JSON: its format version, the anomaly model's name and seed, where its rows
//! came from, and per entity kind the model's input features by name and the training rows.
//! The forest is grown from the rows and the seed when the file is loaded — deterministically, in
//! a few milliseconds — so the file is the whole model, reads and diffs as text, and does not
//! depend on the forest's internal layout. The version is `rescore-1+<model>-<hash>`, the hash
//! being the file's SHA-256: two sidecars with one version score alike.
//!
//! The project ships `models/default.json` (windows of the simulated hospital, written by
//! `wardwatch-sidecar model simulate`; a test checks it is what that gives). A file whose
//! features are not the ones this build computes is refused with the reason: a model is only
//! meaningful on the features it was fitted on.

use super::model::{self, Fit};
use super::score::{EntityKind, Scorer, SCORE_VERSION};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The format this build reads and writes.
pub const FORMAT: u32 = 1;

/// The shipped default model.
pub const SHIPPED: &str = include_str!("../../models/default.json");

/// A model file's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// [`FORMAT`] when written.
    pub format: u32,
    /// The anomaly model: `iforest` (isolation forest) or `robust` (robust distance).
    pub model: String,
    /// The model's seed.
    pub seed: u64,
    /// Where the rows came from (free-form, shown by `/model_info`).
    pub training: serde_json::Value,
    /// Per entity kind (`patient`, `device`, …): its features and rows.
    pub kinds: BTreeMap<String, KindRows>,
}

/// One entity kind's training data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindRows {
    /// The model's input features, in row order.
    pub features: Vec<String>,
    /// The rows, one value per feature.
    pub rows: Vec<Vec<f32>>,
}

/// The fit of a model name.
fn fit_of(name: &str) -> Option<Fit> {
    match name {
        "iforest" => Some(model::fit_isolation_forest),
        "robust" => Some(model::RobustDistance::fit_boxed),
        _ => None,
    }
}

impl ModelFile {
    /// A model file of `rows` (per [`EntityKind::index`]) fitted by `model` with `seed`.
    pub fn new(model: &str, seed: u64, training: serde_json::Value, rows: [Vec<Vec<f32>>; 5]) -> Self {
        let kinds = EntityKind::ALL
            .iter()
            .zip(rows)
            .map(|(kind, rows)| (kind.as_str().to_owned(), KindRows { features: model::vector_names(*kind), rows }))
            .collect();
        Self { format: FORMAT, model: model.to_owned(), seed, training, kinds }
    }

    /// The file's text: one row per line, so that a changed model diffs row by row.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{{\n  \"format\": {},\n  \"model\": {},\n  \"seed\": {},\n  \"training\": {},\n  \"kinds\": {{",
            self.format,
            serde_json::Value::from(self.model.as_str()),
            self.seed,
            self.training
        );
        for (i, (kind, k)) in self.kinds.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let features = serde_json::to_string(&k.features).unwrap_or_default();
            out.push_str(&format!("{sep}\n    \"{kind}\": {{\n      \"features\": {features},\n      \"rows\": ["));
            for (j, row) in k.rows.iter().enumerate() {
                let sep = if j == 0 { "" } else { "," };
                out.push_str(&format!("{sep}\n        {}", serde_json::to_string(row).unwrap_or_default()));
            }
            out.push_str(if k.rows.is_empty() { "]\n    }" } else { "\n      ]\n    }" });
        }
        out.push_str("\n  }\n}\n");
        out
    }

    /// Parse and check a model file's text: its format, model, kinds and features are the ones
    /// this build knows, every row as wide as its features and finite.
    pub fn parse(text: &str) -> Result<Self, String> {
        /// The format alone, read first: another format may have other fields.
        #[derive(Deserialize)]
        struct Head {
            format: Option<u32>,
        }
        if let Ok(Head { format: Some(format) }) = serde_json::from_str::<Head>(text) {
            if format != FORMAT {
                return Err(format!("format {format} (this build reads format {FORMAT})"));
            }
        }
        let file: ModelFile = serde_json::from_str(text).map_err(|e| format!("not a model file: {e}"))?;
        if fit_of(&file.model).is_none() {
            return Err(format!("model `{}` unknown (iforest, robust)", file.model));
        }
        for kind in EntityKind::ALL {
            let Some(k) = file.kinds.get(kind.as_str()) else {
                return Err(format!("kinds: `{}` missing", kind.as_str()));
            };
            let expected = model::vector_names(kind);
            if k.features != expected {
                return Err(format!(
                    "kinds.{}.features: fitted on {:?}, this build computes {:?}",
                    kind.as_str(),
                    k.features,
                    expected
                ));
            }
            if let Some(i) = k.rows.iter().position(|r| r.len() != expected.len() || r.iter().any(|v| !v.is_finite())) {
                return Err(format!(
                    "kinds.{}.rows[{i}]: needs {} finite values, one per feature",
                    kind.as_str(),
                    expected.len()
                ));
            }
        }
        if let Some(unknown) = file.kinds.keys().find(|k| EntityKind::ALL.iter().all(|e| e.as_str() != *k)) {
            return Err(format!("kinds: `{unknown}` is not an entity kind"));
        }
        Ok(file)
    }

    /// The scorer the file describes, versioned by `text`'s hash.
    fn scorer(mut self, text: &str) -> Scorer {
        let fit = fit_of(&self.model).unwrap_or(model::fit_isolation_forest);
        let rows: [Vec<Vec<f32>>; 5] =
            EntityKind::ALL.map(|k| self.kinds.remove(k.as_str()).map(|k| k.rows).unwrap_or_default());
        let hash = Sha256::digest(text.as_bytes());
        let hex: String = hash.iter().take(6).map(|b| format!("{b:02x}")).collect();
        Scorer::fit(&rows, fit, self.seed, &self.model)
            .with_version(format!("{SCORE_VERSION}+{}-{hex}", self.model))
            .with_training(self.training)
    }
}

/// A scorer from a model file's text.
pub fn scorer_from_text(text: &str) -> Result<Scorer, String> {
    Ok(ModelFile::parse(text)?.scorer(text))
}

/// The shipped default model's scorer.
pub fn shipped() -> Scorer {
    // The shipped file is checked by this module's tests and by the test that regenerates it.
    scorer_from_text(SHIPPED).expect("the shipped model file is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> ModelFile {
        let rows = EntityKind::ALL.map(|k| {
            let width = model::vector_names(k).len();
            (0..40).map(|i| (0..width).map(|j| ((i * 7 + j * 3) % 11) as f32 / 5.0 - 1.0).collect()).collect()
        });
        ModelFile::new("iforest", 3, serde_json::json!({"data": "a test"}), rows)
    }

    #[test]
    fn a_model_file_reads_back_as_written_and_its_version_is_its_content() {
        let file = small();
        let text = file.to_text();
        assert_eq!(ModelFile::parse(&text).unwrap(), file);
        let a = scorer_from_text(&text).unwrap();
        assert!(a.version().starts_with("rescore-1+iforest-") && a.version().len() == "rescore-1+iforest-".len() + 12);
        let mut other = file.clone();
        other.kinds.get_mut("patient").unwrap().rows[0][0] += 1.0;
        assert_ne!(
            scorer_from_text(&other.to_text()).unwrap().version(),
            a.version(),
            "another model, another version"
        );
        assert_eq!(scorer_from_text(&text).unwrap().version(), a.version());
    }

    #[test]
    fn a_file_this_build_cannot_score_with_is_refused_with_the_reason() {
        let reason = |f: &dyn Fn(&mut ModelFile)| {
            let mut file = small();
            f(&mut file);
            ModelFile::parse(&file.to_text()).unwrap_err()
        };
        assert!(reason(&|f| f.format = 2).contains("format 2"));
        assert!(reason(&|f| f.model = "svm".into()).contains("model `svm` unknown"));
        assert!(reason(&|f| {
            f.kinds.remove("node");
        })
        .contains("`node` missing"));
        let e = reason(&|f| f.kinds.get_mut("patient").unwrap().features[0] = "spo2.raw".into());
        assert!(e.starts_with("kinds.patient.features: fitted on"), "{e}");
        let e = reason(&|f| f.kinds.get_mut("device").unwrap().rows[3].pop().map(drop).unwrap_or(()));
        assert!(e.starts_with("kinds.device.rows[3]"), "{e}");
        assert!(ModelFile::parse("{\"format\": 1}").unwrap_err().starts_with("not a model file"));
        assert!(ModelFile::parse("{\"format\": 2, \"trees\": []}")
            .unwrap_err()
            .starts_with("format 2 (this build reads format 1)"));
        assert!(scorer_from_text("[]").unwrap_err().contains("not a model file"));
    }

    #[test]
    fn the_shipped_model_loads() {
        let s = shipped();
        assert!(s.version().starts_with("rescore-1+iforest-"), "{}", s.version());
        let file = ModelFile::parse(SHIPPED).unwrap();
        assert!(file.kinds.values().all(|k| !k.rows.is_empty()), "every kind has rows");
    }
}
