//! Errors of the simulator.
use std::path::PathBuf;

/// Errors building a simulated observation.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The layout file could not be read.
    #[error("cannot read layout file {path}")]
    Read {
        /// The layout file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line of the layout file is malformed.
    #[error("layout {path}:{line}: field `{field}` = `{value}`: {reason}")]
    Layout {
        /// The layout file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The field.
        field: String,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A required `# key: value` line is missing from the layout file.
    #[error("layout {path}: missing required line `# {key}: ...`")]
    MissingKey {
        /// The layout file.
        path: PathBuf,
        /// The missing key.
        key: String,
    },
    /// The layout file has fewer than two antennas.
    #[error("layout {path}: needs at least 2 antennas, found {count}")]
    TooFewAntennas {
        /// The layout file.
        path: PathBuf,
        /// Antennas found.
        count: usize,
    },
    /// A `[simulate]` value is out of range.
    #[error("config: field `simulate.{field}` = {value}: {reason}")]
    Config {
        /// The field of `[simulate]`.
        field: String,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}
