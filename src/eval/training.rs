//! Training the anomaly models on the simulator: feature vectors of windows cut from simulated
//! entities at random (seeded) moments. The evaluation fits its models so, on a seed it never
//! evaluates; the shipped model file (`models/default.json`, [`simulated_model_file`]) holds the
//! rows of [`DEFAULT_TRAINING_SEED`], so the sidecar needs no simulator to start.

use super::stream::Recorder;
use crate::rescore::features;
use crate::rescore::model::{self, Fit};
use crate::rescore::model_file::ModelFile;
use crate::rescore::score::{Scorer, Subject};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// Seed of the default model's training run; the evaluation never uses it for its own seeds.
pub const DEFAULT_TRAINING_SEED: u64 = 90_001;
/// Window length the features are computed over, ms (two hours, as the sidecar fetches).
pub const WINDOW_MS: i64 = 2 * 3600 * 1000;
/// Scrape step of the training run, ms (Prometheus' 5 s, as in the evaluation).
pub const STEP_MS: i64 = 5_000;
/// Simulated time before sampling starts, so that windows have their baseline, ms.
const WARM_UP_MS: i64 = WINDOW_MS;
/// Sampled stretch after the warm-up, ms.
const SAMPLED_MS: i64 = 3600 * 1000;
/// Mean interval between samples of one entity, ms.
const SAMPLE_EVERY_MS: i64 = 3 * 60_000;
/// Start of the simulated training day: 2026-01-05 00:00 UTC.
const START_MS: i64 = 1_767_571_200_000;

/// Model input rows per entity kind (index [`crate::rescore::score::EntityKind::index`]).
pub fn training_rows(seed: u64) -> [Vec<Vec<f32>>; 5] {
    rows_over(seed, WARM_UP_MS, SAMPLED_MS)
}

/// Rows sampled over `sampled_ms` after `warm_up_ms` of simulated time.
fn rows_over(seed: u64, warm_up_ms: i64, sampled_ms: i64) -> [Vec<Vec<f32>>; 5] {
    let mut rec = Recorder::new(seed, START_MS, STEP_MS, WINDOW_MS);
    let mut rng = Pcg64Mcg::seed_from_u64(seed ^ 0x5EED);
    let mut rows: [Vec<Vec<f32>>; 5] = Default::default();
    let p = STEP_MS as f64 / SAMPLE_EVERY_MS as f64;
    for step in 1..=(warm_up_ms + sampled_ms) / STEP_MS {
        rec.advance();
        if step * STEP_MS <= warm_up_ms {
            continue;
        }
        for e in 0..rec.entities.len() {
            if rng.random::<f64>() >= p {
                continue;
            }
            let kind = rec.entities[e].kind;
            let window = rec.window(e, WINDOW_MS);
            let subject = Subject { alertname: String::new(), severity: String::new(), entity: kind, focus: None };
            let f = features::extract(&subject, &window);
            let mut row = Vec::new();
            model::vector(kind, &f, &mut row);
            rows[kind.index()].push(row);
        }
    }
    rows
}

/// What the default model is trained on, for `/model_info`.
pub fn describe() -> serde_json::Value {
    let start = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(START_MS + WARM_UP_MS).unwrap_or_default();
    let end =
        chrono::DateTime::<chrono::Utc>::from_timestamp_millis(START_MS + WARM_UP_MS + SAMPLED_MS).unwrap_or_default();
    serde_json::json!({
        "data": "windows of the default simulated hospital (every entity), cut at random moments",
        "simulated_from": start.to_rfc3339(),
        "simulated_to": end.to_rfc3339(),
        "window_seconds": WINDOW_MS / 1000,
        "step_seconds": STEP_MS / 1000,
        "mean_sample_interval_seconds": SAMPLE_EVERY_MS / 1000,
        "anomaly_model": DEFAULT_MODEL.1,
    })
}

/// A scorer whose anomaly models are fitted by `fit` on windows of the simulated hospital with
/// `seed`.
pub fn train(seed: u64, fit: Fit, label: &str) -> Scorer {
    Scorer::fit(&training_rows(seed), fit, seed, label)
}

/// The anomaly model the sidecar and the evaluation fit, and its name in the model version.
pub const DEFAULT_MODEL: (Fit, &str) = (model::fit_isolation_forest, "iforest");

/// The sidecar's default scorer: the shipped model file, which is [`DEFAULT_MODEL`] trained on
/// [`DEFAULT_TRAINING_SEED`].
pub fn default_scorer() -> Scorer {
    crate::rescore::model_file::shipped()
}

/// The model file of [`DEFAULT_MODEL`] fitted on the rows of the simulated hospital with `seed`.
pub fn simulated_model_file(seed: u64) -> ModelFile {
    ModelFile::new(DEFAULT_MODEL.1, seed, describe(), training_rows(seed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rescore::score::EntityKind;

    #[test]
    fn training_is_deterministic_and_covers_every_entity_kind() {
        let a = rows_over(5, 20 * 60_000, 40 * 60_000);
        for kind in EntityKind::ALL {
            assert!(!a[kind.index()].is_empty(), "{kind:?}");
        }
        assert_eq!(a, rows_over(5, 20 * 60_000, 40 * 60_000));
    }

    /// The shipped model file is what `wardwatch-sidecar model simulate` writes; after a change
    /// to the simulator or the features, regenerate it with
    /// `cargo run --release --bin wardwatch-sidecar -- model simulate --out models/default.json`.
    #[test]
    fn the_shipped_model_file_is_the_simulated_hospitals() {
        let expected = simulated_model_file(DEFAULT_TRAINING_SEED).to_text();
        if expected != crate::rescore::model_file::SHIPPED {
            let to = std::env::temp_dir().join("wardwatch-default-model.json");
            std::fs::write(&to, &expected).expect("writing the regenerated model");
            panic!("models/default.json is stale: the regenerated file is at {} (see this test's doc)", to.display());
        }
        let shipped = crate::rescore::model_file::shipped();
        let trained = train(DEFAULT_TRAINING_SEED, DEFAULT_MODEL.0, DEFAULT_MODEL.1);
        let window = {
            let mut rec = super::Recorder::new(11, START_MS, STEP_MS, WINDOW_MS);
            for _ in 0..(30 * 60_000 / STEP_MS) {
                rec.advance();
            }
            rec.window(0, WINDOW_MS)
        };
        let subject = Subject {
            alertname: "HypoxiaDetected".into(),
            severity: "critical".into(),
            entity: EntityKind::Patient,
            focus: None,
        };
        assert_eq!(
            shipped.assess(&subject, &window),
            trained.assess(&subject, &window),
            "the file's forest is the trained one"
        );
    }
}
