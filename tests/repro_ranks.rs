//! `image.reproducible = true`: the image, the PSF and the channel cube are the same bits for
//! 1, 2, 3 and 4 ranks and for 1 and 2 threads per rank (records routed to slab owners,
//! summed in global sample order, slab FFT on any rank count, exact sum of the weights); the
//! reproducible image passes `rimager verify` (the float64 direct Fourier transform at the
//! image's ε) and agrees with the default mode; ranks that own no grid rows and MPI messages
//! cut into many rounds (`RIMAGER_MPI_MAX_COUNT`) change nothing; `image.reduction = "route"`
//! (heavy tiles split, records exchanged in rounds: forced small with
//! `RIMAGER_ROUTE_ROUND_BYTES`) agrees to float32 rounding; what it cannot do is refused in
//! one line.
//!
//! Seeded random data (not zeros) written through the library. The tests that need `mpirun`
//! print `SKIPPED:` and pass when it is missing, unless `RIMAGER_REQUIRE_MPI=1`.

mod common;

use std::path::{Path, PathBuf};

use common::cli::*;
use num_complex::Complex32;
use rand::{Rng, SeedableRng};
use rimager::output::h5image::{read_image_h5, ImageFile};
use rimager::vis::h5::VisWriter;
use rimager::vis::{VisChunk, VisMeta};

const CELL_ARCSEC: f64 = 20.0;
const FREQ_HZ: [f64; 3] = [1.40e9, 1.42e9, 1.45e9];

/// Whether `mpirun` can be used; prints why not (and fails under `RIMAGER_REQUIRE_MPI=1`).
fn have_mpirun(test: &str) -> bool {
    let ok = std::process::Command::new("mpirun")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("RIMAGER_REQUIRE_MPI").as_deref() != Ok("1"),
            "{test}: mpirun not found and RIMAGER_REQUIRE_MPI=1"
        );
        eprintln!("SKIPPED: {test}: mpirun not found (set RIMAGER_REQUIRE_MPI=1 to fail instead)");
    }
    ok
}

/// Writes `nrow` rows of seeded random samples: uv in a disc reaching 0.4 of the grid's
/// Nyquist limit, |v| at most `v_max_frac` of that radius, random values, weights in
/// [0.5, 1.5) and w in ±10 m.
fn write_random_vis(path: &Path, nrow: usize, v_max_frac: f64, seed: u64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let cell = CELL_ARCSEC.to_radians() / 3600.0;
    let r_max = 0.4 / cell * rimager::constants::SPEED_OF_LIGHT_M_S / FREQ_HZ[2];
    let meta = VisMeta {
        telescope: "TEST".into(),
        phase_centre_ra_deg: 30.0,
        phase_centre_dec_deg: -45.0,
        freq_hz: FREQ_HZ.to_vec(),
        nrow,
    };
    let mut c = VisChunk::default();
    for _ in 0..nrow {
        let r = r_max * rng.random::<f64>().sqrt();
        let t = rng.random::<f64>() * std::f64::consts::TAU;
        let v = (r * t.sin()).clamp(-v_max_frac * r_max, v_max_frac * r_max);
        c.uvw_m
            .push([r * t.cos(), v, 20.0 * rng.random::<f64>() - 10.0]);
        for _ in 0..FREQ_HZ.len() {
            c.vis.push(Complex32::new(
                rng.random::<f32>() - 0.5,
                rng.random::<f32>() - 0.5,
            ));
            c.weight.push(0.5 + rng.random::<f32>());
        }
    }
    let _guard = hdf5_write_guard();
    let w = VisWriter::create(path, &meta, false).unwrap();
    w.write_rows(&c).unwrap();
}

/// A config imaging `vis` at `n`×`n`, ε `epsilon`, with `extra` `[image]` keys.
fn config(d: &Path, name: &str, vis: &Path, n: usize, epsilon: f64, extra: &str) -> PathBuf {
    let t = image_section(vis, n, Some(CELL_ARCSEC), epsilon, &d.join("unused"))
        + "png = false\n"
        + extra;
    write_file(d, &format!("{name}.toml"), &t)
}

