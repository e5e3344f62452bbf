//! The model behind the score, as the sidecar sees it: anything that turns a window, or named
//! features, into an [`Assessment`].

use super::score::{Assessment, Features, Subject};
use super::window::Window;

/// A scoring model: pure, deterministic, cheap enough to run per alert.
pub trait Model: Send + Sync {
    /// Score an alert on its entity's window.
    fn assess(&self, subject: &Subject, window: &Window) -> Result<Assessment, String>;
    /// Score named features directly (the REST API's `/predict`).
    fn assess_features(&self, subject: &Subject, features: &Features) -> Result<Assessment, String>;
    /// A stable identifier of the model (changes when its parameters or training change).
    fn version(&self) -> String;
    /// What `/model_info` shows: training data range, features, thresholds.
    fn info(&self) -> serde_json::Value;
}

/// The default model: trained on the simulator at start-up with `seed`, deterministically.
pub fn default_model(_seed: u64) -> Result<std::sync::Arc<dyn Model>, String> {
    Err("no model is built in".into())
}
