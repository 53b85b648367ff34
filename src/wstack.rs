//! Improved w-stacking (Arras, Reinecke, Westermann & Enßlin, "Efficient wide-field radio
//! interferometry response", A&A 646, A58, 2021; the design of ducc0's wgridder with
//! `do_wgridding = True, divide_by_n = False`).
//!
//! The dirty image with the w-term is
//! `I(l, m) = Σ w V exp(−2πi (u l + v m + w (n − 1))) / Σ w`, `n = √(1 − l² − m²)`.
//! Writing `x = n − 1 + nshift` (the shift `nshift = −(min + max)/2` of `n − 1` over the
//! image centres its range, halving the number of planes) and folding `exp(+2πi w nshift)`
//! into each visibility, the w-term factor `exp(−2πi w x)` is approximated by gridding along w
//! too: plane `p` sits at `w_p = w0 + p·dw`, a sample contributes to the `W` planes around its
//! w with weight `ψ((w − w_p)/dw)` (the same ES kernel `ψ` as along u and v), and
//! `Σ_p ψ((w − w_p)/dw) exp(−2πi w_p x) ≈ exp(−2πi w x) ψ̂(x·dw)` (Poisson summation), so each
//! plane is gridded, transformed, multiplied by the phase screen `exp(−2πi w_p x)` and its real
//! part summed; the sum is finally divided by the 2-D grid correction and by `ψ̂(x·dw)`. With
//! `dw = 1 / (2 σ max|x|)` the aliasing error along w is that of the u and v axes at the same
//! oversampling σ, so the kernel is chosen for a 3-D error (√(3/2) times the 2-D estimate).
use crate::kernel::{self, EsKernel, GridSpec, KernelError};

/// Errors planning w-stacking.
#[derive(Debug, thiserror::Error)]
pub enum WStackError {
    /// Some pixel of the image lies beyond the horizon (`l² + m² ≥ 1`).
    #[error(
        "image.nx/ny x cell = {fov_deg:.3} deg: the image corners reach l^2 + m^2 = {r2:.4} >= 1, beyond the \
         horizon; w-stacking needs n = sqrt(1 - l^2 - m^2) real on every pixel (use fewer pixels or a smaller \
         cell_arcsec)"
    )]
    BeyondHorizon {
        /// Field of view, degrees.
        fov_deg: f64,
        /// l² + m² at the corners.
        r2: f64,
    },
    /// The w range of the data is not finite.
    #[error("w coordinates: no finite range ({wmin} .. {wmax} wavelengths)")]
    NoWRange {
        /// Smallest w, wavelengths.
        wmin: f64,
        /// Largest w, wavelengths.
        wmax: f64,
    },
    /// No kernel reaches ε.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// Too many planes.
    #[error(
        "w-stacking would need {nplanes} w-planes (w range {wmin:.1} .. {wmax:.1} wavelengths, max |n - 1| \
         {nm1:.3e}); at most {max} are supported"
    )]
    TooManyPlanes {
        /// Planes needed.
        nplanes: usize,
        /// Smallest w, wavelengths.
        wmin: f64,
        /// Largest w, wavelengths.
        wmax: f64,
        /// Largest |n − 1| of the image.
        nm1: f64,
        /// Most planes supported.
        max: usize,
    },
}

/// Most w-planes a plan may have.
pub const MAX_PLANES: usize = 1 << 16;

/// The range of `n − 1` over an `nx × ny` image of pixel size `cell_rad` (pixels
/// `l = −(x − nx/2)·cell`, `m = (y − ny/2)·cell`): `(min, max)`; `max` is 0 (the phase
/// centre pixel), `min` is at the farthest corner.
pub fn nm1_range(nx: usize, ny: usize, cell_rad: f64) -> Result<(f64, f64), WStackError> {
    let lmax = (nx / 2) as f64 * cell_rad;
    let mmax = (ny / 2) as f64 * cell_rad;
    let r2 = lmax * lmax + mmax * mmax;
    if r2 >= 1.0 || r2.is_nan() {
        return Err(WStackError::BeyondHorizon {
            fov_deg: (nx.max(ny) as f64 * cell_rad).to_degrees(),
            r2,
        });
    }
    Ok((n_minus_1(r2), 0.0))
}

