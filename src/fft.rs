//! 2-D backward FFT of the uv grid to the image plane with rustfft, planned once and run with
//! rayon. Grid correction is a separate, cheap pass over the image ([`correct`]).
//!
//! * The real image ([`Fft2d::grid_to_image`]) is the transform of the grid's Hermitian part
//!   `H[v][u] = (G[v][u] + conj G[−v][−u]) / 2`, whose transform is real and equals
//!   `Re F(G)`: columns `u = 0 ..= nu/2` along v (complex), then a complex-to-real transform
//!   along u (the `realfft` crate) for each kept row. About half the work of a complex
//!   transform, as ducc0's wgridder gets from its Hartley transform.
//! * The screened plane of w-stacking ([`Fft2d::add_screened`]) transforms every non-zero
//!   row along u, then only the `nx` columns the cropped image keeps along v (a "pruned"
//!   second pass), and adds the real part of each kept value times the phase screen straight
//!   into the running sum: no complex image is written.
//!
//! Column passes work on blocks of [`COLUMN_BLOCK`] columns: the block is gathered from the
//! row-major grid into contiguous scratch (a partial transpose, with the rows a few ahead
//! prefetched in software, since a short run from each of many rows a grid width apart is
//! what the hardware prefetchers miss), transformed there by rustfft, and its kept values
//! written out row by row, each block to its own columns (in place in the grid for the real
//! image; so no transposed copy of the spectrum is made). The centring sign `(−1)^(px+py)` and
//! the crop are fused into the last pass, so the full-size transformed grid is never written
//! back.
use std::sync::Arc;

use num_complex::Complex;
use rayon::prelude::*;
use realfft::{ComplexToReal, RealFftPlanner};
use rustfft::{Fft, FftPlanner};

use crate::real::Real;

/// Columns gathered per block in the second pass.
const COLUMN_BLOCK: usize = 16;

/// The stride, in values, between the gathered columns of a block: the column length plus a
/// pad, so that the block's columns do not map onto the same cache sets (with a stride of a
/// multiple of 2 KiB the sixteen write streams of the gather share a few L1 sets and evict
/// each other; seen as a tenfold slower gather at 1280-cell columns).
fn column_stride(nv: usize) -> usize {
    nv + 8
}

/// A planned `nv × nu` backward 2-D transform producing an `ny × nx` image.
pub struct Fft2d<T: Real> {
    nu: usize,
    nv: usize,
    nx: usize,
    ny: usize,
    row: Arc<dyn Fft<T>>,
    col: Arc<dyn Fft<T>>,
    row_c2r: Arc<dyn ComplexToReal<T>>,
}

impl<T: Real> Fft2d<T> {
    /// Plans the transforms (rustfft picks AVX/SSE/NEON code paths at run time).
    pub fn new(nu: usize, nv: usize, nx: usize, ny: usize) -> Self {
        let mut planner = FftPlanner::<T>::new();
        Self {
            nu,
            nv,
            nx,
            ny,
            row: planner.plan_fft_inverse(nu),
            col: planner.plan_fft_inverse(nv),
            row_c2r: RealFftPlanner::<T>::new().plan_fft_inverse(nu),
        }
    }

