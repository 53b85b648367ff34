//! Bad input and failures: each must end the run (every rank) with a non-zero exit and a short
//! error naming the culprit, never hang, and never damage an earlier good output.

mod common;

use std::path::{Path, PathBuf};

use common::cli::*;
use common::python::{python_with, run_python};
use num_complex::Complex32;
use rimager::output::h5image::read_image_h5;
use rimager::vis::h5::VisWriter;
use rimager::vis::{VisChunk, VisMeta};

/// The rimager error line(s) on stderr: one naming everything in `needles`, under 400
/// characters.
#[track_caller]
fn assert_error_names(run: &Run, needles: &[&str]) {
    assert_error_lines(run, needles, 400);
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

/// Writes a visibility file through the library: `nrow` rows with uv in a disc of 500 m,
/// 2 channels near 1.4 GHz, sample `(row, chan)` given by `sample` as (vis, weight, flag).
fn write_vis(
    path: &Path,
    nrow: usize,
    with_flag: bool,
    sample: impl Fn(usize, usize) -> (Complex32, f32, bool),
) {
    let nchan = 2;
    let meta = VisMeta {
        telescope: "TEST".into(),
        phase_centre_ra_deg: 10.0,
        phase_centre_dec_deg: -40.0,
        freq_hz: vec![1.4e9, 1.41e9],
        nrow,
    };
    let mut chunk = VisChunk::default();
    for r in 0..nrow {
        let (rad, th) = (
            500.0 * unit(3 * r as u64).sqrt(),
            std::f64::consts::TAU * unit(3 * r as u64 + 1),
        );
        chunk.uvw_m.push([
            rad * th.cos(),
            rad * th.sin(),
            20.0 * unit(3 * r as u64 + 2) - 10.0,
        ]);
        for c in 0..nchan {
            let (v, w, f) = sample(r, c);
            chunk.vis.push(v);
            chunk.weight.push(w);
            if with_flag {
                chunk.flag.push(f);
            }
        }
    }
    let _guard = hdf5_write_guard();
    let w = VisWriter::create(path, &meta, with_flag).unwrap();
    w.write_rows(&chunk).unwrap();
}

/// A config imaging `vis` at 64×64, cell 20″, output `<dir>/out/img`.
fn config(dir: &Path, vis: &Path) -> (PathBuf, PathBuf) {
    let out = dir.join("out/img");
    let cfg = write_file(
        dir,
        "c.toml",
        &image_section(vis, 64, Some(20.0), 1e-4, &out),
    );
    (cfg, out)
}

fn good_vis(dir: &Path) -> PathBuf {
    let p = dir.join("good.h5");
    write_vis(&p, 300, false, |_, _| {
        (Complex32::new(1.0, 0.0), 1.0, false)
    });
    p
}

fn no_outputs(out: &Path) {
    for sfx in [".h5", ".fits", "-psf.fits"] {
        let p = with_suffix(out, sfx);
        assert!(!p.exists(), "{} was written by a failed run", p.display());
    }
    if let Some(dir) = out.parent().filter(|d| d.exists()) {
        let left: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "files left in {}: {left:?}", dir.display());
    }
}

#[test]
fn missing_visibility_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let vis = dir.path().join("no-such-vis.h5");
    let (cfg, out) = config(dir.path(), &vis);
    let r = mpirun(2, &["image", "--config", s(&cfg)], &[]);
    assert_error_names(&r, &[s(&vis), "does not exist"]);
    no_outputs(&out);
}

#[test]
fn file_without_vis_dataset_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let vis = dir.path().join("novis.h5");
    {
        let _guard = hdf5_write_guard();
        let f = hdf5::File::create(&vis).unwrap();
        f.new_dataset::<f64>().shape([4, 3]).create("uvw").unwrap();
        f.new_dataset::<f32>()
            .shape([4, 2])
            .create("weight")
            .unwrap();
        f.new_dataset::<f64>().shape([2]).create("freq").unwrap();
    }
    let (cfg, out) = config(dir.path(), &vis);
    let r = mpirun(2, &["image", "--config", s(&cfg)], &[]);
    assert_error_names(&r, &["novis.h5", "/vis"]);
    no_outputs(&out);
}

#[test]
fn uvw_of_wrong_shape_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let good = good_vis(dir.path());
    let vis = dir.path().join("baduvw.h5");
    std::fs::copy(&good, &vis).unwrap();
    {
        let _guard = hdf5_write_guard();
        let f = hdf5::File::open_rw(&vis).unwrap();
        f.unlink("uvw").unwrap();
        f.new_dataset::<f64>()
            .shape([300, 2])
            .create("uvw")
            .unwrap();
    }
    let (cfg, out) = config(dir.path(), &vis);
    let r = mpirun(2, &["image", "--config", s(&cfg)], &[]);
    assert_error_names(&r, &["baduvw.h5", "/uvw", "[300, 2]"]);
    no_outputs(&out);
}

