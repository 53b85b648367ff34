//! The slab reduction and distributed FFT: every rank owns a contiguous slab of grid rows (v),
//! the ranks' grids are summed slab by slab (a reduce-scatter), and the backward 2-D FFT runs
//! on every rank at once, as a slab-decomposed ("pencil" in one dimension) transform:
//!
//! 1. each rank sums its slab of the occupied band of rows over all ranks
//!    ([`Dist::reduce_scatter_sum`], `MPI_Reduce_scatter`): the band (the rows some rank wrote)
//!    is split into one slab per rank of equal row counts, so the row FFTs are balanced; a
//!    rank may own no row;
//! 2. row FFTs along u (complex) on the owned rows, keeping only the `nx` columns the image
//!    keeps (the pruned transform of [`crate::fft`]);
//! 3. a transpose ([`Dist::all_to_all`], `MPI_Alltoallv`) of those kept columns, so each rank
//!    owns a block of `nx / ranks` columns over the whole band;
//! 4. column FFTs along v on the owned columns, keeping `ny` rows; the real part, the centring
//!    sign `(−1)^(px+py)`, the grid correction `corr_x[x] corr_y[y]` and the scale are applied
//!    where the data are;
//! 5. the `ny × nx` float64 image (far smaller than the grid) is gathered to rank 0
//!    ([`Dist::gather_v`], `MPI_Gatherv`).
//!
//! All rayon threads of every rank take part in steps 2 and 4. This is the decomposition of
//! the RICK 2.0 gridder (each rank a strip of grid rows, then HeFFTe's distributed FFT;
//! De Rubeis et al. 2024) and of FFTW's MPI transforms (Frigo & Johnson 2005), with the
//! pruning of the image crop added on both axes.
use std::ops::Range;
use std::time::Instant;

use num_complex::Complex;
use rayon::prelude::*;
use rustfft::FftPlanner;

use super::{Dist, Reducible};
use crate::fft::kept_indices;
use crate::real::Real;
use crate::vis::split_range;

/// Columns gathered per block for the column FFTs.
const COLUMN_BLOCK: usize = 16;

/// Who owns what: the occupied band of grid rows, each rank's rows of it and each rank's
/// columns of the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlabLayout {
    /// Rows some rank wrote (outside them the grid is zero on every rank).
    pub band: Range<usize>,
    /// Rank `q`'s slab of grid rows, a part of `band` (possibly empty).
    pub rows: Vec<Range<usize>>,
    /// Rank `q`'s image columns after the transpose (possibly empty).
    pub cols: Vec<Range<usize>>,
}

impl SlabLayout {
    /// Splits `band` and the `nx` image columns into `ranks` contiguous parts whose sizes
    /// differ by at most one (larger parts first).
    pub fn new(band: Range<usize>, nx: usize, ranks: usize) -> Self {
        let n = band.len();
        let rows = (0..ranks)
            .map(|q| {
                let r = split_range(n, ranks, q);
                band.start + r.start..band.start + r.end
            })
            .collect();
        let cols = (0..ranks).map(|q| split_range(nx, ranks, q)).collect();
        Self { band, rows, cols }
    }