    /// Transforms `grid` (row-major `[nv][nu]`, cell `(nu/2, nv/2)` the origin; destroyed) and
    /// returns the cropped image `[ny][nx]`: `image[y][x] = Re(Ĝ[py][px]) (−1)^(px+py)` with
    /// `px = x − nx/2`, `py = y − ny/2`, indices of `Ĝ` taken modulo the grid size.
    ///
    /// Pass 1 works on blocks of [`COLUMN_BLOCK`] columns `u ≤ nu/2`: it gathers the block's
    /// Hermitian part into contiguous scratch (no division per cell), transforms it, and writes
    /// the `ny` kept rows back into the grid's own rows `0..ny`, in the block's own columns: a
    /// block reads only its columns and their mirrors `(nu − u) mod nu`, which are either its
    /// own (`u = 0`, `nu/2`) or above `nu/2` and written by nobody, so the blocks run in
    /// parallel and no transposed copy of the half spectrum is made. Pass 2 is the
    /// complex-to-real transform of each of those rows, cropped and signed into the image.
    pub fn grid_to_image(&self, grid: &mut [Complex<T>]) -> Vec<f64> {
        let (nu, nv, nx, ny) = (self.nu, self.nv, self.nx, self.ny);
        assert_eq!(grid.len(), nu * nv, "grid size");
        assert!(nu % 2 == 0, "grid width {nu} must be even");
        assert!(
            ny <= nv && nx <= nu,
            "image {nx}x{ny} larger than grid {nu}x{nv}"
        );
        let nh = nu / 2 + 1;
        // Pass 1: columns u = 0..=nu/2 of the Hermitian part along v; rows py of the image.
        let vrow = kept_indices(ny, nv);
        let columns: Vec<usize> = (0..nh).collect();
        let col_scratch = self.col.get_inplace_scratch_len();
        let half = T::from_f64(0.5).unwrap_or_default();
        let g = SharedGrid(grid.as_mut_ptr());
        columns.par_chunks(COLUMN_BLOCK).for_each_init(
            || {
                (
                    vec![Complex::<T>::default(); COLUMN_BLOCK * column_stride(nv)],
                    vec![Complex::<T>::default(); col_scratch],
                )
            },
            |(buf, scratch), us| {
                let st = column_stride(nv);
                let (u0, b) = (us[0], us.len());
                let mut mcol = [0usize; COLUMN_BLOCK];
                for (m, &u) in mcol.iter_mut().zip(us) {
                    *m = if u == 0 { 0 } else { nu - u };
                }
                let mut nonzero = [false; COLUMN_BLOCK];
                // Gather: buf[c][v] = (G[v][u] + conj G[−v][−u]) / 2.
                for v in 0..nv {
                    let vm = if v == 0 { 0 } else { nv - v };
                    if v + PREFETCH_ROWS < nv {
                        let vp = v + PREFETCH_ROWS;
                        // Mirror columns of the block: nu − u0 − b + 1 ..= nu − u0.
                        prefetch(g.0.wrapping_add(vp * nu + u0), b);
                        prefetch(g.0.wrapping_add((nv - vp) * nu + nu + 1 - u0 - b), b);
                    }
                    for c in 0..b {
                        // SAFETY: v, vm < nv and u0 + c, mcol[c] < nu: in bounds. Column
                        // u0 + c is this block's own, mcol[c] its mirror, which no block
                        // writes (see the method's docs), so nothing writes these cells now.
                        let (x, y) = unsafe { (g.get(v * nu + u0 + c), g.get(vm * nu + mcol[c])) };
                        let h = (x + y.conj()) * half;
                        nonzero[c] |= h.re != T::zero() || h.im != T::zero();
                        buf[c * st + v] = h;
                    }
                }
                for c in 0..b {
                    if nonzero[c] {
                        self.col
                            .process_with_scratch(&mut buf[c * st..c * st + nv], scratch);
                    }
                }
                // Kept rows back into grid rows 0..ny, this block's columns.
                for (y, &v) in vrow.iter().enumerate() {
                    for c in 0..b {
                        let h = if nonzero[c] {
                            buf[c * st + v]
                        } else {
                            Complex::default()
                        };
                        // SAFETY: y < ny ≤ nv and u0 + c < nh ≤ nu: in bounds; this block's
                        // own column, which it alone reads or writes, and its gather is done.
                        unsafe { g.set(y * nu + u0 + c, h) };
                    }
                }
            },
        );
        // Pass 2: each kept row along u, complex to real; columns px of the image.
        let ucol = kept_indices(nx, nu);
        let mut image = crate::resources::zeroed_huge_vec::<f64>(nx * ny);
        let c2r_scratch = self.row_c2r.get_scratch_len();
        image
            .par_chunks_mut(nx)
            .zip(grid.par_chunks_mut(nu))
            .enumerate()
            .for_each_init(
                || {
                    (
                        self.row_c2r.make_output_vec(),
                        vec![Complex::<T>::default(); c2r_scratch],
                    )
                },
                |(line, scratch), (y, (img, grid_row))| {
                    let half_row = &mut grid_row[..nh];
                    // A Hermitian row's first and last values are real up to rounding.
                    half_row[0].im = T::zero();
                    half_row[nh - 1].im = T::zero();
                    if self
                        .row_c2r
                        .process_with_scratch(half_row, line, scratch)
                        .is_err()
                    {
                        unreachable!("buffers sized by the plan");
                    }
                    // (−1)^(px+py) with px = x − nx/2, py = y − ny/2 (nx, ny even).
                    let mut sign = if (y + nx / 2 + ny / 2) % 2 == 0 {
                        1.0
                    } else {
                        -1.0
                    };
                    for (p, &u) in img.iter_mut().zip(&ucol) {
                        *p = line[u].to_f64().unwrap_or(f64::NAN) * sign;
                        sign = -sign;
                    }
                },
            );
        image
    }