/// Runs `rimager image` on `ranks` ranks × `threads` threads with `args` added; the image.
fn image(
    cfg: &Path,
    out: &Path,
    (ranks, threads): (usize, usize),
    args: &[&str],
    env: &[(&str, &str)],
) -> (ImageFile, Run) {
    let t = threads.to_string();
    let mut a = vec!["image", "--config", s(cfg), "--output", s(out)];
    a.extend_from_slice(args);
    let mut e: Vec<(&str, &str)> = vec![("RAYON_NUM_THREADS", &t)];
    e.extend_from_slice(env);
    let a2 = [a.as_slice(), &["--threads", &t, "--force-threads"]].concat();
    let run = mpirun(ranks, &a2, &e);
    run.assert_ok();
    let img = read_image_h5(&with_suffix(out, ".h5"))
        .unwrap_or_else(|e| panic!("{ranks}x{threads}: no readable image ({e}): {run}"));
    assert_eq!(
        img.info.ranks, ranks as u64,
        "the processes did not form one job"
    );
    assert_eq!(img.info.threads, threads as u64, "threads per rank");
    (img, run)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Panics unless `a` and `b` hold the same bits in the image, the PSF and the cube.
#[track_caller]
fn assert_same_bits(a: &ImageFile, b: &ImageFile, what: &str) {
    let first_diff = |x: &[f32], y: &[f32]| {
        x.iter()
            .zip(y)
            .position(|(p, q)| p.to_bits() != q.to_bits())
            .map(|i| format!("pixel {i}: {:e} vs {:e}", x[i], y[i]))
    };
    assert!(
        bits(&a.image) == bits(&b.image),
        "{what}: image differs ({:?}, rel. L2 {:e})",
        first_diff(&a.image, &b.image),
        rel_l2(&a.image, &b.image)
    );
    let (pa, pb) = (a.psf.as_ref().unwrap(), b.psf.as_ref().unwrap());
    assert!(
        bits(pa) == bits(pb),
        "{what}: PSF differs ({:?})",
        first_diff(pa, pb)
    );
    match (&a.cube, &b.cube) {
        (Some(ca), Some(cb)) => {
            assert!(
                bits(&ca.image) == bits(&cb.image),
                "{what}: cube differs ({:?})",
                first_diff(&ca.image, &cb.image)
            );
            let (qa, qb) = (ca.psf.as_ref().unwrap(), cb.psf.as_ref().unwrap());
            assert!(bits(qa) == bits(qb), "{what}: PSF cube differs");
        }
        (None, None) => {}
        _ => panic!("{what}: one image has a cube, the other not"),
    }
    assert_eq!(
        a.info.sum_weights.to_bits(),
        b.info.sum_weights.to_bits(),
        "{what}: sum of weights"
    );
}

/// `rimager verify` of the image `h5` against the float64 DFT of `cfg`'s data passes.
#[track_caller]
fn assert_verifies(cfg: &Path, h5: &Path) {
    let v = rimager(&["verify", "--config", s(cfg), "--image", s(h5)], &[]);
    v.assert_ok();
    assert!(
        v.stdout.contains("PASS") && !v.stdout.contains("FAIL"),
        "verify: {v}"
    );
}

/// The routing's debug line of `run` (band, slabs, ranks without rows, rounds).
#[track_caller]
fn routing_line(run: &Run) -> &str {
    run.stderr
        .lines()
        .find(|l| l.contains("routing: band"))
        .unwrap_or_else(|| panic!("no routing line: {run}"))
}

#[test]
fn reproducible_images_are_the_same_bits_for_1_to_4_ranks_and_1_or_2_threads() {
    if !have_mpirun("reproducible_images_are_the_same_bits_for_1_to_4_ranks_and_1_or_2_threads") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let vis = d.join("obs.h5");
    write_random_vis(&vis, 701, 1.0, 3);
    // float32 (ε = 1e-4), a Gaussian taper and a 2-plane cube: every 2-D product.
    let cfg = config(
        d,
        "f32",
        &vis,
        96,
        1e-4,
        "taper_arcsec = 90.0\nchannels_out = 2\n",
    );
    let layouts = [(1, 1), (1, 2), (2, 1), (3, 1), (4, 1), (2, 2)];
    let mut images = Vec::new();
    for (r, t) in layouts {
        let out = d.join(format!("repro-{r}x{t}"));
        // Four ranks: every message in rounds of at most 64 elements.
        let env: &[(&str, &str)] = if r == 4 {
            &[("RIMAGER_MPI_MAX_COUNT", "64")]
        } else {
            &[]
        };
        let (img, _) = image(&cfg, &out, (r, t), &["--reproducible"], env);
        images.push((r, t, img, out));
    }
    let (_, _, first, first_out) = &images[0];
    for (r, t, img, _) in &images[1..] {
        assert_same_bits(img, first, &format!("{r} rank(s) x {t} thread(s) vs 1 x 1"));
    }
    // "route" on several ranks is the same engine, but may split heavy tiles and exchange
    // its records in rounds (here forced small): the sums' order differs, not the image.
    for (r, round) in [(2, "4096"), (3, "16777216")] {
        let env = [
            ("RUST_LOG", "rimager=debug"),
            ("RIMAGER_ROUTE_ROUND_BYTES", round),
        ];
        let (img, run) = image(
            &cfg,
            &d.join(format!("route-{r}")),
            (r, 1),
            &["--reduction", "route"],
            &env,
        );
        let di = rel_l2(&img.image, &first.image);
        assert!(di <= 5e-6, "reduction route on {r} ranks: {di:e}");
        let line = routing_line(&run);
        if round == "4096" {
            assert!(!line.contains(" in 1 round(s)"), "one round: {line}");
        }
    }
    // The default mode agrees to float32 rounding.
    let (def, _) = image(&cfg, &d.join("default-2"), (2, 1), &[], &[]);
    let di = rel_l2(&def.image, &first.image);
    assert!(di <= 5e-6, "default vs reproducible: {di:e}");
    assert_eq!(def.info.vis_used, first.info.vis_used);
    // Against the float64 direct Fourier transform, at the image's ε.
    let h5 = with_suffix(first_out, ".h5");
    assert_verifies(&cfg, &h5);
}

#[test]
fn float64_briggs_reproducible_on_three_ranks_matches_one() {
    if !have_mpirun("float64_briggs_reproducible_on_three_ranks_matches_one") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let vis = d.join("obs.h5");
    write_random_vis(&vis, 500, 1.0, 11);
    let cfg = config(
        d,
        "f64",
        &vis,
        64,
        1e-7,
        "weighting = \"briggs\"\nrobust = 0.0\n",
    );
    let (one, _) = image(&cfg, &d.join("one"), (1, 1), &["--reproducible"], &[]);
    let (three, _) = image(&cfg, &d.join("three"), (3, 2), &["--reproducible"], &[]);
    assert_same_bits(&three, &one, "float64 Briggs, 3 ranks x 2 threads vs 1 x 1");
    let h5 = with_suffix(&d.join("three"), ".h5");
    assert_verifies(&cfg, &h5);
}

#[test]
fn ranks_that_own_no_rows_and_messages_in_many_rounds() {
    if !have_mpirun("ranks_that_own_no_rows_and_messages_in_many_rounds") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let vis = d.join("obs.h5");
    // |v| within a hundredth of the disc: every footprint touches the same few grid rows,
    // fewer than the ranks.
    write_random_vis(&vis, 300, 0.01, 5);
    let cfg = config(d, "band", &vis, 16, 1e-2, "tile_size = 8\n");
    let debug = [("RUST_LOG", "rimager=debug")];
    let (one, _) = image(&cfg, &d.join("one"), (1, 1), &["--reproducible"], &debug);
    let env = [
        ("RUST_LOG", "rimager=debug"),
        ("RIMAGER_MPI_MAX_COUNT", "64"),
    ];
    let (six, run) = image(&cfg, &d.join("six"), (6, 1), &["--reproducible"], &env);
    assert_same_bits(&six, &one, "6 ranks (some without rows, rounds of 64) vs 1");
    // The routing's debug line names the band and the ranks without rows.
    let line = routing_line(&run);
    let empty: usize = line
        .split(" rank(s) without rows")
        .next()
        .and_then(|h| h.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the ranks without rows from {line:?}"));
    assert!(empty >= 1, "every rank owns rows: {line}");
    let h5 = with_suffix(&d.join("six"), ".h5");
    assert_verifies(&cfg, &h5);
}

#[test]
fn what_reproducible_mode_cannot_do_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let vis = d.join("obs.h5");
    write_random_vis(&vis, 50, 1.0, 1);
    for (extra, needles) in [
        (
            "wstacking = true\n",
            ["image.reproducible", "image.wstacking"],
        ),
        (
            "reduction = \"root\"\n",
            ["image.reproducible", "image.reduction"],
        ),
        (
            "backend = \"gpu\"\n",
            ["image.reproducible", "image.backend"],
        ),
    ] {
        let cfg = config(
            d,
            "bad",
            &vis,
            32,
            1e-4,
            &(String::from("reproducible = true\n") + extra),
        );
        let run = rimager(
            &["image", "--config", s(&cfg), "--output", s(&d.join("bad"))],
            &[],
        );
        assert_error_lines(&run, &needles, 300);
    }
}