    /// Splits `band` into `ranks` contiguous slabs (in rank order, possibly empty) that
    /// minimise the largest `cost(slab)`, and the `nx` columns as [`Self::new`] does.
    /// `cost(a..b)` must not decrease when the slab grows at either end, and `cost(a..a)`
    /// must be 0. This is chains-on-chains partitioning (Pinar & Aykanat 2004), solved by
    /// bisection on the bottleneck cost `M`: a greedy sweep that makes each slab as long as
    /// `cost ≤ M` allows (a binary search per slab) tells whether `ranks` slabs suffice. The row FFTs and the transpose give the same bits whatever the
    /// slab boundaries (every row and column is transformed whole), so this changes who does
    /// the work, never the image.
    pub fn balanced(
        band: Range<usize>,
        nx: usize,
        ranks: usize,
        cost: impl Fn(Range<usize>) -> f64,
    ) -> Self {
        let ranks = ranks.max(1);
        let sweep = |m: f64| -> Vec<Range<usize>> {
            let mut a = band.start;
            (0..ranks)
                .map(|_| {
                    // The largest b in a..=band.end with cost(a..b) ≤ m.
                    let (mut lo, mut hi) = (a, band.end);
                    while lo < hi {
                        let mid = lo + (hi - lo).div_ceil(2);
                        if cost(a..mid) <= m {
                            lo = mid;
                        } else {
                            hi = mid - 1;
                        }
                    }
                    let r = a..lo;
                    a = lo;
                    r
                })
                .collect()
        };
        let fits = |rows: &[Range<usize>]| rows.last().is_none_or(|r| r.end == band.end);
        let (mut lo, mut hi) = (0.0f64, cost(band.clone()).max(0.0));
        for _ in 0..64 {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                break;
            }
            if fits(&sweep(mid)) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        let rows = sweep(hi);
        if !fits(&rows) {
            // Non-monotone costs: fall back to equal row counts.
            return Self::new(band, nx, ranks);
        }
        let cols = (0..ranks).map(|q| split_range(nx, ranks, q)).collect();
        Self { band, rows, cols }
    }
}

/// The transform: grid and image sizes, grid correction and scale.
#[derive(Clone, Copy, Debug)]
pub struct SlabTransform<'a> {
    /// Grid width (cells per row, u).
    pub nu: usize,
    /// Grid height (rows, v).
    pub nv: usize,
    /// Image width.
    pub nx: usize,
    /// Image height.
    pub ny: usize,
    /// Grid correction along x (`nx` values).
    pub corr_x: &'a [f64],
    /// Grid correction along y (`ny` values).
    pub corr_y: &'a [f64],
    /// Normalisation (1 / the sum of the weights).
    pub scale: f64,
}

/// Seconds spent in each step on this rank.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SlabTimes {
    /// The reduce-scatter of the band.
    pub reduce_s: f64,
    /// Row and column FFTs, with the packing, crop and sign around them.
    pub fft_s: f64,
    /// Grid correction and scale, with the reordering of this rank's columns into rows
    /// (and, on rank 0, placing the gathered blocks into the image).
    pub correct_s: f64,
    /// The transpose (all-to-all) and the gather of the image.
    pub transpose_s: f64,
}

/// Sums the grids `grid` (this rank's, row-major `[nv][nu]`, cell `(nu/2, nv/2)` the origin;
/// not modified) over the ranks of `dist` slab by slab and transforms them with the slab
/// FFT; returns the `ny × nx` image (`image[y][x] = Re Ĝ[py][px] (−1)^(px+py) corr_x[x]
/// corr_y[y] scale`, as [`crate::fft::Fft2d::grid_to_image`] and [`crate::fft::correct`]) on
/// rank 0, `None` elsewhere. `layout.band` must be the same on every rank and cover every
/// row that is non-zero on any rank.
pub fn slab_image<T: Real + Reducible>(
    dist: &Dist,
    grid: &[Complex<T>],
    layout: &SlabLayout,
    tr: &SlabTransform,
) -> (Option<Vec<f64>>, SlabTimes) {
    let (nu, nv) = (tr.nu, tr.nv);
    assert_eq!(grid.len(), nu * nv, "grid size");
    assert!(layout.band.end <= nv, "band within the grid");
    let me = dist.rank();
    let mut times = SlabTimes::default();

    // 1. Reduce-scatter of the band: rank q gets the sum of its rows.
    let t = Instant::now();
    let mine = layout.rows[me].clone();
    let mut slab = crate::resources::huge_vec(mine.len() * nu, Complex::<T>::default());
    let counts: Vec<usize> = layout.rows.iter().map(|r| 2 * r.len() * nu).collect();
    let band = &grid[layout.band.start * nu..layout.band.end * nu];
    dist.reduce_scatter_sum(
        bytemuck::cast_slice::<_, T>(band),
        &counts,
        bytemuck::cast_slice_mut::<_, T>(&mut slab),
    );
    times.reduce_s = t.elapsed().as_secs_f64();
    let (image, t2) = transform_slab(dist, slab, layout, tr);
    times.fft_s = t2.fft_s;
    times.correct_s = t2.correct_s;
    times.transpose_s = t2.transpose_s;
    (image, times)
}

