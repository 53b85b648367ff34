//! Imaging seeded in-memory data through the real driver (`imaging::image_in_memory`, the
//! path `rimager image` takes, on one rank), for the accuracy tests.
use rimager::config::Backend;
use rimager::grid::{GridCounts, GridGeometry, GridMode};
use rimager::imaging::{image_in_memory, ImagingError, ImagingPlan, Precision};
use rimager::vis::{VisChunk, VisMeta};
use rimager::wstack::WPlanes;

/// Metadata for in-memory test data with channel frequencies `freq_hz`.
pub fn meta(freq_hz: &[f64]) -> VisMeta {
    VisMeta {
        telescope: "test".into(),
        phase_centre_ra_deg: 0.0,
        phase_centre_dec_deg: 0.0,
        freq_hz: freq_hz.to_vec(),
        nrow: 0,
    }
}

/// What to image with.
#[derive(Clone, Copy, Debug)]
pub struct How {
    /// The backend.
    pub backend: Backend,
    /// The precision.
    pub precision: Precision,
}

impl How {
    /// The CPU in precision `double`.
    pub fn cpu(double: bool) -> Self {
        Self {
            backend: Backend::Cpu,
            precision: if double {
                Precision::Float64
            } else {
                Precision::Float32
            },
        }
    }

    /// The GPU in precision `double`.
    pub fn gpu(double: bool) -> Self {
        Self {
            backend: Backend::Gpu,
            ..Self::cpu(double)
        }
    }
}

/// The normalised image (`mode`) of `chunks` on `geom` (w-stacked with `planes`), and the
/// counts, through the driver.
pub fn image(
    how: How,
    geom: GridGeometry,
    planes: Option<WPlanes>,
    chunks: &[VisChunk],
    freq_hz: &[f64],
    mode: GridMode,
) -> Result<(Vec<f64>, GridCounts), ImagingError> {
    let mut plan = ImagingPlan::for_geometry(geom, how.precision);
    plan.backend = how.backend;
    plan.wplanes = planes;
    plan.psf = mode == GridMode::Psf;
    let p = image_in_memory(&plan, meta(freq_hz), chunks)?;
    let img = match mode {
        GridMode::Dirty => p.image,
        GridMode::Psf => p.psf.expect("the plan asked for the PSF"),
    };
    Ok((img, p.counts))
}

/// [`image`] on the CPU in 2-D, in precision `double`.
pub fn image_chunks(
    double: bool,
    geom: GridGeometry,
    chunks: &[VisChunk],
    freq_hz: &[f64],
    mode: GridMode,
) -> (Vec<f64>, GridCounts) {
    image(How::cpu(double), geom, None, chunks, freq_hz, mode).expect("CPU imaging")
}
