//! 2-D backward FFT of the uv grid to the image plane with rustfft, planned once and run with
//! rayon: rows (along u) in parallel, then columns (along v) in blocks gathered into contiguous
//! scratch, for only the `nx` columns the cropped image keeps (a "pruned" second pass, as
//! ducc0's wgridder does). The centring sign `(−1)^(px+py)` and the crop are fused into the
//! column pass, so the full-size transformed grid is never written back; grid correction is
//! a separate, cheap pass over the image ([`correct`]).
use std::sync::Arc;

use num_complex::Complex;
use rayon::prelude::*;
use rustfft::{Fft, FftPlanner};

use crate::real::Real;

/// Columns gathered per block in the second pass.
const COLUMN_BLOCK: usize = 16;

/// A planned `nv × nu` backward 2-D transform producing an `ny × nx` image.
pub struct Fft2d<T: Real> {
    nu: usize,
    nv: usize,
    nx: usize,
    ny: usize,
    row: Arc<dyn Fft<T>>,
    col: Arc<dyn Fft<T>>,
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
        }
    }

    /// Transforms `grid` (row-major `[nv][nu]`, cell `(nu/2, nv/2)` the origin; destroyed) and
    /// returns the cropped image `[ny][nx]`: `image[y][x] = Re(Ĝ[py][px]) (−1)^(px+py)` with
    /// `px = x − nx/2`, `py = y − ny/2`, indices of `Ĝ` taken modulo the grid size.
    pub fn grid_to_image(&self, grid: &mut [Complex<T>]) -> Vec<f64> {
        self.transform_crop(grid, |c, sign| c.re.to_f64().unwrap_or(f64::NAN) * sign)
    }

    /// As [`Fft2d::grid_to_image`] but keeping the complex value:
    /// `image[y][x] = Ĝ[py][px] (−1)^(px+py)` (w-stacking applies a phase screen to it).
    pub fn grid_to_complex_image(&self, grid: &mut [Complex<T>]) -> Vec<Complex<f64>> {
        self.transform_crop(grid, |c, sign| {
            Complex::new(
                c.re.to_f64().unwrap_or(f64::NAN) * sign,
                c.im.to_f64().unwrap_or(f64::NAN) * sign,
            )
        })
    }

    /// The transform and crop, each kept value `Ĝ[py][px]` turned into an output pixel by
    /// `emit(Ĝ[py][px], (−1)^(px+py))`.
    fn transform_crop<O: Copy + Default + Send>(
        &self,
        grid: &mut [Complex<T>],
        emit: impl Fn(Complex<T>, f64) -> O + Sync,
    ) -> Vec<O> {
        let (nu, nv, nx, ny) = (self.nu, self.nv, self.nx, self.ny);
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
        // Pass 2: the kept columns px ∈ [−nx/2, nx/2), in blocks. Grid indices of the kept
        // columns and rows, and the centring sign, are tabulated once (no division per cell).
        let ucol: Vec<usize> = (0..nx)
            .map(|x| wrap(x as isize - (nx / 2) as isize, nu))
            .collect();
        let vrow: Vec<usize> = (0..ny)
            .map(|y| wrap(y as isize - (ny / 2) as isize, nv))
            .collect();
        let columns: Vec<usize> = (0..nx).collect();
        let col_scratch = self.col.get_inplace_scratch_len();
        let grid_ro: &[Complex<T>] = grid;
        let blocks: Vec<(usize, Vec<O>)> = columns
            .par_chunks(COLUMN_BLOCK)
            .map_init(
                || {
                    (
                        vec![Complex::<T>::default(); COLUMN_BLOCK * nv],
                        vec![Complex::<T>::default(); col_scratch],
                    )
                },
                |(buf, scratch), xs| {
                    let b = xs.len();
                    let cols: Vec<usize> = xs.iter().map(|&x| ucol[x]).collect();
                    // Gather: buf[c][v] = grid[v][col(x_c)].
                    for v in 0..nv {
                        let row = &grid_ro[v * nu..(v + 1) * nu];
                        for (c, &u) in cols.iter().enumerate() {
                            buf[c * nv + v] = row[u];
                        }
                    }
                    let mut out = vec![O::default(); b * ny];
                    for (c, &x) in xs.iter().enumerate() {
                        let col = &mut buf[c * nv..(c + 1) * nv];
                        self.col.process_with_scratch(col, scratch);
                        // (−1)^(px+py) with px = x − nx/2, py = y − ny/2 (nx, ny even).
                        let mut sign = if (x + ny / 2 + nx / 2) % 2 == 0 {
                            1.0
                        } else {
                            -1.0
                        };
                        for (o, &v) in out[c * ny..(c + 1) * ny].iter_mut().zip(&vrow) {
                            *o = emit(col[v], sign);
                            sign = -sign;
                        }
                    }
                    (xs[0], out)
                },
            )
            .collect();
        let mut image = crate::resources::huge_vec(nx * ny, O::default());
        for (x0, out) in blocks {
            let b = out.len() / ny;
            for y in 0..ny {
                for c in 0..b {
                    image[y * nx + x0 + c] = out[c * ny + y];
                }
            }
        }
        image
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
    fn naive(grid: &[Complex<f64>], nu: usize, nv: usize, nx: usize, ny: usize) -> Vec<f64> {
        let mut out = vec![0.0; nx * ny];
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
                out[y * nx + x] = s.re;
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
        let want = naive(&grid, nu, nv, nx, ny);
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
    }
}
