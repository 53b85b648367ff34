//! The pieces of an imaging backend, which the driver composes: [`Gridder`] (samples onto the
//! grid), [`GridRows`] (the grid in host memory, for the MPI reduction) and [`ImageTransform`]
//! (FFT, grid correction and crop, or the w-stacking plane sum), joined with a
//! [`BackendReport`] in [`ImagingBackend`].
use num_complex::Complex;

use super::error::GridError;
use super::geometry::GridGeometry;
use super::place::{GridCounts, GridMode};
use crate::real::Real;
use crate::vis::VisChunk;
use crate::wstack::{WPlaneSel, WScreen};

/// Seconds spent turning a grid into an image.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ImageTimings {
    /// 2-D FFT (with crop).
    pub fft_s: f64,
    /// Grid correction and normalisation.
    pub correct_s: f64,
}

/// Which backend ran (resolved, not the config's Auto).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// The rayon CPU gridder (`grid::cpu::CpuGridder`).
    Cpu,
    /// The CUDA gridder (`grid::gpu::GpuGridder`).
    Gpu,
}

impl BackendKind {
    /// `"cpu"` or `"gpu"`, as in the output metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Gpu => "gpu",
        }
    }
}

/// Seconds spent in each stage on a device (GPU backends), measured with device events.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DeviceStageTimes {
    /// Host-to-device copies of records (and of a host grid handed out by
    /// [`GridRows::host_grid`]).
    pub h2d_s: f64,
    /// Counting sort by tile and subproblem list.
    pub bucket_s: f64,
    /// Shared-memory spreading.
    pub grid_s: f64,
    /// Backward FFT.
    pub fft_s: f64,
    /// Crop, sign, correction and scale (or the w-stacking phase screen).
    pub correct_s: f64,
    /// Device-to-host copies (image, plane sum, and the grid for the MPI reduction).
    pub d2h_s: f64,
}

/// Where the CPU gridder's time went (seconds on this rank, parts of [`Gridder::grid`] and
/// of the flush before the FFT).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuStageTimes {
    /// Placing samples and sorting them by tile into runs.
    pub sort_s: f64,
    /// Spreading runs onto the grid (the kernel loop and the tile-buffer flushes).
    pub spread_s: f64,
}

/// What a backend reports after a run.
#[derive(Clone, Debug, PartialEq)]
pub struct BackendReport {
    /// Which backend it is.
    pub kind: BackendKind,
    /// The accelerator's name (GPU backends).
    pub device_name: Option<String>,
    /// Per-stage device times so far (GPU backends). The streamed stages (copies, bucketing,
    /// spreading) are added when the backend waits for the device: in
    /// [`ImageTransform::to_image`], [`ImageTransform::add_w_plane`] and
    /// [`GridRows::host_grid`] (queuing work does not wait).
    pub stage_times: Option<DeviceStageTimes>,
    /// CPU gridder phase times (CPU backend only).
    pub cpu_times: Option<CpuStageTimes>,
    /// Device memory in use on the backend's accelerator, bytes (GPU backends); `None` for
    /// host-memory backends (their memory is in the process's resident set).
    pub device_memory_bytes: Option<u64>,
}

/// A convolutional gridder: accumulates chunks onto a complex grid `[nv][nu]` (row = v).
pub trait Gridder<T: Real> {
    /// Grids every usable sample of `chunk`, whose channel frequencies are `freq_hz`. With
    /// `plane = Some(sel)` (w-stacking, [`crate::wstack`]) only samples whose w-kernel support
    /// covers that w-plane are gridded, each weighted by its factor; the counts are those of
    /// every usable sample whatever the plane.
    fn grid(
        &mut self,
        chunk: &VisChunk,
        freq_hz: &[f64],
        mode: GridMode,
        plane: Option<&WPlaneSel>,
    ) -> Result<GridCounts, GridError>;

    /// Grids every sample still waiting in a batch, so that the grid holds all of them (the
    /// driver calls it at the end of a pass, timed as gridding; transforms and the
    /// reduction also call it, so forgetting it is never wrong, only mis-timed).
    fn finish(&mut self) -> Result<(), GridError>;

    /// Zeroes the grid (and drops samples not yet gridded).
    fn clear(&mut self) -> Result<(), GridError>;

    /// The geometry in use.
    fn geometry(&self) -> &GridGeometry;
}

/// The grid in host memory, for communication.
pub trait GridRows<T: Real> {
    /// The grid in host memory, row-major `[nv][nu]`, cell `(nu/2, nv/2)` the uv origin (for
    /// the MPI reduction). Everything gridded so far is in it; a backend that keeps the grid
    /// elsewhere copies it here, and changes made through it are taken into account by the
    /// backend's [`ImageTransform`].
    fn host_grid(&mut self) -> Result<&mut [Complex<T>], GridError>;
}

/// Turning the grid into an image.
pub trait ImageTransform<T: Real> {
    /// FFT, grid correction and crop: returns the `ny × nx` image (row 0 south, column 0
    /// east) scaled by `scale`, and the seconds spent in the FFT and in the correction.
    fn to_image(&mut self, scale: f64) -> Result<(Vec<f64>, ImageTimings), GridError>;

    /// w-stacking: transforms the grid (one w-plane, everything gridded so far), crops it,
    /// multiplies each pixel by the phase screen `exp(−2πi w_p (n − 1 + nshift))` and adds the
    /// real part into the backend's plane sum (kept where the backend computes). The grid is
    /// left undefined: [`Gridder::clear`] it before gridding the next plane. Returns the
    /// seconds spent in the FFT and in the screen.
    fn add_w_plane(&mut self, screen: &WScreen) -> Result<ImageTimings, GridError>;

    /// w-stacking: returns the plane sum `[ny][nx]` (uncorrected, unscaled) and zeroes it.
    fn take_w_sum(&mut self) -> Result<Vec<f64>, GridError>;
}

/// One backend: all three pieces plus its report.
pub trait ImagingBackend<T: Real>: Gridder<T> + GridRows<T> + ImageTransform<T> {
    /// Which backend this is, on which device, and what it measured so far.
    fn report(&self) -> BackendReport;
}
