//! Where each usable sample lands on the grid ([`place_samples_in_plane`]): the grid
//! arithmetic every backend shares over the one selection rule of [`crate::vis::samples`],
//! with the counts of what was used and dropped.
use super::geometry::GridGeometry;
pub use crate::vis::samples::GridMode;
use crate::vis::samples::{for_each_sample, SampleStatus};
use crate::vis::VisChunk;
use crate::wstack::WPlaneSel;

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

    /// The counts as five numbers (for summing over ranks): used, flagged, invalid, outside,
    /// sum of weights.
    pub fn to_array(&self) -> [f64; 5] {
        [
            self.used as f64,
            self.flagged as f64,
            self.invalid as f64,
            self.outside as f64,
            self.sum_weights,
        ]
    }

    /// The counts of [`GridCounts::to_array`]'s five numbers.
    pub fn from_array(v: [f64; 5]) -> Self {
        Self {
            used: v[0] as u64,
            flagged: v[1] as u64,
            invalid: v[2] as u64,
            outside: v[3] as u64,
            sum_weights: v[4],
        }
    }
}

/// One usable sample placed on the grid (see [`place_samples_in_plane`]).
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
    /// The sample's weight `w` (its share of the image's normalisation).
    pub weight: f64,
}

/// Visits every usable sample of rows `rows` of `chunk` with its place on the grid, and counts
/// the others: the selection rule and grid arithmetic every backend shares. A sample at
/// (u, v) wavelengths sits at `x = u·cell·nu + nu/2 − W/2`, `y = −v·cell·nv + nv/2 − W/2`
/// (cells from the grid corner, minus half the kernel); its footprint starts at
/// `(ceil x, ceil y)`, wrapped once into the grid (|u·cell| < 1/2 keeps it within one period).
///
/// For w-stacking ([`crate::wstack`]) with `plane` set, only samples whose kernel support
/// along w covers the plane are visited, their value multiplied by the plane's factor
/// ([`WPlaneSel::factor`]); every usable sample is still counted, so the counts are those of
/// the whole data whatever the plane. `plane = None` visits every usable sample (2-D imaging).
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
    let ntu = g.nu / g.tile;
    let w = g.kernel.width as f64;
    let mut counts = GridCounts::default();
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
    for_each_sample(chunk, freq_hz, g.cell_rad, rows, |smp| {
        match smp.status {
            SampleStatus::Used => {}
            SampleStatus::Flagged => {
                counts.flagged += 1;
                return;
            }
            SampleStatus::Invalid => {
                counts.invalid += 1;
                return;
            }
            SampleStatus::Outside => {
                counts.outside += 1;
                return;
            }
        }
        let flat = smp.flat;
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
            Some(sel) => match sel.factor(smp.w_lambda) {
                None => return,
                Some((kr, ki)) => (re * kr - im * ki, re * ki + im * kr),
            },
        };
        let x = smp.u_lambda * ku + cu;
        let y = smp.v_lambda * kv + cv;
        let (iu0, iv0) = (ceil_i64(x), ceil_i64(y));
        let iu = wrap(iu0, nu_i) as usize;
        let iv = wrap(iv0, nv_i) as usize;
        visit(Placed {
            tile: ((iv >> shift) * ntu + (iu >> shift)) as u32,
            du: iu & mask,
            dv: iv & mask,
            su: iu0 as f64 - x,
            sv: iv0 as f64 - y,
            re,
            im,
            weight: wt,
        });
    });
    counts
}

/// `ceil(x)` for a finite `x` of magnitude below 2⁶³, without the library call `f64::ceil`
/// is on x86-64 CPUs without SSE4.1 code paths (the portable baseline).
#[inline(always)]
fn ceil_i64(x: f64) -> i64 {
    let t = x as i64; // rounds toward zero
    t + i64::from((t as f64) < x)
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
