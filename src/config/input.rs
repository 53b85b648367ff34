//! `[input]`: where `rimager image` gets its visibilities.
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::{check, FieldError};

/// Source of visibilities for `rimager image` (`input.source`, `--source`).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Read the HDF5 file `input.path`.
    #[default]
    File,
    /// Generate the `[simulate]` observation in memory, each rank its own rows.
    Simulate,
}

/// `[input]` section.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// `"file"` or `"simulate"`.
    #[serde(default)]
    pub source: Source,
    /// Visibility file (HDF5) when `source = "file"`.
    #[serde(default = "default_vis_path")]
    pub path: PathBuf,
    /// Rows read (or simulated) per chunk; bounds memory per rank.
    #[serde(default = "default_chunk_rows")]
    pub chunk_rows: usize,
    /// Memory (MiB) a rank may use to hold rows that a pass grids more than once (the
    /// w-planes of w-stacking), so that each row is read once per pass.
    #[serde(default = "default_cache_mb")]
    pub cache_mb: usize,
}

impl Default for InputConfig {
    fn default() -> Self {
        Self {
            source: Source::File,
            path: default_vis_path(),
            chunk_rows: default_chunk_rows(),
            cache_mb: default_cache_mb(),
        }
    }
}

/// The default visibility file: read by `rimager image` (`input.path`) and written by
/// `rimager simulate` (`simulate.output`).
pub(crate) fn default_vis_path() -> PathBuf {
    PathBuf::from("data/default_vis.h5")
}
fn default_chunk_rows() -> usize {
    65_536
}
fn default_cache_mb() -> usize {
    4096
}

impl InputConfig {
    /// Checks value ranges.
    pub fn validate(&self) -> Result<(), FieldError> {
        check(
            (1..=1 << 24).contains(&self.chunk_rows),
            "input.chunk_rows",
            self.chunk_rows,
            "must be in [1, 16777216]",
        )?;
        check(self.cache_mb != 0, "input.cache_mb", 0, "must be positive")
    }
}
