//! The reliability catalogue: bad inputs and faults, each run as a hostile user would, each
//! asserting the exit status, the message, that no rank hangs (every command runs under a
//! timeout), and that the inputs and earlier outputs are byte-identical afterwards.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::cli::*;
use num_complex::Complex32;
use rimager::output::h5image::read_image_h5;
use rimager::vis::h5::VisWriter;
use rimager::vis::{VisChunk, VisMeta};

/// Every file under `dir` (recursively) with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.insert(p, b);
            }
        }
    }
    out
}

/// Panics unless `dir` holds exactly the files of `before`, byte for byte.
#[track_caller]
fn assert_unchanged(dir: &Path, before: &BTreeMap<PathBuf, Vec<u8>>) {
    let after = snapshot(dir);
    let names = |m: &BTreeMap<PathBuf, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&after), names(before), "files differ");
    for (p, b) in before {
        assert!(after[p] == *b, "{} changed", p.display());
    }
}

/// The error lines (`rimager…: error: …`) must exist, be short and name every needle.
#[track_caller]
fn assert_error(run: &Run, needles: &[&str]) {
    run.assert_failed();
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("rimager") && l.contains("error:"))
        .collect();
    assert!(!lines.is_empty(), "no `rimager ...: error:` line: {run}");
    for n in needles {
        assert!(
            lines.iter().any(|l| l.contains(n)),
            "no error line names {n:?}\n{run}"
        );
    }
    assert!(
        !run.stderr.contains("panicked at"),
        "a panic instead of an error: {run}"
    );
    assert!(lines[0].len() < 500, "error line too long: {}", lines[0]);
}

/// A deterministic pseudo-random number in [0, 1).
fn unit(i: u64) -> f64 {
    let mut x = i
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(0x2545_F491_4F6C_DD1D);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// A visibility file: `nrow` seeded random rows (uv in a 500 m disc, |w| ≤ 10 m), 2 channels
/// near 1.4 GHz, a 1 Jy source at the centre, phase centre `(ra, -40)`; `edit` may change
/// each row's uvw and each sample's (vis, weight).
struct VisSpec {
    nrow: usize,
    ra_deg: f64,
    edit_uvw: fn(usize, &mut [f64; 3]),
    edit_sample: fn(usize, usize, &mut Complex32, &mut f32),
}

impl Default for VisSpec {
    fn default() -> Self {
        Self {
            nrow: 300,
            ra_deg: 10.0,
            edit_uvw: |_, _| {},
            edit_sample: |_, _, _, _| {},
        }
    }
}

fn write_vis(path: &Path, spec: &VisSpec) {
    let meta = VisMeta {
        telescope: "TEST".into(),
        phase_centre_ra_deg: spec.ra_deg,
        phase_centre_dec_deg: -40.0,
        freq_hz: vec![1.4e9, 1.41e9],
        nrow: spec.nrow,
    };
    let mut chunk = VisChunk::default();
    for r in 0..spec.nrow {
        let k = 3 * r as u64;
        let (rad, th) = (
            500.0 * unit(k).sqrt(),
            std::f64::consts::TAU * unit(k + 1),
        );
        let mut uvw = [rad * th.cos(), rad * th.sin(), 20.0 * unit(k + 2) - 10.0];
        (spec.edit_uvw)(r, &mut uvw);
        chunk.uvw_m.push(uvw);
        for c in 0..2 {
            let (mut v, mut w) = (Complex32::new(1.0, 0.0), 1.0 + (r % 3) as f32);
            (spec.edit_sample)(r, c, &mut v, &mut w);
            chunk.vis.push(v);
            chunk.weight.push(w);
        }
    }
    let _guard = hdf5_write_guard();
    let w = VisWriter::create(path, &meta, false).unwrap();
    w.write_rows(&chunk).unwrap();
}

/// A scratch directory with a good visibility file `in/good.h5` and a config `c.toml`
/// imaging it at 64×64, cell 20″, into `out/img`.
struct Case {
    dir: tempfile::TempDir,
    vis: PathBuf,
    cfg: PathBuf,
    out: PathBuf,
}

impl Case {
    fn new() -> Self {
        Self::with(&VisSpec::default())
    }

    fn with(spec: &VisSpec) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("in")).unwrap();
        let vis = dir.path().join("in/good.h5");
        write_vis(&vis, spec);
        let out = dir.path().join("out/img");
        let cfg = write_file(
            dir.path(),
            "c.toml",
            &image_section(&vis, 64, Some(20.0), 1e-4, &out),
        );
        Self { dir, vis, cfg, out }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        snapshot(self.dir.path())
    }

    /// `rimager image --config c.toml extra…` on `ranks` ranks (1: no launcher).
    fn image(&self, ranks: usize, extra: &[&str], env: &[(&str, &str)]) -> Run {
        let mut args = vec!["image", "--config", s(&self.cfg)];
        args.extend_from_slice(extra);
        if ranks == 1 {
            rimager(&args, env)
        } else {
            mpirun(ranks, &args, env)
        }
    }

    /// A good first run, so that later failures can be checked against its outputs.
    fn good_run(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        self.image(1, &[], &[]).assert_ok();
        self.snapshot()
    }
}

