//! `rimager scaling model` on a measured one-node CSV (the committed device-host sweep):
//! it prints the one-node check, writes model.csv with every node count 1 … 4096 for both
//! schemes and modes, efficiency 1 on one node, and the slab FFT keeps the slab mode ahead
//! of the root mode in strong scaling once there are many nodes.

mod common;

use common::cli::*;

#[test]
fn scaling_model_writes_predictions_and_the_check() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let csv = format!("{root}/benchmarks/results/slab-2026-12-02/strong-slab-scaling-strong.csv");
    let cfg = format!("{root}/configs/scaling.toml");
    let run = rimager(
        &[
            "scaling",
            "model",
            "--csv",
            &csv,
            "--config",
            &cfg,
            "--out",
            s(&out),
        ],
        &[],
    );
    run.assert_ok();
    assert!(run.stdout.contains("check on one node"), "{run}");
    let text = std::fs::read_to_string(out.join("model.csv")).unwrap();
    assert!(out.join("model.png").is_file());
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(
        rows.len(),
        2 * 2 * 13,
        "slab/root x strong/weak x 1..4096 nodes"
    );
    let eff = |scheme: &str, mode: &str, nodes: &str| -> f64 {
        rows.iter()
            .find(|r| r[0] == scheme && r[1] == mode && r[2] == nodes)
            .map(|r| r[9].parse().unwrap())
            .unwrap_or_else(|| panic!("no {scheme} {mode} {nodes}"))
    };
    for scheme in ["slab", "root"] {
        for mode in ["strong", "weak"] {
            assert!((eff(scheme, mode, "1") - 1.0).abs() < 1e-9);
        }
    }
    assert!(eff("slab", "strong", "64") > eff("root", "strong", "64"));
    assert!(eff("slab", "strong", "4096") < eff("slab", "strong", "2"));
    // A bad network is refused with the flag's name.
    let bad = rimager(
        &[
            "scaling",
            "model",
            "--csv",
            &csv,
            "--config",
            &cfg,
            "--out",
            s(&out),
            "--bw-gbs",
            "0",
        ],
        &[],
    );
    bad.assert_failed().assert_stderr_has(&["--bw-gbs"]);
}
