//! One-line causes for HDF5 failures: the HDF5 library reports a stack of internal frames;
//! users need the cause (a directory, permission, disk full, truncated file, missing filter,
//! not HDF5 at all, locked by another process), found from the file itself and the message.
use std::io::Read;
use std::path::Path;

/// The HDF5 file signature (HDF5 file format specification, superblock).
const SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

/// A one-line cause for `err` on `path` (which may be a file being read or written).
pub fn hdf5_cause(path: &Path, err: &hdf5::Error) -> String {
    let text = err.to_string();
    let low = text.to_lowercase();
    let has = |s: &str| low.contains(s);
    if path.is_dir() {
        return "it is a directory, not a file".into();
    }
    if has("no space left")
        || has("errno = 28")
        || (has("write") || has("overflow")) && nearly_full(path)
    {
        return "no space left on the device (disk full)".into();
    }
    if has("permission denied")
        || has("errno = 13")
        || has("read-only file system")
        || has("errno = 30")
    {
        return "permission denied (or a read-only file system)".into();
    }
    if has("unable to lock file") {
        return "the file is locked by another process (HDF5 file locking)".into();
    }
    if has("truncated file") {
        return "the file is truncated (shorter than its HDF5 superblock says)".into();
    }
    if has("filter") {
        return format!(
            "the data use an HDF5 filter this library cannot decode ({})",
            first_line(&text)
        );
    }
    if let Ok(mut f) = std::fs::File::open(path) {
        let mut head = [0u8; 8];
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len == 0 {
            return "the file is empty".into();
        }
        if f.read_exact(&mut head).is_err() || &head != SIGNATURE {
            return "not an HDF5 file (no HDF5 signature at its start)".into();
        }
    } else if let Err(e) = std::fs::File::open(path) {
        if path.exists() {
            return format!("cannot open: {e}");
        }
    }
    first_line(&text)
}

/// The first line of `text`, at most 200 characters.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    match line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}

/// Whether the file system holding `path` has less than 1 MiB free (HDF5 reports a full disk
/// as a failed write or an address overflow, without the errno).
fn nearly_full(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statvfs only writes the zeroed struct it is given.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a valid struct to fill.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    rc == 0 && (st.f_bavail as u64).saturating_mul(st.f_frsize as u64) < 1 << 20
}
