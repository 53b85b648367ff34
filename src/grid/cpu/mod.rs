//! Tiled, lock-free CPU gridder (rayon), after ducc0's wgridder (Arras et al. 2021).
//!
//! Each chunk's samples become a run of compact records (footprint start relative to a
//! `T × T` tile, fractional offsets, weighted value) sorted by tile with a two-pass parallel
//! counting sort (`runs.rs`). Runs are batched until [`BATCH_RECORDS`] samples wait, then
//! spread: every tile's records go into a small private buffer of `(T + WP − 1)²` cells that
//! stays in L1/L2 cache, added to the grid once per batch, tiles of one colour
//! `(tu mod 2, tv mod 2)` in parallel with no lock or atomic, handed out dynamically with the
//! heaviest first (`spread.rs`). The kernel is evaluated as `W` polynomials by Horner's rule
//! and the inner loop is a length-`WP` axpy, monomorphised per width and compiled with
//! AVX2 + FMA where the CPU has it (`hot.rs`). The image does not depend on the thread count.
//!
//! Files: this one holds [`CpuGridder`] and its backend traits.
use num_complex::Complex;
use rayon::prelude::*;

use std::time::Instant;

use crate::fft::Fft2d;
use crate::grid::backend::{
    BackendKind, BackendReport, CpuStageTimes, GridRows, Gridder, ImageTimings, ImageTransform,
    ImagingBackend,
};
use crate::grid::error::GridError;
use crate::grid::geometry::GridGeometry;
use crate::grid::place::{GridCounts, GridMode};
use crate::kernel;
use crate::real::Real;
use crate::vis::VisChunk;
use crate::wstack::{WPlaneSel, WScreen};

mod hot;
mod runs;
mod screen;
pub mod slab;
mod spread;
pub use hot::uses_avx2_fma;
use hot::{padded_width, KernelRows};
use runs::{build_run, Run, RunScratch};
use screen::ScreenSum;
use spread::spread_runs;

/// The rayon CPU gridder.
pub struct CpuGridder<T: Real> {
    geom: GridGeometry,
    grid: Vec<Complex<T>>,
    fft: Option<Fft2d<T>>,
    /// The kernel in the hot loop's form.
    kernel: KernelRows<T>,
    /// Tile-sorted runs not yet spread: chunks are batched so that the per-tile work
    /// (buffer flush, tile scan) is paid once per [`BATCH_RECORDS`] samples, not per chunk.
    pending: Vec<Run<T>>,
    pending_records: usize,
    /// Spent runs whose buffers the next chunks reuse.
    spare: Vec<Run<T>>,
    /// The counting sort's histograms, reused.
    scratch: RunScratch<T>,
    /// Seconds spent sorting chunks into runs, and spreading runs onto the grid.
    phase_s: CpuStageTimes,
    /// w-stacking: the sum over planes of the screened real parts.
    screens: ScreenSum,
}

/// Samples collected from chunks before they are spread together (the cost model of
/// [`kernel::choose_grid`] counts one grid flush per batch).
const BATCH_RECORDS: usize = kernel::BATCH_SAMPLES;

impl<T: Real> CpuGridder<T> {
    /// Allocates a zeroed `nv × nu` grid. Fails when the tile is not a power of two, the
    /// kernel's padded footprint is wider than a tile + 1 or the grid is not a whole, even
    /// number of tiles along each axis (the colour passes need all three).
    pub fn new(geom: GridGeometry) -> Result<Self, GridError> {
        let (nu, nv, tile, width) = (geom.nu, geom.nv, geom.tile, geom.kernel.width);
        // Records keep footprint offsets within a tile in 16 bits.
        if !tile.is_power_of_two() || tile > 1 << 15 {
            return Err(GridError::Geometry(format!(
                "tile {tile} not a power of two of at most 32768"
            )));
        }
        if padded_width(width) > tile + 1 {
            return Err(GridError::Geometry(format!(
                "kernel width {width} (padded to {}) wider than tile {tile} + 1",
                padded_width(width)
            )));
        }
        if nu % (2 * tile) != 0 || nv % (2 * tile) != 0 {
            return Err(GridError::Geometry(format!(
                "grid {nu}x{nv} not a multiple of 2 tiles of {tile}"
            )));
        }
        let grid = crate::resources::zeroed_huge_vec::<Complex<T>>(nu * nv);
        let kernel = KernelRows::new(&geom.poly.coeffs, width);
        Ok(Self {
            geom,
            grid,
            fft: None,
            kernel,
            pending: Vec::new(),
            pending_records: 0,
            spare: Vec::new(),
            scratch: RunScratch::default(),
            phase_s: CpuStageTimes::default(),
            screens: ScreenSum::default(),
        })
    }

