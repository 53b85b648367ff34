//! End-to-end `rimager simulate` → `image` → `verify` / `info` on tiny problems: point-source
//! position and sign, verify passing and failing, and `info` on each kind of file.

mod common;

use std::path::{Path, PathBuf};

use common::cli::*;
use rimager::image::stats::image_stats;
use rimager::output::h5image::read_image_h5;

/// Simulates `sources` (no noise) and images them at 128×128, cell 4″, ε `epsilon`; returns the
/// config path and the output prefix.
fn simulate_and_image(
    dir: &Path,
    sources: &[(f64, f64, f64)],
    epsilon: f64,
    ranks: usize,
) -> (PathBuf, PathBuf) {
    let vis = dir.join("vis.h5");
    let out = dir.join("img");
    let text = image_section(&vis, 128, Some(4.0), epsilon, &out)
        + "\n"
        + &simulate_section(2, 0.0, sources, &vis);
    let cfg = write_file(dir, "c.toml", &text);
    rimager(&["simulate", "--config", s(&cfg)], &[]).assert_ok();
    mpirun(ranks, &["image", "--config", s(&cfg)], &[]).assert_ok();
    (cfg, out)
}

#[test]
fn off_centre_point_source_lands_east_left_and_north_up() {
    let dir = tempfile::tempdir().unwrap();
    // l = +60″ east, m = +32″ north, cell 4″ → 15 pixels left of, 8 above the centre.
    let (_, out) = simulate_and_image(dir.path(), &[(1.0, 60.0, 32.0)], 1e-4, 2);
    let img = read_image_h5(&with_suffix(&out, ".h5")).unwrap();
    assert_eq!((img.info.nx, img.info.ny), (128, 128));
    assert!(
        (img.info.cell_arcsec - 4.0).abs() < 1e-9,
        "cell {}",
        img.info.cell_arcsec
    );
    let st = image_stats(&img.image, img.info.nx);
    assert_eq!(
        (st.x, st.y),
        (64 - 15, 64 + 8),
        "peak {:.6} at the wrong pixel (a flipped axis or sign moves it)",
        st.peak
    );
    assert!((st.peak - 1.0).abs() < 1e-3, "peak {} is not 1 Jy", st.peak);
    // The PSF always peaks at the centre with 1.
    let psf = image_stats(img.psf.as_ref().unwrap(), img.info.nx);
    assert_eq!((psf.x, psf.y), (64, 64));
    assert!((psf.peak - 1.0).abs() < 1e-4, "psf peak {}", psf.peak);
}

#[test]
fn source_at_phase_centre_peaks_at_centre_pixel_with_one_jansky() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out) = simulate_and_image(dir.path(), &[(1.0, 0.0, 0.0)], 1e-6, 1);
    let img = read_image_h5(&with_suffix(&out, ".h5")).unwrap();
    let st = image_stats(&img.image, img.info.nx);
    assert_eq!((st.x, st.y), (64, 64), "peak {}", st.peak);
    assert!((st.peak - 1.0).abs() < 1e-4, "peak {}", st.peak);
    // Mirror pixels of a real point source's dirty image at the centre are equal (symmetric
    // PSF); a sanity check that the image is not trivially constant.
    assert!(st.rms < 0.9 * st.peak, "rms {} too close to peak", st.rms);
}