/// `n − 1 = √(1 − r²) − 1` for `r² = l² + m²`, computed without cancellation.
#[inline]
pub fn n_minus_1(r2: f64) -> f64 {
    -r2 / ((1.0 - r2).sqrt() + 1.0)
}

/// The w-planes: where they are and how samples spread over them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WPlanes {
    /// Number of planes.
    pub nplanes: usize,
    /// w of plane 0, wavelengths.
    pub w0: f64,
    /// Plane spacing, wavelengths.
    pub dw: f64,
    /// Shift added to `n − 1` (centres its range over the image).
    pub nshift: f64,
    /// The kernel along w (the u, v kernel).
    pub kernel: EsKernel,
}

impl WPlanes {
    /// w of plane `p`, wavelengths.
    #[inline]
    pub fn w_of(&self, p: usize) -> f64 {
        self.w0 + p as f64 * self.dw
    }

    /// Selection of plane `p` for [`crate::grid::place_samples_in_plane`].
    pub fn select(&self, p: usize) -> WPlaneSel {
        WPlaneSel {
            plane: p,
            w0: self.w0,
            dw: self.dw,
            nshift: self.nshift,
            kernel: self.kernel,
        }
    }

    /// The planes a sample reaches when its w (wavelengths) lies somewhere in
    /// `[w_lo, w_hi]`: the open interval `(lo, hi)` of plane indices whose kernel support
    /// along w covers such a w (plane `p` is reached iff `lo < p < hi`; the test of
    /// [`WPlaneSel::factor`] widened to a range of w).
    pub fn plane_span(&self, w_lo: f64, w_hi: f64) -> (f64, f64) {
        let h = 0.5 * self.kernel.width as f64;
        (
            (w_lo - self.w0) / self.dw - h,
            (w_hi - self.w0) / self.dw + h,
        )
    }

    /// The final w-correction factors `1 / ψ̂((n − 1 + nshift)·dw)` for every pixel of an
    /// `nx × ny` image (row-major `[ny][nx]`).
    pub fn correction(&self, nx: usize, ny: usize, cell_rad: f64) -> Vec<f64> {
        use rayon::prelude::*;
        let table = FourierTable::new(&self.kernel, 0.5);
        let mut out = vec![0.0; nx * ny];
        out.par_chunks_mut(nx).enumerate().for_each(|(y, row)| {
            let m = (y as f64 - (ny / 2) as f64) * cell_rad;
            for (x, o) in row.iter_mut().enumerate() {
                let l = -(x as f64 - (nx / 2) as f64) * cell_rad;
                let f = (n_minus_1(l * l + m * m) + self.nshift) * self.dw;
                *o = 1.0 / table.eval(f.abs());
            }
        });
        out
    }
}

/// Which w-plane a gridding pass grids (see [`crate::grid::place_samples_in_plane`]): samples whose
/// kernel footprint along w covers plane `plane` are gridded with their value times
/// `ψ((w − w_p)/dw) · exp(+2πi w nshift)`; the others are skipped (but still counted).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WPlaneSel {
    /// Plane index.
    pub plane: usize,
    /// w of plane 0, wavelengths.
    pub w0: f64,
    /// Plane spacing, wavelengths.
    pub dw: f64,
    /// Shift of `n − 1`.
    pub nshift: f64,
    /// The kernel along w.
    pub kernel: EsKernel,
}

impl WPlaneSel {
    /// The complex factor for a sample at `w` (wavelengths) on this plane, or `None` when the
    /// plane lies outside the sample's kernel support.
    #[inline]
    pub fn factor(&self, w: f64) -> Option<(f64, f64)> {
        let t = self.plane as f64 - (w - self.w0) / self.dw;
        if t.abs() >= 0.5 * self.kernel.width as f64 {
            return None;
        }
        let k = self.kernel.eval(t);
        let (s, c) = (2.0 * std::f64::consts::PI * w * self.nshift).sin_cos();
        Some((k * c, k * s))
    }
}

/// The per-pixel phase screen of plane `w_p`: `exp(−2πi w_p (n − 1 + nshift))`, applied to
/// the transformed plane before its real part is summed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WScreen {
    /// w of the plane, wavelengths.
    pub w_lambda: f64,
    /// Shift of `n − 1`.
    pub nshift: f64,
    /// Pixel size, radians.
    pub cell_rad: f64,
}

