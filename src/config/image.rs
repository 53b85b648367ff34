//! `[image]`: imaging parameters (size, pixel size, accuracy, weighting, backend, outputs).
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::auto::{Cell, WStacking};
use super::error::{check, FieldError};

/// Floating-point precision of the grid and FFT (`image.precision`, `--precision`).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// float32 where ε allows it (ε ≥ [`SINGLE_PRECISION_MIN_EPSILON`]), else float64.
    #[default]
    Auto,
    /// float32 grid and FFT.
    Single,
    /// float64 grid and FFT.
    Double,
}

/// Smallest ε for which `precision = "auto"` picks float32.
pub const SINGLE_PRECISION_MIN_EPSILON: f64 = 2e-5;

/// Visibility weighting scheme (`image.weighting`; WSClean's definitions, implemented by the
/// `weighting` module).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Weighting {
    /// Each sample weighted by its own weight.
    #[default]
    Natural,
    /// Each sample's weight divided by the summed weight of its uv cell.
    Uniform,
    /// Briggs' robust weighting with `image.robust` (−2 ≈ uniform, +2 ≈ natural).
    Briggs,
}

impl Weighting {
    /// The name used in the configuration and the output metadata.
    pub fn name(self) -> &'static str {
        match self {
            Weighting::Natural => "natural",
            Weighting::Uniform => "uniform",
            Weighting::Briggs => "briggs",
        }
    }
}

/// Compute backend (`image.backend`, `--backend`).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// rayon-threaded CPU gridder and rustfft.
    #[default]
    Cpu,
    /// CUDA gridder and cuFFT, one GPU per rank; an error where no GPU is usable.
    Gpu,
    /// The GPU where one is usable, else the CPU (with a logged notice).
    Auto,
}

impl Backend {
    /// The name used in the configuration and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Gpu => "gpu",
            Backend::Auto => "auto",
        }
    }
}

/// How the ranks' grids are combined (`image.reduction`, `--reduction`).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Reduction {
    /// Sum the occupied band of grid rows into rank 0, which transforms it alone.
    Root,
    /// Each rank owns a slab of grid rows (a reduce-scatter), a distributed FFT runs on all
    /// ranks and the image is gathered to rank 0.
    #[default]
    Slab,
    /// Each rank owns a slab of grid rows and every sample's record is routed to the
    /// owner(s) of the rows its kernel footprint touches (an all-to-all), which grid only
    /// their slab: no full grid anywhere and no grid reduction; then the slab FFT.
    Route,
}

impl Reduction {
    /// The name used in the configuration and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Reduction::Root => "root",
            Reduction::Slab => "slab",
            Reduction::Route => "route",
        }
    }
}

/// `[image]` section.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig {
    /// Image width (east-west), pixels; even.
    #[serde(default = "default_npix")]
    pub nx: usize,
    /// Image height (north-south), pixels; even.
    #[serde(default = "default_npix")]
    pub ny: usize,
    /// Pixel size in arcsec, or `"auto"`.
    #[serde(default)]
    pub cell_arcsec: Cell,
    /// Requested relative accuracy of the dirty image (kernel width and oversampling are
    /// derived from it).
    #[serde(default = "default_epsilon")]
    pub epsilon: f64,
    /// `"auto"`, `"single"` or `"double"`.
    #[serde(default)]
    pub precision: Precision,
    /// Weighting scheme.
    #[serde(default)]
    pub weighting: Weighting,
    /// Briggs robustness R in [−2, 2] (used with `weighting = "briggs"`).
    #[serde(default)]
    pub robust: f64,
    /// FWHM of the Gaussian uv taper in the image domain, arcsec; 0 = no taper.
    #[serde(default)]
    pub taper_arcsec: f64,
    /// Compute backend.
    #[serde(default)]
    pub backend: Backend,
    /// rayon threads per rank; 0 = `RAYON_NUM_THREADS`, else `SLURM_CPUS_PER_TASK`, else all cores.
    #[serde(default)]
    pub threads: usize,
    /// Use `threads` even above the cores this process may run on (otherwise capped, with a
    /// warning).
    #[serde(default)]
    pub force_threads: bool,
    /// Output path prefix: writes `<output>.h5`, `<output>.fits`, `<output>-psf.fits`.
    #[serde(default = "default_output")]
    pub output: PathBuf,
    /// Also write the PSF.
    #[serde(default = "default_true")]
    pub psf: bool,
    /// Side of a gridding tile in grid cells (a power of two ≥ the kernel width).
    #[serde(default = "default_tile")]
    pub tile_size: usize,
    /// w-stacking (Arras et al. 2021) for wide fields: `true`, `false` or `"auto"`.
    #[serde(default)]
    pub wstacking: WStacking,
    /// Output channels: 1 = the multi-frequency-synthesis image only; N > 1 = also an image
    /// cube of N planes, contiguous groups of channels in file order (WSClean's
    /// `-channels-out`; see the `channels` module).
    #[serde(default = "default_channels_out")]
    pub channels_out: usize,
    /// Also write PNG quick looks of the image and PSF (`<output>.png`, `<output>-psf.png`).
    #[serde(default = "default_true")]
    pub png: bool,
    /// How the grids of the ranks are combined before the transform.
    #[serde(default)]
    pub reduction: Reduction,
    /// Bitwise-reproducible images whatever the number of ranks and threads: records routed
    /// to slab owners, summed in global sample order, slab FFT on any rank count, exact sum of
    /// the weights.
    #[serde(default)]
    pub reproducible: bool,
}

