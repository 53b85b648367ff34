//! Run configuration: a TOML file (every key documented in `configs/README.md`) plus
//! command-line overrides. Unknown keys are errors, so a typo never silently falls back
//! to a default.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Errors reading or checking a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown/mistyped keys.
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// A value is out of its allowed range.
    #[error("config {path}: field `{field}` = {value}: {reason}")]
    Value {
        path: PathBuf,
        field: String,
        value: String,
        reason: String,
    },
}

/// The whole configuration file.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where visibilities come from.
    #[serde(default)]
    pub input: InputConfig,
    /// The simulated observation (for `rimager simulate` and `input.source = "simulate"`).
    #[serde(default)]
    pub simulate: SimConfig,
    /// Imaging parameters.
    #[serde(default)]
    pub image: ImageConfig,
    /// Verification parameters (`rimager verify`).
    #[serde(default)]
    pub verify: VerifyConfig,
    /// Resource, energy and CO2 accounting of `rimager image` (see [`crate::energy`]).
    #[serde(default)]
    pub metrics: crate::energy::MetricsConfig,
    /// The path this configuration was read from (not a key).
    #[serde(skip)]
    pub origin: PathBuf,
}

/// Source of visibilities for `rimager image`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Read the HDF5 file `input.path`.
    #[default]
    File,
    /// Generate the `[simulate]` observation in memory, each rank its own rows.
    Simulate,
}

/// `[input]` section.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// `"file"` or `"simulate"`.
    #[serde(default)]
    pub source: Source,
    /// Visibility file (HDF5) when `source = "file"`.
    #[serde(default = "default_vis_path")]
    pub path: PathBuf,
    /// Rows read (or simulated) per chunk; bounds memory per rank.
    #[serde(default = "default_chunk_rows")]
    pub chunk_rows: usize,
}

impl Default for InputConfig {
    fn default() -> Self {
        Self {
            source: Source::File,
            path: default_vis_path(),
            chunk_rows: default_chunk_rows(),
        }
    }
}

fn default_vis_path() -> PathBuf {
    PathBuf::from("data/default_vis.h5")
}
fn default_chunk_rows() -> usize {
    65_536
}

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

/// Floating-point precision of the grid and FFT.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// float32 where ε allows it (ε ≥ [`SINGLE_PRECISION_MIN_EPSILON`]), else float64.
    #[default]
    Auto,
    /// float32 grid and FFT.
    Single,
    /// float64 grid and FFT.
    Double,
}

/// Smallest ε for which `precision = "auto"` picks float32.
pub const SINGLE_PRECISION_MIN_EPSILON: f64 = 2e-5;

/// Visibility weighting scheme (WSClean's definitions, see [`crate::weighting`]).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Weighting {
    /// Each sample weighted by its own weight.
    #[default]
    Natural,
    /// Each sample's weight divided by the summed weight of its uv cell.
    Uniform,
    /// Briggs' robust weighting with `image.robust` (−2 ≈ uniform, +2 ≈ natural).
    Briggs,
}

impl Weighting {
    /// The name used in the configuration and the output metadata.
    pub fn name(self) -> &'static str {
        match self {
            Weighting::Natural => "natural",
            Weighting::Uniform => "uniform",
            Weighting::Briggs => "briggs",
        }
    }
}

/// w-stacking (`image.wstacking`): `true`, `false` or `"auto"`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum WStacking {
    /// Always (`true`) or never (`false`, 2-D imaging that ignores w).
    Bool(bool),
    /// `"auto"`: on when the w-term's largest phase `2π max|w| max|n − 1|` exceeds ε.
    Auto(AutoTag),
}

impl Default for WStacking {
    fn default() -> Self {
        WStacking::Bool(false)
    }
}

/// Which reference `rimager verify` compares with (`verify.reference`).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum VerifyReference {
    /// The model the image was made with: the w-term DFT for a w-stacked image, else 2-D.
    #[default]
    Auto,
    /// The 2-D DFT (w ignored).
    #[serde(rename = "2d")]
    TwoD,
    /// The DFT with the w-term.
    Wterm,
    /// Both, each with its own pass/fail line.
    Both,
}

/// Compute backend.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// rayon-threaded CPU gridder and rustfft.
    #[default]
    Cpu,
    /// CUDA gridder and cuFFT, one GPU per rank; an error where no GPU is usable.
    Gpu,
    /// The GPU where one is usable, else the CPU (with a logged notice).
    Auto,
}

