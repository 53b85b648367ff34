//! Image output: the HDF5 image file ([`h5image`]), FITS images and cubes ([`fits`],
//! [`cube`]), PNG quick looks ([`png`]), their errors ([`error`]) and the shared atomic-write
//! machinery.
//!
//! The writers take plain arrays and metadata structs only (never an imaging stage's result
//! type), so that the imaging driver above converts its results and this wing depends on
//! nothing above the leaves.
//!
//! Every writer goes through [`write_atomically`] (or, for libraries that open files by name
//! such as HDF5, [`temp_path_for`] + [`commit_temp`]): the bytes are written to a temporary
//! file beside the destination, fsync'ed, and renamed over it. `rename(2)` within one
//! directory is atomic on POSIX file systems, so a reader sees either the old file or the
//! complete new one, never a half-written file, and a failed run leaves any earlier output
//! untouched.

pub mod cleanup;
pub mod cube;
pub mod error;
pub mod fits;
pub mod h5image;
pub mod png;

pub use error::{FitsError, OutputError, PngError};

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The temporary file used while writing `path`: `.<name>.tmp-<pid>` in the same directory
/// (the same directory, hence the same file system, so the final rename is atomic).
///
/// Writers that must open a file by name (e.g. HDF5) create this path, write it, then call
/// [`commit_temp`]. If `path` has no final component (e.g. `/` or `..`) the suffix is appended
/// to the whole path; [`commit_temp`] will then fail with a clear error.
pub fn temp_path_for(path: &Path) -> PathBuf {
    temp_path_with_id(path, std::process::id())
}

/// [`temp_path_for`] with an explicit id in place of this process's pid (so that several MPI
/// ranks can agree on rank 0's temporary file).
pub fn temp_path_with_id(path: &Path, pid: u32) -> PathBuf {
    match path.file_name() {
        Some(name) => {
            let mut tmp_name = std::ffi::OsString::from(".");
            tmp_name.push(name);
            tmp_name.push(format!(".tmp-{pid}"));
            path.with_file_name(tmp_name)
        }
        None => {
            let mut s = path.as_os_str().to_os_string();
            s.push(format!(".tmp-{pid}"));
            PathBuf::from(s)
        }
    }
}

/// Directory containing `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Removes the temporary file when dropped unless disarmed, so that errors *and panics* in a
/// writer never leave `.<name>.tmp-<pid>` files behind.
struct TempGuard<'a> {
    path: &'a Path,
    armed: bool,
}

impl<'a> TempGuard<'a> {
    /// Arms a guard for `path`, registered for removal on a signal as well.
    fn new(path: &'a Path) -> (Self, cleanup::Registered) {
        (Self { path, armed: true }, cleanup::register(path))
    }
}

impl Drop for TempGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            // Best effort: the original error is the one worth reporting.
            let _ = std::fs::remove_file(self.path);
        }
    }
}

/// fsync the directory holding `path` so the rename itself is durable. Some file systems
/// refuse fsync on directories (EINVAL); that is not an error worth failing a run for, so
/// only failures to open the directory are ignored too — the data itself was already synced.
fn sync_dir(path: &Path) {
    #[cfg(unix)]
    if let Ok(dir) = File::open(parent_dir(path)) {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn check_has_file_name(path: &Path) -> Result<(), OutputError> {
    if path.file_name().is_none() {
        return Err(OutputError::Invalid {
            path: path.to_path_buf(),
            reason: "the path has no file name".into(),
        });
    }
    Ok(())
}

/// Renames the finished temporary file `tmp` (see [`temp_path_for`]) over `path`, after
/// fsync'ing it. On failure the temporary file is removed and `path` is left as it was.
pub fn commit_temp(tmp: &Path, path: &Path) -> Result<(), OutputError> {
    let (mut guard, _reg) = TempGuard::new(tmp);
    check_has_file_name(path)?;
    // The writing library may not have fsync'ed; do it here so that the rename can never
    // expose a file whose data blocks are not yet on disk.
    let f = File::options()
        .write(true)
        .open(tmp)
        .map_err(|e| OutputError::io(tmp, "open temporary file for fsync", e))?;
    f.sync_all()
        .map_err(|e| OutputError::io(tmp, "fsync temporary file", e))?;
    drop(f);
    std::fs::rename(tmp, path)
        .map_err(|e| OutputError::io(path, "rename temporary file over destination", e))?;
    guard.armed = false;
    sync_dir(path);
    Ok(())
}

/// Writes `path` atomically: the bytes go to a temporary file beside it
/// (`.<name>.tmp-<pid>`), which is fsync'ed and renamed over `path`, so a failed run never
/// leaves a half-written file in place of a good one.
///
/// If `write` returns an error (or panics), the temporary file is removed and any existing
/// file at `path` keeps its old content. The new file gets default permissions (the old
/// file's permissions are not carried over, as with any replace-by-rename).
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<(), OutputError> {
    check_has_file_name(path)?;
    let tmp = temp_path_for(path);
    let (mut guard, _reg) = TempGuard::new(&tmp);
    let file = File::create(&tmp).map_err(|e| OutputError::io(&tmp, "create temporary file", e))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    write(&mut w).map_err(|e| OutputError::io(&tmp, "write", e))?;
    w.flush()
        .map_err(|e| OutputError::io(&tmp, "flush temporary file", e))?;
    let file = w
        .into_inner()
        .map_err(|e| OutputError::io(&tmp, "flush temporary file", e.into_error()))?;
    file.sync_all()
        .map_err(|e| OutputError::io(&tmp, "fsync temporary file", e))?;
    drop(file);
    std::fs::rename(&tmp, path)
        .map_err(|e| OutputError::io(path, "rename temporary file over destination", e))?;
    guard.armed = false;
    sync_dir(path);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_keeps_old_file_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.fits");
        std::fs::write(&path, b"old good content").unwrap();
        let err = write_atomically(&path, |w| {
            w.write_all(&[1u8; 10_000])?;
            Err(std::io::Error::other("disk on fire"))
        })
        .unwrap_err();
        // The message names the file; the cause follows in the error chain.
        let msg = err.to_string();
        let cause = std::error::Error::source(&err)
            .map(|c| c.to_string())
            .unwrap_or_default();
        assert!(
            cause.contains("disk on fire") && msg.contains("out.fits"),
            "{msg} / {cause}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"old good content");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.fits")]);

        // A panic in the writer also leaves no temporary file.
        let r = std::panic::catch_unwind(|| {
            let _ = write_atomically(&path, |_| panic!("boom"));
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        // And a successful write replaces the content.
        write_atomically(&path, |w| w.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn commit_temp_renames() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.h5");
        let tmp = temp_path_for(&path);
        assert_eq!(
            tmp.file_name().unwrap().to_str().unwrap(),
            format!(".x.h5.tmp-{}", std::process::id())
        );
        std::fs::write(&tmp, b"abc").unwrap();
        commit_temp(&tmp, &path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");
        assert!(!tmp.exists());
        // Committing a missing temp file fails and names it.
        let err = commit_temp(&tmp, &path).unwrap_err();
        assert!(err.to_string().contains(".x.h5.tmp-"), "{err}");
    }
}
