//! Errors of the simulator.
use std::path::PathBuf;

/// Errors building a simulated observation.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The layout file could not be read.
    #[error("cannot read layout file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A line of the layout file is malformed.
    #[error("layout {path}:{line}: field `{field}` = `{value}`: {reason}")]
    Layout {
        path: PathBuf,
        line: usize,
        field: String,
        value: String,
        reason: String,
    },
    /// A required `# key: value` line is missing from the layout file.
    #[error("layout {path}: missing required line `# {key}: ...`")]
    MissingKey { path: PathBuf, key: String },
    /// The layout file has fewer than two antennas.
    #[error("layout {path}: needs at least 2 antennas, found {count}")]
    TooFewAntennas { path: PathBuf, count: usize },
    /// A `[simulate]` value is out of range.
    #[error("config: field `simulate.{field}` = {value}: {reason}")]
    Config {
        field: String,
        value: String,
        reason: String,
    },
}