/// Pixel size: a number of arcseconds or `"auto"`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Cell {
    /// Fixed pixel size, arcsec.
    Arcsec(f64),
    /// `"auto"`: a third of the finest fringe, 1/(3 |uv|max) radians.
    Auto(AutoTag),
}

/// The literal string `"auto"`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AutoTag {
    /// `"auto"`.
    Auto,
}

impl Default for Cell {
    fn default() -> Self {
        Cell::Auto(AutoTag::Auto)
    }
}

/// `[image]` section.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig {
    /// Image width (east-west), pixels; even.
    #[serde(default = "default_npix")]
    pub nx: usize,
    /// Image height (north-south), pixels; even.
    #[serde(default = "default_npix")]
    pub ny: usize,
    /// Pixel size in arcsec, or `"auto"`.
    #[serde(default)]
    pub cell_arcsec: Cell,
    /// Requested relative accuracy of the dirty image (kernel width and oversampling are
    /// derived from it).
    #[serde(default = "default_epsilon")]
    pub epsilon: f64,
    /// `"auto"`, `"single"` or `"double"`.
    #[serde(default)]
    pub precision: Precision,
    /// Weighting scheme.
    #[serde(default)]
    pub weighting: Weighting,
    /// Briggs robustness R in [−2, 2] (used with `weighting = "briggs"`).
    #[serde(default)]
    pub robust: f64,
    /// FWHM of the Gaussian uv taper in the image domain, arcsec; 0 = no taper.
    #[serde(default)]
    pub taper_arcsec: f64,
    /// Compute backend.
    #[serde(default)]
    pub backend: Backend,
    /// rayon threads per rank; 0 = `RAYON_NUM_THREADS`, else `SLURM_CPUS_PER_TASK`, else all cores.
    #[serde(default)]
    pub threads: usize,
    /// Output path prefix: writes `<output>.h5`, `<output>.fits`, `<output>-psf.fits`.
    #[serde(default = "default_output")]
    pub output: PathBuf,
    /// Also write the PSF.
    #[serde(default = "default_true")]
    pub psf: bool,
    /// Side of a gridding tile in grid cells (a power of two ≥ the kernel width).
    #[serde(default = "default_tile")]
    pub tile_size: usize,
    /// w-stacking (Arras et al. 2021) for wide fields: `true`, `false` or `"auto"`.
    #[serde(default)]
    pub wstacking: WStacking,
    /// Output channels: 1 = the multi-frequency-synthesis image only; N > 1 = also an image
    /// cube of N planes, contiguous groups of channels in file order (WSClean's
    /// `-channels-out`). See [`crate::channels`].
    #[serde(default = "default_channels_out")]
    pub channels_out: usize,
    /// Also write PNG quick looks of the image and PSF (`<output>.png`, `<output>-psf.png`).
    #[serde(default = "default_true")]
    pub png: bool,
}

impl Default for ImageConfig {
    fn default() -> Self {
        Self {
            nx: default_npix(),
            ny: default_npix(),
            cell_arcsec: Cell::default(),
            epsilon: default_epsilon(),
            precision: Precision::Auto,
            weighting: Weighting::Natural,
            robust: 0.0,
            taper_arcsec: 0.0,
            backend: Backend::Cpu,
            threads: 0,
            output: default_output(),
            psf: true,
            tile_size: default_tile(),
            wstacking: WStacking::default(),
            channels_out: default_channels_out(),
            png: true,
        }
    }
}

fn default_npix() -> usize {
    1024
}
fn default_epsilon() -> f64 {
    1e-4
}
fn default_output() -> PathBuf {
    PathBuf::from("out/default")
}
fn default_true() -> bool {
    true
}
fn default_tile() -> usize {
    32
}
fn default_channels_out() -> usize {
    1
}