/// ψ̂ on `[0, fmax]` tabulated for fast evaluation at every pixel: cubic (4-point Lagrange)
/// interpolation on 8192 intervals, relative error far below 1e-12 for the ES kernels used.
struct FourierTable {
    h: f64,
    vals: Vec<f64>,
}

impl FourierTable {
    const N: usize = 8192;

    fn new(k: &EsKernel, fmax: f64) -> Self {
        use rayon::prelude::*;
        let h = fmax / Self::N as f64;
        let vals = (0..Self::N + 4)
            .into_par_iter()
            .map(|i| k.fourier((i as f64 - 1.0) * h))
            .collect();
        Self { h, vals }
    }

    /// ψ̂(f) for `0 ≤ f ≤ fmax`.
    fn eval(&self, f: f64) -> f64 {
        let t = f / self.h;
        let i = (t.floor() as usize).min(Self::N - 1);
        let s = t - i as f64;
        // Nodes at table indices i, i+1, i+2, i+3 ↔ f = (i−1)h … (i+2)h; s measured from i+1.
        let y = &self.vals[i..i + 4];
        let (a, b, c, d) = (s + 1.0, s, s - 1.0, s - 2.0);
        -y[0] * b * c * d / 6.0 + y[1] * a * c * d / 2.0 - y[2] * a * b * d / 2.0
            + y[3] * a * b * c / 6.0
    }
}

/// Whether the w-term matters at accuracy `epsilon`: the largest phase it adds,
/// `2π max|w| max|n − 1|`, compared with ε (the relative error of ignoring it is of that order).
pub fn w_term_matters(max_abs_w_lambda: f64, nm1_min: f64, epsilon: f64) -> bool {
    2.0 * std::f64::consts::PI * max_abs_w_lambda * nm1_min.abs() > epsilon
}

/// What a w-stacked image asks for: [`plan_wstack`]'s input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WStackRequest {
    /// Image width, pixels.
    pub nx: usize,
    /// Image height, pixels.
    pub ny: usize,
    /// Pixel size, radians.
    pub cell_rad: f64,
    /// Samples to grid (all ranks).
    pub nvis: u64,
    /// Requested accuracy.
    pub epsilon: f64,
    /// Tile side, cells.
    pub tile: usize,
    /// Smallest w over the data, wavelengths.
    pub w_min_lambda: f64,
    /// Largest w over the data, wavelengths.
    pub w_max_lambda: f64,
}

/// Chooses the kernel, the grid and the w-planes for an `nx × ny` image of `nvis` samples whose
/// w (wavelengths) lies in `[wmin, wmax]`, at accuracy `epsilon`: the cheapest candidate
/// (W, σ) whose 3-D error estimate is at most ε, by [`kernel::choose_grid`]'s cost model with
/// every sample gridded onto `W` planes and one FFT (plus phase screen) per plane.
pub fn plan_wstack(req: &WStackRequest) -> Result<(GridSpec, WPlanes), WStackError> {
    let WStackRequest {
        nx,
        ny,
        cell_rad,
        nvis,
        epsilon,
        tile,
        w_min_lambda: wmin,
        w_max_lambda: wmax,
    } = *req;
    if !(wmin.is_finite() && wmax.is_finite() && wmin <= wmax) {
        return Err(WStackError::NoWRange { wmin, wmax });
    }
    let (nm1min, nm1max) = nm1_range(nx, ny, cell_rad)?;
    let nshift = -0.5 * (nm1min + nm1max);
    let xmax = 0.5 * (nm1max - nm1min);
    let eps_2d = epsilon / 1.5f64.sqrt();
    let candidates = kernel::grid_candidates(nx, ny, eps_2d, tile);
    if candidates.is_empty() {
        // Reports the most accurate kernel available.
        kernel::choose_grid(nx, ny, nvis, eps_2d, tile)?;
    }
    let mut best: Option<(f64, GridSpec, WPlanes)> = None;
    let mut fewest = usize::MAX;
    for spec in candidates {
        let k = spec.kernel;
        let dw = 0.5 / (k.oversampling * xmax);
        let span = ((wmax - wmin) / dw).ceil();
        let nplanes = if span.is_finite() && span < MAX_PLANES as f64 {
            span as usize + k.width
        } else {
            usize::MAX
        };
        fewest = fewest.min(nplanes);
        if nplanes > MAX_PLANES {
            continue;
        }
        let w0 = 0.5 * (wmin + wmax) - 0.5 * (nplanes - 1) as f64 * dw;
        let screen = (nx * ny) as f64 * nplanes as f64 * SCREEN_COST_PER_PIXEL;
        let cost = kernel::grid_cost(&spec, nx, nvis, k.width as f64, nplanes as f64) + screen;
        let planes = WPlanes {
            nplanes,
            w0,
            dw,
            nshift,
            kernel: k,
        };
        if best.as_ref().is_none_or(|(c, _, _)| cost < *c) {
            best = Some((cost, spec, planes));
        }
    }
    best.map(|(_, s, p)| (s, p))
        .ok_or(WStackError::TooManyPlanes {
            nplanes: fewest,
            wmin,
            wmax,
            nm1: nm1min.abs(),
            max: MAX_PLANES,
        })
}

