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

/// Like [`assert_unchanged`] for the final names, allowing the temporary files and the lock
/// that a rank killed outright leaves (Open MPI sends SIGKILL 1 s after SIGTERM; on a loaded
/// machine the signal handler may not have run by then); the next run on the prefix must then
/// remove them. Returns how many such files there were.
#[track_caller]
fn assert_kept_then_swept(c: &Case, before: &BTreeMap<PathBuf, Vec<u8>>) -> usize {
    let is_temp = |p: &Path| {
        let n = p.file_name().unwrap().to_string_lossy();
        n.starts_with('.') || n.ends_with(".lock")
    };
    let after = snapshot(c.dir.path());
    let left: Vec<&PathBuf> = after.keys().filter(|p| is_temp(p)).collect();
    let finals: BTreeMap<PathBuf, Vec<u8>> = after
        .iter()
        .filter(|(p, _)| !is_temp(p))
        .map(|(p, b)| (p.clone(), b.clone()))
        .collect();
    assert_eq!(
        finals.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "final files differ"
    );
    for (p, b) in before {
        assert!(finals[p] == *b, "{} changed", p.display());
    }
    if !left.is_empty() {
        println!("left by a killed rank, swept by the next run: {left:?}");
        c.image(1, &[], &[]).assert_ok();
        let again = snapshot(c.dir.path());
        let still: Vec<&PathBuf> = again.keys().filter(|p| is_temp(p)).collect();
        assert!(still.is_empty(), "not swept: {still:?}");
    }
    left.len()
}

/// The error lines (`rimager…: error: …`) must exist, name every needle, and the first be
/// under 500 characters, with no panic.
#[track_caller]
fn assert_error(run: &Run, needles: &[&str]) {
    assert_error_lines(run, needles, 500);
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
        let (rad, th) = (500.0 * unit(k).sqrt(), std::f64::consts::TAU * unit(k + 1));
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
    let mut full: Vec<&str> = vec![
        "--oversubscribe",
        "-x",
        "RAYON_NUM_THREADS",
        "-n",
        "1",
        RIMAGER,
    ];
    full.extend_from_slice(a);
    full.extend_from_slice(&[":", "-n", "1", RIMAGER]);
    full.extend_from_slice(b);
    run_with_timeout("mpirun", &full, &[], Duration::from_secs(60))
}

// ---------------------------------------------------------------- part 1: ranks agree, panics end the job

#[test]
fn panic_on_one_rank_ends_the_job_with_its_message() {
    let c = Case::new();
    let mut before = c.good_run();
    for rank in ["0", "1"] {
        let spec = format!("{rank}:panic");
        let r = c.image(2, &[], &[("RIMAGER_TEST_FAIL_RANK", &spec)]);
        assert_error(&r, &["internal error (panic)", "injected panic on rank"]);
        assert!(r.elapsed < Duration::from_secs(30), "took {:?}", r.elapsed);
        if assert_kept_then_swept(&c, &before) > 0 {
            // The sweeping run rewrote the products: compare with those from now on.
            before = c.snapshot();
        }
    }
}