/// `[verify]` section.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyConfig {
    /// Side of the central square patch compared pixel by pixel.
    #[serde(default = "default_patch")]
    pub patch: usize,
    /// Number of random pixels compared outside the patch.
    #[serde(default = "default_nrandom")]
    pub random_pixels: usize,
    /// Pass threshold on the relative L2 error; 0 = the image's own ε (at least 1e-6, the
    /// limit of its float32 storage).
    #[serde(default)]
    pub threshold: f64,
    /// Seed for choosing the random pixels.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Which DFT to compare with: `"auto"`, `"2d"`, `"wterm"` or `"both"`.
    #[serde(default)]
    pub reference: VerifyReference,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        Self {
            patch: default_patch(),
            random_pixels: default_nrandom(),
            threshold: 0.0,
            seed: default_seed(),
            reference: VerifyReference::Auto,
        }
    }
}

fn default_patch() -> usize {
    32
}
fn default_nrandom() -> usize {
    128
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text, path)
    }

    /// Parses and checks configuration text; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_path_buf(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        cfg.origin = origin.to_path_buf();
        cfg.validate()?;
        Ok(cfg)
    }

    fn bad(&self, field: &str, value: impl ToString, reason: &str) -> ConfigError {
        ConfigError::Value {
            path: self.origin.clone(),
            field: field.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }

    /// Checks value ranges; called after parsing and after CLI overrides.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let im = &self.image;
        for (name, n) in [("image.nx", im.nx), ("image.ny", im.ny)] {
            if n < 8 || n % 2 != 0 {
                return Err(self.bad(name, n, "must be an even number of at least 8"));
            }
        }
        if !(im.epsilon.is_finite() && im.epsilon >= 1e-14 && im.epsilon <= 0.1) {
            return Err(self.bad("image.epsilon", im.epsilon, "must be in [1e-14, 0.1]"));
        }
        if im.precision == Precision::Single && im.epsilon < SINGLE_PRECISION_MIN_EPSILON {
            return Err(self.bad(
                "image.epsilon",
                im.epsilon,
                "is below what float32 can reach; use precision = \"double\" or \"auto\"",
            ));
        }
        if let Cell::Arcsec(c) = im.cell_arcsec {
            if !(c.is_finite() && c > 0.0) {
                return Err(self.bad(
                    "image.cell_arcsec",
                    c,
                    "must be a positive number or \"auto\"",
                ));
            }
        }
        if !(im.robust.is_finite() && (-2.0..=2.0).contains(&im.robust)) {
            return Err(self.bad("image.robust", im.robust, "must be in [-2, 2]"));
        }
        if !(im.taper_arcsec.is_finite() && im.taper_arcsec >= 0.0) {
            return Err(self.bad(
                "image.taper_arcsec",
                im.taper_arcsec,
                "must be >= 0 (0 = no taper)",
            ));
        }
        if !im.tile_size.is_power_of_two() || !(8..=256).contains(&im.tile_size) {
            return Err(self.bad(
                "image.tile_size",
                im.tile_size,
                "must be a power of two in [8, 256]",
            ));
        }
        if im.channels_out == 0 {
            return Err(self.bad(
                "image.channels_out",
                0,
                "must be at least 1 (1 = the MFS image only)",
            ));
        }
        if self.input.chunk_rows == 0 {
            return Err(self.bad("input.chunk_rows", 0, "must be positive"));
        }
        let s = &self.simulate;
        if !(s.dec_deg.is_finite() && (-90.0..=90.0).contains(&s.dec_deg)) {
            return Err(self.bad("simulate.dec_deg", s.dec_deg, "must be in [-90, 90]"));
        }
        if !(s.integration_s.is_finite() && s.integration_s > 0.0) {
            return Err(self.bad(
                "simulate.integration_s",
                s.integration_s,
                "must be positive",
            ));
        }
        if !(s.ha_end_h.is_finite() && s.ha_start_h.is_finite() && s.ha_end_h >= s.ha_start_h) {
            return Err(self.bad(
                "simulate.ha_end_h",
                s.ha_end_h,
                "must be finite and >= ha_start_h",
            ));
        }
        if s.nchan == 0 {
            return Err(self.bad("simulate.nchan", 0, "must be at least 1"));
        }
        if !(s.freq_start_hz.is_finite() && s.freq_start_hz > 0.0) {
            return Err(self.bad(
                "simulate.freq_start_hz",
                s.freq_start_hz,
                "must be positive",
            ));
        }
        let last = s.freq_start_hz + s.freq_step_hz * (s.nchan as f64 - 1.0);
        if !(s.freq_step_hz.is_finite() && last > 0.0) {
            return Err(self.bad(
                "simulate.freq_step_hz",
                s.freq_step_hz,
                "makes a channel frequency <= 0",
            ));
        }
        if !(s.noise_jy.is_finite() && s.noise_jy >= 0.0) {
            return Err(self.bad("simulate.noise_jy", s.noise_jy, "must be >= 0"));
        }
        for (i, c) in s.sources.iter().enumerate() {
            if !c.flux_jy.is_finite() {
                return Err(self.bad(
                    &format!("simulate.sources[{i}].flux_jy"),
                    c.flux_jy,
                    "must be finite",
                ));
            }
            if c.kind == SourceKind::Gaussian && !(c.major_arcsec > 0.0 && c.minor_arcsec > 0.0) {
                return Err(self.bad(
                    &format!("simulate.sources[{i}].major_arcsec"),
                    c.major_arcsec,
                    "a gaussian needs positive major_arcsec and minor_arcsec",
                ));
            }
        }
        self.metrics
            .check()
            .map_err(|(field, value, reason)| self.bad(field, value, reason))?;
        if self.verify.threshold < 0.0 || !self.verify.threshold.is_finite() {
            return Err(self.bad("verify.threshold", self.verify.threshold, "must be >= 0"));
        }
        Ok(())
    }

    /// The precision actually used for imaging.
    pub fn use_double(&self) -> bool {
        match self.image.precision {
            Precision::Double => true,
            Precision::Single => false,
            Precision::Auto => self.image.epsilon < SINGLE_PRECISION_MIN_EPSILON,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, Path::new("test.toml"))
    }

    #[test]
    fn empty_config_takes_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.image.nx, 1024);
        assert_eq!(c.image.cell_arcsec, Cell::Auto(AutoTag::Auto));
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let e = parse("[image]\nnxx = 5\n").unwrap_err().to_string();
        assert!(e.contains("nxx"), "{e}");
        assert!(e.contains("test.toml"), "{e}");
    }

    #[test]
    fn bad_value_names_field_and_value() {
        let e = parse("[image]\nnx = 7\n").unwrap_err().to_string();
        assert!(e.contains("image.nx") && e.contains('7'), "{e}");
        let e = parse("[image]\nepsilon = 0.5\n").unwrap_err().to_string();
        assert!(e.contains("image.epsilon") && e.contains("0.5"), "{e}");
    }

    #[test]
    fn cell_accepts_number_or_auto() {
        let c = parse("[image]\ncell_arcsec = 2.5\n").unwrap();
        assert_eq!(c.image.cell_arcsec, Cell::Arcsec(2.5));
        assert!(parse("[image]\ncell_arcsec = \"big\"\n").is_err());
    }

    #[test]
    fn weighting_keys_parse_and_are_checked() {
        let c =
            parse("[image]\nweighting = \"briggs\"\nrobust = -0.5\ntaper_arcsec = 3.0\n").unwrap();
        assert_eq!(c.image.weighting, Weighting::Briggs);
        assert_eq!((c.image.robust, c.image.taper_arcsec), (-0.5, 3.0));
        assert_eq!(
            parse("[image]\nweighting = \"uniform\"\n")
                .unwrap()
                .image
                .weighting,
            Weighting::Uniform
        );
        let e = parse("[image]\nweighting = \"briggs\"\nrobust = 2.5\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("test.toml") && e.contains("image.robust") && e.contains("2.5"),
            "{e}"
        );
        let e = parse("[image]\ntaper_arcsec = -1.0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("image.taper_arcsec") && e.contains("-1"), "{e}");
        let e = parse("[image]\nweighting = \"robust\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("weighting") && e.contains("robust"), "{e}");
    }

    #[test]
    fn channels_out_and_png_keys() {
        let c = parse("").unwrap();
        assert_eq!((c.image.channels_out, c.image.png), (1, true));
        let c = parse("[image]\nchannels_out = 4\npng = false\n").unwrap();
        assert_eq!((c.image.channels_out, c.image.png), (4, false));
        let e = parse("[image]\nchannels_out = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("image.channels_out") && e.contains("= 0"), "{e}");
    }

    #[test]
    fn auto_precision_follows_epsilon() {
        assert!(!parse("[image]\nepsilon = 1e-4\n").unwrap().use_double());
        assert!(parse("[image]\nepsilon = 1e-6\n").unwrap().use_double());
    }
}
