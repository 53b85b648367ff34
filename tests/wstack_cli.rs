//! w-stacking through the command line: a wide-field (≈ 20°) low-frequency simulation imaged
//! with `image.wstacking = true` on 1, 2 and 3 MPI ranks (ranks share out w-planes, each
//! reading its own rows once and sending them to the planes' ranks) gives the same image, `rimager verify` passes it against the DFT with the w-term, and the 2-D image
//! of the same data fails that comparison (`--reference both`), honestly.

mod common;

use common::cli::*;
use rimager::output::h5image::read_image_h5;

fn config(vis: &std::path::Path, out: &std::path::Path, wstacking: &str) -> String {
    format!(
        "[input]\nsource = \"file\"\npath = {}\nchunk_rows = 150\n\n[image]\nnx = 128\nny = 96\n\
         cell_arcsec = \"auto\"\nepsilon = 1e-6\nthreads = 1\nwstacking = {wstacking}\noutput = {}\n\n\
         [simulate]\nlayout = {:?}\ndec_deg = -30.0\nha_start_h = -1.0\nha_end_h = 1.0\nintegration_s = 240.0\n\
         freq_start_hz = 150.0e6\nfreq_step_hz = 5.0e6\nnchan = 2\nseed = 3\noutput = {}\n\n\
         [[simulate.sources]]\nflux_jy = 1.0\n\n[[simulate.sources]]\nflux_jy = 0.7\nl_arcsec = 14000.0\n\
         m_arcsec = -9000.0\n",
        toml_path(vis),
        toml_path(out),
        SMALL_LAYOUT,
        toml_path(vis)
    )
}

#[test]
fn wstacked_image_is_rank_independent_and_verifies_against_w_term_dft() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let vis = d.join("obs.h5");
    let cfg = write_file(d, "w.toml", &config(&vis, &d.join("out/w"), "true"));
    rimager(&["simulate", "--config", s(&cfg)], &[]).assert_ok();
    let mut images = Vec::new();
    let mut reads = Vec::new();
    for ranks in [1usize, 2, 3] {
        let out = d.join(format!("out/w{ranks}"));
        let metrics = d.join(format!("out/w{ranks}-metrics.json"));
        // Three ranks exchange rows in rounds of at most 300 elements.
        let env: &[(&str, &str)] = if ranks == 3 {
            &[("RIMAGER_MPI_MAX_COUNT", "300")]
        } else {
            &[]
        };
        let args = [
            "image",
            "--config",
            s(&cfg),
            "--output",
            s(&out),
            "--metrics",
            s(&metrics),
        ];
        mpirun(ranks, &args, env).assert_ok();
        let img = read_image_h5(&with_suffix(&out, ".h5")).unwrap();
        assert_eq!(u64::from(img.info.wstacking), 1);
        assert!(img.info.w_planes >= 4, "{:?}", img.info);
        assert_eq!(img.info.ranks, ranks as u64);
        images.push(img);
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&metrics).unwrap()).unwrap();
        reads.push(m["chunk_reads"]["image"].as_u64().unwrap());
    }
    // Each rank reads its own rows once (then routes them to the planes' ranks): the chunks
    // read by all ranks together are one read of the data, plus at most one partial chunk per
    // rank, not one read per rank.
    for (k, &n) in reads.iter().enumerate() {
        assert!(
            n >= reads[0] && n <= reads[0] + k as u64,
            "{} ranks read {n} chunks; one rank reads {}",
            k + 1,
            reads[0]
        );
    }
    for (k, img) in images.iter().enumerate().skip(1) {
        let di = rel_l2(&img.image, &images[0].image);
        assert!(di <= 1e-6, "{} ranks vs 1: image differs by {di:e}", k + 1);
    }
    let di = rel_l2(&images[1].image, &images[0].image);
    let dp = rel_l2(
        images[1].psf.as_ref().unwrap(),
        images[0].psf.as_ref().unwrap(),
    );
    assert!(di <= 1e-6, "2 ranks vs 1: image differs by {di:e}");
    assert!(dp <= 1e-6, "2 ranks vs 1: psf differs by {dp:e}");
    assert_eq!(images[1].info.vis_used, images[0].info.vis_used);
    assert_eq!(images[1].info.sum_weights, images[0].info.sum_weights);

    // verify: the w-stacked image against the DFT with the w-term (auto), and both references.
    let w1 = with_suffix(&d.join("out/w1"), ".h5");
    let v = rimager(&["verify", "--config", s(&cfg), "--image", s(&w1)], &[]);
    v.assert_ok();
    assert!(v.stdout.contains("vs DFT with w-term"), "{v}");
    let both = rimager(
        &[
            "verify",
            "--config",
            s(&cfg),
            "--image",
            s(&w1),
            "--reference",
            "both",
        ],
        &[],
    );
    // Against the 2-D DFT the w-stacked image fails: the w-term matters on this field.
    both.assert_failed();
    assert!(both.stdout.contains("vs 2-D DFT"), "{both}");

    // The 2-D image of the same data passes against the 2-D DFT and fails against the w-term.
    let cfg2 = write_file(d, "2d.toml", &config(&vis, &d.join("out/flat"), "false"));
    rimager(&["image", "--config", s(&cfg2)], &[]).assert_ok();
    let flat = with_suffix(&d.join("out/flat"), ".h5");
    assert_eq!(u64::from(read_image_h5(&flat).unwrap().info.wstacking), 0);
    rimager(&["verify", "--config", s(&cfg2), "--image", s(&flat)], &[]).assert_ok();
    let honest = rimager(
        &[
            "verify",
            "--config",
            s(&cfg2),
            "--image",
            s(&flat),
            "--reference",
            "wterm",
        ],
        &[],
    );
    honest.assert_failed();
    assert!(honest.stdout.contains("FAIL"), "{honest}");

    // "auto" turns w-stacking on for this field.
    let cfga = write_file(d, "a.toml", &config(&vis, &d.join("out/auto"), "\"auto\""));
    rimager(&["image", "--config", s(&cfga)], &[]).assert_ok();
    let auto = read_image_h5(&with_suffix(&d.join("out/auto"), ".h5")).unwrap();
    assert_eq!(u64::from(auto.info.wstacking), 1);
}
