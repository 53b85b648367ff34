//! Convolutional gridding of visibilities onto a regular uv grid.
//!
//! The [`Gridder`] trait is what the imaging pipeline sees; [`cpu::CpuGridder`] implements it
//! with rayon (the GPU backend plugs in beside it). Both share [`GridGeometry`]: how a sample's
//! (u, v) in wavelengths maps to grid cells, which samples are used, and the kernel.
//!
//! Conventions (WSClean's, see `docs/conventions.md`): the dirty image is
//! `I(l, m) = Σ w V exp(−2πi (u l + v m)) / Σ w` on pixels `l = −(x − nx/2)·cell`,
//! `m = (y − ny/2)·cell`. Writing `px = x − nx/2`, `py = y − ny/2` this is
//! `Σ w V exp(2πi (u·cell·px − v·cell·py))`, so a sample is placed at grid position
//! `(u·cell·nu, −v·cell·nv)` (cells from the grid centre) and the grid is transformed with a
//! `+i` (backward) FFT.
pub mod cpu;
pub mod gpu;

use num_complex::Complex;

use crate::kernel::{EsKernel, GridSpec, PolyKernel};
use crate::vis::VisChunk;
use crate::wstack::{WPlaneSel, WScreen};

/// Floating-point type of the grid and FFT (f32 or f64).
pub trait Real:
    rustfft::FftNum
    + num_traits::Float
    + num_traits::FromPrimitive
    + Default
    + bytemuck::Pod
    + std::iter::Sum
    + mpi::traits::Equivalence
    + cudarc::driver::DeviceRepr
    + cudarc::driver::ValidAsZeroBits
    + Send
    + Sync
{
    /// `"float32"` or `"float64"`.
    const NAME: &'static str;
    /// The CUDA C type (`float` or `double`).
    const CUDA_NAME: &'static str;
    /// Whether this is f64.
    const IS_DOUBLE: bool;

    /// Evaluates `N` polynomials at `x` by Horner's rule, `rows[0]` holding the highest-degree
    /// coefficients: explicit SIMD lanes (the `wide` crate) across the `N` polynomials, because
    /// the compiler's auto-vectoriser leaves this recurrence scalar. `N` must be a multiple of 4.
    fn horner<const N: usize>(rows: &[[Self; N]], x: Self) -> [Self; N];
}

impl Real for f32 {
    const NAME: &'static str = "float32";
    const CUDA_NAME: &'static str = "float";
    const IS_DOUBLE: bool = false;

    #[inline(always)]
    fn horner<const N: usize>(rows: &[[f32; N]], x: f32) -> [f32; N] {
        use wide::{f32x4, f32x8};
        let mut out = [0.0f32; N];
        let mut k = 0;
        while k + 8 <= N {
            let xv = f32x8::splat(x);
            let mut acc = f32x8::new(std::array::from_fn(|i| rows[0][k + i]));
            for row in &rows[1..] {
                acc = acc * xv + f32x8::new(std::array::from_fn(|i| row[k + i]));
            }
            out[k..k + 8].copy_from_slice(&acc.to_array());
            k += 8;
        }
        while k + 4 <= N {
            let xv = f32x4::splat(x);
            let mut acc = f32x4::new(std::array::from_fn(|i| rows[0][k + i]));
            for row in &rows[1..] {
                acc = acc * xv + f32x4::new(std::array::from_fn(|i| row[k + i]));
            }
            out[k..k + 4].copy_from_slice(&acc.to_array());
            k += 4;
        }
        out
    }
}

impl Real for f64 {
    const NAME: &'static str = "float64";
    const CUDA_NAME: &'static str = "double";
    const IS_DOUBLE: bool = true;

    #[inline(always)]
    fn horner<const N: usize>(rows: &[[f64; N]], x: f64) -> [f64; N] {
        use wide::f64x4;
        let mut out = [0.0f64; N];
        let mut k = 0;
        while k + 4 <= N {
            let xv = f64x4::splat(x);
            let mut acc = f64x4::new(std::array::from_fn(|i| rows[0][k + i]));
            for row in &rows[1..] {
                acc = acc * xv + f64x4::new(std::array::from_fn(|i| row[k + i]));
            }
            out[k..k + 4].copy_from_slice(&acc.to_array());
            k += 4;
        }
        out
    }
}

