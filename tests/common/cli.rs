//! Running the built `rimager` binary (directly or under `mpirun`) from integration tests,
//! always with a timeout so that a hanging rank fails the test instead of hanging CI, plus
//! small helpers to write configurations and compare images.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const RIMAGER: &str = env!("CARGO_BIN_EXE_rimager");

/// The small 8-antenna layout, as an absolute path.
pub const SMALL_LAYOUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/layouts/small_test.csv");

/// Default limit for one command (a whole mpirun job included).
pub const TIMEOUT: Duration = Duration::from_secs(120);

static FORK_GUARD: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Hold this while the test itself has an HDF5 file open for writing. Tests run on several
/// threads of one process; a child spawned meanwhile would inherit the open descriptor and
/// with it HDF5's exclusive file lock, so the ranks could not open the file ("unable to lock
/// file, errno = 11"). [`run_with_timeout`] takes the guard while it forks.
pub fn hdf5_write_guard() -> std::sync::MutexGuard<'static, ()> {
    FORK_GUARD.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a finished command produced.
#[derive(Debug)]
pub struct Run {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Wall time.
    pub elapsed: Duration,
}

impl Run {
    /// Whether the command exited with status 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Panics with the full output unless the command succeeded.
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(self.ok(), "command failed: {self}");
        self
    }

    /// Panics with the full output unless the command failed (non-zero exit or signal).
    #[track_caller]
    pub fn assert_failed(&self) -> &Self {
        assert!(!self.ok(), "command unexpectedly succeeded: {self}");
        self
    }

    /// Panics unless stderr contains every one of `needles`.
    #[track_caller]
    pub fn assert_stderr_has(&self, needles: &[&str]) -> &Self {
        for n in needles {
            assert!(self.stderr.contains(n), "stderr lacks {n:?}: {self}");
        }
        self
    }

    /// The lines of stderr containing `error`.
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.contains("error"))
            .collect()
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?} after {:.1} s\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code,
            self.elapsed.as_secs_f64(),
            self.stdout,
            self.stderr
        )
    }
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Runs `program args` with extra environment `env`, in its own process group; if it has not
/// finished after `timeout` the whole group is killed and the test fails with "hung".
pub fn run_with_timeout(
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
    timeout: Duration,
) -> Run {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // One thread per rank: the test machine may have only two cores.
        .env("RAYON_NUM_THREADS", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env_remove("RIMAGER_TEST_FAIL_RANK")
        .env_remove("RUST_LOG")
        .process_group(0);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let t0 = Instant::now();
    let mut child = {
        let _guard = hdf5_write_guard();
        cmd.spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"))
    };
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for child") {
            break Some(s);
        }
        if t0.elapsed() > timeout {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let Some(status) = status else {
        // Kill the whole process group (mpirun and its ranks), then reap.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .status();
        let _ = child.kill();
        let _ = child.wait();
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        panic!(
            "hung: `{program} {}` did not finish within {} s\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
            args.join(" "),
            timeout.as_secs()
        );
    };
    Run {
        code: status.code(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        elapsed: t0.elapsed(),
    }
}

/// Runs `rimager args` as one process (no launcher).
pub fn rimager(args: &[&str], env: &[(&str, &str)]) -> Run {
    run_with_timeout(RIMAGER, args, env, TIMEOUT)
}

/// Runs `mpirun --oversubscribe -n <ranks> rimager args`, exporting `env` to the ranks.
pub fn mpirun(ranks: usize, args: &[&str], env: &[(&str, &str)]) -> Run {
    let n = ranks.to_string();
    let mut full: Vec<&str> = vec!["--oversubscribe", "-n", &n];
    let mut exports = Vec::new();
    for (k, _) in env {
        exports.push(*k);
    }
    exports.push("RAYON_NUM_THREADS");
    for k in &exports {
        full.push("-x");
        full.push(k);
    }
    full.push(RIMAGER);
    full.extend_from_slice(args);
    run_with_timeout("mpirun", &full, env, TIMEOUT)
}

/// `path` as a `&str` (test paths are UTF-8).
pub fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// A TOML string literal for `path`.
pub fn toml_path(path: &Path) -> String {
    format!("{:?}", s(path))
}

/// Writes `text` as `name` in `dir`; returns its path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A `[simulate]` section on the small layout: `nchan` channels, a 2-hour track at 4-minute
/// dumps (28 baselines × 31 dumps = 868 rows), noise `noise_jy`, sources as `(flux, l″, m″)`,
/// writing `output`.
pub fn simulate_section(
    nchan: usize,
    noise_jy: f64,
    sources: &[(f64, f64, f64)],
    output: &Path,
) -> String {
    let mut t = format!(
        "[simulate]\nlayout = {:?}\nra_deg = 150.0\ndec_deg = -30.0\nha_start_h = -1.0\nha_end_h = 1.0\n\
         integration_s = 240.0\nfreq_start_hz = 1.4e9\nfreq_step_hz = 20.0e6\nnchan = {nchan}\n\
         noise_jy = {noise_jy:?}\nseed = 7\noutput = {}\n",
        SMALL_LAYOUT,
        toml_path(output)
    );
    for (flux, l, m) in sources {
        t += &format!(
            "\n[[simulate.sources]]\nkind = \"point\"\nflux_jy = {flux:?}\nl_arcsec = {l:?}\nm_arcsec = {m:?}\n"
        );
    }
    t
}

/// An `[input]` + `[image]` section: visibilities from `vis`, `n`×`n` image, `cell` arcsec
/// (a number, or `None` for "auto"), `epsilon`, output prefix `out`.
pub fn image_section(vis: &Path, n: usize, cell: Option<f64>, epsilon: f64, out: &Path) -> String {
    let cell = cell.map_or_else(|| "\"auto\"".to_string(), |c| format!("{c:?}"));
    format!(
        "[input]\nsource = \"file\"\npath = {}\nchunk_rows = 200\n\n[image]\nnx = {n}\nny = {n}\ncell_arcsec = {cell}\n\
         epsilon = {epsilon:e}\nthreads = 1\noutput = {}\n",
        toml_path(vis),
        toml_path(out)
    )
}

/// Relative L2 difference ‖a − b‖ / ‖b‖.
pub fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "images differ in size");
    let (mut d, mut n) = (0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        d += (x as f64 - y as f64).powi(2);
        n += (y as f64).powi(2);
    }
    assert!(n > 0.0, "reference image is all zeros");
    (d / n).sqrt()
}

/// `<prefix><suffix>` as a path.
pub fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// The rimager error line(s) on stderr: there must be one, naming everything in `needles`,
/// with no panic, and its first message shorter than `max_len` characters. Lines of different
/// ranks can run together on stderr (each rank writes its message and its newline
/// separately), so only the first message's length is judged.
#[track_caller]
pub fn assert_error_lines(run: &Run, needles: &[&str], max_len: usize) {
    run.assert_failed();
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("rimager") && l.contains("error:"))
        .collect();
    assert!(!lines.is_empty(), "no `rimager ...: error:` line: {run}");
    let first = lines[0];
    let first = match first[1..].find("rimager (rank") {
        Some(i) => &first[..i + 1],
        None => first,
    };
    for n in needles {
        assert!(
            lines.iter().any(|l| l.contains(n)),
            "no error line names {n:?}: {first:?}\n{run}"
        );
    }
    assert!(
        !run.stderr.contains("panicked at"),
        "a panic instead of an error: {run}"
    );
    assert!(
        first.len() < max_len,
        "error line is {} characters: {first}",
        first.len()
    );
}
