//! The "exponential of semicircle" (ES) gridding kernel of Barnett, Magland & af Klinteberg,
//! "A parallel non-uniform fast Fourier transform library based on an 'exponential of
//! semicircle' kernel", SIAM J. Sci. Comput. 41 (2019), with its width `W`, shape `β` and grid
//! oversampling `σ` chosen from a requested accuracy ε as ducc0's wgridder does (Arras et al.,
//! A&A 646, A58, 2021): among all candidate (W, σ) whose estimated aliasing error is at most ε,
//! take the one with the lowest modelled cost for the data size at hand.
//!
//! In grid-cell units the kernel is `ψ(t) = exp(β (sqrt(1 − (2t/W)²) − 1))` for `|t| < W/2`.
//! Gridding evaluates it through a piecewise polynomial ([`PolyKernel`], one polynomial per
//! cell of the support, as ducc0 does) and the image is corrected by `1/ψ̂` computed by
//! Gauss–Legendre quadrature ([`EsKernel::fourier`]).
use std::sync::OnceLock;

/// Errors choosing a kernel.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// No tabulated kernel reaches the requested accuracy.
    #[error(
        "no kernel reaches epsilon = {epsilon:e} (the most accurate available gives {best:e})"
    )]
    Unreachable { epsilon: f64, best: f64 },
}

/// Smallest and largest supported kernel widths, in grid cells.
pub const MIN_WIDTH: usize = 4;
/// Largest supported kernel width (must not exceed the tile size + 1).
pub const MAX_WIDTH: usize = 16;

/// Candidate oversampling factors σ = (grid size) / (image size).
const OVERSAMPLING: [f64; 11] = [
    1.20, 1.25, 1.30, 1.35, 1.40, 1.50, 1.60, 1.75, 2.00, 2.25, 2.50,
];

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

/// Computes the optimised kernel for every candidate (W, σ) (about 2 s on two cores; the
/// result is stored in [`crate::kernel_table`] so runs don't pay for it).
pub fn compute_kernel_table() -> Vec<EsKernel> {
    use rayon::prelude::*;
    let pairs: Vec<(usize, f64)> = (MIN_WIDTH..=MAX_WIDTH)
        .flat_map(|w| OVERSAMPLING.iter().map(move |&s| (w, s)))
        .collect();
    pairs
        .par_iter()
        .map(|&(w, s)| EsKernel::optimised(w, s))
        .collect()
}

/// The table of optimised kernels for every candidate (W, σ) (precomputed).
pub fn kernel_table() -> &'static [EsKernel] {
    static TABLE: OnceLock<Vec<EsKernel>> = OnceLock::new();
    TABLE.get_or_init(|| {
        crate::kernel_table::KERNELS
            .iter()
            .map(|&(width, oversampling, beta, error_estimate)| EsKernel {
                width,
                beta,
                oversampling,
                error_estimate,
            })
            .collect()
    })
}

/// Gridding geometry derived from ε: the kernel, and the grid size for an image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridSpec {
    /// The kernel.
    pub kernel: EsKernel,
    /// Grid size along u (image x), cells; a multiple of 2 × tile size.
    pub nu: usize,
    /// Grid size along v (image y), cells; a multiple of 2 × tile size.
    pub nv: usize,
}

/// Smallest `n ≥ min` that is a multiple of `multiple` and whose cofactor has only the prime
/// factors 2, 3, 5 (sizes rustfft transforms fastest).
pub fn good_fft_size(min: usize, multiple: usize) -> usize {
    let mut n = min.div_ceil(multiple) * multiple;
    loop {
        let mut m = n / multiple;
        for p in [2, 3, 5] {
            while m % p == 0 {
                m /= p;
            }
        }
        if m == 1 {
            return n;
        }
        n += multiple;
    }
}

/// Chooses kernel and grid for an `nx × ny` image of `nvis` visibilities at accuracy `epsilon`.
///
/// Cost model (arbitrary units, calibrated on the CPU gridder): gridding costs
/// `nvis · (W² + 4W)` and the FFT `N log₂ N` per pass over the `N = nu·nv` grid (the second
/// pass runs only over the `1/σ` of columns the image keeps).
pub fn choose_grid(
    nx: usize,
    ny: usize,
    nvis: u64,
    epsilon: f64,
    tile: usize,
) -> Result<GridSpec, KernelError> {
    let mut best: Option<(f64, GridSpec)> = None;
    for spec in grid_candidates(nx, ny, epsilon, tile) {
        let cost = grid_cost(&spec, nx, nvis, 1.0, 1.0);
        if best.is_none_or(|(c, _)| cost < c) {
            best = Some((cost, spec));
        }
    }
    best.map(|(_, g)| g)
        .ok_or_else(|| KernelError::Unreachable {
            epsilon,
            best: kernel_table()
                .iter()
                .map(|k| k.error_estimate)
                .fold(f64::INFINITY, f64::min),
        })
}