impl Default for ImageConfig {
    fn default() -> Self {
        Self {
            nx: default_npix(),
            ny: default_npix(),
            cell_arcsec: Cell::default(),
            epsilon: default_epsilon(),
            precision: Precision::Auto,
            weighting: Weighting::Natural,
            robust: 0.0,
            taper_arcsec: 0.0,
            backend: Backend::Cpu,
            threads: 0,
            force_threads: false,
            output: default_output(),
            psf: true,
            tile_size: default_tile(),
            wstacking: WStacking::default(),
            channels_out: default_channels_out(),
            png: true,
            reduction: Reduction::default(),
            reproducible: false,
        }
    }
}

fn default_npix() -> usize {
    1024
}
fn default_epsilon() -> f64 {
    1e-4
}
fn default_output() -> PathBuf {
    PathBuf::from("out/default")
}
fn default_true() -> bool {
    true
}
fn default_tile() -> usize {
    32
}
fn default_channels_out() -> usize {
    1
}

/// Largest image side accepted, pixels (2²⁰): a grid of twice that is 4·10¹² cells, so sizes
/// and byte counts never overflow; memory is checked against what is available before imaging.
pub const MAX_NPIX: usize = 1 << 20;
/// Largest `image.threads` accepted.
pub const MAX_THREADS: usize = 1 << 16;

impl ImageConfig {
    /// Checks value ranges.
    pub fn validate(&self) -> Result<(), FieldError> {
        for (name, n) in [("image.nx", self.nx), ("image.ny", self.ny)] {
            check(
                (8..=MAX_NPIX).contains(&n) && n % 2 == 0,
                name,
                n,
                "must be an even number in [8, 1048576]",
            )?;
        }
        check(
            self.threads <= MAX_THREADS,
            "image.threads",
            self.threads,
            "must be at most 65536 (0 = automatic)",
        )?;
        let eps = self.epsilon;
        check(
            eps.is_finite() && (1e-14..=0.1).contains(&eps),
            "image.epsilon",
            eps,
            "must be in [1e-14, 0.1]",
        )?;
        check(
            !(self.precision == Precision::Single && eps < SINGLE_PRECISION_MIN_EPSILON),
            "image.epsilon",
            eps,
            "is below what float32 can reach; use precision = \"double\" or \"auto\"",
        )?;
        if let Cell::Arcsec(c) = self.cell_arcsec {
            check(
                c.is_finite() && c > 0.0,
                "image.cell_arcsec",
                c,
                "must be a positive number or \"auto\"",
            )?;
        }
        self.validate_weighting()?;
        check(
            self.tile_size.is_power_of_two() && (8..=256).contains(&self.tile_size),
            "image.tile_size",
            self.tile_size,
            "must be a power of two in [8, 256]",
        )?;
        check(
            self.channels_out != 0,
            "image.channels_out",
            0,
            "must be at least 1 (1 = the MFS image only)",
        )?;
        self.validate_reproducible()
    }

    /// Checks what `reproducible = true` cannot be combined with.
    fn validate_reproducible(&self) -> Result<(), FieldError> {
        if !self.reproducible {
            return Ok(());
        }
        check(
            self.reduction != Reduction::Root,
            "image.reproducible",
            true,
            "needs image.reduction = \"route\" or \"slab\" (each cell summed by its slab owner), not \"root\"",
        )?;
        check(
            self.backend != Backend::Gpu,
            "image.reproducible",
            true,
            "runs on the CPU only; set image.backend = \"cpu\"",
        )?;
        check(
            self.wstacking != WStacking::Bool(true),
            "image.reproducible",
            true,
            "is for 2-D imaging only; set image.wstacking = false",
        )
    }

    /// Checks `robust` and `taper_arcsec`.
    fn validate_weighting(&self) -> Result<(), FieldError> {
        check(
            self.robust.is_finite() && (-2.0..=2.0).contains(&self.robust),
            "image.robust",
            self.robust,
            "must be in [-2, 2]",
        )?;
        check(
            self.taper_arcsec.is_finite() && self.taper_arcsec >= 0.0,
            "image.taper_arcsec",
            self.taper_arcsec,
            "must be >= 0 (0 = no taper)",
        )
    }

    /// The precision actually used for imaging: float64 when `true`.
    pub fn use_double(&self) -> bool {
        match self.precision {
            Precision::Double => true,
            Precision::Single => false,
            Precision::Auto => self.epsilon < SINGLE_PRECISION_MIN_EPSILON,
        }
    }
}
