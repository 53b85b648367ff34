//! `[verify]`: how `rimager verify` compares an image with the direct Fourier transform.
use serde::{Deserialize, Serialize};

use super::error::{check, FieldError};

/// Which reference `rimager verify` compares with (`verify.reference`, `--reference`).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum VerifyReference {
    /// The model the image was made with: the w-term DFT for a w-stacked image, else 2-D.
    #[default]
    Auto,
    /// The 2-D DFT (w ignored).
    #[serde(rename = "2d")]
    #[value(name = "2d")]
    TwoD,
    /// The DFT with the w-term.
    Wterm,
    /// Both, each with its own pass/fail line.
    Both,
}

/// `[verify]` section.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyConfig {
    /// Side of the central square patch compared pixel by pixel.
    #[serde(default = "default_patch")]
    pub patch: usize,
    /// Number of random pixels compared outside the patch.
    #[serde(default = "default_nrandom")]
    pub random_pixels: usize,
    /// Pass threshold on the relative L2 error; 0 = the image's own ε (at least 1e-6, the
    /// limit of its float32 storage).
    #[serde(default)]
    pub threshold: f64,
    /// Seed for choosing the random pixels.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Which DFT to compare with: `"auto"`, `"2d"`, `"wterm"` or `"both"`.
    #[serde(default)]
    pub reference: VerifyReference,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        Self {
            patch: default_patch(),
            random_pixels: default_nrandom(),
            threshold: 0.0,
            seed: default_seed(),
            reference: VerifyReference::Auto,
        }
    }
}

fn default_patch() -> usize {
    32
}
fn default_nrandom() -> usize {
    128
}
fn default_seed() -> u64 {
    42
}

impl VerifyConfig {
    /// Checks value ranges.
    pub fn validate(&self) -> Result<(), FieldError> {
        check(
            self.threshold >= 0.0 && self.threshold.is_finite(),
            "verify.threshold",
            self.threshold,
            "must be >= 0",
        )
    }
}