/// What to grid: the visibilities (dirty image) or unit visibilities (PSF).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GridMode {
    /// Grid `w · V`.
    Dirty,
    /// Grid `w · 1`.
    Psf,
}

/// Counts of samples seen by a gridder.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GridCounts {
    /// Samples gridded.
    pub used: u64,
    /// Samples flagged in the input.
    pub flagged: u64,
    /// Samples with NaN/Inf visibility, uvw or weight, or weight ≤ 0.
    pub invalid: u64,
    /// Samples beyond the grid: |u|·cell or |v|·cell above 1/2 (finer than the pixel
    /// Nyquist limit).
    pub outside: u64,
    /// Sum of the weights of the used samples.
    pub sum_weights: f64,
}

impl GridCounts {
    /// Adds another set of counts.
    pub fn merge(&mut self, o: &GridCounts) {
        self.used += o.used;
        self.flagged += o.flagged;
        self.invalid += o.invalid;
        self.outside += o.outside;
        self.sum_weights += o.sum_weights;
    }
}

/// Seconds spent turning a grid into an image.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ImageTimings {
    /// 2-D FFT (with crop).
    pub fft_s: f64,
    /// Grid correction and normalisation.
    pub correct_s: f64,
}

/// Geometry shared by all gridders: grid size, pixel size and kernel.
#[derive(Clone, Debug)]
pub struct GridGeometry {
    /// Image width, pixels.
    pub nx: usize,
    /// Image height, pixels.
    pub ny: usize,
    /// Grid size along u, cells.
    pub nu: usize,
    /// Grid size along v, cells.
    pub nv: usize,
    /// Pixel size, radians.
    pub cell_rad: f64,
    /// The kernel.
    pub kernel: EsKernel,
    /// Its piecewise-polynomial form.
    pub poly: PolyKernel,
    /// Tile side, cells.
    pub tile: usize,
}

/// Which samples a gridder uses, and why the others are dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleStatus {
    /// Gridded.
    Used,
    /// Flagged in the input.
    Flagged,
    /// Non-finite value, uvw or weight, or weight ≤ 0.
    Invalid,
    /// Beyond the grid (|u·cell| or |v·cell| ≥ 1/2).
    Outside,
}

impl GridGeometry {
    /// Builds the geometry for `spec`; the polynomial kernel is fitted to a tenth of ε.
    pub fn new(
        nx: usize,
        ny: usize,
        cell_rad: f64,
        spec: &GridSpec,
        epsilon: f64,
        tile: usize,
    ) -> Self {
        Self {
            nx,
            ny,
            nu: spec.nu,
            nv: spec.nv,
            cell_rad,
            kernel: spec.kernel,
            poly: PolyKernel::fit(&spec.kernel, 0.1 * epsilon),
            tile,
        }
    }

    /// Decides whether sample `flat` (row-major `[row, chan]`) of `chunk` at `(u, v)`
    /// (wavelengths) is used. The same rule is applied by the direct Fourier transform.
    #[inline]
    pub fn classify(&self, chunk: &VisChunk, flat: usize, u: f64, v: f64) -> SampleStatus {
        classify_sample(chunk, flat, u, v, self.cell_rad)
    }
}

/// Decides whether sample `flat` of `chunk` at `(u, v)` (wavelengths) is used for an image of
/// pixel size `cell_rad`: flagged, non-finite or non-positive-weight samples are dropped, and
/// so are samples beyond the grid (|u·cell| or |v·cell| ≥ 1/2).
#[inline]
pub fn classify_sample(
    chunk: &VisChunk,
    flat: usize,
    u: f64,
    v: f64,
    cell_rad: f64,
) -> SampleStatus {
    {
        if chunk.is_flagged(flat) {
            return SampleStatus::Flagged;
        }
        let vis = chunk.vis[flat];
        let w = chunk.weight[flat];
        if !(vis.re.is_finite()
            && vis.im.is_finite()
            && w.is_finite()
            && w > 0.0
            && u.is_finite()
            && v.is_finite())
        {
            return SampleStatus::Invalid;
        }
        if (u * cell_rad).abs() >= 0.5 || (v * cell_rad).abs() >= 0.5 {
            return SampleStatus::Outside;
        }
        SampleStatus::Used
    }
}

