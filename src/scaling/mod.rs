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
pub mod model;
pub mod model_run;
pub mod plots;

use std::path::PathBuf;

/// Errors of the scaling harness.
#[derive(Debug, thiserror::Error)]
pub enum ScalingError {
    /// The template configuration is unusable.
    #[error(transparent)]
    Config(Box<crate::config::ConfigError>),
    /// The simulated observation could not be built.
    #[error("{path}: {source}")]
    Sim {
        /// The template configuration.
        path: PathBuf,
        /// Why the simulator refused it.
        source: Box<crate::simulate::SimError>,
    },
    /// The observation cannot be sized to the target.
    #[error("{path}: cannot size the observation to {target} visibilities: {reason}")]
    Size {
        /// The template configuration.
        path: PathBuf,
        /// The visibilities wanted.
        target: u64,
        /// Why they cannot be had.
        reason: String,
    },
    /// Writing a file failed.
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
    /// A directory could not be created or a file read.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A CSV file is malformed.
    #[error("{path}, line {line}: {reason}")]
    Csv {
        /// The CSV file.
        path: PathBuf,
        /// The line (1-based).
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A metrics JSON is malformed.
    #[error("{path}: not a rimager metrics JSON: {source}")]
    Metrics {
        /// The JSON file.
        path: PathBuf,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// A run configuration could not be written as TOML.
    #[error("cannot write the run configuration {path}: {reason}")]
    RunConfig {
        /// The run configuration file.
        path: PathBuf,
        /// The TOML serialiser's error.
        reason: String,
    },
    /// Drawing a plot failed.
    #[error("drawing {path}: {reason}")]
    Plot {
        /// The PNG file.
        path: PathBuf,
        /// The plotting library's error.
        reason: String,
    },
    /// Some runs failed (the others are in the CSV).
    #[error("{failed} of {total} runs failed (see the .log files in {dir})")]
    RunsFailed {
        /// Runs that failed.
        failed: usize,
        /// Runs attempted.
        total: usize,
        /// The directory of the runs' logs.
        dir: PathBuf,
    },
    /// Writing an observation's file (`--from-file`) failed.
    #[error("writing the observation file {path} failed (see {log})")]
    Simulate {
        /// The file that was to be written.
        path: PathBuf,
        /// The log of `rimager simulate`.
        log: PathBuf,
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

impl std::str::FromStr for Layout {
    type Err = String;

    /// Parses `"2x8"` (ranks x threads, both ≥ 1; `X` also separates them).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let item = s.trim();
        let (r, t) = item
            .split_once(['x', 'X'])
            .ok_or_else(|| format!("{item:?} is not RANKSxTHREADS, e.g. 2x8"))?;
        let r: usize = r.trim().parse().map_err(|_| format!("{item:?}: ranks"))?;
        let t: usize = t.trim().parse().map_err(|_| format!("{item:?}: threads"))?;
        if r == 0 || t == 0 {
            return Err(format!("{item:?}: ranks and threads must be >= 1"));
        }
        Ok(Layout {
            ranks: r,
            threads: t,
        })
    }
}

/// Parses a comma-separated list of at least one item (`"1x16, 2x8,4x4"`): items are trimmed
/// and empty items skipped; `what` names the items when there are none.
pub fn parse_list<T>(
    s: &str,
    what: &str,
    item: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let out = s
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(item)
        .collect::<Result<Vec<T>, String>>()?;
    if out.is_empty() {
        return Err(format!("no {what}"));
    }
    Ok(out)
}

/// Parses `"1x16,2x8,4x4"` (ranks x threads, both ≥ 1).
pub fn parse_layouts(s: &str) -> Result<Vec<Layout>, String> {
    parse_list(s, "layouts", str::parse)
}

/// Parses a visibility count such as `1e8` or `10000000` (≥ 1).
pub fn parse_vis(s: &str) -> Result<u64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| "expected a number of visibilities, e.g. 1e8".to_string())?;
    if !(v.is_finite() && (1.0..=1e15).contains(&v)) {
        return Err("must be in [1, 1e15]".into());
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
        // The flag name (`--layouts`) is added by clap: see the cli tests.
        let e = parse_layouts("2x8,3").unwrap_err();
        assert!(e.contains("\"3\""), "{e}");
        assert!(parse_layouts("0x4").is_err());
        assert_eq!(parse_vis("1e8").unwrap(), 100_000_000);
        assert!(parse_vis("-3").is_err());
        assert_eq!(parse_layouts(" ,2x8,").unwrap().len(), 1);
        assert_eq!(parse_layouts(" , ").unwrap_err(), "no layouts");
    }
}