    /// w-stacking's screened plane (Arras et al. 2021), without an intermediate image: adds
    /// `Re[Ĝ[py][px] (−1)^(px+py) · e]` to `sum[y][x]` (`[ny][nx]`), with the phase screen
    /// `e` given on one quadrant, column-major, `quadrant[|px|][|py|]` (`ny/2 + 1` values per
    /// column, `nx/2 + 1` columns, so a column of the transform reads it in order): it
    /// depends on `l² + m²` only, so the four quadrants share it.
    ///
    /// Pass 1 transforms every non-zero row along u in place; pass 2 gathers the kept columns
    /// px ∈ [−nx/2, nx/2) in blocks of [`COLUMN_BLOCK`] into contiguous scratch, transforms
    /// them, and adds each block's pixels straight into its own columns of `sum`, row by row.
    pub fn add_screened(
        &self,
        grid: &mut [Complex<T>],
        quadrant: &[Complex<f64>],
        sum: &mut [f64],
    ) {
        let (nu, nv, nx, ny) = (self.nu, self.nv, self.nx, self.ny);
        let qh = ny / 2 + 1;
        assert_eq!(quadrant.len(), (nx / 2 + 1) * qh, "screen quadrant size");
        assert_eq!(sum.len(), nx * ny, "image size");
        assert_eq!(grid.len(), nu * nv, "grid size");
        // Pass 1: every row along u. Rows that are all zero stay zero and are skipped.
        let row_scratch = self.row.get_inplace_scratch_len();
        grid.par_chunks_mut(nu).for_each_init(
            || vec![Complex::<T>::default(); row_scratch],
            |scratch, row| {
                if row.iter().any(|c| c.re != T::zero() || c.im != T::zero()) {
                    self.row.process_with_scratch(row, scratch);
                }
            },
        );
        // Pass 2: the kept columns, in blocks. Grid indices of the kept columns and rows are
        // tabulated once (no division per cell).
        let ucol = kept_indices(nx, nu);
        let vrow = kept_indices(ny, nv);
        let columns: Vec<usize> = (0..nx).collect();
        let col_scratch = self.col.get_inplace_scratch_len();
        let grid_ro: &[Complex<T>] = grid;
        let out = SharedGrid(sum.as_mut_ptr());
        columns.par_chunks(COLUMN_BLOCK).for_each_init(
            || {
                (
                    vec![Complex::<T>::default(); COLUMN_BLOCK * column_stride(nv)],
                    vec![Complex::<T>::default(); col_scratch],
                )
            },
            |(buf, scratch), xs| {
                let st = column_stride(nv);
                let (x0, b) = (xs[0], xs.len());
                let cols = &ucol[x0..x0 + b];
                // Gather: buf[c][v] = grid[v][col(x_c)].
                for (v, row) in grid_ro.chunks_exact(nu).enumerate() {
                    if v + PREFETCH_ROWS < nv {
                        let ahead = &grid_ro[(v + PREFETCH_ROWS) * nu..][..nu];
                        // The block's columns (two runs where it wraps around the edge).
                        prefetch(ahead[cols[0]..].as_ptr(), b.min(nu - cols[0]));
                        if cols[b - 1] < cols[0] {
                            prefetch(ahead.as_ptr(), cols[b - 1] + 1);
                        }
                    }
                    for (c, &u) in cols.iter().enumerate() {
                        buf[c * st + v] = row[u];
                    }
                }
                for c in 0..b {
                    self.col
                        .process_with_scratch(&mut buf[c * st..c * st + nv], scratch);
                }
                for (y, &v) in vrow.iter().enumerate() {
                    let qy = y.abs_diff(ny / 2);
                    // (−1)^(px+py) with px = x − nx/2, py = y − ny/2 (nx, ny even).
                    let mut sign = if (x0 + y + nx / 2 + ny / 2) % 2 == 0 {
                        1.0
                    } else {
                        -1.0
                    };
                    for c in 0..b {
                        let x = x0 + c;
                        let e = quadrant[x.abs_diff(nx / 2) * qh + qy];
                        let k = buf[c * st + v];
                        let (re, im) = (
                            k.re.to_f64().unwrap_or(f64::NAN),
                            k.im.to_f64().unwrap_or(f64::NAN),
                        );
                        // SAFETY: y < ny and x < nx: in bounds of `sum`; column x belongs to
                        // this block alone, so no other thread touches this pixel.
                        unsafe { out.add(y * nx + x, (re * e.re - im * e.im) * sign) };
                        sign = -sign;
                    }
                }
            },
        );
    }
}