/// Every candidate kernel whose error estimate is at most `epsilon` and that fits the tile, with
/// its grid for an `nx × ny` image (in table order).
pub fn grid_candidates(nx: usize, ny: usize, epsilon: f64, tile: usize) -> Vec<GridSpec> {
    kernel_table()
        .iter()
        // The CPU gridder pads the footprint to a multiple of 4 cells; it must fit a tile + 1.
        .filter(|k| k.error_estimate <= epsilon && k.width.div_ceil(4) * 4 <= tile + 1)
        .map(|k| {
            let nu =
                good_fft_size((nx as f64 * k.oversampling).ceil() as usize, 2 * tile).max(2 * tile);
            let nv =
                good_fft_size((ny as f64 * k.oversampling).ceil() as usize, 2 * tile).max(2 * tile);
            GridSpec { kernel: *k, nu, nv }
        })
        .collect()
}

/// Modelled cost of imaging `nvis` samples with `spec` (see [`choose_grid`]): each sample is
/// gridded `copies` times (1 in 2-D, W with w-stacking) and the grid transformed `nfft` times.
pub fn grid_cost(spec: &GridSpec, nx: usize, nvis: u64, copies: f64, nfft: f64) -> f64 {
    let w = spec.kernel.width as f64;
    let grid_cost = nvis as f64 * copies * (w * w + 4.0 * w) * GRID_COST_PER_POINT;
    let n = (spec.nu * spec.nv) as f64;
    let fft_cost = n * n.log2() * (0.5 + 0.5 * nx as f64 / spec.nu as f64) * FFT_COST_PER_POINT;
    grid_cost + nfft * fft_cost
}

/// Relative cost of one kernel-footprint cell update (see [`choose_grid`]).
const GRID_COST_PER_POINT: f64 = 1.0;
/// Relative cost of one FFT butterfly-point (see [`choose_grid`]).
const FFT_COST_PER_POINT: f64 = 0.6;

/// Piecewise-polynomial form of an ES kernel for fast evaluation of all `W` footprint values
/// at once: for a visibility whose footprint starts at cell `i0` and whose fractional position
/// is `s ∈ [0, 1)` (so cell `i0 + k` is at offset `k − W/2 + s`... see [`PolyKernel::eval`]),
/// `ψ` at the `W` cells is `Σ_d c[d][k] x^d` with `x = 2s − 1`.
#[derive(Clone, Debug)]
pub struct PolyKernel {
    /// Support width W.
    pub width: usize,
    /// Polynomial degree D.
    pub degree: usize,
    /// Coefficients `[D + 1][W]`, highest degree first (Horner order), f64.
    pub coeffs: Vec<f64>,
}

impl PolyKernel {
    /// Fits the kernel by Chebyshev interpolation in each support cell, raising the degree
    /// until the maximum error on a fine test grid is below `tolerance`.
    pub fn fit(kernel: &EsKernel, tolerance: f64) -> Self {
        let w = kernel.width;
        let mut last = None;
        for degree in 3..=24 {
            let p = Self::fit_degree(kernel, degree);
            let err = p.max_error(kernel);
            last = Some(p);
            if err <= tolerance {
                break;
            }
        }
        // `last` is always set: the loop runs at least once.
        last.unwrap_or_else(|| Self::fit_degree(kernel, 3 + w))
    }

    fn fit_degree(kernel: &EsKernel, degree: usize) -> Self {
        let w = kernel.width;
        let n = degree + 1;
        let mut coeffs = vec![0.0; n * w];
        // Chebyshev nodes of the first kind on x ∈ [−1, 1].
        let xs: Vec<f64> = (0..n)
            .map(|j| (std::f64::consts::PI * (j as f64 + 0.5) / n as f64).cos())
            .collect();
        for k in 0..w {
            let ys: Vec<f64> = xs
                .iter()
                .map(|&x| kernel.eval(Self::offset(w, k, 0.5 * (x + 1.0))))
                .collect();
            // Chebyshev coefficients, then conversion to monomials in x.
            let mut cheb = vec![0.0; n];
            for (m, c) in cheb.iter_mut().enumerate() {
                let mut s = 0.0;
                for (j, &y) in ys.iter().enumerate() {
                    s += y * (m as f64 * std::f64::consts::PI * (j as f64 + 0.5) / n as f64).cos();
                }
                *c = s * 2.0 / n as f64;
            }
            cheb[0] *= 0.5;
            let mono = chebyshev_to_monomial(&cheb);
            for (d, &c) in mono.iter().enumerate() {
                // Horner order: row 0 holds the highest degree.
                coeffs[(degree - d) * w + k] = c;
            }
        }
        Self {
            width: w,
            degree,
            coeffs,
        }
    }

