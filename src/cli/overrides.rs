//! Command-line overrides of configuration keys, typed like the keys themselves and applied
//! to a [`Config`] read from its file, then checked like the file's values.
use std::path::PathBuf;

use crate::config::{
    Backend, Cell, Config, ConfigError, Precision, Reduction, Source, VerifyReference, WStacking,
};

/// Overrides of `[input]` and `[image]` keys (`rimager image` and `rimager verify`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ImageOverrides {
    /// input.source
    #[arg(long, value_enum)]
    source: Option<Source>,
    /// input.path
    #[arg(long)]
    input: Option<PathBuf>,
    /// input.chunk_rows
    #[arg(long)]
    chunk_rows: Option<usize>,
    /// input.cache_mb (MiB a rank may hold rows in, for w-stacking's planes)
    #[arg(long)]
    cache_mb: Option<usize>,
    /// image.nx
    #[arg(long)]
    nx: Option<usize>,
    /// image.ny
    #[arg(long)]
    ny: Option<usize>,
    /// image.cell_arcsec: a number or "auto"
    #[arg(long)]
    cell_arcsec: Option<Cell>,
    /// image.epsilon
    #[arg(long)]
    epsilon: Option<f64>,
    /// image.precision
    #[arg(long, value_enum)]
    precision: Option<Precision>,
    /// image.backend: cpu, gpu (CUDA; an error where none is usable) or auto (GPU where usable)
    #[arg(long, value_enum)]
    backend: Option<Backend>,
    /// image.threads (0 = automatic)
    #[arg(long)]
    threads: Option<usize>,
    /// Use image.threads even above the available cores (image.force_threads = true)
    #[arg(long)]
    force_threads: bool,
    /// image.output (path prefix)
    #[arg(long)]
    output: Option<PathBuf>,
    /// Do not make the PSF (image.psf = false)
    #[arg(long)]
    no_psf: bool,
    /// image.wstacking: true, false or auto (w-stacking for wide fields)
    #[arg(long)]
    wstacking: Option<WStacking>,
    /// image.channels_out (1 = MFS image only; N > 1 = also an N-plane cube)
    #[arg(long)]
    channels_out: Option<usize>,
    /// Do not write the PNG quick looks (image.png = false)
    #[arg(long)]
    no_png: bool,
    /// image.reduction: slab (reduce-scatter and distributed FFT), root (sum to rank 0) or
    /// route (records routed to slab owners, then distributed FFT)
    #[arg(long, value_enum)]
    reduction: Option<Reduction>,
    /// Bitwise-reproducible image for any rank and thread count (image.reproducible = true)
    #[arg(long)]
    reproducible: bool,
}

impl ImageOverrides {
    /// Sets the keys given on the command line (`--input` alone also sets
    /// `input.source = "file"`) and checks the result.
    pub fn apply(&self, cfg: &mut Config) -> Result<(), ConfigError> {
        fn set<T: Clone>(key: &mut T, value: &Option<T>) {
            if let Some(v) = value {
                *key = v.clone();
            }
        }
        if let (Some(p), Some(Source::Simulate)) = (&self.input, self.source) {
            return Err(ConfigError::Option {
                flag: "--input".into(),
                field: "input.path".into(),
                value: p.display().to_string(),
                reason: "a file is not read with --source simulate; give one of them".into(),
            });
        }
        let (input, image) = (&mut cfg.input, &mut cfg.image);
        set(&mut input.source, &self.source);
        if let Some(p) = &self.input {
            input.path = p.clone();
            input.source = self.source.unwrap_or(Source::File);
        }
        set(&mut input.chunk_rows, &self.chunk_rows);
        set(&mut input.cache_mb, &self.cache_mb);
        set(&mut image.nx, &self.nx);
        set(&mut image.ny, &self.ny);
        set(&mut image.cell_arcsec, &self.cell_arcsec);
        set(&mut image.epsilon, &self.epsilon);
        set(&mut image.precision, &self.precision);
        set(&mut image.backend, &self.backend);
        set(&mut image.threads, &self.threads);
        set(&mut image.output, &self.output);
        if self.force_threads {
            image.force_threads = true;
        }
        if self.no_psf {
            image.psf = false;
        }
        set(&mut image.wstacking, &self.wstacking);
        set(&mut image.channels_out, &self.channels_out);
        if self.no_png {
            image.png = false;
        }
        set(&mut image.reduction, &self.reduction);
        if self.reproducible {
            image.reproducible = true;
        }
        cfg.validate().map_err(|e| e.blame_options(&self.given()))
    }