/// Rows ahead of the column gathers that their cells are prefetched: the gathers read a short
/// run from each of many rows a grid width apart, which the hardware prefetchers (within a
/// page) do not foresee; measured on the 2-core development machine, 4–16 rows ahead cut the
/// gather of a 5760² grid about threefold.
const PREFETCH_ROWS: usize = 8;

/// Asks the CPU to bring `n` values from `p` on into L1 (a hint: nothing is read or written
/// architecturally, and an address outside any mapping is ignored).
#[inline(always)]
fn prefetch<C>(p: *const C, n: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = p.cast::<i8>();
        let bytes = n * std::mem::size_of::<C>();
        for off in (0..bytes)
            .step_by(64)
            .chain(std::iter::once(bytes.saturating_sub(1)))
        {
            // SAFETY: prefetching is a hint that never faults or accesses memory
            // architecturally, whatever the address.
            unsafe { _mm_prefetch(p.wrapping_add(off), _MM_HINT_T0) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, n);
}

/// A raw pointer to a buffer whose disjoint columns the blocks of one pass own (see
/// [`Fft2d::grid_to_image`] and [`Fft2d::add_screened`]).
#[derive(Clone, Copy)]
struct SharedGrid<C>(*mut C);
// SAFETY: the blocks of a pass access disjoint cells through this pointer (each its own
// columns, plus mirror columns no block writes), so sharing it across threads is sound.
unsafe impl<C: Send> Send for SharedGrid<C> {}
// SAFETY: as above.
unsafe impl<C: Sync> Sync for SharedGrid<C> {}

impl<C: Copy> SharedGrid<C> {
    /// Reads cell `i`.
    ///
    /// # Safety
    /// `i` in bounds, and no other thread writing cell `i` meanwhile.
    #[inline(always)]
    unsafe fn get(&self, i: usize) -> C {
        // SAFETY: by the caller's contract.
        unsafe { self.0.add(i).read() }
    }

    /// Writes cell `i`.
    ///
    /// # Safety
    /// `i` in bounds, and no other thread accessing cell `i` meanwhile.
    #[inline(always)]
    unsafe fn set(&self, i: usize, x: C) {
        // SAFETY: by the caller's contract.
        unsafe { self.0.add(i).write(x) }
    }
}

impl SharedGrid<f64> {
    /// Adds `x` to cell `i`.
    ///
    /// # Safety
    /// As [`SharedGrid::set`].
    #[inline(always)]
    unsafe fn add(&self, i: usize, x: f64) {
        // SAFETY: by the caller's contract.
        unsafe { *self.0.add(i) += x }
    }
}

/// Grid correction and normalisation in place: `image[y][x] *= corr_x[x] · corr_y[y] · scale`.
pub fn correct(image: &mut [f64], corr_x: &[f64], corr_y: &[f64], scale: f64) {
    let nx = corr_x.len();
    assert_eq!(image.len(), nx * corr_y.len(), "correction sizes");
    image
        .par_chunks_mut(nx)
        .zip(corr_y.par_iter())
        .for_each(|(row, &cy)| {
            for (p, &cx) in row.iter_mut().zip(corr_x) {
                *p *= cx * cy * scale;
            }
        });
}

/// Grid indices of the `k` kept pixels `p − k/2`, `p = 0..k`, of a transform of length `n`.
pub fn kept_indices(k: usize, n: usize) -> Vec<usize> {
    (0..k)
        .map(|p| wrap(p as isize - (k / 2) as isize, n))
        .collect()
}

/// `i mod n` for a possibly negative `i`.
#[inline]
fn wrap(i: isize, n: usize) -> usize {
    i.rem_euclid(n as isize) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Naive 2-D backward DFT of a small grid at the kept pixels, with the same conventions.
    fn naive(
        grid: &[Complex<f64>],
        nu: usize,
        nv: usize,
        nx: usize,
        ny: usize,
    ) -> Vec<Complex<f64>> {
        let mut out = vec![Complex::default(); nx * ny];
        for y in 0..ny {
            for x in 0..nx {
                let px = x as f64 - (nx / 2) as f64;
                let py = y as f64 - (ny / 2) as f64;
                let mut s = Complex::new(0.0, 0.0);
                for v in 0..nv {
                    for u in 0..nu {
                        // Centred indices: cell (nu/2, nv/2) is the origin.
                        let du = u as f64 - (nu / 2) as f64;
                        let dv = v as f64 - (nv / 2) as f64;
                        let ph = 2.0
                            * std::f64::consts::PI
                            * (du * px / nu as f64 + dv * py / nv as f64);
                        s += grid[v * nu + u] * Complex::from_polar(1.0, ph);
                    }
                }
                out[y * nx + x] = s;
            }
        }
        out
    }

    #[test]
    fn pruned_fft_matches_naive_dft() {
        let (nu, nv, nx, ny) = (48, 40, 20, 16);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let grid: Vec<Complex<f64>> = (0..nu * nv)
            .map(|_| Complex::new(rng.random::<f64>() - 0.5, rng.random::<f64>() - 0.5))
            .collect();
        let want_c = naive(&grid, nu, nv, nx, ny);
        let want: Vec<f64> = want_c.iter().map(|c| c.re).collect();
        let fft = Fft2d::<f64>::new(nu, nv, nx, ny);
        let got = fft.grid_to_image(&mut grid.clone());
        let num: f64 = got.iter().zip(&want).map(|(a, b)| (a - b).powi(2)).sum();
        let den: f64 = want.iter().map(|b| b * b).sum();
        assert!((num / den).sqrt() < 1e-12, "{}", (num / den).sqrt());

        let fft32 = Fft2d::<f32>::new(nu, nv, nx, ny);
        let mut g32: Vec<Complex<f32>> = grid
            .iter()
            .map(|c| Complex::new(c.re as f32, c.im as f32))
            .collect();
        let got32 = fft32.grid_to_image(&mut g32);
        let num: f64 = got32.iter().zip(&want).map(|(a, b)| (a - b).powi(2)).sum();
        assert!((num / den).sqrt() < 1e-5, "{}", (num / den).sqrt());

        // The screened (w-stacking) path: Re[Ĝ · e] added to what the sum holds, with a
        // screen given on one quadrant (read by |px|, |py|).
        let qh = ny / 2 + 1;
        let quadrant: Vec<Complex<f64>> = (0..(nx / 2 + 1) * qh)
            .map(|_| Complex::from_polar(1.0, 6.0 * rng.random::<f64>()))
            .collect();
        let mut sum: Vec<f64> = (0..nx * ny).map(|i| i as f64).collect();
        fft.add_screened(&mut grid.clone(), &quadrant, &mut sum);
        let (mut num, mut den) = (0.0, 0.0);
        for y in 0..ny {
            for x in 0..nx {
                let e = quadrant[x.abs_diff(nx / 2) * qh + y.abs_diff(ny / 2)];
                let w = (want_c[y * nx + x] * e).re + (y * nx + x) as f64;
                num += (sum[y * nx + x] - w).powi(2);
                den += w * w;
            }
        }
        assert!((num / den).sqrt() < 1e-12, "{}", (num / den).sqrt());
    }
}
