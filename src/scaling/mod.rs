//! `rimager scaling`: a strong/weak scaling harness.
//!
//! For every backend × layout (ranks × threads) × repeat it sizes an in-memory simulated
//! observation from a template config ([`harness::sized_config`]: the dump interval is chosen
//! so that the total number of visibilities reaches the target — fixed for **strong**
//! scaling, `vis per rank × ranks` for **weak** scaling — with the same hour-angle track and
//! channels, so the uv coverage and the image are the same for every run), launches
//! `rimager image` through a launcher template (`mpirun -n {ranks} …`, `srun …`), reads the
//! run's metrics JSON, and appends one CSV row per run and rank ([`csv`]). At the end it draws
//! the speedup / parallel-efficiency and stage-time plots ([`plots`]).
//!
//! The harness itself does not initialise MPI: it is a plain process that starts MPI jobs.
pub mod csv;
pub mod harness;
pub mod plots;

use std::path::PathBuf;

/// Errors of the scaling harness.
#[derive(Debug, thiserror::Error)]
pub enum ScalingError {
    /// A command-line value is malformed.
    #[error("{arg} {value:?}: {reason}")]
    Arg {
        arg: &'static str,
        value: String,
        reason: String,
    },
    /// The template configuration is unusable.
    #[error(transparent)]
    Config(Box<crate::config::ConfigError>),
    /// The simulated observation could not be built.
    #[error("{path}: {source}")]
    Sim {
        path: PathBuf,
        source: Box<crate::simulate::SimError>,
    },
    /// The observation cannot be sized to the target.
    #[error("{path}: cannot size the observation to {target} visibilities: {reason}")]
    Size {
        path: PathBuf,
        target: u64,
        reason: String,
    },
    /// Writing a file failed.
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
    /// A directory could not be created or a file read.
    #[error("{op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A CSV file is malformed.
    #[error("{path}, line {line}: {reason}")]
    Csv {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    /// A metrics JSON is malformed.
    #[error("{path}: not a rimager metrics JSON: {source}")]
    Metrics {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// A run configuration could not be written as TOML.
    #[error("cannot write the run configuration {path}: {reason}")]
    RunConfig { path: PathBuf, reason: String },
    /// Drawing a plot failed.
    #[error("drawing {path}: {reason}")]
    Plot { path: PathBuf, reason: String },
    /// Some runs failed (the others are in the CSV).
    #[error("{failed} of {total} runs failed (see the .log files in {dir})")]
    RunsFailed {
        failed: usize,
        total: usize,
        dir: PathBuf,
    },
}

impl From<crate::config::ConfigError> for ScalingError {
    fn from(e: crate::config::ConfigError) -> Self {
        ScalingError::Config(Box::new(e))
    }
}

/// Strong (fixed total) or weak (fixed per rank) scaling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// The total number of visibilities is fixed.
    Strong,
    /// The number of visibilities per rank is fixed; the total grows with the ranks.
    Weak,
}

impl Mode {
    /// `"strong"` or `"weak"`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Strong => "strong",
            Mode::Weak => "weak",
        }
    }

    /// Parses [`Mode::name`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "strong" => Some(Mode::Strong),
            "weak" => Some(Mode::Weak),
            _ => None,
        }
    }
}

/// Ranks × threads per rank.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// MPI ranks.
    pub ranks: usize,
    /// rayon threads per rank.
    pub threads: usize,
}

/// Parses `"1x16,2x8,4x4"` (ranks x threads, both ≥ 1).
pub fn parse_layouts(s: &str) -> Result<Vec<Layout>, ScalingError> {
    let bad = |reason: &str| ScalingError::Arg {
        arg: "--layouts",
        value: s.to_string(),
        reason: reason.to_string(),
    };
    let mut out = Vec::new();
    for item in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (r, t) = item
            .split_once(['x', 'X'])
            .ok_or_else(|| bad(&format!("{item:?} is not RANKSxTHREADS, e.g. 2x8")))?;
        let r: usize = r
            .trim()
            .parse()
            .map_err(|_| bad(&format!("{item:?}: ranks")))?;
        let t: usize = t
            .trim()
            .parse()
            .map_err(|_| bad(&format!("{item:?}: threads")))?;
        if r == 0 || t == 0 {
            return Err(bad(&format!("{item:?}: ranks and threads must be >= 1")));
        }
        out.push(Layout {
            ranks: r,
            threads: t,
        });
    }
    if out.is_empty() {
        return Err(bad("no layouts"));
    }
    Ok(out)
}

/// Parses a visibility count such as `1e8` or `10000000` (≥ 1).
pub fn parse_vis(arg: &'static str, s: &str) -> Result<u64, ScalingError> {
    let v: f64 = s.trim().parse().map_err(|_| ScalingError::Arg {
        arg,
        value: s.to_string(),
        reason: "expected a number of visibilities, e.g. 1e8".into(),
    })?;
    if !(v.is_finite() && (1.0..=1e15).contains(&v)) {
        return Err(ScalingError::Arg {
            arg,
            value: s.to_string(),
            reason: "must be in [1, 1e15]".into(),
        });
    }
    Ok(v.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_parse_and_errors_name_the_item() {
        let l = parse_layouts("1x16, 2x8,4X4").unwrap();
        assert_eq!(
            l,
            vec![
                Layout {
                    ranks: 1,
                    threads: 16
                },
                Layout {
                    ranks: 2,
                    threads: 8
                },
                Layout {
                    ranks: 4,
                    threads: 4
                }
            ]
        );
        let e = parse_layouts("2x8,3").unwrap_err().to_string();
        assert!(e.contains("--layouts") && e.contains("\"3\""), "{e}");
        assert!(parse_layouts("0x4").is_err());
        assert_eq!(parse_vis("--vis", "1e8").unwrap(), 100_000_000);
        assert!(parse_vis("--vis", "-3").is_err());
    }
}
