//! Simulated Earth-rotation-synthesis observations.
//!
//! Geometry and measurement equation follow Thompson, Moran & Swenson (2017),
//! *Interferometry and Synthesis in Radio Astronomy*, 3rd ed., ch. 4 (eq. 4.1 for (u, v, w)
//! from local equatorial baseline coordinates), with the Measurement Set / WSClean sign
//! convention that the imager inverts.
//!
//! # Observation
//! * Antennas: a layout file ([`layout`], format in `data/layouts/README.md`), local ENU
//!   converted to equatorial XYZ: X = −sin(lat)·N + cos(lat)·U, Y = E, Z = cos(lat)·N + sin(lat)·U.
//! * Baselines: all pairs i < j (no autocorrelations), in the order (0,1), (0,2), …, (0,N−1),
//!   (1,2), …; baseline vector = antenna j − antenna i; `nbaseline = N (N − 1) / 2`.
//! * Times: `ntime = floor((ha_end_h − ha_start_h)·3600 / integration_s) + 1` dumps at hour
//!   angles H_t = ha_start_h + t·integration_s/3600 hours (t = 0 … ntime − 1; `integration_s`
//!   is taken as sidereal seconds of hour angle). The floor is taken with a 1e-9 tolerance
//!   so that a span that is an exact multiple of the integration is not lost to rounding.
//! * Rows are time-major: `row = t · nbaseline + b`. Weights are all 1, there are no flags.
//! * (u, v, w) in metres for hour angle H and declination δ (TMS eq. 4.1):
//!   u = sin H·X + cos H·Y;
//!   v = −sin δ cos H·X + sin δ sin H·Y + cos δ·Z;
//!   w = cos δ cos H·X − cos δ sin H·Y + sin δ·Z.
//! * Channels: ν_c = freq_start_hz + c·freq_step_hz, c = 0 … nchan − 1.
//!
//! # Measurement equation
//! With λ = c/ν and (u, v, w) in wavelengths,
//! V(u, v, w) = Σ_sources S·G(u, v)·exp(+2πi (u l + v m + w (n − 1))), n = √(1 − l² − m²),
//! where G = 1 for a point source and the elliptical-Gaussian taper of [`sky`] otherwise.
//! Evaluated in f64, stored as `Complex32`. Because the channels are equally spaced, the
//! phase is linear in channel index: per row and source the phasor of the first channel
//! of each block of [`ANCHOR_CHANNELS`] channels is computed directly with `sin_cos` and
//! the rest by repeated multiplication with the per-channel increment exp(iΔφ), which keeps
//! the rounding error below ~1e-14 while needing two `sin_cos` per block.
//!
//! # Noise
//! When `noise_jy > 0`, independent N(0, noise_jy²) deviates are added to the real and the
//! imaginary part of every sample (channel order, real before imaginary). Each row has its
//! own ChaCha8 stream: key from `seed`, stream number = row index, so a row's data never
//! depend on how rows are split into chunks or MPI ranks.
pub mod error;
pub mod layout;
pub mod read;
pub mod sky;

use std::ops::Range;

use num_complex::{Complex32, Complex64};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

use crate::config::SimConfig;
use crate::constants::{RAD_PER_DEG, SPEED_OF_LIGHT_M_S};
use crate::vis::{VisChunk, VisMeta};
pub use error::SimError;
use layout::Layout;
use sky::PreparedSource;

/// Channels per block between direct `sin_cos` re-anchorings of the phase recurrence.
pub const ANCHOR_CHANNELS: usize = 16;

