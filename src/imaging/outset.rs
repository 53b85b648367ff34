//! The products of one `rimager image` run as a set: every product is written under a
//! temporary name beside its final one (`.<name>.part-<pid>`), and the set is committed only
//! when all are written, by renames in a fixed order (the FITS and PNG products, the metrics,
//! and the HDF5 image file last, so a complete image file means a complete set). An error, a
//! panic or a signal removes the temporary files; earlier outputs are never touched before the
//! commit. Before the run, the paths are checked (no product is an input, another product, or
//! an existing directory; the directory is writable), then, once the plan is known to fit in
//! memory, the free space against the estimated size; the output prefix is locked
//! (`<prefix>.lock`, created with `O_EXCL`, removed at the end) against a concurrent run.
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::output::cleanup::{register, Registered, TempFile};

/// `prefix` with `suffix` appended (`out/x` + `-psf.fits`).
pub fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// The file products a configuration asks for, as suffixes of `image.output`, in commit
/// order (the HDF5 image file last).
pub fn product_suffixes(cfg: &Config) -> Vec<&'static str> {
    let im = &cfg.image;
    let mut v = vec![".fits"];
    if im.psf {
        v.push("-psf.fits");
    }
    if im.channels_out > 1 {
        v.push("-cube.fits");
        if im.psf {
            v.push("-psf-cube.fits");
        }
    }
    if im.png {
        v.push(".png");
        if im.psf {
            v.push("-psf.png");
        }
    }
    v.push(".h5");
    v
}

/// Estimated bytes of every product of `cfg` (images as float32, twice: HDF5 and FITS).
pub fn estimated_bytes(cfg: &Config) -> u64 {
    let im = &cfg.image;
    let plane = (im.nx as u64)
        .saturating_mul(im.ny as u64)
        .saturating_mul(4);
    let planes = (1 + u64::from(im.channels_out > 1) * im.channels_out as u64)
        .saturating_mul(1 + u64::from(im.psf));
    // HDF5 + FITS copies, plus headers, PNGs and metrics.
    plane
        .saturating_mul(planes)
        .saturating_mul(2)
        .saturating_add(4 << 20)
}

/// Errors of the output set, before or after the run.
#[derive(Debug, thiserror::Error)]
pub enum OutputSetError {
    /// A product would replace an input file.
    #[error("{what} {path} is the input file {input}: refusing to overwrite the data; choose another output")]
    IsInput {
        /// Which output.
        what: String,
        /// The output path.
        path: PathBuf,
        /// The input it coincides with.
        input: PathBuf,
    },
    /// Two products of the run have one path.
    #[error("{what} {path} is also the run's {other}: choose different paths")]
    Duplicate {
        /// Which output.
        what: String,
        /// The shared path.
        path: PathBuf,
        /// The other product.
        other: String,
    },
    /// A product's path is an existing directory.
    #[error("{what} {path} is an existing directory: give a file path")]
    IsDirectory {
        /// Which output.
        what: String,
        /// The path.
        path: PathBuf,
    },
    /// Not enough free space for the estimated outputs.
    #[error(
        "output directory {path}: {free} bytes free, the products need about {need} bytes; free space or \
         choose another image.output"
    )]
    Space {
        /// The directory.
        path: PathBuf,
        /// Free bytes for this user.
        free: u64,
        /// Estimated bytes.
        need: u64,
    },
    /// Another run holds the prefix.
    #[error(
        "output prefix {prefix} is in use by another run ({lock} exists, {holder}); wait for it, or remove the \
         lock file if no run is using it"
    )]
    Locked {
        /// The prefix.
        prefix: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// Who holds it.
        holder: String,
    },
    /// A file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The identity of an existing file (device, inode), or its absolute path.
#[derive(PartialEq, Eq)]
enum FileId {
    Inode(u64, u64),
    Path(PathBuf),
}

