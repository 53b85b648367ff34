//! The direct Fourier transform (float64), the reference every imaging path is checked
//! against: `I(l, m) = Σ w Re[V exp(−2πi (u l + v m))] / Σ w` over the samples the gridders use
//! (same selection rule, [`crate::grid::classify_sample`]), at chosen pixels.
use rayon::prelude::*;

use crate::constants::SPEED_OF_LIGHT_M_S;
use crate::grid::{classify_sample, GridMode, SampleStatus};
use crate::vis::VisChunk;

/// Pixel `(x, y)` of an `nx × ny` image: 0-based, row 0 south, column 0 east.
pub type Pixel = (usize, usize);

/// Accumulates the un-normalised DFT `Σ w Re[V e^{−2πi(ul+vm)}]` of `chunk` at `pixels` into
/// `sums`, and returns the sum of the used weights.
pub fn accumulate(
    chunk: &VisChunk,
    freq_hz: &[f64],
    nx: usize,
    ny: usize,
    cell_rad: f64,
    pixels: &[Pixel],
    mode: GridMode,
    sums: &mut [f64],
) -> f64 {
    let nchan = freq_hz.len();
    // Used samples as (u, v, w·V) in wavelengths and Jy, f64.
    let mut samples: Vec<(f64, f64, f64, f64)> = Vec::new();
    let mut sumw = 0.0;
    for row in 0..chunk.nrow() {
        let [um, vm, _] = chunk.uvw_m[row];
        for (ch, f) in freq_hz.iter().enumerate() {
            let flat = row * nchan + ch;
            let (u, v) = (um * f / SPEED_OF_LIGHT_M_S, vm * f / SPEED_OF_LIGHT_M_S);
            if classify_sample(chunk, flat, u, v, cell_rad) != SampleStatus::Used {
                continue;
            }
            let w = chunk.weight[flat] as f64;
            sumw += w;
            let (re, im) = match mode {
                GridMode::Dirty => (chunk.vis[flat].re as f64, chunk.vis[flat].im as f64),
                GridMode::Psf => (1.0, 0.0),
            };
            samples.push((u, v, w * re, w * im));
        }
    }
    let add: Vec<f64> = pixels
        .par_iter()
        .map(|&(x, y)| {
            let l = -(x as f64 - (nx / 2) as f64) * cell_rad;
            let m = (y as f64 - (ny / 2) as f64) * cell_rad;
            let mut s = 0.0;
            for &(u, v, re, im) in &samples {
                let (sin, cos) = (-2.0 * std::f64::consts::PI * (u * l + v * m)).sin_cos();
                s += re * cos - im * sin;
            }
            s
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
