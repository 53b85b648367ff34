//! Planning an image (pixel size, kernel, grid) and turning visibilities into a dirty image or
//! PSF with any [`Gridder`]: grid every chunk, then FFT, grid-correct, crop and normalise by
//! the sum of weights (a 1 Jy point source at the phase centre peaks at 1.0).
use crate::grid::cpu::CpuGridder;
use crate::grid::{GridCounts, GridError, GridGeometry, GridMode, Gridder, Real};
use crate::kernel::{choose_grid, KernelError};
use crate::vis::VisChunk;

/// What an image needs besides the data.
#[derive(Clone, Debug)]
pub struct ImageParams {
    /// Image width, pixels.
    pub nx: usize,
    /// Image height, pixels.
    pub ny: usize,
    /// Pixel size, radians.
    pub cell_rad: f64,
    /// Requested accuracy.
    pub epsilon: f64,
    /// Tile side, cells.
    pub tile: usize,
}

/// Plans the grid for `nvis` samples: kernel and oversampling from ε, cost-optimal.
pub fn plan(p: &ImageParams, nvis: u64) -> Result<GridGeometry, KernelError> {
    let spec = choose_grid(p.nx, p.ny, nvis, p.epsilon, p.tile)?;
    Ok(GridGeometry::new(
        p.nx, p.ny, p.cell_rad, &spec, p.epsilon, p.tile,
    ))
}

/// Images `chunks` in one process with the CPU gridder (no MPI): returns the normalised image
/// `[ny][nx]` and the counts. Used by tests and benchmarks; the MPI pipeline does the same with
/// a reduction between gridding and [`Gridder::to_image`].
pub fn image_chunks<T: Real>(
    geom: GridGeometry,
    chunks: &[VisChunk],
    freq_hz: &[f64],
    mode: GridMode,
) -> (Vec<f64>, GridCounts) {
    let mut g = CpuGridder::<T>::new(geom);
    match image_chunks_with(&mut g, chunks, freq_hz, mode) {
        Ok(r) => r,
        // The CPU gridder has no failure modes.
        Err(e) => unreachable!("CPU gridder failed: {e}"),
    }
}

/// Images `chunks` in one process with gridder `g` (any backend), normalised by the sum of
/// weights.
pub fn image_chunks_with<T: Real>(
    g: &mut dyn Gridder<T>,
    chunks: &[VisChunk],
    freq_hz: &[f64],
    mode: GridMode,
) -> Result<(Vec<f64>, GridCounts), GridError> {
    let mut counts = GridCounts::default();
    for c in chunks {
        counts.merge(&g.grid_chunk(c, freq_hz, mode)?);
    }
    let scale = if counts.sum_weights > 0.0 {
        1.0 / counts.sum_weights
    } else {
        0.0
    };
    Ok((g.to_image(scale)?.0, counts))
}
