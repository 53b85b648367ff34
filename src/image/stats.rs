//! Statistics of an image plane `[ny][nx]`: the peak and its pixel, the rms over all finite
//! pixels, and a robust rms, 1.4826 × the median absolute deviation from the median (MAD; for
//! Gaussian noise it equals the standard deviation, and sources covering less than half of
//! the image barely move it). NaN/Inf pixels (blanked) are skipped throughout.

/// Peak, its pixel and rms of an image `[ny][nx]`; NaN/Inf pixels (blanked) are skipped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImageStats {
    /// Largest value (−∞ when no pixel is finite).
    pub peak: f64,
    /// Its column (0 = east edge).
    pub x: usize,
    /// Its row (0 = south edge).
    pub y: usize,
    /// Root mean square over all finite pixels (NaN when none is).
    pub rms: f64,
    /// Number of finite pixels.
    pub finite: usize,
}

/// Peak and rms of `image`, over its finite pixels.
pub fn image_stats(image: &[f32], nx: usize) -> ImageStats {
    let mut best = (f64::NEG_INFINITY, 0usize);
    let mut sq = 0.0;
    let mut finite = 0usize;
    for (i, &v) in image.iter().enumerate() {
        if !v.is_finite() {
            continue;
        }
        let v = v as f64;
        finite += 1;
        sq += v * v;
        if v > best.0 {
            best = (v, i);
        }
    }
    ImageStats {
        peak: best.0,
        x: best.1 % nx.max(1),
        y: best.1 / nx.max(1),
        rms: if finite > 0 {
            (sq / finite as f64).sqrt()
        } else {
            f64::NAN
        },
        finite,
    }
}

/// Robust rms of the finite pixels of `image`: 1.4826 × the median absolute deviation from
/// the median (the factor makes it the standard deviation for Gaussian noise; Rousseeuw &
/// Croux 1993). NaN when no pixel is finite.
pub fn robust_rms(image: &[f32]) -> f64 {
    let mut v: Vec<f64> = image
        .iter()
        .filter(|x| x.is_finite())
        .map(|&x| f64::from(x))
        .collect();
    if v.is_empty() {
        return f64::NAN;
    }
    let m = median(&mut v);
    for x in v.iter_mut() {
        *x = (*x - m).abs();
    }
    1.4826 * median(&mut v)
}

/// Median of a non-empty `v` (reordered in place); the mean of the two middle values when
/// the length is even.
fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    let hi = *v.select_nth_unstable_by(n / 2, f64::total_cmp).1;
    if n % 2 == 1 {
        hi
    } else {
        let lo = v[..n / 2].iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        0.5 * (lo + hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_find_peak_and_rms() {
        let img = [0.0f32, 1.0, -3.0, 2.0, 0.5, 0.0];
        let s = image_stats(&img, 3);
        assert_eq!((s.peak, s.x, s.y), (2.0, 0, 1));
        let rms = ((1.0 + 9.0 + 4.0 + 0.25) / 6.0f64).sqrt();
        assert!((s.rms - rms).abs() < 1e-12);
    }

    #[test]
    fn stats_skip_blanked_pixels() {
        let img = [f32::NAN, 1.0, -3.0, f32::INFINITY];
        let s = image_stats(&img, 2);
        assert_eq!((s.peak, s.x, s.y, s.finite), (1.0, 1, 0, 2));
        assert!((s.rms - 5f64.sqrt()).abs() < 1e-12);
        assert!(image_stats(&[f32::NAN; 4], 2).rms.is_nan());
    }

    #[test]
    fn robust_rms_is_noise_sigma_and_ignores_a_bright_source() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, Normal};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let noise = Normal::new(0.0, 0.25).unwrap();
        let mut img: Vec<f32> = (0..40_000).map(|_| noise.sample(&mut rng) as f32).collect();
        img[123] = 1000.0;
        img[7] = f32::NAN;
        let r = robust_rms(&img);
        assert!((r - 0.25).abs() < 0.01, "robust rms {r}");
        // The plain rms is dominated by the source.
        assert!(image_stats(&img, 200).rms > 4.0);
        assert_eq!(robust_rms(&[1.0, 2.0, 4.0, 8.0]), 1.4826 * 1.5);
        assert!(robust_rms(&[f32::NAN]).is_nan());
    }
}