fn bad_config(field: &str, value: impl ToString, reason: &str) -> SimError {
    SimError::Config {
        field: field.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// A simulated observation: geometry and sky model, evaluated lazily row block by row block.
#[derive(Clone, Debug)]
pub struct Simulator {
    telescope: String,
    ra_deg: f64,
    dec_deg: f64,
    sin_dec: f64,
    cos_dec: f64,
    /// Baseline vectors (antenna j − antenna i) in local equatorial XYZ, metres.
    baselines_xyz_m: Vec<[f64; 3]>,
    /// (sin H, cos H) per time step.
    sin_cos_ha: Vec<(f64, f64)>,
    freq_start_hz: f64,
    freq_step_hz: f64,
    freq_hz: Vec<f64>,
    sources: Vec<PreparedSource>,
    noise: Option<Normal<f64>>,
    /// ChaCha8 key derived from `seed`.
    noise_key: [u8; 32],
    nrow: usize,
}

impl Simulator {
    /// Builds the observation. Relative layout paths are resolved as given (relative to the CWD).
    pub fn new(cfg: &SimConfig) -> Result<Self, SimError> {
        if !(cfg.dec_deg.is_finite() && (-90.0..=90.0).contains(&cfg.dec_deg)) {
            return Err(bad_config("dec_deg", cfg.dec_deg, "must be in [-90, 90]"));
        }
        if !cfg.ra_deg.is_finite() {
            return Err(bad_config("ra_deg", cfg.ra_deg, "must be finite"));
        }
        if !(cfg.integration_s.is_finite() && cfg.integration_s > 0.0) {
            return Err(bad_config(
                "integration_s",
                cfg.integration_s,
                "must be positive",
            ));
        }
        if !(cfg.ha_start_h.is_finite()
            && cfg.ha_end_h.is_finite()
            && cfg.ha_end_h >= cfg.ha_start_h)
        {
            return Err(bad_config(
                "ha_end_h",
                cfg.ha_end_h,
                "must be finite and >= ha_start_h",
            ));
        }
        if cfg.nchan == 0 {
            return Err(bad_config("nchan", 0, "must be at least 1"));
        }
        if !(cfg.freq_start_hz.is_finite() && cfg.freq_start_hz > 0.0) {
            return Err(bad_config(
                "freq_start_hz",
                cfg.freq_start_hz,
                "must be positive",
            ));
        }
        let freq_hz: Vec<f64> = (0..cfg.nchan)
            .map(|c| cfg.freq_start_hz + c as f64 * cfg.freq_step_hz)
            .collect();
        if !(cfg.freq_step_hz.is_finite() && freq_hz.iter().all(|&f| f > 0.0)) {
            return Err(bad_config(
                "freq_step_hz",
                cfg.freq_step_hz,
                "makes a channel frequency <= 0",
            ));
        }
        if !(cfg.noise_jy.is_finite() && cfg.noise_jy >= 0.0) {
            return Err(bad_config("noise_jy", cfg.noise_jy, "must be >= 0"));
        }
        let mut sources = Vec::with_capacity(cfg.sources.len());
        for (i, c) in cfg.sources.iter().enumerate() {
            if !c.flux_jy.is_finite() {
                return Err(bad_config(
                    &format!("sources[{i}].flux_jy"),
                    c.flux_jy,
                    "must be finite",
                ));
            }
            if c.kind == crate::config::SourceKind::Gaussian
                && !(c.major_arcsec.is_finite()
                    && c.minor_arcsec.is_finite()
                    && c.major_arcsec > 0.0
                    && c.minor_arcsec > 0.0
                    && c.pa_deg.is_finite())
            {
                return Err(bad_config(
                    &format!("sources[{i}].major_arcsec"),
                    c.major_arcsec,
                    "a gaussian needs finite positive major_arcsec, minor_arcsec and a finite pa_deg",
                ));
            }
            let s = PreparedSource::new(c).map_err(|(field, value)| {
                bad_config(
                    &format!("sources[{i}].{field}"),
                    value,
                    "l² + m² must be < 1 (direction cosines)",
                )
            })?;
            sources.push(s);
        }

        let span = (cfg.ha_end_h - cfg.ha_start_h) * 3600.0 / cfg.integration_s;
        let steps = (span + 1e-9).floor();
        if steps >= 1e9 {
            return Err(bad_config(
                "integration_s",
                cfg.integration_s,
                "gives more than 1e9 time steps",
            ));
        }
        let ntime = steps as usize + 1;
        let sin_cos_ha = (0..ntime)
            .map(|t| {
                let ha_h = cfg.ha_start_h + t as f64 * cfg.integration_s / 3600.0;
                (ha_h * 15.0 * RAD_PER_DEG).sin_cos()
            })
            .collect();

        let layout = Layout::from_file(&cfg.layout)?;
        let xyz = layout.xyz_m();
        let mut baselines_xyz_m = Vec::with_capacity(xyz.len() * (xyz.len() - 1) / 2);
        for (i, a) in xyz.iter().enumerate() {
            for b in &xyz[i + 1..] {
                baselines_xyz_m.push([b[0] - a[0], b[1] - a[1], b[2] - a[2]]);
            }
        }
        let nrow = ntime.checked_mul(baselines_xyz_m.len()).ok_or_else(|| {
            bad_config(
                "integration_s",
                cfg.integration_s,
                "makes the row count overflow",
            )
        })?;

        let noise = if cfg.noise_jy > 0.0 {
            Some(
                Normal::new(0.0, cfg.noise_jy)
                    .map_err(|e| bad_config("noise_jy", cfg.noise_jy, &e.to_string()))?,
            )
        } else {
            None
        };
        let (sin_dec, cos_dec) = (cfg.dec_deg * RAD_PER_DEG).sin_cos();
        Ok(Self {
            telescope: layout.telescope,
            ra_deg: cfg.ra_deg,
            dec_deg: cfg.dec_deg,
            sin_dec,
            cos_dec,
            baselines_xyz_m,
            sin_cos_ha,
            freq_start_hz: cfg.freq_start_hz,
            freq_step_hz: cfg.freq_step_hz,
            freq_hz,
            sources,
            noise,
            noise_key: ChaCha8Rng::seed_from_u64(cfg.seed).get_seed(),
            nrow,
        })
    }

    /// Observation metadata: telescope name from the layout file, phase centre from the
    /// config, channel frequencies and the total row count.
    pub fn meta(&self) -> VisMeta {
        VisMeta {
            telescope: self.telescope.clone(),
            phase_centre_ra_deg: self.ra_deg,
            phase_centre_dec_deg: self.dec_deg,
            freq_hz: self.freq_hz.clone(),
            nrow: self.nrow,
        }
    }

    /// Total number of rows (`ntime · nbaseline`).
    pub fn nrow(&self) -> usize {
        self.nrow
    }

    /// Number of channels.
    pub fn nchan(&self) -> usize {
        self.freq_hz.len()
    }

    fn nbaseline(&self) -> usize {
        self.baselines_xyz_m.len()
    }

    /// (u, v, w) of a row in metres (TMS eq. 4.1).
    #[inline]
    fn uvw_m(&self, row: usize) -> [f64; 3] {
        let nb = self.nbaseline();
        let [x, y, z] = self.baselines_xyz_m[row % nb];
        let (sin_h, cos_h) = self.sin_cos_ha[row / nb];
        let (sd, cd) = (self.sin_dec, self.cos_dec);
        [
            sin_h * x + cos_h * y,
            -sd * cos_h * x + sd * sin_h * y + cd * z,
            cd * cos_h * x - cd * sin_h * y + sd * z,
        ]
    }

    /// Rows `rows` with uvw and weights only (visibilities left at zero): all a PSF or the
    /// uv extent needs, without evaluating the measurement equation.
    ///
    /// # Panics
    /// If `rows.end > self.nrow()` (a caller bug, not user input).
    pub fn uvw_chunk(&self, rows: Range<usize>) -> VisChunk {
        assert!(
            rows.end <= self.nrow,
            "Simulator::uvw_chunk: rows {rows:?} outside 0..{}",
            self.nrow
        );
        let n = rows.len() * self.nchan();
        VisChunk {
            row0: rows.start,
            uvw_m: rows
                .clone()
                .into_par_iter()
                .map(|r| self.uvw_m(r))
                .collect(),
            vis: vec![Complex32::new(0.0, 0.0); n],
            weight: vec![1.0; n],
            flag: Vec::new(),
        }
    }

    /// Rows `rows` of the observation, computed rayon-parallel over rows. Deterministic: a
    /// row's values do not depend on how rows are split into chunks or ranks.
    ///
    /// # Panics
    /// If `rows.end > self.nrow()` (a caller bug, not user input).
    pub fn chunk(&self, rows: Range<usize>) -> VisChunk {
        assert!(
            rows.start <= rows.end && rows.end <= self.nrow,
            "Simulator::chunk: rows {rows:?} outside 0..{}",
            self.nrow
        );
        let nchan = self.nchan();
        let n = rows.len();
        let uvw_m: Vec<[f64; 3]> = rows
            .clone()
            .into_par_iter()
            .map(|r| self.uvw_m(r))
            .collect();
        let mut vis = vec![Complex32::new(0.0, 0.0); n * nchan];
        vis.par_chunks_mut(nchan)
            .zip(uvw_m.par_iter())
            .enumerate()
            .with_min_len(16)
            .for_each_init(
                || vec![Complex64::new(0.0, 0.0); nchan],
                |acc, (i, (out, uvw))| self.row_vis(rows.start + i, *uvw, acc, out),
            );
        VisChunk {
            row0: rows.start,
            uvw_m,
            vis,
            weight: vec![1.0; n * nchan],
            flag: Vec::new(),
        }
    }

    /// Evaluates the measurement equation (plus noise) for one row into `out` (`[nchan]`),
    /// using `acc` (`[nchan]`) as f64 scratch.
    fn row_vis(&self, row: usize, uvw_m: [f64; 3], acc: &mut [Complex64], out: &mut [Complex32]) {
        acc.fill(Complex64::new(0.0, 0.0));
        let [u_m, v_m, w_m] = uvw_m;
        let two_pi_over_c = 2.0 * std::f64::consts::PI / SPEED_OF_LIGHT_M_S;
        let inv_c2 = 1.0 / (SPEED_OF_LIGHT_M_S * SPEED_OF_LIGHT_M_S);
        for s in &self.sources {
            // Phase per Hz: φ(ν) = +2π (u_m l + v_m m + w_m (n − 1)) ν / c.
            let k_rad_per_hz = two_pi_over_c * (u_m * s.l + v_m * s.m + w_m * s.n_minus_1);
            let phi0 = k_rad_per_hz * self.freq_start_hz;
            let dphi = k_rad_per_hz * self.freq_step_hz;
            match s.gaussian {
                None => accumulate(acc, phi0, dphi, |_| s.flux_jy),
                Some(g) => {
                    // The taper exponent scales as ν²: G(ν) = exp(−e_m · ν²/c²).
                    let e_per_hz2 = g.exponent(u_m, v_m) * inv_c2;
                    let freq_hz = &self.freq_hz;
                    accumulate(acc, phi0, dphi, |c| {
                        let f = freq_hz[c];
                        s.flux_jy * (-e_per_hz2 * f * f).exp()
                    });
                }
            }
        }
        match &self.noise {
            None => {
                for (o, a) in out.iter_mut().zip(acc.iter()) {
                    *o = Complex32::new(a.re as f32, a.im as f32);
                }
            }
            Some(normal) => {
                let mut rng = ChaCha8Rng::from_seed(self.noise_key);
                rng.set_stream(row as u64);
                for (o, a) in out.iter_mut().zip(acc.iter()) {
                    let re = a.re + normal.sample(&mut rng);
                    let im = a.im + normal.sample(&mut rng);
                    *o = Complex32::new(re as f32, im as f32);
                }
            }
        }
    }
}

/// acc[c] += amp(c) · exp(i (φ0 + c Δφ)) for every channel: direct `sin_cos` at the start of
/// each block of [`ANCHOR_CHANNELS`] channels, multiplication by exp(iΔφ) in between.
#[inline(always)]
fn accumulate(acc: &mut [Complex64], phi0: f64, dphi: f64, amp: impl Fn(usize) -> f64) {
    let step = if acc.len() > 1 {
        let (s, c) = dphi.sin_cos();
        Complex64::new(c, s)
    } else {
        Complex64::new(1.0, 0.0)
    };
    for (block, acc_block) in acc.chunks_mut(ANCHOR_CHANNELS).enumerate() {
        let c0 = block * ANCHOR_CHANNELS;
        let (s, c) = (phi0 + c0 as f64 * dphi).sin_cos();
        let mut z = Complex64::new(c, s);
        for (k, a) in acc_block.iter_mut().enumerate() {
            *a += z * amp(c0 + k);
            z *= step;
        }
    }
}

#[cfg(test)]
mod tests;