fn file_id(p: &Path) -> FileId {
    use std::os::unix::fs::MetadataExt;
    if let Ok(m) = std::fs::metadata(p) {
        return FileId::Inode(m.dev(), m.ino());
    }
    // Not there yet: the canonical directory joined with the name.
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    match (abs.parent().map(std::fs::canonicalize), abs.file_name()) {
        (Some(Ok(d)), Some(n)) => FileId::Path(d.join(n)),
        _ => FileId::Path(abs),
    }
}

/// Checks the outputs `outputs` (name, path) of a run against its `inputs` and each other:
/// none may be an input, an existing directory, or share a path with another.
pub fn check_paths(outputs: &[(String, PathBuf)], inputs: &[&Path]) -> Result<(), OutputSetError> {
    let input_ids: Vec<(FileId, &Path)> = inputs.iter().map(|p| (file_id(p), *p)).collect();
    let mut seen: Vec<(FileId, &str)> = Vec::new();
    for (what, path) in outputs {
        if path.is_dir() {
            return Err(OutputSetError::IsDirectory {
                what: what.clone(),
                path: path.clone(),
            });
        }
        let id = file_id(path);
        if let Some((_, input)) = input_ids.iter().find(|(i, _)| *i == id) {
            return Err(OutputSetError::IsInput {
                what: what.clone(),
                path: path.clone(),
                input: input.to_path_buf(),
            });
        }
        if let Some((_, other)) = seen.iter().find(|(i, _)| *i == id) {
            return Err(OutputSetError::Duplicate {
                what: what.clone(),
                path: path.clone(),
                other: other.to_string(),
            });
        }
        seen.push((id, what));
    }
    Ok(())
}

/// Bytes free for this user on the file system holding `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs only writes the zeroed struct it is given; `c` is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid C string and `st` a valid statvfs to fill.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then(|| (st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// The lock on an output prefix: `<prefix>.lock`, holding `pid host`, removed on drop (and on a
/// signal).
#[derive(Debug)]
struct Lock {
    path: PathBuf,
    _reg: Registered,
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether process `pid` of this host has ended (or is a zombie) within about five seconds.
fn gone_soon(pid: u32) -> bool {
    let gone = || match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses: Z (zombie), X (dead).
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
        Err(_) => true,
    };
    for _ in 0..100 {
        if gone() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

impl Lock {
    fn take(prefix: &Path) -> Result<Self, OutputSetError> {
        let path = with_suffix(prefix, ".lock");
        for attempt in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let reg = register(&path);
                    let _ = writeln!(f, "{} {}", std::process::id(), host());
                    return Ok(Self { path, _reg: reg });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    let mut it = text.split_whitespace();
                    let pid = it.next().and_then(|p| p.parse::<u32>().ok());
                    let same_host = it.next() == Some(host().as_str());
                    // A lock left by a killed run on this host: take it over once. A rank
                    // killed by an abort may still be exiting when `mpirun` returns: give a
                    // holder on this host a moment to go.
                    let dead = same_host && pid.is_some_and(gone_soon);
                    if attempt == 0 && same_host && dead {
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    return Err(OutputSetError::Locked {
                        prefix: prefix.to_path_buf(),
                        lock: path.clone(),
                        holder: match pid {
                            Some(p) => format!(
                                "process {p} on {}",
                                if same_host {
                                    "this host"
                                } else {
                                    "another host"
                                }
                            ),
                            None => "holder unknown".into(),
                        },
                    });
                }
                Err(source) => {
                    return Err(OutputSetError::Io {
                        what: "cannot create the lock file".into(),
                        path,
                        source,
                    })
                }
            }
        }
        unreachable!("the second attempt returns")
    }
}