#[test]
fn verify_passes_on_the_image_and_fails_when_it_is_tampered_with() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (cfg, out) = simulate_and_image(d, &[(1.0, 60.0, 32.0), (0.5, -100.0, 40.0)], 1e-4, 2);
    let h5 = with_suffix(&out, ".h5");
    let ok = mpirun(2, &["verify", "--config", s(&cfg), "--image", s(&h5)], &[]);
    ok.assert_ok();
    assert!(ok.stdout.contains("PASS"), "no PASS: {ok}");
    assert!(!ok.stdout.contains("FAIL"), "FAIL in a passing run: {ok}");

    // Copy, scale /image by 1.01 in the copy: a 1 % error must fail the 1e-4 threshold.
    let bad = d.join("tampered.h5");
    std::fs::copy(&h5, &bad).unwrap();
    {
        let _guard = hdf5_write_guard();
        let f = hdf5::File::open_rw(&bad).unwrap();
        let ds = f.dataset("image").unwrap();
        let a: ndarray::Array2<f32> = ds.read_2d().unwrap();
        ds.write(&a.mapv(|v| v * 1.01)).unwrap();
    }
    let fail = mpirun(2, &["verify", "--config", s(&cfg), "--image", s(&bad)], &[]);
    fail.assert_failed();
    assert!(fail.stdout.contains("FAIL"), "no FAIL: {fail}");
    fail.assert_stderr_has(&["verification failed"]);
    // The untouched PSF still passes; only the image line fails.
    let image_line = fail
        .stdout
        .lines()
        .find(|l| l.starts_with("image"))
        .unwrap_or("");
    assert!(image_line.contains("FAIL"), "image line: {image_line:?}");
    let psf_line = fail
        .stdout
        .lines()
        .find(|l| l.starts_with("psf"))
        .unwrap_or("");
    assert!(psf_line.contains("PASS"), "psf line: {psf_line:?}");
}

/// Pulls the number after `key` on the first line containing `key`.
fn number_after(text: &str, key: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.contains(key))
        .unwrap_or_else(|| panic!("no {key:?} in:\n{text}"));
    let rest = &line[line.find(key).unwrap() + key.len()..];
    rest.split_whitespace()
        .next()
        .and_then(|w| w.trim_end_matches(',').parse().ok())
        .unwrap_or_else(|| panic!("no number after {key:?} in {line:?}"))
}

#[test]
fn info_describes_visibility_file_image_and_fits() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_, out) = simulate_and_image(d, &[(1.0, 60.0, 32.0)], 1e-4, 1);

    let v = rimager(&["info", s(&d.join("vis.h5"))], &[]);
    v.assert_ok();
    // 28 baselines × 31 dumps, 2 channels.
    assert!(v.stdout.contains("rimager visibility file"), "{v}");
    assert!(
        v.stdout.contains("868 rows x 2 channels = 1736 samples"),
        "{v}"
    );
    assert!(v.stdout.contains("(ascending)"), "{v}");
    assert!(v.stdout.contains("uv range"), "{v}");

    let img = read_image_h5(&with_suffix(&out, ".h5")).unwrap();
    let st = image_stats(&img.image, 128);
    for (suffix, kind) in [(".h5", "rimager image"), (".fits", "FITS image")] {
        let path = with_suffix(&out, suffix);
        let r = rimager(&["info", s(&path)], &[]);
        r.assert_ok();
        assert!(r.stdout.contains(kind), "{r}");
        assert!(r.stdout.contains("shape          128 x 128"), "{r}");
        assert!(r.stdout.contains("pixel (x=49, y=72)"), "{r}");
        assert!(
            r.stdout
                .contains("+60.000 arcsec east, +32.000 arcsec north"),
            "{r}"
        );
        let peak = number_after(&r.stdout, "peak");
        let rms = number_after(&r.stdout, "rms");
        assert!(
            (peak - st.peak).abs() <= 1e-6 * st.peak.abs(),
            "{suffix}: peak {peak} vs {}",
            st.peak
        );
        assert!(
            (rms - st.rms).abs() <= 1e-5 * st.rms,
            "{suffix}: rms {rms} vs {}",
            st.rms
        );
    }
    let h5 = rimager(&["info", s(&with_suffix(&out, ".h5"))], &[]);
    assert!(h5.stdout.contains("psf peak"), "{h5}");
    assert!(h5.stdout.contains("1 rank(s)"), "{h5}");

    let missing = rimager(&["info", s(&d.join("nope.h5"))], &[]);
    missing.assert_failed().assert_stderr_has(&["nope.h5"]);
}

