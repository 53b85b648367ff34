//! Errors of reading and checking a configuration.
use std::path::PathBuf;

/// Errors reading or checking a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown/mistyped keys.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML parser's message, on one line.
        message: String,
    },
    /// A value is out of its allowed range.
    #[error("config {path}: field `{field}` = {value}: {reason}")]
    Value {
        /// The file.
        path: PathBuf,
        /// The key, `section.name`.
        field: String,
        /// The offending value.
        value: String,
        /// The allowed range.
        reason: String,
    },
    /// A value given on the command line is out of its allowed range.
    #[error("command-line option {flag} {value} (sets `{field}`): {reason}")]
    Option {
        /// The option, e.g. `--ny`.
        flag: String,
        /// The key it sets.
        field: String,
        /// The offending value.
        value: String,
        /// The allowed range.
        reason: String,
    },
}

impl ConfigError {
    /// This error blamed on the command line when its key is one of `given` (`(key, flag)`
    /// pairs set by options), else unchanged.
    pub fn blame_options(self, given: &[(&str, &str)]) -> Self {
        match self {
            ConfigError::Value {
                path,
                field,
                value,
                reason,
            } => match given.iter().find(|(k, _)| *k == field) {
                Some((_, flag)) => ConfigError::Option {
                    flag: flag.to_string(),
                    field,
                    value,
                    reason,
                },
                None => ConfigError::Value {
                    path,
                    field,
                    value,
                    reason,
                },
            },
            other => other,
        }
    }
}

/// A value out of its allowed range, found by a section's `validate` (which does not know
/// the file it came from; [`FieldError::in_file`] adds it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The key, `section.name` (e.g. `image.nx`, `simulate.sources[2].flux_jy`).
    pub field: String,
    /// The offending value.
    pub value: String,
    /// The allowed range.
    pub reason: String,
}

impl FieldError {
    /// `field` = `value`: `reason`.
    pub fn new(field: impl Into<String>, value: impl ToString, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// The [`ConfigError::Value`] of this error in the configuration read from `path`.
    pub fn in_file(self, path: PathBuf) -> ConfigError {
        ConfigError::Value {
            path,
            field: self.field,
            value: self.value,
            reason: self.reason,
        }
    }
}

/// `Err(FieldError)` unless `ok`.
pub(crate) fn check(
    ok: bool,
    field: &str,
    value: impl ToString,
    reason: &str,
) -> Result<(), FieldError> {
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(field, value, reason))
    }
}