/// `mpirun -n 1 rimager a… : -n 1 rimager b…` (two ranks with different arguments).
fn mpmd(a: &[&str], b: &[&str]) -> Run {
    let mut full: Vec<&str> = vec!["--oversubscribe", "-x", "RAYON_NUM_THREADS", "-n", "1", RIMAGER];
    full.extend_from_slice(a);
    full.extend_from_slice(&[":", "-n", "1", RIMAGER]);
    full.extend_from_slice(b);
    run_with_timeout("mpirun", &full, &[], Duration::from_secs(60))
}

// ---------------------------------------------------------------- part 1: ranks agree, panics end the job

#[test]
fn panic_on_one_rank_ends_the_job_with_its_message() {
    let c = Case::new();
    let before = c.good_run();
    for rank in ["0", "1"] {
        let spec = format!("{rank}:panic");
        let r = c.image(2, &[], &[("RIMAGER_TEST_FAIL_RANK", &spec)]);
        assert_error(&r, &["internal error (panic)", "injected panic on rank"]);
        assert!(r.elapsed < Duration::from_secs(30), "took {:?}", r.elapsed);
        assert_unchanged(c.dir.path(), &before);
    }
}

#[test]
fn error_on_one_of_three_ranks_ends_the_job() {
    let c = Case::new();
    let before = c.good_run();
    let r = c.image(3, &[], &[("RIMAGER_TEST_FAIL_RANK", "2")]);
    assert_error(&r, &["injected failure on rank 2"]);
    assert_unchanged(c.dir.path(), &before);
}

#[test]
fn ranks_with_different_phase_centres_are_refused() {
    let c = Case::new();
    let other = c.path("in/other.h5");
    write_vis(
        &other,
        &VisSpec {
            ra_deg: 11.0,
            ..Default::default()
        },
    );
    let before = c.snapshot();
    let a = ["image", "--config", s(&c.cfg)];
    let b = ["image", "--config", s(&c.cfg), "--input", s(&other)];
    let r = mpmd(&a, &b);
    assert_error(&r, &["ranks disagree on the data", "phase_centre_ra_deg", "rank 1"]);
    assert_unchanged(c.dir.path(), &before);
}

#[test]
fn ranks_with_different_row_counts_are_refused() {
    let c = Case::new();
    let other = c.path("in/short.h5");
    write_vis(
        &other,
        &VisSpec {
            nrow: 200,
            ..Default::default()
        },
    );
    let before = c.snapshot();
    let r = mpmd(
        &["image", "--config", s(&c.cfg), "--input", s(&other)],
        &["image", "--config", s(&c.cfg)],
    );
    assert_error(&r, &["ranks disagree on the data", "nrow", "200", "300"]);
    assert_unchanged(c.dir.path(), &before);
}

#[test]
fn ranks_with_different_settings_are_refused() {
    let c = Case::new();
    let before = c.snapshot();
    let a = ["image", "--config", s(&c.cfg)];
    for extra in [
        &["--nx", "128"][..],
        &["--cell-arcsec", "auto"],
        &["--wstacking", "true"],
        &["--epsilon", "1e-3"],
    ] {
        let mut b = a.to_vec();
        b.extend_from_slice(extra);
        let r = mpmd(&a, &b);
        assert_error(&r, &["ranks disagree on the settings", "rank 1"]);
    }
    assert_unchanged(c.dir.path(), &before);
}
