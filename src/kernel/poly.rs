//! The piecewise-polynomial form of the ES kernel that the gridders evaluate (one polynomial
//! per cell of the support, as ducc0 does), and the accuracy it is fitted to.
use super::es::EsKernel;

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
    /// The polynomial form for an image of accuracy `epsilon`: fitted to a tenth of ε, so that
    /// evaluating the kernel through it adds little to the kernel's own aliasing error.
    pub fn for_epsilon(kernel: &EsKernel, epsilon: f64) -> Self {
        Self::fit(kernel, 0.1 * epsilon)
    }

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

#[cfg(test)]
mod tests {
    use super::*;
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
}