#[test]
fn unknown_config_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let vis = good_vis(dir.path());
    let (cfg, out) = config(dir.path(), &vis);
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("threads = 1", "threads = 1\nnxx = 5");
    std::fs::write(&cfg, text).unwrap();
    let r = mpirun(2, &["image", "--config", s(&cfg)], &[]);
    assert_error_names(&r, &["nxx", "c.toml"]);
    no_outputs(&out);
}

#[test]
fn bad_config_value_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let vis = good_vis(dir.path());
    let (cfg, out) = config(dir.path(), &vis);
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("nx = 64", "nx = 7");
    std::fs::write(&cfg, text).unwrap();
    let r = rimager(&["image", "--config", s(&cfg)], &[]);
    assert_error_names(&r, &["image.nx", "7"]);
    // The same check applies to command-line overrides.
    let (cfg2, _) = config(dir.path(), &vis);
    let r = rimager(&["image", "--config", s(&cfg2), "--ny", "9"], &[]);
    assert_error_names(&r, &["image.ny", "9"]);
    no_outputs(&out);
}

#[test]
fn non_numeric_cell_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let vis = good_vis(dir.path());
    let (cfg, out) = config(dir.path(), &vis);
    let r = mpirun(
        2,
        &["image", "--config", s(&cfg), "--cell-arcsec", "banana"],
        &[],
    );
    assert_error_names(&r, &["--cell-arcsec", "banana"]);
    no_outputs(&out);
}

#[test]
fn nan_inf_visibilities_and_bad_weights_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let vis = dir.path().join("nan.h5");
    // Every 7th sample bad, in six different ways; all others are a 1 Jy source at the centre.
    let nrow = 300;
    let bad = |r: usize, c: usize| (r * 2 + c) % 7 == 3;
    write_vis(&vis, nrow, false, |r, c| {
        let one = Complex32::new(1.0, 0.0);
        if !bad(r, c) {
            return (one, 1.0 + (r % 3) as f32, false);
        }
        match (r * 2 + c) % 6 {
            0 => (Complex32::new(f32::NAN, 0.0), 1.0, false),
            1 => (Complex32::new(0.0, f32::INFINITY), 1.0, false),
            2 => (one, f32::INFINITY, false),
            3 => (one, 0.0, false),
            4 => (one, -1.0, false),
            _ => (one, f32::NAN, false),
        }
    });
    let nbad = (0..nrow)
        .flat_map(|r| (0..2).map(move |c| (r, c)))
        .filter(|&(r, c)| bad(r, c))
        .count() as u64;
    assert!(nbad > 50);
    let (cfg, out) = config(dir.path(), &vis);
    let r = mpirun(2, &["image", "--config", s(&cfg)], &[]);
    r.assert_ok().assert_stderr_has(&["were skipped"]);
    let img = read_image_h5(&with_suffix(&out, ".h5")).unwrap();
    assert_eq!(img.info.vis_invalid, nbad, "vis_invalid");
    assert_eq!(img.info.vis_used, 2 * nrow as u64 - nbad, "vis_used");
    assert!(img.image.iter().all(|v| v.is_finite()), "non-finite pixels");
    assert!(
        img.psf.as_ref().unwrap().iter().all(|v| v.is_finite()),
        "non-finite psf"
    );
    // The valid samples are exactly 1 Jy at the centre: the image there is 1.
    let st = rimager::image::stats::image_stats(&img.image, 64);
    assert_eq!((st.x, st.y), (32, 32));
    assert!((st.peak - 1.0).abs() < 1e-4, "peak {}", st.peak);
}

#[test]
fn nan_inf_from_make_test_vis_are_skipped_and_counted() {
    let Some(py) = python_with(&["h5py", "numpy"], "nan_inf_from_make_test_vis") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let vis = dir.path().join("bad.h5");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/make_test_vis.py");
    let status = std::process::Command::new(&py)
        .args([
            script,
            "--nrow",
            "2000",
            "--nchan",
            "2",
            "--seed",
            "5",
            "--bad-fraction",
            "0.05",
        ])
        .args(["--out", s(&vis)])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let count = run_python(
        &py,
        "import sys, h5py, numpy as np\n\
         f = h5py.File(sys.argv[1], 'r'); v = f['vis'][...]; w = f['weight'][...]\n\
         ok = np.isfinite(v.real) & np.isfinite(v.imag) & np.isfinite(w) & (w > 0)\n\
         print(int((~ok).sum()))",
        &[s(&vis)],
    );
    let expected: u64 = count.trim().parse().unwrap();
    assert!(expected > 0, "make_test_vis wrote no bad samples");
    let (cfg, out) = config(dir.path(), &vis);
    let r = mpirun(
        2,
        &["image", "--config", s(&cfg), "--cell-arcsec", "4"],
        &[],
    );
    r.assert_ok();
    let img = read_image_h5(&with_suffix(&out, ".h5")).unwrap();
    assert_eq!(img.info.vis_invalid, expected);
    assert_eq!(
        img.info.vis_used + img.info.vis_invalid + img.info.vis_outside,
        4000
    );
    assert!(img.image.iter().all(|v| v.is_finite()), "non-finite pixels");
}

