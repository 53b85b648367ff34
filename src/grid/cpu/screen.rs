//! The w-stacking sum over planes on the CPU: `Σ_p Re[I_p · exp(−2πi w_p (n − 1 + nshift))]`
//! at every pixel ([`crate::wstack`], Arras et al. 2021). The screen depends on `l² + m²`
//! only, so it is kept for one quadrant of the image (a quarter of the pixels; the transform
//! reads it by `|px|, |py|`, [`crate::fft::Fft2d::add_screened`]). Planes come in steps of one
//! `dw`, so the screen is advanced by one complex multiplication per quadrant pixel and plane
//! (`e_{p+1} = e_p · exp(−2πi dw x)`) instead of a sine and cosine, and recomputed exactly
//! every [`RESEED_PLANES`] planes (or when the step changes) so that rounding cannot grow.
use num_complex::Complex;
use rayon::prelude::*;

use crate::wstack::WScreen;

/// Planes advanced by the recurrence before the screen is recomputed exactly.
const RESEED_PLANES: usize = 32;

/// What the quadrant of `n − 1 + nshift` depends on: `(nshift, cell_rad, nx, ny)`.
type ScreenKey = (f64, f64, usize, usize);

/// The running sum of screened planes and the state of the screen recurrence.
#[derive(Default)]
pub(super) struct ScreenSum {
    /// `(nshift, cell_rad, nx, ny)` and `x = n − 1 + nshift` at every quadrant pixel for them.
    nm1: Option<(ScreenKey, Vec<f64>)>,
    /// The sum over planes, `[ny][nx]`.
    sum: Vec<f64>,
    /// `exp(−2πi w x)` of the last plane on the quadrant, and that plane's w (wavelengths).
    screen: Vec<Complex<f64>>,
    last_w: Option<f64>,
    /// `exp(−2πi dw x)` and its `dw`.
    step: Vec<Complex<f64>>,
    step_dw: Option<f64>,
    /// Planes since the screen was last computed exactly.
    since_seed: usize,
}

/// `exp(−2πi w x)` for every `x`, exactly.
fn phases(w_lambda: f64, x: &[f64], out: &mut Vec<Complex<f64>>) {
    let k = -2.0 * std::f64::consts::PI * w_lambda;
    out.resize(x.len(), Complex::default());
    out.par_iter_mut().zip(x.par_iter()).for_each(|(o, &x)| {
        let (s, c) = (k * x).sin_cos();
        *o = Complex::new(c, s);
    });
}

/// `n − 1 + nshift` on the quadrant, column-major `[qx][qy]`, `qx = 0 ..= nx/2`,
/// `qy = 0 ..= ny/2` (pixel offsets from the image centre, the pixels `(nx/2 ± qx, ny/2 ± qy)`).
fn quadrant_nm1(screen: &WScreen, nx: usize, ny: usize) -> Vec<f64> {
    let qh = ny / 2 + 1;
    let mut out = vec![0.0; (nx / 2 + 1) * qh];
    out.par_chunks_mut(qh).enumerate().for_each(|(qx, col)| {
        let l = qx as f64 * screen.cell_rad;
        for (qy, o) in col.iter_mut().enumerate() {
            let m = qy as f64 * screen.cell_rad;
            *o = crate::wstack::n_minus_1(l * l + m * m) + screen.nshift;
        }
    });
    out
}

impl ScreenSum {
    /// Moves the screen to plane `screen` and returns it on the quadrant (see
    /// [`quadrant_nm1`]) together with the sum over planes (`[ny][nx]`) to add the plane to.
    pub(super) fn advance(
        &mut self,
        screen: &WScreen,
        nx: usize,
        ny: usize,
    ) -> (&[Complex<f64>], &mut [f64]) {
        let key = (screen.nshift, screen.cell_rad, nx, ny);
        if self.nm1.as_ref().is_none_or(|(k, _)| *k != key) {
            self.nm1 = Some((key, quadrant_nm1(screen, nx, ny)));
            self.last_w = None;
            self.step_dw = None;
        }
        let Some((_, x)) = self.nm1.as_ref() else {
            unreachable!("set just above");
        };
        if self.sum.len() != nx * ny {
            self.sum = vec![0.0; nx * ny];
        }
        let w = screen.w_lambda;
        match self.last_w {
            Some(last) if self.since_seed < RESEED_PLANES => {
                let dw = w - last;
                if self
                    .step_dw
                    .is_none_or(|s| (s - dw).abs() > 1e-12 * dw.abs().max(1e-300))
                {
                    phases(dw, x, &mut self.step);
                    self.step_dw = Some(dw);
                }
                self.screen
                    .par_iter_mut()
                    .zip(self.step.par_iter())
                    .for_each(|(e, s)| *e *= s);
                self.since_seed += 1;
            }
            _ => {
                phases(w, x, &mut self.screen);
                self.since_seed = 0;
            }
        }
        self.last_w = Some(w);
        (&self.screen, &mut self.sum)
    }

    /// The sum (zeros if no plane was added), `n` pixels; the sum starts again from zero.
    pub(super) fn take(&mut self, n: usize) -> Vec<f64> {
        let mut out = std::mem::take(&mut self.sum);
        out.resize(n, 0.0);
        self.last_w = None;
        out
    }
}
