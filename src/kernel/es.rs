//! The "exponential of semicircle" kernel (Barnett, Magland & af Klinteberg 2019): its
//! values, its Fourier transform `ψ̂` by Gauss–Legendre quadrature, the aliasing-error estimate
//! that picks its shape β, and the grid-correction factors `1/ψ̂` of the image.
use std::sync::OnceLock;

/// An ES kernel with its accuracy estimate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EsKernel {
    /// Support width, grid cells.
    pub width: usize,
    /// Shape parameter β.
    pub beta: f64,
    /// Oversampling factor σ the accuracy estimate was made for.
    pub oversampling: f64,
    /// Estimated relative error of a 2-D image made with this kernel at `oversampling`.
    pub error_estimate: f64,
}

impl EsKernel {
    /// Kernel value at offset `t` grid cells from its centre.
    #[inline]
    pub fn eval(&self, t: f64) -> f64 {
        let z = 2.0 * t / self.width as f64;
        if z.abs() >= 1.0 {
            0.0
        } else {
            (self.beta * ((1.0 - z * z).sqrt() - 1.0)).exp()
        }
    }

    /// Fourier transform `ψ̂(f) = ∫ ψ(t) e^{−2πi f t} dt` at frequency `f` (cycles per grid
    /// cell). The kernel is even, so this is real. Computed with the substitution
    /// `t = (W/2) sin θ`, which removes the square-root edge singularity, and Gauss–Legendre
    /// quadrature in θ.
    pub fn fourier(&self, f: f64) -> f64 {
        let half = 0.5 * self.width as f64;
        let q = quadrature();
        // ∫_{-W/2}^{W/2} ψ(t) cos(2π f t) dt = 2 ∫_0^{π/2} e^{β(cos θ − 1)} cos(2π f h sin θ) h cos θ dθ
        let a = 0.5 * std::f64::consts::FRAC_PI_2;
        let mut sum = 0.0;
        for (&x, &w) in q.nodes.iter().zip(&q.weights) {
            let theta = a * (x + 1.0);
            let (s, c) = theta.sin_cos();
            sum += w
                * (self.beta * (c - 1.0)).exp()
                * (2.0 * std::f64::consts::PI * f * half * s).cos()
                * c;
        }
        2.0 * a * half * sum
    }

    /// The kernel for `(width, oversampling)` with β optimised for the smallest aliasing error.
    pub fn optimised(width: usize, oversampling: f64) -> Self {
        // β ≈ γ π W (1 − 1/(2σ)) with γ near 1 (Barnett et al. 2019, sec. 4); refine γ by a
        // golden-section search on the error estimate.
        let base = std::f64::consts::PI * width as f64 * (1.0 - 0.5 / oversampling);
        let err = |gamma: f64| aliasing_error(width, gamma * base, oversampling);
        let (mut lo, mut hi) = (0.80, 1.05);
        let g = 0.5 * (5f64.sqrt() - 1.0);
        let mut x1 = hi - g * (hi - lo);
        let mut x2 = lo + g * (hi - lo);
        let (mut f1, mut f2) = (err(x1), err(x2));
        for _ in 0..18 {
            if f1 < f2 {
                hi = x2;
                x2 = x1;
                f2 = f1;
                x1 = hi - g * (hi - lo);
                f1 = err(x1);
            } else {
                lo = x1;
                x1 = x2;
                f1 = f2;
                x2 = lo + g * (hi - lo);
                f2 = err(x2);
            }
        }
        let gamma = 0.5 * (lo + hi);
        let beta = gamma * base;
        Self {
            width,
            beta,
            oversampling,
            error_estimate: aliasing_error(width, beta, oversampling),
        }
    }
}

/// Estimated relative error of a 2-D image from aliasing: with `ψ̂` the kernel's transform and
/// `f = p/N_grid` (|f| ≤ 1/(2σ)) the image frequency, the 1-D relative error of a corrected pixel
/// is bounded by `Σ_{m≠0} |ψ̂(f+m)| / ψ̂(f)` (Poisson summation); the 2-D error of a pixel is at
/// most the sum of the two axes' errors. We return √2 times the largest 1-D value, the L2 size of
/// two independent axis errors of that size.
pub fn aliasing_error(width: usize, beta: f64, oversampling: f64) -> f64 {
    let k = EsKernel {
        width,
        beta,
        oversampling,
        error_estimate: 0.0,
    };
    let fmax = 0.5 / oversampling;
    let mut worst: f64 = 0.0;
    const NF: usize = 24;
    for i in 0..=NF {
        let f = fmax * i as f64 / NF as f64;
        let main = k.fourier(f);
        let mut alias = 0.0;
        for m in 1..=6 {
            alias += k.fourier(f + m as f64).abs() + k.fourier(f - m as f64).abs();
        }
        worst = worst.max(alias / main);
    }
    std::f64::consts::SQRT_2 * worst
}

/// Gauss–Legendre nodes and weights on [−1, 1].
struct Quadrature {
    nodes: Vec<f64>,
    weights: Vec<f64>,
}

