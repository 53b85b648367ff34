//! Uniform and Briggs weighting end to end: the images do not depend on the number of MPI
//! ranks, they match the direct Fourier transform with the same imaging weights
//! (`rimager verify`), and uniform weighting narrows the PSF's main lobe.

mod common;

use common::cli::*;
use rimager::output::h5image::{read_image_h5, ImageFile};

/// Full width at half maximum, pixels, of the PSF along the row through its peak (linear
/// interpolation of the half-maximum crossings on each side).
fn fwhm_along_row(img: &ImageFile) -> f64 {
    let psf = img.psf.as_ref().expect("no /psf");
    let nx = img.info.nx;
    let (ipk, _) =
        psf.iter().enumerate().fold(
            (0, f32::MIN),
            |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) },
        );
    let (x0, y0) = (ipk % nx, ipk / nx);
    let row = &psf[y0 * nx..(y0 + 1) * nx];
    let half = 0.5 * row[x0] as f64;
    let crossing = |step: isize| -> f64 {
        let mut x = x0 as isize;
        loop {
            let next = x + step;
            assert!(
                next >= 0 && (next as usize) < nx,
                "PSF never falls to half maximum"
            );
            let (a, b) = (row[x as usize] as f64, row[next as usize] as f64);
            if b <= half {
                return x as f64 + step as f64 * (a - half) / (a - b);
            }
            x = next;
        }
    };
    crossing(1) - crossing(-1)
}

#[test]
fn uniform_and_briggs_are_rank_independent_match_the_dft_and_narrow_the_psf() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let vis = d.join("obs.h5");
    let sources = [(1.0, 0.0, 0.0), (0.5, 120.0, 60.0), (0.8, -200.0, -90.0)];
    let eps = 1e-5;
    let cfg_for = |weighting: &str| {
        let mut t = image_section(&vis, 128, None, eps, &d.join("out/x"));
        t += &format!("weighting = \"{weighting}\"\nrobust = 0.0\n");
        if weighting == "briggs" {
            t += "taper_arcsec = 30.0\n";
        }
        t + "\n" + &simulate_section(3, 0.05, &sources, &vis)
    };
    let natural = write_file(d, "natural.toml", &cfg_for("natural"));
    rimager(&["simulate", "--config", s(&natural)], &[]).assert_ok();

    let image = |cfg: &std::path::Path, ranks: usize, name: &str| -> ImageFile {
        let out = d.join(format!("out/{name}"));
        let run = mpirun(
            ranks,
            &["image", "--config", s(cfg), "--output", s(&out)],
            &[],
        );
        run.assert_ok();
        let img = read_image_h5(&with_suffix(&out, ".h5"))
            .unwrap_or_else(|e| panic!("{name}: no readable image ({e}): {run}"));
        assert_eq!(img.info.ranks, ranks as u64);
        img
    };
    let nat = image(&natural, 1, "natural");
    assert_eq!(nat.info.weighting.name(), "natural");

    for weighting in ["uniform", "briggs"] {
        let cfg = write_file(d, &format!("{weighting}.toml"), &cfg_for(weighting));
        let one = image(&cfg, 1, &format!("{weighting}-1"));
        assert_eq!(one.info.weighting.name(), weighting);
        // Weighting changes the image: it is not a no-op.
        let dn = rel_l2(&one.image, &nat.image);
        assert!(
            dn > 1e-2,
            "{weighting} image equals the natural one ({dn:e})"
        );
        // The PSF is still normalised to a peak of 1.
        let peak = one
            .psf
            .as_ref()
            .unwrap()
            .iter()
            .cloned()
            .fold(f32::MIN, f32::max);
        assert!((peak - 1.0).abs() < 1e-4, "{weighting} PSF peak {peak}");
        for ranks in [2usize, 3] {
            let other = image(&cfg, ranks, &format!("{weighting}-{ranks}"));
            let di = rel_l2(&other.image, &one.image);
            let dp = rel_l2(other.psf.as_ref().unwrap(), one.psf.as_ref().unwrap());
            assert!(
                di <= 1e-6,
                "{weighting}: {ranks} ranks differ from 1 by {di:e}"
            );
            assert!(
                dp <= 1e-6,
                "{weighting}: {ranks} ranks' PSF differs by {dp:e}"
            );
            let dw = (other.info.sum_weights - one.info.sum_weights).abs() / one.info.sum_weights;
            assert!(dw <= 1e-12, "{weighting}: sum of weights differs by {dw:e}");
        }
        // The float64 DFT with the same imaging weights, on 2 ranks, at ε.
        let h5 = d.join(format!("out/{weighting}-1.h5"));
        let run = mpirun(2, &["verify", "--config", s(&cfg), "--image", s(&h5)], &[]);
        run.assert_ok();
        assert!(
            run.stdout.contains(&format!("({weighting}"))
                && run.stdout.matches("PASS").count() == 2,
            "{weighting}: verify did not pass image and PSF: {run}"
        );
    }

    // Uniform weighting narrows the PSF's main lobe.
    let uni = read_image_h5(&d.join("out/uniform-1.h5")).unwrap();
    let (fn_nat, fn_uni) = (fwhm_along_row(&nat), fwhm_along_row(&uni));
    assert!(
        fn_uni < 0.95 * fn_nat,
        "uniform PSF FWHM {fn_uni:.3} px is not narrower than natural {fn_nat:.3} px"
    );
}