/// Steps 2–5 of [`slab_image`] from this rank's summed slab (`layout.rows[rank]`, row-major,
/// `nu` cells per row; consumed): the row FFTs, the transpose, the column FFTs with crop,
/// sign, correction and scale, and the gather of the image to rank 0 (`None` elsewhere).
///
/// Every row and every column is transformed by the same code on the same values whatever
/// rank holds it, and the crop, sign and correction are per pixel, so the image's bits depend
/// only on the summed grid, not on the number of ranks or threads (the reproducible mode
/// relies on this, with one rank too).
pub fn transform_slab<T: Real + Reducible>(
    dist: &Dist,
    mut slab: Vec<Complex<T>>,
    layout: &SlabLayout,
    tr: &SlabTransform,
) -> (Option<Vec<f64>>, SlabTimes) {
    let (nu, nv, nx, ny) = (tr.nu, tr.nv, tr.nx, tr.ny);
    assert!(layout.band.end <= nv, "band within the grid");
    let me = dist.rank();
    let mine = layout.rows[me].clone();
    assert_eq!(slab.len(), mine.len() * nu, "slab size");
    let mut times = SlabTimes::default();

    // 2. Row FFTs on the slab, keeping the nx image columns.
    let t = Instant::now();
    let mut planner = FftPlanner::<T>::new();
    let row_fft = planner.plan_fft_inverse(nu);
    let col_fft = planner.plan_fft_inverse(nv);
    let ucol = kept_indices(nx, nu);
    let mut kept = vec![Complex::<T>::default(); mine.len() * nx];
    let row_scratch = row_fft.get_inplace_scratch_len();
    kept.par_chunks_mut(nx.max(1))
        .zip(slab.par_chunks_mut(nu.max(1)))
        .for_each_init(
            || vec![Complex::<T>::default(); row_scratch],
            |scratch, (out, row)| {
                if row.iter().any(|c| c.re != T::zero() || c.im != T::zero()) {
                    row_fft.process_with_scratch(row, scratch);
                    for (o, &u) in out.iter_mut().zip(&ucol) {
                        *o = row[u];
                    }
                }
            },
        );
    drop(slab);
    // Pack for the transpose: rank q's columns of every owned row, [q][row][c].
    let nrow = mine.len();
    let mut send = vec![Complex::<T>::default(); nrow * nx];
    for cols in &layout.cols {
        let w = cols.len();
        if w == 0 || nrow == 0 {
            continue;
        }
        send[nrow * cols.start..nrow * cols.end]
            .par_chunks_mut(w)
            .zip(kept.par_chunks(nx))
            .for_each(|(dst, src)| dst.copy_from_slice(&src[cols.clone()]));
    }
    drop(kept);
    times.fft_s += t.elapsed().as_secs_f64();

    // 3. Transpose: this rank receives its columns of every band row, [v − band.start][c].
    let t = Instant::now();
    let my_cols = layout.cols[me].clone();
    let ncol = my_cols.len();
    let send_counts: Vec<usize> = layout.cols.iter().map(|c| 2 * nrow * c.len()).collect();
    let recv_counts: Vec<usize> = layout.rows.iter().map(|r| 2 * r.len() * ncol).collect();
    let mut recv = vec![Complex::<T>::default(); layout.band.len() * ncol];
    dist.all_to_all(
        bytemuck::cast_slice::<_, T>(&send),
        &send_counts,
        bytemuck::cast_slice_mut::<_, T>(&mut recv),
        &recv_counts,
    );
    drop(send);
    times.transpose_s += t.elapsed().as_secs_f64();

    // 4. Column FFTs on the owned columns; crop, real part, sign, correction and scale.
    let t = Instant::now();
    let vrow = kept_indices(ny, nv);
    let col_scratch = col_fft.get_inplace_scratch_len();
    let local: Vec<usize> = (0..ncol).collect();
    let blocks: Vec<Vec<f64>> = local
        .par_chunks(COLUMN_BLOCK)
        .map_init(
            || {
                (
                    vec![Complex::<T>::default(); COLUMN_BLOCK * nv],
                    vec![Complex::<T>::default(); col_scratch],
                )
            },
            |(buf, scratch), cs| {
                let b = cs.len();
                buf[..b * nv].fill(Complex::default());
                for (i, v) in layout.band.clone().enumerate() {
                    let row = &recv[i * ncol..(i + 1) * ncol];
                    for (k, &c) in cs.iter().enumerate() {
                        buf[k * nv + v] = row[c];
                    }
                }
                // out[k][y]: column-major, ny values per column.
                let mut out = vec![0.0f64; b * ny];
                for (k, &c) in cs.iter().enumerate() {
                    let col = &mut buf[k * nv..(k + 1) * nv];
                    col_fft.process_with_scratch(col, scratch);
                    let x = my_cols.start + c;
                    // (−1)^(px+py) with px = x − nx/2, py = y − ny/2 (nx, ny even).
                    let mut sign = if (x + nx / 2 + ny / 2) % 2 == 0 {
                        1.0
                    } else {
                        -1.0
                    };
                    for (y, &v) in vrow.iter().enumerate() {
                        out[k * ny + y] = col[v].re.to_f64().unwrap_or(f64::NAN) * sign;
                        sign = -sign;
                    }
                }
                out
            },
        )
        .collect();
    drop(recv);
    times.fft_s += t.elapsed().as_secs_f64();
    // This rank's block of the image, row-major [y][c] (so that rank 0 copies whole rows),
    // corrected and scaled: corr_x[x] corr_y[y] scale.
    let t = Instant::now();
    let cx: Vec<f64> = tr.corr_x[my_cols.clone()]
        .iter()
        .map(|c| c * tr.scale)
        .collect();
    let mut block = vec![0.0f64; ny * ncol];
    block
        .par_chunks_mut(ncol.max(1))
        .enumerate()
        .for_each(|(y, row)| {
            let mut c = 0;
            for out in &blocks {
                let b = out.len() / ny.max(1);
                for k in 0..b {
                    row[c + k] = out[k * ny + y] * cx[c + k] * tr.corr_y[y];
                }
                c += b;
            }
        });
    drop(blocks);
    times.correct_s += t.elapsed().as_secs_f64();

    // 5. Gather the blocks to rank 0 ([q][y][c]) and place each block's rows.
    let t = Instant::now();
    let counts: Vec<usize> = layout.cols.iter().map(|c| ny * c.len()).collect();
    let gathered = dist.gather_v(&block, &counts);
    times.transpose_s += t.elapsed().as_secs_f64();
    let image = gathered.map(|all| {
        let t = Instant::now();
        let mut image = crate::resources::huge_vec(nx * ny, 0.0f64);
        image
            .par_chunks_mut(nx.max(1))
            .enumerate()
            .for_each(|(y, row)| {
                let mut at = 0;
                for cols in &layout.cols {
                    let w = cols.len();
                    row[cols.clone()].copy_from_slice(&all[at + y * w..at + (y + 1) * w]);
                    at += ny * w;
                }
            });
        times.correct_s += t.elapsed().as_secs_f64();
        image
    });
    (image, times)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fft::{correct, Fft2d};
    use rand::{Rng, SeedableRng};

    #[test]
    fn layout_covers_band_and_columns() {
        let l = SlabLayout::new(3..10, 5, 4);
        assert_eq!(l.rows, vec![3..5, 5..7, 7..9, 9..10]);
        assert_eq!(l.cols, vec![0..2, 2..3, 3..4, 4..5]);
        let l = SlabLayout::new(4..6, 8, 3);
        assert_eq!(l.rows, vec![4..5, 5..6, 6..6], "a rank without rows");
    }

    #[test]
    fn balanced_layout_minimises_the_largest_slab_cost() {
        // Row costs peaked in the middle: 1 per row plus 20 on rows 8 and 9.
        let row = |v: usize| 1.0 + if v == 8 || v == 9 { 20.0 } else { 0.0 };
        let cost = |r: Range<usize>| r.map(row).sum::<f64>();
        let l = SlabLayout::balanced(0..18, 6, 3, cost);
        assert_eq!(l.rows.len(), 3);
        assert_eq!(l.rows[0].start, 0);
        assert_eq!(l.rows[2].end, 18);
        for w in l.rows.windows(2) {
            assert_eq!(w[0].end, w[1].start, "contiguous");
        }
        let worst = l.rows.iter().map(|r| cost(r.clone())).fold(0.0, f64::max);
        // The best split is 0..9 (29), 9..10 (21)... : rows 8 and 9 on different ranks.
        assert!(worst <= 29.0 + 1e-9, "{:?} worst {worst}", l.rows);
        assert_eq!(l.cols, SlabLayout::new(0..18, 6, 3).cols);
        // Uniform costs: equal row counts up to one.
        let u = SlabLayout::balanced(2..14, 8, 4, |r: Range<usize>| r.len() as f64);
        assert_eq!(u.rows, vec![2..5, 5..8, 8..11, 11..14]);
        // More ranks than rows, and an empty band.
        let e = SlabLayout::balanced(0..2, 4, 4, |r: Range<usize>| r.len() as f64);
        assert_eq!(e.rows.iter().map(|r| r.len()).sum::<usize>(), 2);
        let z = SlabLayout::balanced(0..0, 4, 2, |r: Range<usize>| r.len() as f64);
        assert_eq!(z.rows, vec![0..0, 0..0]);
    }

    /// One rank: the slab transform equals the pruned Hermitian transform plus correction.
    #[test]
    fn slab_transform_matches_the_root_transform() {
        let (nu, nv, nx, ny) = (48, 40, 20, 16);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut grid = vec![Complex::<f64>::default(); nu * nv];
        // A band of rows 5..33 with random values; zero elsewhere.
        for c in &mut grid[5 * nu..33 * nu] {
            *c = Complex::new(rng.random::<f64>() - 0.5, rng.random::<f64>() - 0.5);
        }
        let cx: Vec<f64> = (0..nx).map(|i| 1.0 + 0.01 * i as f64).collect();
        let cy: Vec<f64> = (0..ny).map(|i| 1.0 - 0.02 * i as f64).collect();
        let mut want = Fft2d::<f64>::new(nu, nv, nx, ny).grid_to_image(&mut grid.clone());
        correct(&mut want, &cx, &cy, 0.25);
        let tr = SlabTransform {
            nu,
            nv,
            nx,
            ny,
            corr_x: &cx,
            corr_y: &cy,
            scale: 0.25,
        };
        for band in [5..33, 0..nv] {
            let layout = SlabLayout::new(band, nx, 1);
            let (got, _) = slab_image(&Dist::single(), &grid, &layout, &tr);
            let got = got.unwrap();
            let num: f64 = got.iter().zip(&want).map(|(a, b)| (a - b).powi(2)).sum();
            let den: f64 = want.iter().map(|b| b * b).sum();
            assert!((num / den).sqrt() < 1e-12, "{}", (num / den).sqrt());
        }
    }
}