    /// Spreads the pending runs (if any) onto the grid and keeps their buffers for reuse.
    fn flush(&mut self) {
        if !self.pending.is_empty() {
            let t = Instant::now();
            spread_runs(&self.geom, &self.kernel, &mut self.grid, &self.pending);
            self.spare.append(&mut self.pending);
            self.pending_records = 0;
            self.phase_s.spread_s += t.elapsed().as_secs_f64();
        }
    }
}

impl<T: Real> Gridder<T> for CpuGridder<T> {
    fn grid(
        &mut self,
        chunk: &VisChunk,
        freq_hz: &[f64],
        mode: GridMode,
        plane: Option<&WPlaneSel>,
    ) -> Result<GridCounts, GridError> {
        let t = Instant::now();
        let mut run = self.spare.pop().unwrap_or_default();
        let counts = build_run(
            &self.geom,
            chunk,
            freq_hz,
            mode,
            plane,
            &mut run,
            &mut self.scratch,
        );
        self.pending_records += run.records.len();
        self.pending.push(run);
        self.phase_s.sort_s += t.elapsed().as_secs_f64();
        if self.pending_records >= BATCH_RECORDS {
            self.flush();
        }
        Ok(counts)
    }

    fn finish(&mut self) -> Result<(), GridError> {
        self.flush();
        Ok(())
    }

    fn clear(&mut self) -> Result<(), GridError> {
        self.spare.append(&mut self.pending);
        self.pending_records = 0;
        self.grid
            .par_iter_mut()
            .for_each(|c| *c = Complex::default());
        Ok(())
    }

    fn geometry(&self) -> &GridGeometry {
        &self.geom
    }
}

impl<T: Real> GridRows<T> for CpuGridder<T> {
    fn host_grid(&mut self) -> Result<&mut [Complex<T>], GridError> {
        self.flush();
        Ok(&mut self.grid)
    }
}

impl<T: Real> ImageTransform<T> for CpuGridder<T> {
    fn to_image(&mut self, scale: f64) -> Result<(Vec<f64>, ImageTimings), GridError> {
        self.flush();
        let g = &self.geom;
        let t = Instant::now();
        let fft = self
            .fft
            .get_or_insert_with(|| Fft2d::new(g.nu, g.nv, g.nx, g.ny));
        let mut image = fft.grid_to_image(&mut self.grid);
        let fft_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let cx = kernel::correction(&g.kernel, g.nx, g.nu);
        let cy = kernel::correction(&g.kernel, g.ny, g.nv);
        crate::fft::correct(&mut image, &cx, &cy, scale);
        let correct_s = t.elapsed().as_secs_f64();
        Ok((image, ImageTimings { fft_s, correct_s }))
    }

    fn add_w_plane(&mut self, screen: &WScreen) -> Result<ImageTimings, GridError> {
        self.flush();
        let g = &self.geom;
        let (nx, ny) = (g.nx, g.ny);
        let t = Instant::now();
        let (quadrant, sum) = self.screens.advance(screen, nx, ny);
        let correct_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let fft = self
            .fft
            .get_or_insert_with(|| Fft2d::new(g.nu, g.nv, g.nx, g.ny));
        fft.add_screened(&mut self.grid, quadrant, sum);
        let fft_s = t.elapsed().as_secs_f64();
        Ok(ImageTimings { fft_s, correct_s })
    }

    fn take_w_sum(&mut self) -> Result<Vec<f64>, GridError> {
        Ok(self.screens.take(self.geom.nx * self.geom.ny))
    }
}

impl<T: Real> ImagingBackend<T> for CpuGridder<T> {
    fn report(&self) -> BackendReport {
        BackendReport {
            kind: BackendKind::Cpu,
            device_name: None,
            stage_times: None,
            cpu_times: Some(self.phase_s),
            device_memory_bytes: None,
        }
    }
}
