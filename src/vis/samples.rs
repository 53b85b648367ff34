//! The single selection rule for visibility samples, and the one `(row, channel)` loop that
//! applies it: every consumer (gridders, imaging weights, the direct Fourier transform) sees
//! the same samples in wavelengths with the same verdict.
//!
//! A sample is `(row, chan)` of a [`VisChunk`]; its coordinates in wavelengths are
//! `(u, v, w) = uvw_m · ν / c`. It is used unless it is flagged, has a non-finite value,
//! uvw or weight, has a weight outside [`MIN_WEIGHT`, `MAX_WEIGHT`] (≤ 0, subnormal-prone or
//! overflow-prone), or lies beyond the grid (|u·cell| or |v·cell| ≥ 1/2,
//! finer than the pixel's Nyquist limit).
use std::ops::Range;

use super::VisChunk;
use crate::constants::SPEED_OF_LIGHT_M_S;

/// Smallest usable weight: below it float32 products lose their precision (subnormals), so
/// the PSF peak would no longer be 1.
pub const MIN_WEIGHT: f32 = 1e-30;
/// Largest usable weight: above it sums of float32 grid cells could overflow.
pub const MAX_WEIGHT: f32 = 1e25;

/// What a sample contributes: its visibility (dirty image) or a unit visibility (PSF).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GridMode {
    /// `w · V`.
    Dirty,
    /// `w · 1`.
    Psf,
}

/// Which samples are used, and why the others are dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleStatus {
    /// Used.
    Used,
    /// Flagged in the input.
    Flagged,
    /// Non-finite value, uvw or weight, or a weight outside [`MIN_WEIGHT`, `MAX_WEIGHT`].
    Invalid,
    /// Beyond the grid (|u·cell| or |v·cell| ≥ 1/2).
    Outside,
}

/// Decides whether sample `flat` (row-major `[row, chan]`) of `chunk` at `(u, v, w)`
/// (wavelengths) is used for an image of pixel size `cell_rad`. A non-finite w drops the
/// sample in 2-D imaging too, so that the same samples make the 2-D and the w-stacked image.
#[inline]
pub fn classify(
    chunk: &VisChunk,
    flat: usize,
    [u, v, w_lambda]: [f64; 3],
    cell_rad: f64,
) -> SampleStatus {
    if chunk.is_flagged(flat) {
        return SampleStatus::Flagged;
    }
    let vis = chunk.vis[flat];
    let w = chunk.weight[flat];
    if !(vis.re.is_finite()
        && vis.im.is_finite()
        && (MIN_WEIGHT..=MAX_WEIGHT).contains(&w)
        && u.is_finite()
        && v.is_finite()
        && w_lambda.is_finite())
    {
        return SampleStatus::Invalid;
    }
    if (u * cell_rad).abs() >= 0.5 || (v * cell_rad).abs() >= 0.5 {
        return SampleStatus::Outside;
    }
    SampleStatus::Used
}

/// One sample with its coordinates in wavelengths and its verdict.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Flat index `row · nchan + chan` into the chunk's `[row, chan]` arrays.
    pub flat: usize,
    /// u, wavelengths.
    pub u_lambda: f64,
    /// v, wavelengths.
    pub v_lambda: f64,
    /// w, wavelengths.
    pub w_lambda: f64,
    /// Whether it is used, and if not why.
    pub status: SampleStatus,
}

/// `ν / c` per channel: metres → wavelengths.
pub fn wavelength_scale(freq_hz: &[f64]) -> Vec<f64> {
    freq_hz.iter().map(|f| f / SPEED_OF_LIGHT_M_S).collect()
}

/// Visits every `(row, chan)` sample of rows `rows` of `chunk` (channel frequencies
/// `freq_hz`, row-major order) with its coordinates in wavelengths and its verdict for pixel
/// size `cell_rad`.
#[inline]
pub fn for_each_sample(
    chunk: &VisChunk,
    freq_hz: &[f64],
    cell_rad: f64,
    rows: Range<usize>,
    mut visit: impl FnMut(Sample),
) {
    let scale = wavelength_scale(freq_hz);
    let nchan = scale.len();
    for row in rows {
        let [um, vm, wm] = chunk.uvw_m[row];
        for (ch, &s) in scale.iter().enumerate() {
            let flat = row * nchan + ch;
            let (u, v, w) = (um * s, vm * s, wm * s);
            visit(Sample {
                flat,
                u_lambda: u,
                v_lambda: v,
                w_lambda: w,
                status: classify(chunk, flat, [u, v, w], cell_rad),
            });
        }
    }
}

/// Visits the used samples of every row of `chunk` (see [`for_each_sample`]).
#[inline]
pub fn for_each_used(
    chunk: &VisChunk,
    freq_hz: &[f64],
    cell_rad: f64,
    mut visit: impl FnMut(Sample),
) {
    for_each_sample(chunk, freq_hz, cell_rad, 0..chunk.nrow(), |s| {
        if s.status == SampleStatus::Used {
            visit(s)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_complex::Complex32;

    #[test]
    fn the_rule_and_the_loop() {
        let c = SPEED_OF_LIGHT_M_S;
        let chunk = VisChunk {
            row0: 0,
            uvw_m: vec![[10.0, -20.0, 3.0], [f64::NAN, 0.0, 0.0], [1e9, 0.0, 0.0]],
            vis: vec![
                Complex32::new(1.0, 0.0),
                Complex32::new(f32::NAN, 0.0),
                Complex32::new(1.0, 0.0),
                Complex32::new(1.0, 0.0),
                Complex32::new(1.0, 0.0),
                Complex32::new(1.0, 0.0),
            ],
            weight: vec![1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
            flag: vec![false, false, false, true, false, false],
        };
        let mut seen = Vec::new();
        for_each_sample(&chunk, &[c, 2.0 * c], 1e-4, 0..3, |s| seen.push(s));
        let st: Vec<_> = seen.iter().map(|s| s.status).collect();
        use SampleStatus::*;
        assert_eq!(st, [Used, Invalid, Invalid, Flagged, Outside, Invalid]);
        assert_eq!(
            (seen[0].u_lambda, seen[0].v_lambda, seen[0].w_lambda),
            (10.0, -20.0, 3.0)
        );
        assert_eq!(seen[1].u_lambda, 20.0);
        let mut used = 0;
        for_each_used(&chunk, &[c, 2.0 * c], 1e-4, |_| used += 1);
        assert_eq!(used, 1);
    }
}
