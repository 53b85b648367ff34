//! Files to remove if the process ends early: temporary outputs and the output lock. Paths are
//! registered while they exist; [`remove_registered`] unlinks them, and it is safe to call from
//! a signal handler (atomics and `unlink(2)` only), so SIGINT/SIGTERM (also the SIGTERM that
//! `mpirun` sends to the other ranks when one aborts), a panic or an error leave no
//! `.name.tmp-*` or `.name.part-*` file behind.
use std::ffi::{c_char, CString};
use std::path::Path;
use std::sync::atomic::{AtomicPtr, Ordering};

/// Registered paths (leaked C strings; a slot is null when free). 64 is far more than one run
/// writes at once; beyond that a path is simply not registered.
static SLOTS: [AtomicPtr<c_char>; 64] = [const { AtomicPtr::new(std::ptr::null_mut()) }; 64];

/// A registered path; dropping it forgets the path (the file itself is left as it is).
#[derive(Debug)]
pub struct Registered {
    slot: Option<usize>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            // The C string is leaked on purpose: a signal handler may be reading it now.
            SLOTS[i].store(std::ptr::null_mut(), Ordering::SeqCst);
        }
    }
}

/// Registers `path` for removal if the process ends early, until the returned guard drops.
pub fn register(path: &Path) -> Registered {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return Registered { slot: None };
    };
    let p = c.into_raw();
    for (i, s) in SLOTS.iter().enumerate() {
        if s.compare_exchange(std::ptr::null_mut(), p, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return Registered { slot: Some(i) };
        }
    }
    // SAFETY: `p` came from CString::into_raw above and was stored nowhere.
    drop(unsafe { CString::from_raw(p) });
    Registered { slot: None }
}

/// A temporary file that is removed when this guard drops (after an error, or after it was
/// renamed away, when removing it does nothing), or by a signal before.
#[derive(Debug)]
pub struct TempFile {
    path: std::path::PathBuf,
    _reg: Registered,
}

impl TempFile {
    /// Guards `path` (which may not exist yet).
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            _reg: register(path),
        }
    }

    /// The guarded path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Unlinks every registered path (async-signal-safe) and forgets them.
pub fn remove_registered() {
    for s in &SLOTS {
        let p = s.swap(std::ptr::null_mut(), Ordering::SeqCst);
        if !p.is_null() {
            // SAFETY: `p` is a NUL-terminated string leaked by `register` and never freed.
            unsafe {
                libc::unlink(p);
            }
        }
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    remove_registered();
    // SAFETY: signal(2) and raise(3) are async-signal-safe; with the default action restored,
    // raising the signal again ends the process as the signal would have.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// The line written on a crash (a fixed text: a signal handler may not format).
static CRASH_LINE: &[u8] =
    b"rimager: error: fatal signal (segmentation fault, bus error or illegal instruction), most \
likely inside the HDF5 library reading a corrupt file; temporary files removed\n";

extern "C" fn on_crash(sig: libc::c_int) {
    // SAFETY: write(2) is async-signal-safe; the buffer is a static byte string.
    unsafe {
        libc::write(2, CRASH_LINE.as_ptr().cast(), CRASH_LINE.len());
    }
    on_signal(sig);
}

/// Installs handlers for SIGSEGV, SIGBUS and SIGILL (crashes in C libraries on corrupt input):
/// one error line, the registered files removed, then the default action (a core dump where
/// enabled, and `mpirun` ends the job).
pub fn install_crash_cleanup() {
    for sig in [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL] {
        // SAFETY: `on_crash` only uses async-signal-safe calls (write, atomics, unlink,
        // signal, raise); installing it with signal(2) has no other effect.
        unsafe {
            libc::signal(
                sig,
                on_crash as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}

/// Installs handlers for SIGINT, SIGTERM and SIGHUP that remove the registered files, then
/// end the process by the same signal (so exit statuses and `mpirun`'s handling are unchanged).
pub fn install_signal_cleanup() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: `on_signal` only uses async-signal-safe calls (atomics, unlink, signal,
        // raise); installing it with signal(2) has no other effect.
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_files_are_removed_and_dropped_ones_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"a").unwrap();
        std::fs::write(&b, b"b").unwrap();
        let _ga = register(&a);
        drop(register(&b));
        remove_registered();
        assert!(!a.exists());
        assert!(b.exists());
    }
}