/// `hh:mm:ss.sss` → degrees (×15) or `±dd:mm:ss.ss` → degrees.
fn sexagesimal_deg(s: &str, hours: bool) -> f64 {
    let neg = s.starts_with('-');
    let p: Vec<f64> = s
        .trim_start_matches(['+', '-'])
        .split(':')
        .map(|x| {
            x.parse()
                .unwrap_or_else(|_| panic!("bad sexagesimal {s:?}"))
        })
        .collect();
    let v = p[0] + p[1] / 60.0 + p[2] / 3600.0;
    let v = if hours { 15.0 * v } else { v };
    if neg {
        -v
    } else {
        v
    }
}

#[test]
fn info_prints_the_sky_position_of_an_offset_source_within_a_pixel() {
    let dir = tempfile::tempdir().unwrap();
    // l = +60″ east, m = +32″ north of RA 150°, Dec −30°; cell 4″.
    let (_, out) = simulate_and_image(dir.path(), &[(1.0, 60.0, 32.0)], 1e-4, 1);
    // Where the source is on the sky: inverse orthographic projection of (l, m) about the
    // phase centre (Calabretta & Greisen 2002, §5.1.5), written out independently here.
    let (l, m) = (
        (60.0f64 / 3600.0).to_radians(),
        (32.0f64 / 3600.0).to_radians(),
    );
    let (ra0, dec0) = (150.0f64.to_radians(), (-30.0f64).to_radians());
    let n = (1.0 - l * l - m * m).sqrt();
    let dec_true = (m * dec0.cos() + n * dec0.sin()).asin();
    let ra_true = ra0 + l.atan2(n * dec0.cos() - m * dec0.sin());
    for suffix in [".h5", ".fits"] {
        let r = rimager(&["info", s(&with_suffix(&out, suffix))], &[]);
        r.assert_ok();
        let line = r
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with("peak"))
            .unwrap_or_else(|| panic!("no peak line: {r}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        let after = |key: &str| {
            let i = words
                .iter()
                .position(|w| *w == key)
                .unwrap_or_else(|| panic!("no {key} in {line}"));
            words[i + 1]
        };
        let ra = sexagesimal_deg(after("RA"), true).to_radians();
        let dec = sexagesimal_deg(after("Dec"), false).to_radians();
        // Angular distance from the true position, arcsec.
        let cosd = dec.sin() * dec_true.sin() + dec.cos() * dec_true.cos() * (ra - ra_true).cos();
        let sep = cosd.clamp(-1.0, 1.0).acos().to_degrees() * 3600.0;
        assert!(
            sep < 4.0,
            "{suffix}: printed position is {sep:.3} arcsec off: {line}"
        );
        // 0.01″ printing resolution; the source is exactly on a pixel centre here.
        assert!(sep < 0.2, "{suffix}: {sep} arcsec off: {line}");
        assert!(r.stdout.contains("robust"), "{r}");
    }
}

#[test]
fn save_config_writes_the_effective_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let vis = dir.path().join("vis.h5");
    let out = dir.path().join("img");
    let text = image_section(&vis, 64, Some(4.0), 1e-4, &out)
        + "\n"
        + &simulate_section(2, 0.0, &[(1.0, 0.0, 0.0)], &vis);
    let cfg = write_file(dir.path(), "c.toml", &text);
    let saved = dir.path().join("saved.toml");
    mpirun(
        2,
        &[
            "image",
            "--config",
            s(&cfg),
            "--source",
            "simulate",
            "--nx",
            "32",
            "--wstacking",
            "auto",
            "--no-png",
            "--save-config",
            s(&saved),
        ],
        &[],
    )
    .assert_ok();
    let c = rimager::config::Config::from_file(&saved).unwrap();
    assert_eq!(c.input.source, rimager::config::Source::Simulate);
    assert_eq!((c.image.nx, c.image.ny), (32, 64));
    assert_eq!(c.image.cell_arcsec, rimager::config::Cell::Arcsec(4.0));
    assert_eq!(c.image.wstacking.to_string(), "auto");
    assert!(!c.image.png);
    // The saved file reproduces the run.
    rimager(&["image", "--config", s(&saved)], &[]).assert_ok();
    assert!(with_suffix(&out, ".h5").is_file());
}