/// Errors of a gridder (the CPU gridder has none; the GPU one reports CUDA failures).
#[derive(Debug, thiserror::Error)]
pub enum GridError {
    /// The GPU backend failed.
    #[error(transparent)]
    Gpu(#[from] gpu::GpuError),
}

/// One usable sample placed on the grid (see [`place_samples`]).
#[derive(Clone, Copy, Debug)]
pub struct Placed {
    /// Tile index `tv · (nu / tile) + tu`.
    pub tile: u32,
    /// Footprint start relative to the tile origin, cells (`< tile`).
    pub du: usize,
    /// As `du`, along v.
    pub dv: usize,
    /// Fractional offsets in [0, 1): the footprint starts at `ceil(x)` where `x` is the
    /// sample's grid position minus W/2, and `s = ceil(x) − x`.
    pub su: f64,
    /// As `su`, along v.
    pub sv: f64,
    /// Weighted value `w · V` (or `w` for the PSF).
    pub re: f64,
    /// Imaginary part of the weighted value.
    pub im: f64,
}

/// Visits every usable sample of rows `rows` of `chunk` with its place on the grid, and counts
/// the others: the selection rule and grid arithmetic every backend shares. A sample at
/// (u, v) wavelengths sits at `x = u·cell·nu + nu/2 − W/2`, `y = −v·cell·nv + nv/2 − W/2`
/// (cells from the grid corner, minus half the kernel); its footprint starts at
/// `(ceil x, ceil y)`, wrapped once into the grid (|u·cell| < 1/2 keeps it within one period).
#[inline]
pub fn place_samples(
    g: &GridGeometry,
    chunk: &VisChunk,
    freq_hz: &[f64],
    rows: std::ops::Range<usize>,
    mode: GridMode,
    visit: impl FnMut(Placed),
) -> GridCounts {
    place_samples_in_plane(g, chunk, freq_hz, rows, mode, None, visit)
}

/// [`place_samples`] for one w-plane of w-stacking ([`crate::wstack`]): with `plane` set, only
/// samples whose kernel support along w covers the plane are visited, their value multiplied by
/// the plane's factor ([`WPlaneSel::factor`]); every usable sample is still counted, so the
/// counts are those of the whole data whatever the plane. With `plane = None` this is exactly
/// [`place_samples`].
#[inline]
pub fn place_samples_in_plane(
    g: &GridGeometry,
    chunk: &VisChunk,
    freq_hz: &[f64],
    rows: std::ops::Range<usize>,
    mode: GridMode,
    plane: Option<&WPlaneSel>,
    mut visit: impl FnMut(Placed),
) -> GridCounts {
    let nchan = freq_hz.len();
    let ntu = g.nu / g.tile;
    let w = g.kernel.width as f64;
    let mut counts = GridCounts::default();
    let scale: Vec<f64> = freq_hz
        .iter()
        .map(|f| f / crate::constants::SPEED_OF_LIGHT_M_S)
        .collect();
    let (nu_i, nv_i) = (g.nu as i64, g.nv as i64);
    let (cu, cv) = (0.5 * g.nu as f64 - 0.5 * w, 0.5 * g.nv as f64 - 0.5 * w);
    let (ku, kv) = (g.cell_rad * g.nu as f64, -g.cell_rad * g.nv as f64);
    let shift = g.tile.trailing_zeros();
    let mask = g.tile - 1;
    let wrap = |i: i64, n: i64| {
        if i < 0 {
            i + n
        } else if i >= n {
            i - n
        } else {
            i
        }
    };
    for row in rows {
        let [um, vm, wm] = chunk.uvw_m[row];
        for (ch, &s) in scale.iter().enumerate() {
            let flat = row * nchan + ch;
            let (u, v) = (um * s, vm * s);
            match g.classify(chunk, flat, u, v) {
                SampleStatus::Used => {}
                SampleStatus::Flagged => {
                    counts.flagged += 1;
                    continue;
                }
                SampleStatus::Invalid => {
                    counts.invalid += 1;
                    continue;
                }
                SampleStatus::Outside => {
                    counts.outside += 1;
                    continue;
                }
            }
            let wt = chunk.weight[flat] as f64;
            let (re, im) = match mode {
                GridMode::Dirty => (
                    chunk.vis[flat].re as f64 * wt,
                    chunk.vis[flat].im as f64 * wt,
                ),
                GridMode::Psf => (wt, 0.0),
            };
            counts.used += 1;
            counts.sum_weights += wt;
            let (re, im) = match plane {
                None => (re, im),
                Some(sel) => match sel.factor(wm * s) {
                    None => continue,
                    Some((kr, ki)) => (re * kr - im * ki, re * ki + im * kr),
                },
            };
            let x = u * ku + cu;
            let y = v * kv + cv;
            let (iu0, iv0) = (x.ceil(), y.ceil());
            let iu = wrap(iu0 as i64, nu_i) as usize;
            let iv = wrap(iv0 as i64, nv_i) as usize;
            visit(Placed {
                tile: ((iv >> shift) * ntu + (iu >> shift)) as u32,
                du: iu & mask,
                dv: iv & mask,
                su: iu0 - x,
                sv: iv0 - y,
                re,
                im,
            });
        }
    }
    counts
}

/// Runs `f` on blocks of the rows `0..nrow` in parallel (about four blocks per rayon thread,
/// so uneven blocks balance) and returns the results in row order: how both backends turn a
/// chunk into per-block sample records.
pub fn par_row_blocks<R: Send>(
    nrow: usize,
    f: impl Fn(std::ops::Range<usize>) -> R + Sync + Send,
) -> Vec<R> {
    use rayon::prelude::*;
    let nblocks = (4 * rayon::current_num_threads()).min(nrow.max(1));
    (0..nblocks)
        .into_par_iter()
        .map(|b| f(crate::vis::split_range(nrow, nblocks, b)))
        .collect()
}

/// A convolutional gridder: accumulates chunks onto a complex grid `[nv][nu]` (row = v).
pub trait Gridder<T: Real> {
    /// Grids every usable sample of `chunk`, whose channel frequencies are `freq_hz`.
    fn grid_chunk(
        &mut self,
        chunk: &VisChunk,
        freq_hz: &[f64],
        mode: GridMode,
    ) -> Result<GridCounts, GridError>;