    /// The keys set on the command line, with their options.
    fn given(&self) -> Vec<(&'static str, &'static str)> {
        let o = self;
        [
            (o.source.is_some(), "input.source", "--source"),
            (o.input.is_some(), "input.path", "--input"),
            (o.chunk_rows.is_some(), "input.chunk_rows", "--chunk-rows"),
            (o.cache_mb.is_some(), "input.cache_mb", "--cache-mb"),
            (o.nx.is_some(), "image.nx", "--nx"),
            (o.ny.is_some(), "image.ny", "--ny"),
            (
                o.cell_arcsec.is_some(),
                "image.cell_arcsec",
                "--cell-arcsec",
            ),
            (o.epsilon.is_some(), "image.epsilon", "--epsilon"),
            (o.precision.is_some(), "image.precision", "--precision"),
            (o.backend.is_some(), "image.backend", "--backend"),
            (o.threads.is_some(), "image.threads", "--threads"),
            (o.output.is_some(), "image.output", "--output"),
            (o.wstacking.is_some(), "image.wstacking", "--wstacking"),
            (o.reduction.is_some(), "image.reduction", "--reduction"),
            (o.reproducible, "image.reproducible", "--reproducible"),
            (
                o.channels_out.is_some(),
                "image.channels_out",
                "--channels-out",
            ),
        ]
        .into_iter()
        .filter(|g| g.0)
        .map(|(_, k, f)| (k, f))
        .collect()
    }
}

/// Overrides of `[verify]` keys (`rimager verify`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct VerifyOverrides {
    /// verify.reference: auto (the image's own model), 2d, wterm or both.
    #[arg(long, value_enum)]
    reference: Option<VerifyReference>,
    /// Pass threshold on the relative L2 error (overrides verify.threshold).
    #[arg(long)]
    threshold: Option<f64>,
}

impl VerifyOverrides {
    /// Sets the keys given on the command line and checks the result.
    pub fn apply(&self, cfg: &mut Config) -> Result<(), ConfigError> {
        if let Some(r) = self.reference {
            cfg.verify.reference = r;
        }
        if let Some(t) = self.threshold {
            cfg.verify.threshold = t;
        }
        let given: &[(&str, &str)] = match self.threshold {
            Some(_) => &[("verify.threshold", "--threshold")],
            None => &[],
        };
        cfg.validate().map_err(|e| e.blame_options(given))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AutoTag;

    #[test]
    fn overrides_set_only_the_keys_given_and_are_checked() {
        let mut cfg = Config::default();
        let o = ImageOverrides {
            input: Some("v.h5".into()),
            cell_arcsec: Some(Cell::Arcsec(3.0)),
            wstacking: Some(WStacking::Auto(AutoTag::Auto)),
            backend: Some(Backend::Auto),
            no_psf: true,
            reduction: Some(Reduction::Root),
            ..Default::default()
        };
        cfg.input.source = Source::Simulate;
        o.apply(&mut cfg).unwrap();
        assert_eq!(cfg.input.source, Source::File);
        assert_eq!(cfg.image.cell_arcsec, Cell::Arcsec(3.0));
        assert_eq!(cfg.image.wstacking, WStacking::Auto(AutoTag::Auto));
        assert_eq!(cfg.image.backend, Backend::Auto);
        assert_eq!(cfg.image.reduction, Reduction::Root);
        assert!(!cfg.image.psf && cfg.image.png);
        assert_eq!(cfg.image.nx, 1024);
        let bad = ImageOverrides {
            ny: Some(9),
            ..Default::default()
        };
        let e = bad.apply(&mut cfg).unwrap_err().to_string();
        assert!(e.contains("image.ny") && e.contains('9'), "{e}");
    }
}
