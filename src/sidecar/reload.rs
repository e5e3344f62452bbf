//! Reloading on `SIGHUP` and `POST /-/reload`: the configuration is read and checked again, the
//! command line's flags applied as at start-up. The model file is loaded and used from then on
//! when `rescoring.model` names another file or the file has changed; an alert being scored at
//! that moment is scored wholly by the old model or wholly by the new one
//! ([`crate::rescore::engine::ModelSlot`]). Whatever else changed is reported as needing a
//! restart — the running sidecar keeps its channels, routes and queue. A reload that fails (the
//! file unreadable or invalid, the model refused) changes nothing and says why. Nothing queued is
//! touched, so no alert is lost by a reload.

use super::assemble::load_model;
use super::config::{Overrides, SidecarConfig};
use super::Sidecar;
use serde::Serialize;
use std::sync::Mutex;

/// What the sidecar reloads from: its command line, and the configuration as last applied.
pub struct Reloader {
    overrides: Overrides,
    applied: Mutex<SidecarConfig>,
}

impl Reloader {
    /// Reload from `overrides`; `applied` is the configuration the sidecar started with.
    pub fn new(overrides: Overrides, applied: SidecarConfig) -> Self {
        Self { overrides, applied: Mutex::new(applied) }
    }
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reloaded {
    /// The model version scored with from now on.
    pub model_version: String,
    /// Whether the model changed.
    pub model_changed: bool,
    /// Sections that changed but are applied only by a restart.
    pub needs_restart: Vec<String>,
}

/// Reload the configuration and the model; see the module's documentation.
pub fn reload(s: &Sidecar) -> Result<Reloaded, String> {
    let reloader = s.reloader.get().ok_or("this sidecar was not started from a configuration file")?;
    let (config, origin) = reloader.overrides.load().map_err(|e| e.to_string())?;
    let validated = config.validate(&origin).map_err(|e| e.to_string())?;
    let slot = s.rescoring.model_slot.as_ref().ok_or("rescoring is off: there is no model to reload")?;
    let mut applied = reloader.applied.lock().unwrap_or_else(|p| p.into_inner());
    let path = validated.rescoring.model.clone();
    let model = load_model(path.as_deref()).map_err(|e| format!("rescoring.model: {e:#}"))?;
    let (old, new) = (slot.get().version(), model.version());
    let model_changed = old != new;
    if model_changed {
        slot.replace(model);
        tracing::info!(from = %old, to = %new, file = ?path, "reloaded: scoring with the new model");
    }
    *s.rescoring.model_file.lock().unwrap_or_else(|p| p.into_inner()) = path;
    let needs_restart = changed_sections(&applied, &config);
    if !needs_restart.is_empty() {
        tracing::warn!(sections = ?needs_restart, "reloaded the model; these changes take a restart");
    }
    applied.rescoring.model = config.rescoring.model;
    Ok(Reloaded { model_version: new, model_changed, needs_restart })
}

/// The configuration's sections (`rescoring`'s fields one by one) that differ between `old` and
/// `new`, the model file left out: it is what a reload applies.
fn changed_sections(old: &SidecarConfig, new: &SidecarConfig) -> Vec<String> {
    let as_map = |c: &SidecarConfig| match serde_json::to_value(c) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (mut old, mut new) = (as_map(old), as_map(new));
    let mut changed = Vec::new();
    let (old_r, new_r) = (old.remove("rescoring"), new.remove("rescoring"));
    if let (Some(serde_json::Value::Object(mut a)), Some(serde_json::Value::Object(mut b))) = (old_r, new_r) {
        a.remove("model");
        b.remove("model");
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        changed.extend(keys.into_iter().filter(|k| a.get(*k) != b.get(*k)).map(|k| format!("rescoring.{k}")));
    }
    let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    changed.extend(keys.into_iter().filter(|k| old.get(*k) != new.get(*k)).cloned());
    changed.sort();
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_a_reload_cannot_apply_is_said_to_need_a_restart() {
        let old = SidecarConfig::embedded_default();
        let mut new = old.clone();
        new.rescoring.model = Some("models/other.json".into());
        assert!(changed_sections(&old, &new).is_empty(), "the model is applied");
        new.rescoring.budget = "5s".parse().unwrap();
        new.max_in_flight += 1;
        assert_eq!(changed_sections(&old, &new), ["max_in_flight", "rescoring.budget"]);
    }
}
