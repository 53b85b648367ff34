//! What an imaging run produces on rank 0: plain arrays and counts, no file formats.
use std::ops::Range;

use crate::grid::GridCounts;
use crate::metrics::RunMetrics;

/// The products of `rimager image` (rank 0).
pub struct ImageProducts {
    /// `[ny][nx]` dirty image, Jy/beam.
    pub image: Vec<f64>,
    /// `[ny][nx]` PSF, if asked for.
    pub psf: Option<Vec<f64>>,
    /// Global counts of the dirty image's samples.
    pub counts: GridCounts,
    /// The run's metrics.
    pub metrics: RunMetrics,
    /// The channel cube's planes (`image.channels_out > 1`).
    pub cube: Option<Vec<CubePlane>>,
}

/// One plane of a channel cube.
#[derive(Clone, Debug)]
pub struct CubePlane {
    /// Channels (indices in file order) imaged into this plane.
    pub channels: Range<usize>,
    /// Centre frequency of the group, Hz ([`crate::vis::channels::group_centre_hz`]).
    pub freq_hz: f64,
    /// Global counts of the group's samples (its `sum_weights` normalises the plane).
    pub counts: GridCounts,
    /// `[ny][nx]` dirty image, Jy/beam; all NaN when the group has no usable sample.
    pub image: Vec<f64>,
    /// `[ny][nx]` PSF (with `image.psf`); all NaN when the group has no usable sample.
    pub psf: Option<Vec<f64>>,
}

impl CubePlane {
    /// Whether the group had no usable sample (its plane is blanked with NaN).
    pub fn is_empty(&self) -> bool {
        !has_weight(&self.counts)
    }
}

/// Whether `counts` has a usable (positive, finite) sum of weights.
pub fn has_weight(counts: &GridCounts) -> bool {
    counts.sum_weights > 0.0 && counts.sum_weights.is_finite()
}
