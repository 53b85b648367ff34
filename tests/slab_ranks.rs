//! The slab reduction (`image.reduction = "slab"`: reduce-scatter into row slabs, distributed
//! FFT, image gathered to rank 0) gives the image of one rank, for the dirty image, the PSF
//! and a channel cube, with natural, Briggs and uniform weighting, on 2, 3 and 4 ranks, with
//! the MPI messages cut into many rounds (`RIMAGER_MPI_MAX_COUNT`), and it passes `rimager
//! verify` (the float64 direct Fourier transform at the image's ε).

mod common;

use std::path::Path;

use common::cli::*;
use rimager::output::h5image::{read_image_h5, ImageFile};

struct Case {
    name: &'static str,
    /// Extra `[image]` keys.
    extra: &'static str,
    epsilon: f64,
    /// Rank counts of the slab runs (each compared with one rank in the root mode).
    ranks: &'static [usize],
    /// Agreement with one rank, relative L2.
    tol: f64,
}

fn config(d: &Path, c: &Case, vis: &Path) -> std::path::PathBuf {
    let sources = [(1.0, 0.0, 0.0), (0.5, 120.0, 60.0), (0.8, -200.0, -90.0)];
    let t = image_section(vis, 128, None, c.epsilon, &d.join("unused"))
        + "png = false\n"
        + c.extra
        + "\n"
        + &simulate_section(4, 0.05, &sources, vis);
    write_file(d, &format!("{}.toml", c.name), &t)
}

fn image(cfg: &Path, out: &Path, ranks: usize, reduction: &str, env: &[(&str, &str)]) -> ImageFile {
    let args = [
        "image",
        "--config",
        s(cfg),
        "--output",
        s(out),
        "--reduction",
        reduction,
    ];
    let run = if ranks == 1 {
        rimager(&args, env)
    } else {
        mpirun(ranks, &args, env)
    };
    run.assert_ok();
    let img = read_image_h5(&with_suffix(out, ".h5"))
        .unwrap_or_else(|e| panic!("{ranks} rank(s) {reduction}: no readable image ({e}): {run}"));
    assert_eq!(
        img.info.ranks, ranks as u64,
        "the processes did not form one job"
    );
    img
}

#[test]
fn slab_reduction_matches_one_rank_and_the_dft() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let vis = d.join("obs.h5");
    let cases = [
        // float64: the ranks' sums in another order change nothing visible.
        Case {
            name: "natural",
            extra: "",
            epsilon: 1e-6,
            ranks: &[2, 3, 4],
            tol: 1e-6,
        },
        Case {
            name: "briggs-cube",
            extra: "weighting = \"briggs\"\nrobust = 0.5\nchannels_out = 2\n",
            epsilon: 1e-6,
            ranks: &[3],
            tol: 1e-6,
        },
        // float32: rounding of the sums in another order, ~1e-6 relative.
        Case {
            name: "uniform-f32",
            extra: "weighting = \"uniform\"\n",
            epsilon: 1e-4,
            ranks: &[2],
            tol: 5e-6,
        },
    ];
    let first = config(d, &cases[0], &vis);
    rimager(&["simulate", "--config", s(&first)], &[]).assert_ok();
    for c in &cases {
        let cfg = config(d, c, &vis);
        let one = image(&cfg, &d.join(format!("{}-1", c.name)), 1, "root", &[]);
        assert!(one.psf.is_some(), "{}: no PSF", c.name);
        for &n in c.ranks {
            // Four ranks: every message in rounds of at most 4096 elements.
            let env: &[(&str, &str)] = if n == 4 {
                &[("RIMAGER_MPI_MAX_COUNT", "4096")]
            } else {
                &[]
            };
            let out = d.join(format!("{}-{n}", c.name));
            let slab = image(&cfg, &out, n, "slab", env);
            let di = rel_l2(&slab.image, &one.image);
            let dp = rel_l2(slab.psf.as_ref().unwrap(), one.psf.as_ref().unwrap());
            assert!(
                di <= c.tol,
                "{}: image on {n} slab ranks vs 1 rank: {di:e}",
                c.name
            );
            assert!(
                dp <= c.tol,
                "{}: psf on {n} slab ranks vs 1 rank: {dp:e}",
                c.name
            );
            assert_eq!(slab.info.vis_used, one.info.vis_used);
            if let (Some(a), Some(b)) = (&slab.cube, &one.cube) {
                assert_eq!(a.freq_hz.len(), 2, "{}: cube planes", c.name);
                let dc = rel_l2(&a.image, &b.image);
                let dpc = rel_l2(a.psf.as_ref().unwrap(), b.psf.as_ref().unwrap());
                assert!(dc <= c.tol, "{}: cube on {n} ranks: {dc:e}", c.name);
                assert!(dpc <= c.tol, "{}: psf cube on {n} ranks: {dpc:e}", c.name);
            } else {
                assert!(
                    c.extra.find("channels_out").is_none(),
                    "{}: no cube",
                    c.name
                );
            }
            // The slab image against the float64 DFT, at the image's ε.
            let h5 = with_suffix(&out, ".h5");
            let v = rimager(&["verify", "--config", s(&cfg), "--image", s(&h5)], &[]);
            v.assert_ok();
            assert!(
                v.stdout.contains("PASS") && !v.stdout.contains("FAIL"),
                "{}: verify on {n} ranks: {v}",
                c.name
            );
        }
    }
}