#[test]
fn error_on_one_of_three_ranks_ends_the_job() {
    let c = Case::new();
    let before = c.good_run();
    let r = c.image(3, &[], &[("RIMAGER_TEST_FAIL_RANK", "2")]);
    assert_error(&r, &["injected failure on rank 2"]);
    assert_kept_then_swept(&c, &before);
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
    assert_error(
        &r,
        &[
            "ranks disagree on the data",
            "phase_centre_ra_deg",
            "rank 1",
        ],
    );
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

// ---------------------------------------------------------------- configuration and options

/// Each edit of the good configuration (`from` → `to`), or option, must fail with an error
/// naming the key and value, before anything is written.
#[test]
fn bad_settings_are_named_and_nothing_is_written() {
    let c = Case::new();
    let before = c.good_run();
    let text = std::fs::read_to_string(&c.cfg).unwrap();
    let edits: &[(&str, &str, &[&str])] = &[
        ("nx = 64", "nx = 7", &["image.nx", "7"]),
        ("ny = 64", "ny = 63", &["image.ny", "63"]),
        (
            "nx = 64",
            "nx = 100000000000000",
            &["image.nx", "100000000000000"],
        ),
        ("epsilon = 1e-4", "epsilon = 0.0", &["image.epsilon"]),
        ("epsilon = 1e-4", "epsilon = nan", &["image.epsilon", "NaN"]),
        (
            "cell_arcsec = 20.0",
            "cell_arcsec = -1.0",
            &["image.cell_arcsec", "-1"],
        ),
        (
            "threads = 1",
            "threads = 1000000",
            &["image.threads", "1000000"],
        ),
        (
            "chunk_rows = 200",
            "chunk_rows = 0",
            &["input.chunk_rows", "0"],
        ),
        (
            "chunk_rows = 200",
            "chunk_rows = 100000000000",
            &["input.chunk_rows"],
        ),
        (
            "threads = 1",
            "threads = 1\ntile_size = 7",
            &["image.tile_size", "7"],
        ),
        (
            "threads = 1",
            "threads = 1\nrobust = 5.0",
            &["image.robust", "5"],
        ),
        (
            "threads = 1",
            "threads = 1\ntaper_arcsec = -1.0",
            &["image.taper_arcsec"],
        ),
        (
            "threads = 1",
            "threads = 1\nchannels_out = 0",
            &["image.channels_out"],
        ),
        ("threads = 1", "threads = 1\nnxx = 5", &["nxx", "bad.toml"]),
        (
            "threads = 1",
            "threads = 1\nprecision = \"single\"\nepsilon = 1e-9",
            &["epsilon"],
        ),
        (
            "threads = 1",
            "threads = 1\nwstacking = \"maybe\"",
            &["wstacking"],
        ),
        ("[image]", "[image", &["bad.toml"]),
    ];
    for (from, to, needles) in edits {
        assert!(text.contains(from), "{from}");
        let bad = write_file(c.dir.path(), "bad.toml", &text.replacen(from, to, 1));
        let r = rimager(&["image", "--config", s(&bad)], &[]);
        assert_error(&r, needles);
        std::fs::remove_file(&bad).unwrap();
        assert_unchanged(c.dir.path(), &before);
    }
    let options: &[(&[&str], &[&str])] = &[
        (&["--ny", "9"], &["command-line option --ny 9", "image.ny"]),
        (
            &["--nx", "4000000000", "--ny", "4000000000"],
            &["--nx", "4000000000"],
        ),
        (&["--epsilon", "2"], &["command-line option --epsilon 2"]),
        (&["--cell-arcsec", "banana"], &["--cell-arcsec", "banana"]),
        (&["--channels-out", "5"], &["image.channels_out", "5"]),
        (&["--threads", "999999"], &["--threads 999999"]),
        (
            &["--source", "simulate", "--input", "x.h5"],
            &["--input x.h5", "--source simulate"],
        ),
    ];
    for (extra, needles) in options {
        let r = c.image(1, extra, &[]);
        assert_error(&r, needles);
        assert_unchanged(c.dir.path(), &before);
    }
    let r = rimager(&["image", "--config", s(&c.path("nope.toml"))], &[]);
    assert_error(&r, &["nope.toml"]);
    let r = rimager(&["image", "--config", s(&c.path("in"))], &[]);
    assert_error(&r, &["in"]);
    assert_unchanged(c.dir.path(), &before);
}

#[test]
fn too_large_an_image_is_refused_with_the_memory_it_needs() {
    let c = Case::new();
    let before = c.good_run();
    let r = c.image(1, &["--nx", "65536", "--ny", "65536"], &[]);
    assert_error(&r, &["image.nx = 65536", "GiB", "available"]);
    assert!(r.elapsed < Duration::from_secs(20), "took {:?}", r.elapsed);
    assert_unchanged(c.dir.path(), &before);
}

#[test]
fn threads_above_the_cores_are_capped_with_a_warning() {
    let c = Case::new();
    let r = c.image(1, &["--threads", "4096"], &[("RAYON_NUM_THREADS", "")]);
    r.assert_ok()
        .assert_stderr_has(&["image.threads = 4096", "force_threads"]);
    let img = read_image_h5(&with_suffix(&c.out, ".h5")).unwrap();
    assert!(img.info.threads < 4096, "threads {}", img.info.threads);
}

// ---------------------------------------------------------------- input files

/// Writes a copy of `good` at `path` changed by `edit` (an open read-write HDF5 file).
fn edited_copy(good: &Path, path: &Path, edit: impl FnOnce(&hdf5::File)) {
    std::fs::copy(good, path).unwrap();
    let _guard = hdf5_write_guard();
    let f = hdf5::File::open_rw(path).unwrap();
    edit(&f);
}

#[test]
fn bad_visibility_files_are_named() {
    let c = Case::new();
    let good = c.vis.clone();
    let p = |n: &str| c.path(&format!("in/{n}"));
    std::fs::write(p("empty.h5"), b"").unwrap();
    std::fs::write(p("text.h5"), b"this is not HDF5\n").unwrap();
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(p("trunc.h5"), &bytes[..bytes.len() / 3]).unwrap();
    edited_copy(&good, &p("novis.h5"), |f| f.unlink("vis").unwrap());
    edited_copy(&good, &p("uvw2.h5"), |f| {
        f.unlink("uvw").unwrap();
        f.new_dataset::<f64>()
            .shape([300, 2])
            .create("uvw")
            .unwrap();
    });
    let freq = |name: &str, v: f64| {
        edited_copy(&good, &p(name), |f| {
            f.dataset("freq").unwrap().write(&[1.4e9, v]).unwrap();
        })
    };
    freq("fnan.h5", f64::NAN);
    freq("fneg.h5", -1.0);
    freq("fhuge.h5", 1e30);
    edited_copy(&good, &p("dec.h5"), |f| {
        f.attr("phase_centre_dec_deg")
            .unwrap()
            .write_scalar(&95.0)
            .unwrap();
    });
    edited_copy(&good, &p("ra.h5"), |f| {
        f.attr("phase_centre_ra_deg")
            .unwrap()
            .write_scalar(&f64::NAN)
            .unwrap();
    });
    edited_copy(&good, &p("visf.h5"), |f| {
        f.unlink("vis").unwrap();
        f.new_dataset::<f32>()
            .shape([300, 2])
            .create("vis")
            .unwrap();
    });
    edited_copy(&good, &p("flagshape.h5"), |f| {
        f.new_dataset::<u8>()
            .shape([300, 3])
            .create("flag")
            .unwrap();
    });
    edited_copy(&good, &p("flagfloat.h5"), |f| {
        f.new_dataset::<f32>()
            .shape([300, 2])
            .create("flag")
            .unwrap();
    });
    edited_copy(&good, &p("notel.h5"), |f| {
        f.delete_attr("telescope").unwrap()
    });
    let before = c.good_run();
    let cases: &[(&str, &[&str])] = &[
        ("missing.h5", &["missing.h5", "does not exist"]),
        ("empty.h5", &["empty.h5", "empty"]),
        ("text.h5", &["text.h5", "not an HDF5 file"]),
        ("trunc.h5", &["trunc.h5", "truncated"]),
        ("novis.h5", &["novis.h5", "/vis", "missing"]),
        ("uvw2.h5", &["uvw2.h5", "/uvw", "[300, 2]"]),
        ("fnan.h5", &["fnan.h5", "/freq", "NaN"]),
        ("fneg.h5", &["fneg.h5", "/freq", "-1"]),
        (
            "fhuge.h5",
            &["fhuge.h5", "/freq", "1000000000000000000000000000000"],
        ),
        ("dec.h5", &["dec.h5", "phase_centre_dec_deg", "95"]),
        ("ra.h5", &["ra.h5", "phase_centre_ra_deg", "NaN"]),
        ("visf.h5", &["visf.h5", "/vis", "complex64"]),
        ("flagshape.h5", &["flagshape.h5", "/flag", "[300, 3]"]),
        ("flagfloat.h5", &["flagfloat.h5", "/flag"]),
        ("notel.h5", &["notel.h5", "telescope"]),
    ];
    for (name, needles) in cases {
        let r = c.image(1, &["--input", s(&p(name))], &[]);
        assert_error(&r, needles);
        assert_unchanged(c.dir.path(), &before);
    }
    // The input directory itself.
    let r = c.image(1, &["--input", s(&c.path("in"))], &[]);
    assert_error(&r, &["is a directory"]);
    // Two ranks: the same errors end the whole job.
    let r = c.image(2, &["--input", s(&p("trunc.h5"))], &[]);
    assert_error(&r, &["trunc.h5", "truncated"]);
    assert_unchanged(c.dir.path(), &before);
}

#[test]
fn info_names_truncated_and_foreign_files() {
    let c = Case::new();
    c.good_run();
    let bytes = std::fs::read(with_suffix(&c.out, ".h5")).unwrap();
    let t = c.path("t.h5");
    std::fs::write(&t, &bytes[..bytes.len() / 2]).unwrap();
    let r = rimager(&["info", s(&t)], &[]);
    assert_error(&r, &["t.h5", "truncated"]);
    let x = write_file(c.dir.path(), "x.h5", "plain text");
    assert_error(
        &rimager(&["info", s(&x)], &[]),
        &["x.h5", "not an HDF5 file"],
    );
    assert_error(&rimager(&["info", s(&c.path("in"))], &[]), &["directory"]);
}

#[test]
fn verify_refuses_an_image_of_other_data() {
    let c = Case::new();
    c.good_run();
    let other = c.path("in/other.h5");
    write_vis(
        &other,
        &VisSpec {
            ra_deg: 12.0,
            ..Default::default()
        },
    );
    let img = with_suffix(&c.out, ".h5");
    let r = rimager(
        &[
            "verify",
            "--config",
            s(&c.cfg),
            "--image",
            s(&img),
            "--input",
            s(&other),
        ],
        &[],
    );
    assert_error(&r, &["was not made from", "phase_centre_ra_deg", "12"]);
    let short = c.path("in/short.h5");
    write_vis(
        &short,
        &VisSpec {
            nrow: 299,
            ..Default::default()
        },
    );
    let r = rimager(
        &[
            "verify",
            "--config",
            s(&c.cfg),
            "--image",
            s(&img),
            "--input",
            s(&short),
        ],
        &[],
    );
    assert_error(&r, &["number of samples", "598", "600"]);
    // The right data pass.
    rimager(&["verify", "--config", s(&c.cfg), "--image", s(&img)], &[]).assert_ok();
}

// ---------------------------------------------------------------- input values

fn image_is_finite(out: &Path) -> rimager::output::h5image::ImageFile {
    let img = read_image_h5(&with_suffix(out, ".h5")).unwrap();
    assert!(img.image.iter().all(|v| v.is_finite()), "non-finite pixels");
    if let Some(p) = &img.psf {
        assert!(p.iter().all(|v| v.is_finite()), "non-finite PSF");
        let peak = p.iter().cloned().fold(f32::MIN, f32::max);
        assert!((peak - 1.0).abs() < 1e-3, "PSF peak {peak}");
    }
    img
}

#[test]
fn a_nan_w_with_w_stacking_is_skipped_not_a_nan_image() {
    let c = Case::with(&VisSpec {
        edit_uvw: |r, uvw| {
            if r == 17 {
                uvw[2] = f64::NAN;
            }
            if r == 18 {
                uvw[2] = f64::INFINITY;
            }
        },
        ..Default::default()
    });
    let r = c.image(2, &["--wstacking", "true"], &[]);
    r.assert_ok()
        .assert_stderr_has(&["were skipped", "good.h5"]);
    let img = image_is_finite(&c.out);
    assert_eq!(img.info.vis_invalid, 4);
    assert!(img.info.wstacking);
}

#[test]
fn absurd_weights_are_skipped_and_counted() {
    // Half the samples at 3e38 (float32 overflow), some at 1e-45 (subnormal).
    let c = Case::with(&VisSpec {
        edit_sample: |r, _, _, w| {
            if r % 2 == 0 {
                *w = 3e38;
            } else if r % 7 == 0 {
                *w = 1e-45;
            }
        },
        ..Default::default()
    });
    let r = c.image(2, &[], &[]);
    r.assert_ok()
        .assert_stderr_has(&["were skipped", "/weight"]);
    let img = image_is_finite(&c.out);
    let odd7 = (0..300).filter(|r| r % 2 == 1 && r % 7 == 0).count() as u64;
    assert_eq!(img.info.vis_invalid, 2 * (150 + odd7));
    let st = rimager::image::stats::image_stats(&img.image, 64);
    assert!((st.peak - 1.0).abs() < 1e-3, "peak {}", st.peak);
}

#[test]
fn signed_flags_of_minus_one_are_flags() {
    let c = Case::new();
    let v = c.path("in/i8.h5");
    edited_copy(&c.vis, &v, |f| {
        let flags: Vec<i8> = (0..600).map(|i| if i % 3 == 0 { -1 } else { 0 }).collect();
        f.new_dataset::<i8>()
            .shape([300, 2])
            .create("flag")
            .unwrap()
            .write_raw(&flags)
            .unwrap();
    });
    let r = c.image(1, &["--input", s(&v)], &[]);
    r.assert_ok();
    let img = image_is_finite(&c.out);
    assert_eq!(img.info.vis_flagged, 200);
    assert_eq!(img.info.vis_used, 400);
}

#[test]
fn an_outlier_baseline_does_not_collapse_auto_cell() {
    let clean = Case::new();
    clean.image(1, &["--cell-arcsec", "auto"], &[]).assert_ok();
    let cell = read_image_h5(&with_suffix(&clean.out, ".h5"))
        .unwrap()
        .info
        .cell_arcsec;
    let c = Case::with(&VisSpec {
        edit_uvw: |r, uvw| {
            if r == 42 {
                uvw[0] = 1e9;
            }
        },
        ..Default::default()
    });
    let r = c.image(2, &["--cell-arcsec", "auto"], &[]);
    r.assert_ok()
        .assert_stderr_has(&["outlier", "1.0000e9", "good.h5"]);
    let img = image_is_finite(&c.out);
    let ratio = img.info.cell_arcsec / cell;
    assert!(
        (0.9..=1.0 + 1e-9).contains(&ratio),
        "cell {} vs {cell}",
        img.info.cell_arcsec
    );
    assert_eq!(img.info.vis_outside, 2);
}

// ---------------------------------------------------------------- outputs

#[test]
fn outputs_that_would_destroy_data_are_refused() {
    let c = Case::new();
    let before = c.good_run();
    let in_prefix = c.path("in/good");
    let h5 = with_suffix(&c.out, ".h5");
    std::fs::create_dir(c.path("out/dir.h5")).unwrap();
    std::fs::create_dir(c.path("metricsdir")).unwrap();
    let (mdir, odir) = (c.path("metricsdir"), c.path("out/dir"));
    let before_dirs = c.snapshot();
    assert_eq!(before_dirs, before);
    let cases: &[(Vec<&str>, &[&str])] = &[
        (
            vec!["--output", s(&in_prefix)],
            &["is the input file", "good.h5"],
        ),
        (vec!["--metrics", s(&h5)], &["img.h5", "metrics file"]),
        (vec!["--metrics", s(&c.vis)], &["is the input file"]),
        (
            vec!["--metrics", s(&c.cfg)],
            &["is the input file", "c.toml"],
        ),
        (vec!["--metrics", s(&mdir)], &["existing directory"]),
        (
            vec!["--output", s(&odir)],
            &["existing directory", "dir.h5"],
        ),
        (
            vec!["--save-config", s(&c.vis)],
            &["--save-config", "is the input file"],
        ),
        (vec!["--save-config", s(&h5)], &["--save-config", "img.h5"]),
    ];
    for (extra, needles) in cases {
        let r = c.image(1, extra, &[]);
        assert_error(&r, needles);
        assert_unchanged(c.dir.path(), &before);
        let r = c.image(2, extra, &[]);
        assert_error(&r, needles);
        assert_unchanged(c.dir.path(), &before);
    }
    // A hard link to the input is the input.
    let link = c.path("out/link.h5");
    std::fs::hard_link(&c.vis, &link).unwrap();
    let r = c.image(1, &["--output", s(&c.path("out/link"))], &[]);
    assert_error(&r, &["is the input file"]);
}

#[test]
fn unwritable_output_places_are_named() {
    let c = Case::new();
    let before = c.snapshot();
    let file = c.path("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let mut before2 = before.clone();
    before2.insert(file.clone(), b"not a directory".to_vec());
    for (out, needle) in [
        (file.join("x"), "a-file"),
        (PathBuf::from("/proc/forbidden/x"), "/proc/forbidden"),
    ] {
        let r = c.image(1, &["--output", s(&out)], &[]);
        assert_error(&r, &[needle]);
        assert_unchanged(c.dir.path(), &before2);
    }
}

#[test]
fn a_missing_metrics_directory_is_made_and_the_set_is_complete() {
    let c = Case::new();
    let m = c.path("deep/er/m.json");
    c.image(2, &["--metrics", s(&m)], &[]).assert_ok();
    assert!(m.exists());
    let names = listing(&c.path("out"));
    assert_eq!(
        names,
        [
            "img-psf.fits",
            "img-psf.png",
            "img.fits",
            "img.h5",
            "img.png"
        ],
        "{names:?}"
    );
}

/// The file names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_held_prefix_is_refused_and_a_stale_lock_is_taken_over() {
    let c = Case::new();
    let before = c.good_run();
    let lock = with_suffix(&c.out, ".lock");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    // Held by a live process (this test).
    std::fs::write(&lock, format!("{} {}", std::process::id(), host.trim())).unwrap();
    let mut held = before.clone();
    held.insert(lock.clone(), std::fs::read(&lock).unwrap());
    let r = c.image(2, &[], &[]);
    assert_error(&r, &["in use by another run", "img.lock"]);
    assert_unchanged(c.dir.path(), &held);
    // Left by a dead process: taken over, and removed at the end.
    std::fs::write(&lock, format!("4194303999 {}", host.trim())).unwrap();
    c.image(1, &[], &[]).assert_ok();
    assert!(!lock.exists(), "lock left behind");
}

#[test]
fn concurrent_runs_on_one_prefix_never_mix_outputs() {
    let c = Case::new();
    let args = [
        "--oversubscribe",
        "-n",
        "2",
        RIMAGER,
        "image",
        "--config",
        s(&c.cfg),
    ];
    let env = [("RIMAGER_TEST_PAUSE_BEFORE_COMMIT_S", "1")];
    let (a, b) = std::thread::scope(|sc| {
        let a = sc.spawn(|| run_with_timeout("mpirun", &args, &env, Duration::from_secs(60)));
        std::thread::sleep(Duration::from_millis(300));
        let b = sc.spawn(|| run_with_timeout("mpirun", &args, &[], Duration::from_secs(60)));
        (a.join().unwrap(), b.join().unwrap())
    });
    let oks = [&a, &b].iter().filter(|r| r.ok()).count();
    assert!(oks >= 1, "neither run succeeded:\n{a}\n{b}");
    for r in [&a, &b] {
        if !r.ok() {
            assert_error(r, &["in use by another run"]);
        }
    }
    assert_eq!(
        listing(&c.path("out")),
        [
            "img-psf.fits",
            "img-psf.png",
            "img.fits",
            "img.h5",
            "img.png"
        ]
    );
    image_is_finite(&c.out);
}

/// Sends `sig` to `mpirun` while rank 0 has every product staged; the job must end within
/// seconds, leaving the earlier outputs as they were and no temporary file.
fn interrupt_while_writing(sig: &str) {
    use std::process::{Command, Stdio};
    let c = Case::new();
    let before = c.good_run();
    let mut child = {
        let _g = hdf5_write_guard();
        Command::new("mpirun")
            .args([
                "--oversubscribe",
                "-n",
                "2",
                "-x",
                "RIMAGER_TEST_PAUSE_BEFORE_COMMIT_S",
            ])
            .args([RIMAGER, "image", "--config", s(&c.cfg)])
            .env("RIMAGER_TEST_PAUSE_BEFORE_COMMIT_S", "30")
            .env("RAYON_NUM_THREADS", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // Wait until the products are staged.
    let t0 = std::time::Instant::now();
    let staged = |names: &[String]| names.iter().any(|n| n.contains(".part-"));
    while !staged(&listing(&c.path("out"))) {
        assert!(t0.elapsed() < Duration::from_secs(60), "never staged");
        std::thread::sleep(Duration::from_millis(50));
    }
    let t1 = std::time::Instant::now();
    Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t1.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("mpirun still running 20 s after {sig}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success(), "{status:?}");
    // Ranks may take a moment after mpirun to remove their files.
    std::thread::sleep(Duration::from_millis(1500));
    assert_kept_then_swept(&c, &before);
}

#[test]
fn sigint_to_mpirun_while_writing_keeps_the_earlier_set() {
    interrupt_while_writing("-INT");
}

#[test]
fn sigterm_to_mpirun_while_writing_keeps_the_earlier_set() {
    interrupt_while_writing("-TERM");
}

/// A small tmpfs at `dir` (root only; `None`, with a plain message, where mounting is not
/// permitted).
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(dir: &Path, opts: &str, test: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs", s(dir)])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|st| st.success());
        if !ok {
            println!("SKIPPED {test}: cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)");
            return None;
        }
        Some(Self(dir.to_path_buf()))
    }

    fn remount(&self, opts: &str) {
        let st = std::process::Command::new("mount")
            .args(["-o", &format!("remount,{opts}"), s(&self.0)])
            .status()
            .unwrap();
        assert!(st.success());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_named_and_leaves_no_temporary_file() {
    let c = Case::new();
    let Some(_m) = Mount::tmpfs(&c.path("small"), "size=64k", "a_full_disk") else {
        return;
    };
    let before = c.snapshot();
    // The image: refused before the first byte (free space against the estimate).
    let r = c.image(2, &["--output", s(&c.path("small/img"))], &[]);
    assert_error(&r, &["small", "bytes free"]);
    assert_unchanged(c.dir.path(), &before);
    // A simulation that does not fit: HDF5 fails with "no space", the temporary file goes.
    let sim = write_file(
        c.dir.path(),
        "sim.toml",
        &simulate_section(64, 0.1, &[(1.0, 0.0, 0.0)], &c.path("small/v.h5")),
    );
    let before = c.snapshot();
    let r = mpirun(2, &["simulate", "--config", s(&sim)], &[]);
    assert_error(&r, &["v.h5", "no space left"]);
    assert_unchanged(c.dir.path(), &before);
}

#[test]
fn a_read_only_directory_is_named_and_its_outputs_kept() {
    let c = Case::new();
    let Some(m) = Mount::tmpfs(&c.path("ro"), "size=16m", "a_read_only_directory") else {
        return;
    };
    let out = c.path("ro/img");
    c.image(1, &["--output", s(&out)], &[]).assert_ok();
    m.remount("ro");
    let before = c.snapshot();
    let r = c.image(2, &["--output", s(&out)], &[]);
    assert_error(&r, &["img.lock", "Read-only file system"]);
    assert_unchanged(c.dir.path(), &before);
    m.remount("rw");
}
