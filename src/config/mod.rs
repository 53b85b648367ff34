//! Run configuration: a TOML file (every key documented in `configs/README.md`) plus
//! command-line overrides. Unknown keys are errors, so a typo never silently falls back
//! to a default.
//!
//! One file per section: [`InputConfig`] (`[input]`), [`SimConfig`] (`[simulate]`),
//! [`ImageConfig`] (`[image]`, with the "value or `auto`" settings [`Cell`] and
//! [`WStacking`]), [`VerifyConfig`] (`[verify]`) and [`MetricsConfig`] (`[metrics]`); each
//! checks its own value ranges. This module is a leaf: it uses nothing else of the crate.
mod auto;
mod error;
mod image;
mod input;
mod metrics;
mod simulate;
mod verify;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use auto::{AutoTag, Cell, ParseAutoError, WStacking};
pub use error::{ConfigError, FieldError};
pub use image::{
    Backend, ImageConfig, Precision, Reduction, Weighting, MAX_NPIX, MAX_THREADS,
    SINGLE_PRECISION_MIN_EPSILON,
};
pub use input::{InputConfig, Source};
pub use metrics::{
    MetricsConfig, DEFAULT_CPU_WATTS_PER_CORE, DEFAULT_GPU_WATTS, DEFAULT_KG_CO2_PER_KWH,
};
pub use simulate::{SimConfig, SkyComponent, SourceKind};
pub use verify::{VerifyConfig, VerifyReference};

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
    /// Resource, energy and CO2 accounting of `rimager image` (see the `energy` module).
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// The path this configuration was read from (not a key).
    #[serde(skip)]
    pub origin: PathBuf,
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

    /// The configuration as TOML text that [`Config::from_toml_str`] reads back to the same
    /// values (every key written, defaults included; `origin` is not a key).
    pub fn to_toml_string(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }

    /// Checks value ranges, section by section; called after parsing and after CLI overrides.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.image
            .validate()
            .and_then(|()| self.input.validate())
            .and_then(|()| self.simulate.validate())
            .and_then(|()| self.metrics.validate())
            .and_then(|()| self.verify.validate())
            .map_err(|e| e.in_file(self.origin.clone()))
    }

    /// The precision actually used for imaging: float64 when `true`.
    pub fn use_double(&self) -> bool {
        self.image.use_double()
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

    #[test]
    fn toml_text_reads_back_to_the_same_values() {
        let text = "[image]\ncell_arcsec = 2.5\nwstacking = \"auto\"\nepsilon = 1e-6\n\
                    [verify]\nreference = \"2d\"\n\
                    [[simulate.sources]]\nkind = \"gaussian\"\nflux_jy = 2.0\n\
                    major_arcsec = 3.0\nminor_arcsec = 1.0\n";
        let c = parse(text).unwrap();
        let back = parse(&c.to_toml_string().unwrap()).unwrap();
        assert_eq!(back.image.cell_arcsec, Cell::Arcsec(2.5));
        assert_eq!(back.image.wstacking, WStacking::Auto(AutoTag::Auto));
        assert_eq!(back.image.epsilon, 1e-6);
        assert_eq!(back.verify.reference, VerifyReference::TwoD);
        assert_eq!(back.simulate.sources, c.simulate.sources);
        assert_eq!(back.metrics, c.metrics);
        let d = parse(&Config::default().to_toml_string().unwrap()).unwrap();
        assert_eq!(d.image.cell_arcsec, Cell::Auto(AutoTag::Auto));
        assert_eq!(d.image.wstacking, WStacking::Bool(false));
    }
}
