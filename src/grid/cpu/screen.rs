//! The w-stacking sum over planes on the CPU: `Σ_p Re[I_p · exp(−2πi w_p (n − 1 + nshift))]`
//! at every pixel ([`crate::wstack`], Arras et al. 2021). Planes come in steps of one `dw`,
//! so the phase screen is advanced by one complex multiplication per pixel and plane
//! (`e_{p+1} = e_p · exp(−2πi dw x)`) instead of a sine and cosine, and recomputed exactly
//! every [`RESEED_PLANES`] planes (or when the step changes) so that rounding cannot grow.
use num_complex::Complex;
use rayon::prelude::*;

use crate::wstack::WScreen;

/// Planes advanced by the recurrence before the screen is recomputed exactly.
const RESEED_PLANES: usize = 32;

/// The running sum of screened planes and the state of the screen recurrence.
#[derive(Default)]
pub(super) struct ScreenSum {
    /// `(nshift, cell_rad)` and `x = n − 1 + nshift` at every pixel for them.
    nm1: Option<((f64, f64), Vec<f64>)>,
    /// The sum over planes, `[ny][nx]`.
    sum: Vec<f64>,
    /// `exp(−2πi w x)` of the last plane, and that plane's w (wavelengths).
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

impl ScreenSum {
    /// Adds `Re[img · screen]` of the plane `screen` to the sum (`img` is `[ny][nx]`).
    pub(super) fn add(&mut self, img: &[Complex<f64>], screen: &WScreen, nx: usize, ny: usize) {
        let key = (screen.nshift, screen.cell_rad);
        if self.nm1.as_ref().is_none_or(|(k, _)| *k != key) {
            self.nm1 = Some((key, screen.nm1_shifted(nx, ny)));
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
        self.sum
            .par_iter_mut()
            .zip(img.par_iter())
            .zip(self.screen.par_iter())
            .for_each(|((s, c), e)| *s += c.re * e.re - c.im * e.im);
    }

    /// The sum (zeros if no plane was added), `n` pixels; the sum starts again from zero.
    pub(super) fn take(&mut self, n: usize) -> Vec<f64> {
        let mut out = std::mem::take(&mut self.sum);
        out.resize(n, 0.0);
        self.last_w = None;
        out
    }
}
