//! Planning an image (pixel size, kernel, grid) and turning visibilities into a dirty image or
//! PSF with any [`ImagingBackend`]: grid every chunk, then FFT, grid-correct, crop and
//! normalise by the sum of weights (a 1 Jy point source at the phase centre peaks at 1.0).
use crate::grid::cpu::CpuGridder;
use crate::grid::{GridCounts, GridError, GridGeometry, GridMode, ImagingBackend};
use crate::kernel::{choose_grid, KernelError};
use crate::real::Real;
use crate::vis::VisChunk;
use crate::wstack::{plan_wstack, WPlanes, WScreen, WStackError};

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
/// a reduction between gridding and [`crate::grid::ImageTransform::to_image`]. Fails only on a
/// geometry the CPU gridder cannot grid.
pub fn image_chunks<T: Real>(
    geom: GridGeometry,
    chunks: &[VisChunk],
    freq_hz: &[f64],
    mode: GridMode,
) -> Result<(Vec<f64>, GridCounts), GridError> {
    let mut g = CpuGridder::<T>::new(geom)?;
    image_chunks_with(&mut g, chunks, freq_hz, mode)
}

/// Images `chunks` in one process with gridder `g` (any backend), normalised by the sum of
/// weights.
pub fn image_chunks_with<T: Real>(
    g: &mut dyn ImagingBackend<T>,
    chunks: &[VisChunk],
    freq_hz: &[f64],
    mode: GridMode,
) -> Result<(Vec<f64>, GridCounts), GridError> {
    let mut counts = GridCounts::default();
    for c in chunks {
        counts.merge(&g.grid(c, freq_hz, mode, None)?);
    }
    let scale = if counts.sum_weights > 0.0 {
        1.0 / counts.sum_weights
    } else {
        0.0
    };
    Ok((g.to_image(scale)?.0, counts))
}

/// Plans a w-stacked image ([`crate::wstack`]) of `nvis` samples whose w lies in
/// `[wmin, wmax]` wavelengths: kernel, grid and w-planes.
pub fn plan_w(
    p: &ImageParams,
    nvis: u64,
    wmin: f64,
    wmax: f64,
) -> Result<(GridGeometry, WPlanes), WStackError> {
    let (spec, planes) = plan_wstack(p.nx, p.ny, p.cell_rad, nvis, p.epsilon, p.tile, wmin, wmax)?;
    Ok((
        GridGeometry::new(p.nx, p.ny, p.cell_rad, &spec, p.epsilon, p.tile),
        planes,
    ))
}

/// The phase screen of plane `p`.
pub fn w_screen(geom: &GridGeometry, planes: &WPlanes, p: usize) -> WScreen {
    WScreen {
        w_lambda: planes.w_of(p),
        nshift: planes.nshift,
        cell_rad: geom.cell_rad,
    }
}

/// Turns the sum of the screened planes into the image: divides by the 2-D grid correction
/// and the w-correction `ψ̂((n − 1 + nshift)·dw)` and multiplies by `scale`.
pub fn finish_w_image(sum: &mut [f64], geom: &GridGeometry, planes: &WPlanes, scale: f64) {
    use rayon::prelude::*;
    let cx = crate::kernel::correction(&geom.kernel, geom.nx, geom.nu);
    let cy = crate::kernel::correction(&geom.kernel, geom.ny, geom.nv);
    let cw = planes.correction(geom.nx, geom.ny, geom.cell_rad);
    let nx = geom.nx;
    sum.par_chunks_mut(nx)
        .zip(cw.par_chunks(nx))
        .zip(cy.par_iter())
        .for_each(|((row, cw), &cy)| {
            for ((p, &cx), &cw) in row.iter_mut().zip(&cx).zip(cw) {
                *p *= cx * cy * cw * scale;
            }
        });
}

/// Images `chunks` with w-stacking in one process with gridder `g` (any backend): every plane
/// gridded, transformed and screened in turn, then corrected and normalised by the sum of
/// weights. The single-process form of what the MPI pipeline does.
pub fn image_chunks_wstack_with<T: Real>(
    g: &mut dyn ImagingBackend<T>,
    planes: &WPlanes,
    chunks: &[VisChunk],
    freq_hz: &[f64],
    mode: GridMode,
) -> Result<(Vec<f64>, GridCounts), GridError> {
    let mut counts = GridCounts::default();
    for p in 0..planes.nplanes {
        g.clear()?;
        let sel = planes.select(p);
        let mut c = GridCounts::default();
        for ch in chunks {
            c.merge(&g.grid(ch, freq_hz, mode, Some(&sel))?);
        }
        counts = c;
        let screen = w_screen(g.geometry(), planes, p);
        g.add_w_plane(&screen)?;
    }
    g.clear()?;
    let mut sum = g.take_w_sum()?;
    let scale = if counts.sum_weights > 0.0 {
        1.0 / counts.sum_weights
    } else {
        0.0
    };
    let geom = g.geometry().clone();
    finish_w_image(&mut sum, &geom, planes, scale);
    Ok((sum, counts))
}
