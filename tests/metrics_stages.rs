//! Every timed stage reaches the metrics (JSON and table), and one read of a chunk feeds
//! both the dirty image and the PSF: the read counts per pass in the metrics prove it.

mod common;

use std::path::Path;

use common::cli::*;
use rimager::metrics::STAGES;

fn metrics_of(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("metrics JSON");
    serde_json::from_str(&text).expect("valid JSON")
}

fn stage_max_s(m: &serde_json::Value, name: &str) -> f64 {
    m["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .find(|s| s["stage"] == name)
        .unwrap_or_else(|| panic!("stage {name} missing from the metrics JSON"))["max_s"]
        .as_f64()
        .expect("max_s")
}

fn reads(m: &serde_json::Value, pass: &str) -> u64 {
    m["chunk_reads"][pass]
        .as_u64()
        .unwrap_or_else(|| panic!("chunk_reads.{pass} missing"))
}

#[test]
fn weights_cube_and_every_stage_reach_the_metrics_with_one_read_per_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let vis = d.join("vis.h5");
    let out = d.join("img");
    // 868 rows in chunks of 200: 3 chunks on each of 2 ranks (434 rows each).
    let text = image_section(&vis, 64, Some(8.0), 1e-4, &out)
        + "weighting = \"uniform\"\nchannels_out = 2\npsf = true\n\n"
        + &simulate_section(4, 0.0, &[(1.0, 0.0, 0.0)], &vis);
    let cfg = write_file(d, "c.toml", &text);
    rimager(&["simulate", "--config", s(&cfg)], &[]).assert_ok();
    let metrics = d.join("m.json");
    let run = mpirun(
        2,
        &["image", "--config", s(&cfg), "--metrics", s(&metrics)],
        &[],
    );
    run.assert_ok();
    let m = metrics_of(&metrics);
    let names: Vec<&str> = m["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(names, STAGES, "every stage, in order, in the JSON");
    for stage in [
        "read", "weights", "grid", "reduce", "fft", "correct", "psf", "cube", "write",
    ] {
        let t = stage_max_s(&m, stage);
        assert!(t > 0.0, "stage {stage} was timed but reports {t} s");
        assert!(
            run.stderr.lines().any(|l| l.starts_with(stage)),
            "stage {stage} missing from the metrics table:\n{}",
            run.stderr
        );
    }
    // One read per chunk and pass: the dirty image and the PSF share the image pass's reads.
    assert_eq!(reads(&m, "image"), 6, "{}", m["chunk_reads"]);
    assert_eq!(reads(&m, "weights"), 6);
    assert_eq!(reads(&m, "cube"), 12, "two channel groups, one read each");
    assert_eq!(reads(&m, "uv_extent"), 0, "a fixed cell needs no uv scan");
}

#[test]
fn an_automatic_cell_costs_one_uvw_scan() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let vis = d.join("vis.h5");
    let out = d.join("img");
    let text = image_section(&vis, 64, None, 1e-4, &out)
        + "\n"
        + &simulate_section(2, 0.0, &[(1.0, 0.0, 0.0)], &vis);
    let cfg = write_file(d, "c.toml", &text);
    rimager(&["simulate", "--config", s(&cfg)], &[]).assert_ok();
    let metrics = d.join("m.json");
    rimager(
        &["image", "--config", s(&cfg), "--metrics", s(&metrics)],
        &[],
    )
    .assert_ok();
    let m = metrics_of(&metrics);
    assert_eq!(reads(&m, "uv_extent"), 5, "{}", m["chunk_reads"]);
    assert_eq!(reads(&m, "image"), 5);
    assert_eq!(
        reads(&m, "weights"),
        0,
        "natural weighting needs no density pass"
    );
}
