//! `[simulate]`: an Earth-rotation-synthesis observation and its sky model, for
//! `rimager simulate` and `input.source = "simulate"`.
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::{check, FieldError};
use super::input::default_vis_path;

/// Kind of sky-model component.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// Unresolved point source.
    #[default]
    Point,
    /// Elliptical Gaussian (FWHM axes, position angle east of north).
    Gaussian,
}

/// One `[[simulate.sources]]` component. Offsets are direction cosines (l east, m north)
/// expressed in arcseconds.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SkyComponent {
    /// `"point"` or `"gaussian"`.
    #[serde(default)]
    pub kind: SourceKind,
    /// Integrated flux density, Jy.
    pub flux_jy: f64,
    /// Offset east of the phase centre (direction cosine l), arcsec.
    #[serde(default)]
    pub l_arcsec: f64,
    /// Offset north of the phase centre (direction cosine m), arcsec.
    #[serde(default)]
    pub m_arcsec: f64,
    /// Gaussian major-axis FWHM, arcsec.
    #[serde(default)]
    pub major_arcsec: f64,
    /// Gaussian minor-axis FWHM, arcsec.
    #[serde(default)]
    pub minor_arcsec: f64,
    /// Gaussian position angle of the major axis, degrees east of north.
    #[serde(default)]
    pub pa_deg: f64,
}

/// `[simulate]` section: an Earth-rotation-synthesis observation.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// Antenna layout file (see `data/layouts/README.md`).
    #[serde(default = "default_layout")]
    pub layout: PathBuf,
    /// Phase-centre right ascension, degrees.
    #[serde(default)]
    pub ra_deg: f64,
    /// Phase-centre declination, degrees.
    #[serde(default = "default_dec")]
    pub dec_deg: f64,
    /// First hour angle, hours.
    #[serde(default = "default_ha_start")]
    pub ha_start_h: f64,
    /// Last hour angle, hours (inclusive end of the track).
    #[serde(default = "default_ha_end")]
    pub ha_end_h: f64,
    /// Integration (dump) time, seconds.
    #[serde(default = "default_integration")]
    pub integration_s: f64,
    /// First channel frequency, Hz.
    #[serde(default = "default_freq_start")]
    pub freq_start_hz: f64,
    /// Channel spacing, Hz (negative for descending frequencies).
    #[serde(default = "default_freq_step")]
    pub freq_step_hz: f64,
    /// Number of channels.
    #[serde(default = "default_nchan")]
    pub nchan: usize,
    /// Standard deviation of complex Gaussian noise added to each of re and im, Jy.
    #[serde(default)]
    pub noise_jy: f64,
    /// Random seed (noise); the data are identical for any number of ranks.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Output file for `rimager simulate`.
    #[serde(default = "default_vis_path")]
    pub output: PathBuf,
    /// Sky model.
    #[serde(default)]
    pub sources: Vec<SkyComponent>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            layout: default_layout(),
            ra_deg: 0.0,
            dec_deg: default_dec(),
            ha_start_h: default_ha_start(),
            ha_end_h: default_ha_end(),
            integration_s: default_integration(),
            freq_start_hz: default_freq_start(),
            freq_step_hz: default_freq_step(),
            nchan: default_nchan(),
            noise_jy: 0.0,
            seed: default_seed(),
            output: default_vis_path(),
            sources: Vec::new(),
        }
    }
}

fn default_layout() -> PathBuf {
    PathBuf::from("data/layouts/meerkat.csv")
}
fn default_dec() -> f64 {
    -30.0
}
fn default_ha_start() -> f64 {
    -2.0
}
fn default_ha_end() -> f64 {
    2.0
}
fn default_integration() -> f64 {
    60.0
}
fn default_freq_start() -> f64 {
    1.28e9
}
fn default_freq_step() -> f64 {
    1.0e6
}
fn default_nchan() -> usize {
    4
}
fn default_seed() -> u64 {
    42
}

impl SimConfig {
    /// Checks value ranges: the track, the channels, the noise and every sky component.
    pub fn validate(&self) -> Result<(), FieldError> {
        check(
            self.dec_deg.is_finite() && (-90.0..=90.0).contains(&self.dec_deg),
            "simulate.dec_deg",
            self.dec_deg,
            "must be in [-90, 90]",
        )?;
        check(
            self.integration_s.is_finite() && self.integration_s > 0.0,
            "simulate.integration_s",
            self.integration_s,
            "must be positive",
        )?;
        check(
            self.ha_end_h.is_finite()
                && self.ha_start_h.is_finite()
                && self.ha_end_h >= self.ha_start_h,
            "simulate.ha_end_h",
            self.ha_end_h,
            "must be finite and >= ha_start_h",
        )?;
        self.validate_channels()?;
        check(
            self.noise_jy.is_finite() && self.noise_jy >= 0.0,
            "simulate.noise_jy",
            self.noise_jy,
            "must be >= 0",
        )?;
        for (i, c) in self.sources.iter().enumerate() {
            c.validate(i)?;
        }
        Ok(())
    }

    /// Checks `nchan`, `freq_start_hz` and that `freq_step_hz` keeps every channel above 0 Hz.
    fn validate_channels(&self) -> Result<(), FieldError> {
        check(self.nchan != 0, "simulate.nchan", 0, "must be at least 1")?;
        check(
            self.freq_start_hz.is_finite() && self.freq_start_hz > 0.0,
            "simulate.freq_start_hz",
            self.freq_start_hz,
            "must be positive",
        )?;
        let last = self.freq_start_hz + self.freq_step_hz * (self.nchan as f64 - 1.0);
        check(
            self.freq_step_hz.is_finite() && last > 0.0,
            "simulate.freq_step_hz",
            self.freq_step_hz,
            "makes a channel frequency <= 0",
        )
    }
}

impl SkyComponent {
    /// Checks component `i` of `simulate.sources`.
    pub fn validate(&self, i: usize) -> Result<(), FieldError> {
        check(
            self.flux_jy.is_finite(),
            &format!("simulate.sources[{i}].flux_jy"),
            self.flux_jy,
            "must be finite",
        )?;
        check(
            self.kind != SourceKind::Gaussian
                || (self.major_arcsec > 0.0 && self.minor_arcsec > 0.0),
            &format!("simulate.sources[{i}].major_arcsec"),
            self.major_arcsec,
            "a gaussian needs positive major_arcsec and minor_arcsec",
        )
    }
}
