//! Errors of the imaging driver.
use std::path::PathBuf;

use crate::grid::gpu::GpuError;
use crate::grid::GridError;
use crate::kernel::KernelError;
use crate::output::OutputError;
use crate::simulate::SimError;
use crate::vis::h5::VisFileError;
use crate::vis::VisError;
use crate::wstack::WStackError;

/// Errors of `rimager image` (and of the passes `verify` shares with it).
#[derive(Debug, thiserror::Error)]
pub enum ImagingError {
    /// Reading visibilities failed.
    #[error(transparent)]
    Vis(#[from] VisError),
    /// Opening the visibility file failed.
    #[error(transparent)]
    VisFile(#[from] VisFileError),
    /// Setting up the simulation failed.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// No kernel reaches ε.
    #[error("image.epsilon: {0}")]
    Kernel(#[from] KernelError),
    /// w-stacking could not be planned.
    #[error("image.wstacking: {0}")]
    WStack(#[from] WStackError),
    /// Writing outputs failed.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// `image.backend = "gpu"` but the GPU backend could not be set up.
    #[error("image.backend = \"gpu\": {0}")]
    GpuSetup(#[source] GpuError),
    /// The gridder failed while running.
    #[error(transparent)]
    Grid(#[from] GridError),
    /// Nothing to image.
    #[error(
        "{source_name}: total weight of usable samples is zero ({used} used, {flagged} flagged, {invalid} NaN/Inf or \
         weight <= 0, {outside} beyond the grid)"
    )]
    ZeroWeight {
        /// The data's name.
        source_name: String,
        /// Samples used.
        used: u64,
        /// Samples flagged.
        flagged: u64,
        /// Samples with NaN/Inf values or weight ≤ 0.
        invalid: u64,
        /// Samples beyond the grid.
        outside: u64,
    },
    /// The uv extent could not be determined for `cell_arcsec = "auto"`.
    #[error("{0}: cannot choose cell_arcsec = \"auto\": no finite, non-zero uv coordinates")]
    NoUvExtent(String),
    /// A metrics file could not be written.
    #[error("writing metrics {path}")]
    Metrics {
        /// The metrics file.
        path: PathBuf,
        /// Why.
        source: OutputError,
    },
    /// The metrics could not be serialised.
    #[error("serialising the metrics as JSON")]
    MetricsJson(#[from] serde_json::Error),
    /// `image.channels_out` asks for more planes than the data have channels.
    #[error(
        "config {path}: field `image.channels_out` = {value}: more output channels than the {nchan} channel(s) of {source_name}"
    )]
    ChannelsOut {
        /// The configuration file.
        path: PathBuf,
        /// The value asked for.
        value: usize,
        /// Channels in the data.
        nchan: usize,
        /// The data's name.
        source_name: String,
    },
    /// Channel cubes are imaged in 2-D only.
    #[error(
        "image.channels_out = {channels_out} with w-stacking: channel cubes are imaged in 2-D only; \
         set image.wstacking = false or image.channels_out = 1"
    )]
    CubeWithWStacking {
        /// The requested planes.
        channels_out: usize,
    },
    /// A setting that cannot be honoured in this run.
    #[error("{key} {why}")]
    Unsupported {
        /// The configuration key.
        key: &'static str,
        /// Why, and what to do.
        why: String,
    },
    /// The output set (paths, lock, space, commit).
    #[error(transparent)]
    OutputSet(#[from] super::outset::OutputSetError),
    /// The image came out with non-finite pixels.
    #[error(
        "the image has {image} non-finite pixels and the PSF {psf} (sum of weights {sum_weights:e}): the grid \
         overflowed; rescale the weights or use image.precision = \"double\"; nothing was written"
    )]
    NonFinite {
        /// Non-finite image pixels.
        image: usize,
        /// Non-finite PSF pixels.
        psf: usize,
        /// Sum of the weights used.
        sum_weights: f64,
    },
    /// The plan needs more memory than the node has available.
    #[error(transparent)]
    Memory(Box<MemoryShortfall>),
    /// A failure injected for testing (`RIMAGER_TEST_FAIL_RANK`).
    #[error("injected failure on rank {0} (RIMAGER_TEST_FAIL_RANK)")]
    Injected(usize),
    /// The output directory could not be created.
    #[error("cannot create output directory {path}")]
    OutputDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Ranks disagree on the data, the settings or the plan (checked before collectives).
    #[error(transparent)]
    Disagree(Box<Disagreement>),
}

/// Ranks disagree on the data, the settings or the plan.
#[derive(Debug, thiserror::Error)]
#[error(
    "ranks disagree on the {what}: {field} is {root_value} on rank 0 but {value} on rank {}; every rank \
     must image the same data with the same settings (this rank's data: {here})",
    rank.map_or("?".to_string(), |r| r.to_string())
)]
pub struct Disagreement {
    /// "data", "settings" or "plan".
    pub what: String,
    /// The first rank that differs from rank 0.
    pub rank: Option<usize>,
    /// The value that differs.
    pub field: String,
    /// Rank 0's value.
    pub root_value: String,
    /// That rank's value.
    pub value: String,
    /// This rank's data.
    pub here: String,
}

/// The plan needs more memory than the node has available.
#[derive(Debug, thiserror::Error)]
#[error(
    "image.nx = {nx}, image.ny = {ny}: the {nu}x{nv} {precision} grids and the image need about {need_gib:.1} GiB \
     per rank x {ranks} rank(s) on this node, but {avail_gib:.1} GiB is available (MemAvailable); choose a \
     smaller image, fewer ranks per node or image.psf = false"
)]
pub struct MemoryShortfall {
    /// Image width.
    pub nx: usize,
    /// Image height.
    pub ny: usize,
    /// Grid width.
    pub nu: usize,
    /// Grid height.
    pub nv: usize,
    /// Grid precision.
    pub precision: String,
    /// Estimated GiB per rank.
    pub need_gib: f64,
    /// Ranks on this node.
    pub ranks: usize,
    /// Available GiB.
    pub avail_gib: f64,
}