    /// The grid in host memory, row-major `[nv][nu]`, cell `(nu/2, nv/2)` the uv origin
    /// (for the MPI reduction). Everything gridded so far is in it; a backend that keeps the
    /// grid elsewhere copies it here, and takes changes made through it into account in
    /// [`Gridder::to_image`].
    fn grid_mut(&mut self) -> Result<&mut [Complex<T>], GridError>;

    /// Zeroes the grid.
    fn clear(&mut self) -> Result<(), GridError>;

    /// FFT, grid correction and crop: returns the `ny × nx` image (row 0 south, column 0
    /// east) scaled by `scale`, and the seconds spent in the FFT and in the correction.
    fn to_image(&mut self, scale: f64) -> Result<(Vec<f64>, ImageTimings), GridError>;

    /// The geometry in use.
    fn geometry(&self) -> &GridGeometry;

    /// Name of the backend, for the output metadata.
    fn backend_name(&self) -> &'static str;

    /// w-stacking ([`crate::wstack`]): makes the following [`Gridder::grid_chunk`] calls grid
    /// only w-plane `plane` (each sample weighted by its w-kernel factor), or every sample as
    /// in 2-D imaging with `None` (the default state).
    fn set_w_plane(&mut self, plane: Option<WPlaneSel>);

    /// w-stacking: transforms the grid (one w-plane, everything gridded so far), crops it,
    /// multiplies each pixel by the phase screen `exp(−2πi w_p (n − 1 + nshift))` and adds the
    /// real part into the backend's plane sum (kept where the backend computes). The grid is
    /// left undefined: [`Gridder::clear`] it before gridding the next plane. Returns the
    /// seconds spent in the FFT and in the screen.
    fn add_w_plane(&mut self, screen: &WScreen) -> Result<ImageTimings, GridError>;

    /// w-stacking: returns the plane sum `[ny][nx]` (uncorrected, unscaled) and zeroes it.
    fn take_w_sum(&mut self) -> Result<Vec<f64>, GridError>;

    /// Per-stage device times (GPU backends), measured with device events.
    fn device_stage_times(&self) -> Option<gpu::GpuStageTimes> {
        None
    }

    /// Device memory in use on the backend's accelerator, bytes (GPU backends); `None` for
    /// host-memory backends (their memory is in the process's resident set).
    fn device_memory_bytes(&self) -> Option<u64> {
        None
    }
}
