//! The image does not depend on how many MPI ranks make it, and the in-memory simulation
//! (`input.source = "simulate"`) images the same as the file `rimager simulate` writes.

mod common;

use common::cli::*;
use rimager::output::h5image::read_image_h5;

#[test]
fn one_two_and_three_ranks_agree_and_in_memory_simulation_matches_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let vis = d.join("obs.h5");
    let sources = [(1.0, 0.0, 0.0), (0.5, 120.0, 60.0), (0.8, -200.0, -90.0)];
    // ε = 1e-6 images in float64, so summing grids in another order changes nothing visible
    // in the float32 output.
    let cfg_for = |out: &str, source: &str| {
        let mut t = image_section(&vis, 128, None, 1e-6, &d.join(out));
        t = t.replace("source = \"file\"", &format!("source = \"{source}\""));
        t + "\n" + &simulate_section(3, 0.05, &sources, &vis)
    };
    let cfg_file = write_file(d, "file.toml", &cfg_for("out/r", "file"));
    rimager(&["simulate", "--config", s(&cfg_file)], &[]).assert_ok();
    assert!(vis.is_file(), "rimager simulate wrote no {}", vis.display());

    let mut images = Vec::new();
    for ranks in [1usize, 2, 3] {
        let out = d.join(format!("out/r{ranks}"));
        let run = mpirun(
            ranks,
            &["image", "--config", s(&cfg_file), "--output", s(&out)],
            &[],
        );
        run.assert_ok();
        let h5 = with_suffix(&out, ".h5");
        let img = read_image_h5(&h5)
            .unwrap_or_else(|e| panic!("{ranks} rank(s): no readable image ({e}): {run}"));
        assert_eq!(
            img.info.ranks, ranks as u64,
            "attribute ranks: the {ranks} processes did not form one job"
        );
        assert!(img.psf.is_some(), "no /psf with {ranks} rank(s)");
        assert!(
            img.image.iter().all(|v| v.is_finite()),
            "non-finite pixels with {ranks} rank(s)"
        );
        images.push(img);
    }
    let one = &images[0];
    for (k, other) in images.iter().enumerate().skip(1) {
        let di = rel_l2(&other.image, &one.image);
        let dp = rel_l2(other.psf.as_ref().unwrap(), one.psf.as_ref().unwrap());
        assert!(
            di <= 1e-6,
            "image with {} ranks differs from 1 rank by {di:e}",
            k + 1
        );
        assert!(
            dp <= 1e-6,
            "psf with {} ranks differs from 1 rank by {dp:e}",
            k + 1
        );
        assert_eq!(other.info.vis_used, one.info.vis_used);
        assert_eq!(other.info.sum_weights, one.info.sum_weights);
    }
    // The data are not trivial: the brightest source (1 Jy at the phase centre) dominates.
    let st = rimager::image::stats::image_stats(&one.image, one.info.nx);
    assert_eq!(
        (st.x, st.y),
        (64, 64),
        "peak not at the phase centre: {st:?}"
    );

    // The same observation simulated in memory, on 2 ranks.
    let cfg_mem = write_file(d, "mem.toml", &cfg_for("out/mem", "simulate"));
    std::fs::remove_file(&vis).unwrap(); // must not be read
    mpirun(2, &["image", "--config", s(&cfg_mem)], &[]).assert_ok();
    let mem = read_image_h5(&d.join("out/mem.h5")).unwrap();
    assert_eq!(mem.info.ranks, 2);
    let di = rel_l2(&mem.image, &one.image);
    let dp = rel_l2(mem.psf.as_ref().unwrap(), one.psf.as_ref().unwrap());
    assert!(
        di <= 1e-6,
        "in-memory simulation image differs from file by {di:e}"
    );
    assert!(
        dp <= 1e-6,
        "in-memory simulation psf differs from file by {dp:e}"
    );
    assert_eq!(mem.info.vis_used, one.info.vis_used);
}
