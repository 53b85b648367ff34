//! The distributed density pass of the imaging weights ([`crate::weighting`]): every rank
//! counts its own rows' weights on the density grid, the grids are summed over all ranks, and
//! every rank turns the same sums into the same weights.
use tracing::info;

use super::error::ImagingError;
use crate::dist::Dist;
use crate::metrics::{ReadPass, Stage, StageTimes};
use crate::vis::{row_chunks, VisRead, Want};
use crate::weighting::{DensityGrid, ImagingWeights, WeightingSpec};

/// Largest piece of the density grid summed in one MPI call (elements).
const MAX_ALLREDUCE: usize = 1 << 26;

/// What the density pass needs: the weighting, the image it is for, and how to read.
#[derive(Clone, Copy, Debug)]
pub struct DensitySpec {
    /// The weighting.
    pub weighting: WeightingSpec,
    /// Image width and height, pixels.
    pub nx_ny: (usize, usize),
    /// Pixel size, radians.
    pub cell_rad: f64,
    /// Rows per chunk.
    pub chunk_rows: usize,
}

/// Builds the imaging weights of `spec` from this rank's rows of `source`, summed over the
/// ranks of `dist`; `None` for natural weighting without a taper (nothing to do). The time
/// goes to [`Stage::Weights`], the reads to [`ReadPass::Weights`].
pub fn build(
    spec: &DensitySpec,
    source: &dyn VisRead,
    dist: &Dist,
    times: &mut StageTimes,
) -> Result<Option<ImagingWeights>, ImagingError> {
    if spec.weighting.is_identity() {
        return Ok(None);
    }
    let t = std::time::Instant::now();
    let meta = source.meta();
    let (nx, ny) = spec.nx_ny;
    let mut grid = DensityGrid::new(nx, ny, spec.cell_rad);
    for r in row_chunks(dist.my_rows(meta.nrow), spec.chunk_rows) {
        let chunk = source.read(r, Want::NoVis)?;
        times.count_read(ReadPass::Weights);
        grid.add_chunk(&chunk, &meta.freq_hz);
    }
    for piece in grid.cells_mut().chunks_mut(MAX_ALLREDUCE) {
        dist.all_sum_f64(piece);
    }
    let weights = grid.finish(&spec.weighting);
    times.add(Stage::Weights, t.elapsed().as_secs_f64());
    if dist.is_root() {
        let (w, h, du) = weights.shape();
        info!(
            "weighting {}: density grid {w}x{h} cells of {du:.3} wavelengths ({:.2} s)",
            spec.weighting.describe(),
            t.elapsed().as_secs_f64()
        );
    }
    Ok(Some(weights))
}