fn quadrature() -> &'static Quadrature {
    static Q: OnceLock<Quadrature> = OnceLock::new();
    Q.get_or_init(|| gauss_legendre(256))
}

/// Gauss–Legendre rule of `n` points by Newton iteration on the Legendre recurrence
/// (Golub & Welsch give the same nodes; this is the classic Numerical Recipes `gauleg`).
fn gauss_legendre(n: usize) -> Quadrature {
    let mut nodes = vec![0.0; n];
    let mut weights = vec![0.0; n];
    let m = n.div_ceil(2);
    for i in 0..m {
        let mut z = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            let (mut p1, mut p2) = (1.0, 0.0);
            for j in 0..n {
                let p3 = p2;
                p2 = p1;
                p1 = ((2 * j + 1) as f64 * z * p2 - j as f64 * p3) / (j + 1) as f64;
            }
            dp = n as f64 * (z * p1 - p2) / (z * z - 1.0);
            let dz = p1 / dp;
            z -= dz;
            if dz.abs() < 1e-15 {
                break;
            }
        }
        nodes[i] = -z;
        nodes[n - 1 - i] = z;
        let w = 2.0 / ((1.0 - z * z) * dp * dp);
        weights[i] = w;
        weights[n - 1 - i] = w;
    }
    Quadrature { nodes, weights }
}

/// Grid-correction factors `1/ψ̂(p/N)` for the image pixels `p = −n/2 .. n/2 − 1` of one axis
/// (index `p + n/2`), for a grid of `n_grid` cells.
pub fn correction(kernel: &EsKernel, n_image: usize, n_grid: usize) -> Vec<f64> {
    use rayon::prelude::*;
    // The quadrature of [`EsKernel::fourier`] with the f-independent factors of each node
    // computed once: ψ̂(f) = Σ_k c_k cos(2π f t_k).
    let half = 0.5 * kernel.width as f64;
    let a = 0.5 * std::f64::consts::FRAC_PI_2;
    let q = quadrature();
    let (c, t): (Vec<f64>, Vec<f64>) = q
        .nodes
        .iter()
        .zip(&q.weights)
        .map(|(&x, &w)| {
            let (s, cs) = (a * (x + 1.0)).sin_cos();
            (
                2.0 * a * half * w * (kernel.beta * (cs - 1.0)).exp() * cs,
                half * s,
            )
        })
        .unzip();
    // ψ̂ is even: pixels ±p share a factor, so compute p = 0 ..= n/2 only.
    let half_n = n_image / 2;
    let by_offset: Vec<f64> = (0..=half_n)
        .into_par_iter()
        .map(|p| {
            let f = 2.0 * std::f64::consts::PI * p as f64 / n_grid as f64;
            1.0 / c
                .iter()
                .zip(&t)
                .map(|(ck, tk)| ck * (f * tk).cos())
                .sum::<f64>()
        })
        .collect();
    (0..n_image)
        .map(|i| by_offset[(i as isize - half_n as isize).unsigned_abs()])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn correction_is_inverse_transform_at_pixel_frequencies() {
        let k = EsKernel::optimised(7, 1.5);
        let c = correction(&k, 10, 16);
        for (i, &ci) in c.iter().enumerate() {
            let p = i as f64 - 5.0;
            let want = 1.0 / k.fourier(p / 16.0);
            assert!(
                (ci - want).abs() < 1e-12 * want.abs(),
                "{i}: {ci} vs {want}"
            );
        }
    }

    #[test]
    fn quadrature_integrates_polynomials_exactly() {
        let q = gauss_legendre(20);
        let s: f64 = q
            .nodes
            .iter()
            .zip(&q.weights)
            .map(|(x, w)| w * x.powi(6))
            .sum();
        assert!((s - 2.0 / 7.0).abs() < 1e-14, "{s}");
    }

    #[test]
    fn fourier_matches_brute_force_integral() {
        let k = EsKernel::optimised(7, 2.0);
        for f in [0.0, 0.1, 0.25, 0.9] {
            // Midpoint rule with many points.
            let n = 200_000;
            let h = k.width as f64 / n as f64;
            let brute: f64 = (0..n)
                .map(|i| {
                    let t = -0.5 * k.width as f64 + (i as f64 + 0.5) * h;
                    k.eval(t) * (2.0 * std::f64::consts::PI * f * t).cos() * h
                })
                .sum();
            let q = k.fourier(f);
            assert!(
                (q - brute).abs() < 1e-7 * brute.abs().max(1e-3),
                "f={f}: {q} vs {brute}"
            );
        }
    }

    #[test]
    fn error_falls_with_width_and_matches_known_es_accuracy() {
        // Barnett et al. (2019): at σ = 2 the ES kernel reaches about 10^{1−W}.
        let e5 = EsKernel::optimised(5, 2.0).error_estimate;
        let e8 = EsKernel::optimised(8, 2.0).error_estimate;
        assert!(e8 < e5 / 100.0, "{e5} {e8}");
        assert!(e5 < 1e-3 && e5 > 1e-6, "{e5}");
    }
}