#[test]
fn all_flagged_or_zero_weight_is_an_error_about_total_weight() {
    let dir = tempfile::tempdir().unwrap();
    let flagged = dir.path().join("flagged.h5");
    write_vis(&flagged, 100, true, |_, _| {
        (Complex32::new(1.0, 0.0), 1.0, true)
    });
    let zero = dir.path().join("zero.h5");
    write_vis(&zero, 100, false, |_, _| {
        (Complex32::new(1.0, 0.0), 0.0, false)
    });
    for vis in [&flagged, &zero] {
        let (cfg, out) = config(dir.path(), vis);
        let r = mpirun(2, &["image", "--config", s(&cfg)], &[]);
        assert_error_names(&r, &["total weight", s(vis)]);
        no_outputs(&out);
    }
}

#[test]
fn baselines_beyond_the_grid_are_dropped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let vis = good_vis(dir.path());
    let (cfg, out) = config(dir.path(), &vis);
    // |u| up to 500 m ≈ 2350 λ; cell 60″ = 2.9e-4 rad: |u|·cell up to 0.68 ≥ 1/2.
    let r = mpirun(
        2,
        &["image", "--config", s(&cfg), "--cell-arcsec", "60"],
        &[],
    );
    r.assert_ok().assert_stderr_has(&["beyond the grid"]);
    let img = read_image_h5(&with_suffix(&out, ".h5")).unwrap();
    assert!(img.info.vis_outside > 0, "vis_outside = 0");
    assert!(img.info.vis_used > 0, "vis_used = 0");
    assert_eq!(img.info.vis_used + img.info.vis_outside, 600);
    assert!(img.image.iter().all(|v| v.is_finite()));
    // With cell 20″ nothing is outside and there is no warning.
    let r = mpirun(2, &["image", "--config", s(&cfg)], &[]);
    r.assert_ok();
    assert!(!r.stderr.contains("beyond the grid"), "{r}");
    assert_eq!(
        read_image_h5(&with_suffix(&out, ".h5"))
            .unwrap()
            .info
            .vis_outside,
        0
    );
}

#[test]
fn unwritable_output_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let vis = good_vis(dir.path());
    let (cfg, _) = config(dir.path(), &vis);
    let r = mpirun(
        2,
        &[
            "image",
            "--config",
            s(&cfg),
            "--output",
            "/proc/forbidden/x",
        ],
        &[],
    );
    assert_error_names(&r, &["/proc/forbidden"]);
    let file = write_file(dir.path(), "a-file", "not a directory");
    let under = file.join("x");
    let r = rimager(&["image", "--config", s(&cfg), "--output", s(&under)], &[]);
    assert_error_names(&r, &["a-file"]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a directory");
}

#[test]
fn failed_run_leaves_earlier_output_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let vis = good_vis(dir.path());
    let (cfg, out) = config(dir.path(), &vis);
    mpirun(2, &["image", "--config", s(&cfg)], &[]).assert_ok();
    let files: Vec<PathBuf> = [".h5", ".fits", "-psf.fits", ".png", "-psf.png"]
        .iter()
        .map(|x| with_suffix(&out, x))
        .collect();
    let before: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let listing = || {
        let mut v: Vec<_> = std::fs::read_dir(out.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        v.sort();
        v
    };
    let names = listing();
    assert_eq!(names.len(), files.len(), "{names:?}");

    // A rank fails during the run.
    let r = mpirun(
        2,
        &["image", "--config", s(&cfg)],
        &[("RIMAGER_TEST_FAIL_RANK", "0")],
    );
    assert_error_names(&r, &["injected failure on rank 0"]);
    // Invalid input (zero total weight).
    let zero = dir.path().join("zero.h5");
    write_vis(&zero, 50, false, |_, _| {
        (Complex32::new(1.0, 0.0), 0.0, false)
    });
    let r = mpirun(2, &["image", "--config", s(&cfg), "--input", s(&zero)], &[]);
    assert_error_names(&r, &["total weight"]);

    for (p, b) in files.iter().zip(&before) {
        assert!(
            std::fs::read(p).unwrap() == *b,
            "{} changed by a failed run",
            p.display()
        );
    }
    assert_eq!(listing(), names, "failed runs left files behind");
}

#[test]
fn failing_rank_aborts_the_whole_job() {
    let dir = tempfile::tempdir().unwrap();
    let vis = good_vis(dir.path());
    let (cfg, out) = config(dir.path(), &vis);
    let r = mpirun(
        3,
        &["image", "--config", s(&cfg)],
        &[("RIMAGER_TEST_FAIL_RANK", "1")],
    );
    r.assert_failed()
        .assert_stderr_has(&["injected failure on rank 1"]);
    assert!(r.elapsed.as_secs() < 60, "took {:?}", r.elapsed);
    no_outputs(&out);
}
