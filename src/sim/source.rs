//! Where a simulation comes from: configuration file (or the embedded default), overrides,
//! seed and scenario — validated first, then built.

use crate::sim::config::{ConfigError, HospitalConfig};
use crate::sim::scenario::{Planned, Scenario, ScenarioError};
use crate::sim::schedule::UnknownTarget;
use crate::sim::Simulation;
use std::path::PathBuf;

/// Why a simulation could not be built; each message names the file and field at fault.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The hospital configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The scenario file.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A scenario event names an entity the hospital does not have.
    #[error(transparent)]
    Target(#[from] UnknownTarget),
}

/// The inputs of a simulation, as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct HospitalSource {
    /// Hospital configuration file; the embedded default when `None`.
    pub config: Option<PathBuf>,
    /// Override of the number of patients.
    pub patients: Option<u32>,
    /// Seed of every random draw.
    pub seed: u64,
    /// Scenario file.
    pub scenario: Option<PathBuf>,
}

impl HospitalSource {
    /// Read, override and validate the configuration and scenario (no simulation yet).
    pub fn load(&self) -> Result<(HospitalConfig, Vec<Planned>), BuildError> {
        let (cfg, origin) = match &self.config {
            Some(path) => (HospitalConfig::from_file(path)?, path.display().to_string()),
            None => (HospitalConfig::embedded_default(), "<embedded default>".to_string()),
        };
        let cfg = match self.patients {
            Some(n) => cfg.with_patients(n),
            None => cfg,
        };
        cfg.validate(&origin)?;
        let plan = match &self.scenario {
            Some(path) => Scenario::from_file(path)?,
            None => Vec::new(),
        };
        Ok((cfg, plan))
    }

    /// Load everything and build the simulation starting at `start` (Unix seconds).
    pub fn build(&self, start: f64) -> Result<Simulation, BuildError> {
        let (cfg, plan) = self.load()?;
        Ok(Simulation::new(&cfg, self.seed, start, &plan)?)
    }
}
