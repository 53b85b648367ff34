//! Running Python (h5py, astropy, ducc0, ...) from integration tests to check interoperability.
//!
//! The interpreter is `$RIMAGER_PYTHON`, else `python3`. When the modules a test needs are
//! missing the test is skipped with a `SKIPPED:` line on stderr — unless
//! `RIMAGER_REQUIRE_PYTHON=1` (set in CI), in which case it fails, so that a broken CI image
//! cannot silently skip the interop tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The interpreter to use: `$RIMAGER_PYTHON`, else `python3` (looked up on `PATH`).
pub fn python_exe() -> PathBuf {
    std::env::var_os("RIMAGER_PYTHON")
        .filter(|s| !s.is_empty())
        .map_or_else(|| PathBuf::from("python3"), PathBuf::from)
}

/// Whether `python` runs and can import `module`; on failure, why not.
fn can_import(python: &Path, module: &str) -> Result<(), String> {
    match Command::new(python)
        .arg("-c")
        .arg(format!("import {module}"))
        .output()
    {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or("import failed")
            .to_string()),
        Err(e) => Err(format!("cannot run {}: {e}", python.display())),
    }
}

/// Returns the python3 command to use if it can import all `modules`; otherwise: if env
/// `RIMAGER_REQUIRE_PYTHON=1` panic with a clear message (CI sets it, so missing modules fail
/// CI), else print `SKIPPED: <test>: python modules <...> not available` to stderr and return
/// `None`.
pub fn python_with(modules: &[&str], test_name: &str) -> Option<PathBuf> {
    let python = python_exe();
    let missing: Vec<String> = modules
        .iter()
        .filter_map(|m| {
            can_import(&python, m)
                .err()
                .map(|why| format!("{m} ({why})"))
        })
        .collect();
    if missing.is_empty() {
        return Some(python);
    }
    let msg = format!(
        "{test_name}: python modules {} not available for {}",
        missing.join(", "),
        python.display()
    );
    if std::env::var("RIMAGER_REQUIRE_PYTHON").as_deref() == Ok("1") {
        panic!("RIMAGER_REQUIRE_PYTHON=1 but {msg}");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// Runs `python -c script` with `args` (available as `sys.argv[1:]`); returns stdout.
/// Panics with the script's stderr (and stdout) if it cannot be run or exits non-zero.
pub fn run_python(python: &Path, script: &str, args: &[&str]) -> String {
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        panic!(
            "python script failed ({}):\n--- stderr ---\n{}\n--- stdout ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            stdout
        );
    }
    stdout
}
