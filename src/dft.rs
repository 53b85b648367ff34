//! The direct Fourier transform (float64), the reference every imaging path is checked
//! against: `I(l, m) = Σ w Re[V exp(−2πi (u l + v m))] / Σ w` over the samples the gridders use
//! (same selection rule, [`crate::vis::samples`]), at chosen pixels; and with the
//! w-term ([`accumulate_w_term`]), `Σ w Re[V exp(−2πi (u l + v m + w (n − 1)))] / Σ w`,
//! `n = √(1 − l² − m²)`, not divided by n (WSClean's and ducc0's `divide_by_n = False`).
use num_complex::Complex64;
use rayon::prelude::*;

use crate::vis::samples::{for_each_used, GridMode};
use crate::vis::VisChunk;

/// Pixel `(x, y)` of an `nx × ny` image: 0-based, row 0 south, column 0 east.
pub type Pixel = (usize, usize);

/// Image geometry for the DFT: `nx × ny` pixels of `cell_rad` radians, phase centre at
/// pixel `(nx/2, ny/2)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PixelGrid {
    /// Image width, pixels.
    pub nx: usize,
    /// Image height, pixels.
    pub ny: usize,
    /// Pixel size, radians.
    pub cell_rad: f64,
}

/// The samples of `chunk` that gridding uses (the same rule, [`crate::vis::samples`]), as
/// `[u, v, w, wt·Re V, wt·Im V]` (coordinates in wavelengths, `V = 1` for the PSF), and the
/// sum of their weights `wt`.
fn used_samples(
    chunk: &VisChunk,
    freq_hz: &[f64],
    cell_rad: f64,
    mode: GridMode,
) -> (Vec<[f64; 5]>, f64) {
    let mut samples = Vec::new();
    let mut sumw = 0.0;
    for_each_used(chunk, freq_hz, cell_rad, |s| {
        let wt = chunk.weight[s.flat] as f64;
        sumw += wt;
        let (re, im) = match mode {
            GridMode::Dirty => (chunk.vis[s.flat].re as f64, chunk.vis[s.flat].im as f64),
            GridMode::Psf => (1.0, 0.0),
        };
        samples.push([s.u_lambda, s.v_lambda, s.w_lambda, wt * re, wt * im]);
    });
    (samples, sumw)
}

/// Accumulates the un-normalised DFT `Σ w Re[V e^{−2πi(ul+vm)}]` of `chunk` at `pixels` into
/// `sums`, and returns the sum of the used weights.
pub fn accumulate(
    chunk: &VisChunk,
    freq_hz: &[f64],
    grid: PixelGrid,
    pixels: &[Pixel],
    mode: GridMode,
    sums: &mut [f64],
) -> f64 {
    let PixelGrid { nx, ny, cell_rad } = grid;
    let (samples, sumw) = used_samples(chunk, freq_hz, cell_rad, mode);
    // Pixels in runs of consecutive x on one row: one sin_cos per run and sample, then a
    // complex rotation per pixel (the phase steps by 2π u·cell per pixel along x).
    let mut runs: Vec<(usize, usize, usize)> = Vec::new(); // (first pixel index, x0, y)
    let mut run_len: Vec<usize> = Vec::new();
    for (i, &(x, y)) in pixels.iter().enumerate() {
        match (runs.last(), run_len.last_mut()) {
            (Some(&(_, x0, y0)), Some(len)) if y0 == y && x == x0 + *len => *len += 1,
            _ => {
                runs.push((i, x, y));
                run_len.push(1);
            }
        }
    }
    let two_pi = 2.0 * std::f64::consts::PI;
    let add = samples
        .par_chunks(1024)
        .fold(
            || vec![0.0; pixels.len()],
            |mut acc, block| {
                for &[u, v, _, re, im] in block {
                    let step = Complex64::from_polar(1.0, two_pi * u * cell_rad);
                    let ystep = Complex64::from_polar(1.0, -two_pi * v * cell_rad);
                    // Start phasor of the previous run, reused when this run sits directly
                    // above it (the rows of a rectangular patch): one rotation, no sin_cos.
                    let mut prev: Option<(usize, usize, usize, Complex64)> = None;
                    for (&(first, x0, y), &len) in runs.iter().zip(&run_len) {
                        let e0 = match prev {
                            Some((px0, py, plen, pe))
                                if px0 == x0 && plen == len && py + 1 == y =>
                            {
                                pe * ystep
                            }
                            _ => {
                                let l = -(x0 as f64 - (nx / 2) as f64) * cell_rad;
                                let m = (y as f64 - (ny / 2) as f64) * cell_rad;
                                Complex64::from_polar(1.0, -two_pi * (u * l + v * m))
                            }
                        };
                        prev = Some((x0, y, len, e0));
                        let mut e = e0;
                        for a in &mut acc[first..first + len] {
                            *a += re * e.re - im * e.im;
                            e *= step;
                        }
                    }
                }
                acc
            },
        )
        .reduce(
            || vec![0.0; pixels.len()],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            },
        );
    for (a, b) in sums.iter_mut().zip(add) {
        *a += b;
    }
    sumw
}

/// Accumulates the un-normalised DFT with the w-term,
/// `Σ w Re[V e^{−2πi(ul + vm + w(n − 1))}]`, of `chunk` at `pixels` into `sums`, and returns the
/// sum of the used weights (the reference for w-stacked images, [`crate::wstack`]). One
/// `sin_cos` per sample and pixel: slower than [`accumulate`].
pub fn accumulate_w_term(
    chunk: &VisChunk,
    freq_hz: &[f64],
    grid: PixelGrid,
    pixels: &[Pixel],
    mode: GridMode,
    sums: &mut [f64],
) -> f64 {
    let PixelGrid { nx, ny, cell_rad } = grid;
    let (samples, sumw) = used_samples(chunk, freq_hz, cell_rad, mode);
    // (l, m, n − 1) per pixel.
    let lmn: Vec<[f64; 3]> = pixels
        .iter()
        .map(|&(x, y)| {
            let l = -(x as f64 - (nx / 2) as f64) * cell_rad;
            let m = (y as f64 - (ny / 2) as f64) * cell_rad;
            [l, m, crate::wstack::n_minus_1(l * l + m * m)]
        })
        .collect();
    let two_pi = 2.0 * std::f64::consts::PI;
    let add: Vec<f64> = lmn
        .par_iter()
        .map(|&[l, m, n1]| {
            samples
                .iter()
                .map(|&[u, v, w, re, im]| {
                    let (s, c) = (-two_pi * (u * l + v * m + w * n1)).sin_cos();
                    re * c - im * s
                })
                .sum::<f64>()
        })
        .collect();
    for (a, b) in sums.iter_mut().zip(add) {
        *a += b;
    }
    sumw
}

/// Relative L2 error `‖a − b‖ / ‖b‖`.
pub fn relative_l2(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den).sqrt()
}

/// Relative maximum error `max |a − b| / max |b|`.
pub fn relative_max(a: &[f64], b: &[f64]) -> f64 {
    let num = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    let den = b.iter().map(|y| y.abs()).fold(0.0, f64::max);
    num / den
}