    /// Offset (grid cells) from the kernel centre of footprint cell `k` for fractional part `s`.
    #[inline]
    pub fn offset(width: usize, k: usize, s: f64) -> f64 {
        k as f64 - 0.5 * width as f64 + s
    }

    /// Evaluates all `W` footprint values for fractional position `s ∈ [0, 1)` (f64 path, used
    /// for checking; the gridders use their own monomorphised Horner loops).
    pub fn eval(&self, s: f64, out: &mut [f64]) {
        let w = self.width;
        let x = 2.0 * s - 1.0;
        out[..w].copy_from_slice(&self.coeffs[..w]);
        for d in 1..=self.degree {
            let row = &self.coeffs[d * w..(d + 1) * w];
            for k in 0..w {
                out[k] = out[k] * x + row[k];
            }
        }
    }

    /// Largest absolute difference from the exact kernel on a fine grid of `s`.
    pub fn max_error(&self, kernel: &EsKernel) -> f64 {
        let mut out = vec![0.0; self.width];
        let mut worst: f64 = 0.0;
        for i in 0..=256 {
            let s = i as f64 / 256.0 * 0.999_999;
            self.eval(s, &mut out);
            for (k, &v) in out.iter().enumerate() {
                worst = worst.max((v - kernel.eval(Self::offset(self.width, k, s))).abs());
            }
        }
        worst
    }
}

/// Converts Chebyshev-series coefficients to monomial coefficients (both lowest degree first).
fn chebyshev_to_monomial(cheb: &[f64]) -> Vec<f64> {
    let n = cheb.len();
    let mut result = vec![0.0; n];
    // T_0 = 1, T_1 = x, T_{k+1} = 2x T_k − T_{k−1}, kept as monomial vectors.
    let mut t_prev = vec![0.0; n];
    let mut t_cur = vec![0.0; n];
    t_prev[0] = 1.0;
    if n > 1 {
        t_cur[1] = 1.0;
    }
    for (k, &c) in cheb.iter().enumerate() {
        let tk = if k == 0 { &t_prev } else { &t_cur };
        for (r, &t) in result.iter_mut().zip(tk) {
            *r += c * t;
        }
        if k >= 1 && k + 1 < n {
            let mut next = vec![0.0; n];
            for i in 0..n {
                if i >= 1 {
                    next[i] += 2.0 * t_cur[i - 1];
                }
                next[i] -= t_prev[i];
            }
            t_prev = std::mem::replace(&mut t_cur, next);
        }
    }
    result
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
    fn table_matches_computation() {
        let table = kernel_table();
        assert_eq!(
            table.len(),
            (MAX_WIDTH - MIN_WIDTH + 1) * OVERSAMPLING.len()
        );
        for i in [0, 37, 88, table.len() - 1] {
            let t = table[i];
            let k = EsKernel::optimised(t.width, t.oversampling);
            assert!((k.beta - t.beta).abs() < 1e-9 * t.beta, "{k:?} vs {t:?}");
            assert!(
                (k.error_estimate - t.error_estimate).abs() <= 1e-6 * t.error_estimate,
                "{k:?} vs {t:?}"
            );
        }
    }

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

    #[test]
    fn polynomial_fit_meets_tolerance() {
        let k = EsKernel::optimised(8, 1.5);
        let p = PolyKernel::fit(&k, 1e-7);
        assert!(
            p.max_error(&k) <= 1e-7,
            "degree {} error {}",
            p.degree,
            p.max_error(&k)
        );
        assert!(p.degree < 20, "degree {}", p.degree);
    }

    #[test]
    fn chooser_meets_epsilon_and_grows_grid_for_accuracy() {
        for eps in [1e-2, 1e-4, 1e-6, 1e-8] {
            let g = choose_grid(1024, 1024, 1_000_000, eps, 32).unwrap();
            assert!(g.kernel.error_estimate <= eps);
            assert!(g.nu >= 1024 && g.nu % 64 == 0);
        }
        let lo = choose_grid(1024, 1024, 1_000_000, 1e-2, 32).unwrap();
        let hi = choose_grid(1024, 1024, 1_000_000, 1e-8, 32).unwrap();
        assert!(hi.kernel.width > lo.kernel.width);
        assert!(choose_grid(64, 64, 10, 1e-15, 32).is_err());
    }

    #[test]
    fn good_sizes_are_smooth_multiples() {
        assert_eq!(good_fft_size(1000, 64), 1024);
        let n = good_fft_size(1300, 64);
        assert!(n >= 1300 && n % 64 == 0);
    }
}
