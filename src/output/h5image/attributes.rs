//! How the image information's fields are stored as scalar root attributes of the
//! image file: the [`Attribute`] codec for float64, uint64, string, flag (`bool` as uint64)
//! and [`Weighting`] (as its name) fields, with the fallbacks used when an attribute is
//! absent.
use std::path::Path;

use hdf5::types::VarLenUnicode;
use hdf5::H5Type;

use crate::config::Weighting;
use crate::output::error::OutputError;

/// Maps an HDF5 error to an [`OutputError::Hdf5`] naming `path` and `what` was being done.
pub(super) fn h5(path: &Path, what: impl Into<String>) -> impl FnOnce(hdf5::Error) -> OutputError {
    let path = path.to_path_buf();
    let what = what.into();
    move |cause| OutputError::Hdf5 { path, what, cause }
}

/// How a field is stored as a scalar root attribute.
pub(super) trait Attribute: Sized {
    /// Writes `self` as attribute `name` of `f` (the file `path`).
    fn write(&self, f: &hdf5::File, path: &Path, name: &str) -> Result<(), OutputError>;
    /// Reads attribute `name`; an absent or unreadable one gives the type's fallback (NaN,
    /// 0, empty, false, natural), a value the field cannot hold an error message.
    fn read(f: &hdf5::File, name: &str) -> Result<Self, String>;
}

fn write_scalar<T: H5Type>(
    f: &hdf5::File,
    path: &Path,
    name: &str,
    v: &T,
) -> Result<(), OutputError> {
    f.new_attr::<T>()
        .create(name)
        .and_then(|a| a.write_scalar(v))
        .map_err(h5(path, format!("writing attribute {name}")))
}

fn read_scalar<T: H5Type>(f: &hdf5::File, name: &str) -> Option<T> {
    f.attr(name).and_then(|a| a.read_scalar::<T>()).ok()
}

pub(super) fn write_str(
    f: &hdf5::File,
    path: &Path,
    name: &str,
    s: &str,
) -> Result<(), OutputError> {
    let v: VarLenUnicode = s.parse().map_err(|_| OutputError::Invalid {
        path: path.to_path_buf(),
        reason: format!("string attribute contains a NUL character: {s:?}"),
    })?;
    write_scalar(f, path, name, &v)
}

pub(super) fn read_str(f: &hdf5::File, name: &str) -> String {
    read_scalar::<VarLenUnicode>(f, name)
        .map(|s| s.as_str().to_string())
        .unwrap_or_default()
}

impl Attribute for f64 {
    fn write(&self, f: &hdf5::File, path: &Path, name: &str) -> Result<(), OutputError> {
        write_scalar(f, path, name, self)
    }
    fn read(f: &hdf5::File, name: &str) -> Result<Self, String> {
        Ok(read_scalar(f, name).unwrap_or(f64::NAN))
    }
}

impl Attribute for u64 {
    fn write(&self, f: &hdf5::File, path: &Path, name: &str) -> Result<(), OutputError> {
        write_scalar(f, path, name, self)
    }
    fn read(f: &hdf5::File, name: &str) -> Result<Self, String> {
        Ok(read_scalar(f, name).unwrap_or(0))
    }
}

impl Attribute for String {
    fn write(&self, f: &hdf5::File, path: &Path, name: &str) -> Result<(), OutputError> {
        write_str(f, path, name, self)
    }
    fn read(f: &hdf5::File, name: &str) -> Result<Self, String> {
        Ok(read_str(f, name))
    }
}

/// A uint64 flag: 1 = true, 0 = false (any non-zero value reads as true).
impl Attribute for bool {
    fn write(&self, f: &hdf5::File, path: &Path, name: &str) -> Result<(), OutputError> {
        write_scalar(f, path, name, &u64::from(*self))
    }
    fn read(f: &hdf5::File, name: &str) -> Result<Self, String> {
        Ok(read_scalar::<u64>(f, name).unwrap_or(0) != 0)
    }
}

/// [`Weighting::name`]; empty or absent reads as natural.
impl Attribute for Weighting {
    fn write(&self, f: &hdf5::File, path: &Path, name: &str) -> Result<(), OutputError> {
        write_str(f, path, name, self.name())
    }
    fn read(f: &hdf5::File, name: &str) -> Result<Self, String> {
        let s = read_str(f, name);
        if s.is_empty() {
            return Ok(Weighting::Natural);
        }
        [Weighting::Natural, Weighting::Uniform, Weighting::Briggs]
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| {
                format!("attribute {name} = {s:?} is not \"natural\", \"uniform\" or \"briggs\"")
            })
    }
}

pub(super) fn read_attr<T: Attribute>(
    f: &hdf5::File,
    path: &Path,
    name: &str,
) -> Result<T, OutputError> {
    T::read(f, name).map_err(|reason| OutputError::Malformed {
        path: path.to_path_buf(),
        reason,
    })
}