/// Removes `.<name>.part-*` and `.<name>.tmp-*` beside `path` (left by a run killed before its
/// signal handler could remove them; called with the prefix lock held).
fn sweep_stale(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let name = name.to_string_lossy();
    let stems = [
        format!(".{name}.part-"),
        format!("..{name}.part-"),
        format!(".{name}.tmp-"),
    ];
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let f = e.file_name();
            let f = f.to_string_lossy();
            if stems.iter().any(|s| f.starts_with(s.as_str())) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// The products of a run: final paths in commit order, the staged files, and the lock.
#[derive(Debug)]
pub struct OutputSet {
    /// (product name, final path, staging path) in commit order.
    items: Vec<(String, PathBuf, TempFile)>,
    /// The directory of the HDF5 image file (the one whose free space is checked).
    image_dir: PathBuf,
    _lock: Lock,
}

impl OutputSet {
    /// Checks the products of `cfg` (and the metrics file) against the inputs, each other and
    /// the directory, then locks the prefix. Called on rank 0 before the run; the free space
    /// is checked later ([`OutputSet::check_space`]).
    pub fn prepare(cfg: &Config, metrics: Option<&Path>) -> Result<Self, OutputSetError> {
        let prefix = &cfg.image.output;
        let mut finals: Vec<(String, PathBuf)> = Vec::new();
        if let Some(m) = metrics {
            finals.push(("metrics file".into(), m.to_path_buf()));
        }
        for sfx in product_suffixes(cfg) {
            finals.push((format!("output {sfx}"), with_suffix(prefix, sfx)));
        }
        let mut inputs: Vec<&Path> = vec![&cfg.origin];
        if cfg.input.source == crate::config::Source::File {
            inputs.push(&cfg.input.path);
        }
        check_paths(&finals, &inputs)?;
        let mut dirs: Vec<PathBuf> = Vec::new();
        for (_, p) in &finals {
            let d = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if !dirs.contains(&d) {
                std::fs::create_dir_all(&d).map_err(|source| OutputSetError::Io {
                    what: "cannot create output directory".into(),
                    path: d.clone(),
                    source,
                })?;
                dirs.push(d);
            }
        }
        let lock = Lock::take(prefix)?;
        // Holding the prefix, any temporary product file beside it is a killed run's.
        for sfx in product_suffixes(cfg) {
            sweep_stale(&with_suffix(prefix, sfx));
        }
        // The metrics file is committed after the products, before the image file.
        let metrics_item = metrics.is_some().then(|| finals.remove(0));
        let n = finals.len();
        if let Some(m) = metrics_item {
            finals.insert(n - 1, m);
        }
        let pid = std::process::id();
        let items = finals
            .into_iter()
            .map(|(what, path)| {
                let name = path
                    .file_name()
                    .map(|n| n.to_os_string())
                    .unwrap_or_default();
                let mut tmp = std::ffi::OsString::from(".");
                tmp.push(name);
                tmp.push(format!(".part-{pid}"));
                let staged = TempFile::new(&path.with_file_name(tmp));
                (what, path, staged)
            })
            .collect();
        Ok(Self {
            items,
            image_dir: dirs[dirs.len() - 1].clone(),
            _lock: lock,
        })
    }

    /// Checks the free space of the image file's directory against the estimated size of the
    /// products of `cfg`. Called once the run is known to fit in memory (a too-large image is
    /// a memory error first, whatever the disk), before any imaging.
    pub fn check_space(&self, cfg: &Config) -> Result<(), OutputSetError> {
        let need = estimated_bytes(cfg);
        match free_bytes(&self.image_dir) {
            Some(free) if free < need => Err(OutputSetError::Space {
                path: self.image_dir.clone(),
                free,
                need,
            }),
            _ => Ok(()),
        }
    }

    /// The staging path of the product whose final path is `path` (`path` itself if it is
    /// not one of the set's products).
    pub fn staging(&self, path: &Path) -> PathBuf {
        self.items
            .iter()
            .find(|(_, p, _)| p == path)
            .map_or_else(|| path.to_path_buf(), |(_, _, t)| t.path().to_path_buf())
    }

    /// Renames every written product over its final name, in order (products that were not
    /// written, e.g. no metrics asked for, are skipped); then releases the lock.
    pub fn commit(self) -> Result<(), OutputSetError> {
        for (_, path, staged) in &self.items {
            if !staged.path().exists() {
                continue;
            }
            std::fs::rename(staged.path(), path).map_err(|source| OutputSetError::Io {
                what: "cannot rename the finished product over".into(),
                path: path.clone(),
                source,
            })?;
        }
        Ok(())
    }
}