/// Relative cost of the phase screen of one pixel of one plane (a sin/cos and a complex
/// multiply), in the units of [`kernel::grid_cost`].
const SCREEN_COST_PER_PIXEL: f64 = 20.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_minus_1_matches_direct_formula() {
        // The direct formula loses digits to cancellation (absolute error ~1e-16).
        for r2 in [0.0, 1e-8, 1e-3, 0.3, 0.99] {
            let want = (1.0f64 - r2).sqrt() - 1.0;
            let got = n_minus_1(r2);
            assert!(
                (got - want).abs() <= 1e-14 * want.abs() + 4e-16,
                "r2={r2}: {got} vs {want}"
            );
        }
        // Second-order expansion for tiny r².
        let r2 = 1e-10;
        assert!((n_minus_1(r2) + 0.5 * r2 + 0.125 * r2 * r2).abs() <= 1e-15 * r2);
    }

    #[test]
    fn fourier_table_matches_quadrature() {
        let k = EsKernel::optimised(8, 1.5);
        let t = FourierTable::new(&k, 0.5);
        for f in [0.0, 0.01, 0.1234, 0.3, 0.333, 0.4999] {
            let want = k.fourier(f);
            let got = t.eval(f);
            assert!(
                (got - want).abs() <= 1e-12 * want.abs(),
                "f={f}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn plane_weights_sum_like_the_kernel_transform() {
        // Σ_p ψ((w − w_p)/dw) e^{−2πi w_p x} = e^{−2πi w x} ψ̂(x dw) up to aliasing (~ε).
        let (spec, planes) = plan_wstack(&WStackRequest {
            nx: 256,
            ny: 256,
            cell_rad: 4e-4,
            nvis: 1000,
            epsilon: 1e-6,
            tile: 32,
            w_min_lambda: -900.0,
            w_max_lambda: 700.0,
        })
        .unwrap();
        assert!(spec.kernel.error_estimate * 1.5f64.sqrt() <= 1e-6);
        let (nm1min, _) = nm1_range(256, 256, 4e-4).unwrap();
        for &w in &[-900.0, -3.3, 0.0, 411.7, 700.0] {
            for &nm1 in &[nm1min, 0.5 * nm1min, 0.0] {
                let x = nm1 + planes.nshift;
                let (mut re, mut im) = (0.0, 0.0);
                let mut touched = 0;
                for p in 0..planes.nplanes {
                    if let Some((kr, ki)) = planes.select(p).factor(w) {
                        touched += 1;
                        // factor includes e^{+2πi w nshift}; remove it to test the plane sum.
                        let ph =
                            -2.0 * std::f64::consts::PI * (planes.w_of(p) * x + w * planes.nshift);
                        let (s, c) = ph.sin_cos();
                        re += kr * c - ki * s;
                        im += kr * s + ki * c;
                    }
                }
                assert_eq!(touched, planes.kernel.width, "w={w}");
                let ph = -2.0 * std::f64::consts::PI * w * x;
                let amp = planes.kernel.fourier(x * planes.dw);
                let (s, c) = ph.sin_cos();
                let err = ((re - amp * c).powi(2) + (im - amp * s).powi(2)).sqrt() / amp;
                assert!(err < 1e-6, "w={w} nm1={nm1}: {err:e}");
            }
        }
    }

    #[test]
    fn horizon_is_an_error() {
        assert!(nm1_range(1024, 1024, 2e-3).is_err());
        assert!(nm1_range(256, 256, 4e-4).is_ok());
    }
}
