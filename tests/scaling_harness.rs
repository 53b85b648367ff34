//! End-to-end runs of the scaling harness (`rimager scaling run`) with 1 and 2 ranks of a
//! tiny simulated job, strong and weak: the CSV has one row per run and rank with consistent
//! visibility counts, reductions only with 2 ranks, and the plots decode as PNG images.

mod common;

use std::path::Path;

use common::cli::*;
use rimager::scaling::csv::{read_csv, Row};

/// A tiny in-memory observation on the 8-antenna layout (28 baselines x 2 channels per dump).
fn template(d: &Path) -> std::path::PathBuf {
    let vis = d.join("unused.h5");
    let mut t = image_section(&vis, 64, None, 1e-4, &d.join("out/x"));
    t = t.replace("source = \"file\"", "source = \"simulate\"");
    t += "\n";
    t += &simulate_section(2, 0.1, &[(1.0, 0.0, 0.0), (0.5, 200.0, -100.0)], &vis);
    write_file(d, "scaling.toml", &t)
}

fn sweep(cfg: &Path, mode: &str, vis: &str, out: &Path, extra: &[&str]) -> Vec<Row> {
    let mut args = vec![
        "scaling",
        "run",
        "--config",
        s(cfg),
        "--mode",
        mode,
        "--vis",
        vis,
        "--layouts",
        "1x1,2x1",
        "--out",
        s(out),
        "--launcher",
        "mpirun --oversubscribe -n {ranks} --bind-to none",
    ];
    args.extend_from_slice(extra);
    let run = rimager(&args, &[]);
    run.assert_ok();
    let rows = read_csv(&out.join(format!("scaling-{mode}.csv")))
        .unwrap_or_else(|e| panic!("no readable CSV ({e}): {run}"));
    for name in ["speedup", "stages"] {
        let p = out.join(format!("{name}-{mode}.png"));
        let f = std::fs::File::open(&p).unwrap_or_else(|e| panic!("{}: {e}: {run}", p.display()));
        let mut reader = png::Decoder::new(std::io::BufReader::new(f))
            .read_info()
            .unwrap_or_else(|e| panic!("{} does not decode: {e}", p.display()));
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).expect("PNG frame");
        let px = &buf[..info.buffer_size()];
        let distinct: std::collections::HashSet<&[u8]> = px.chunks(3).collect();
        assert!(distinct.len() > 8, "{} is nearly blank", p.display());
    }
    rows
}

fn check_rows(rows: &[Row], mode: &str) {
    // 1 row for the 1-rank run, 2 for the 2-rank run.
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows
        .iter()
        .all(|r| r.mode == mode && r.backend == "cpu" && r.threads == 1));
    assert_eq!(
        rows.iter().map(|r| (r.ranks, r.rank)).collect::<Vec<_>>(),
        vec![(1, 0), (2, 0), (2, 1)]
    );
    for r in rows {
        assert!(r.compute_wall_s > 0.0 && r.imaging_wall_s >= r.compute_wall_s);
        assert!(r.stage_s.iter().all(|t| *t >= 0.0));
        assert!(
            r.peak_rss_bytes > 1 << 20,
            "peak memory {}",
            r.peak_rss_bytes
        );
        assert!((0.0..=1.0).contains(&r.comm_share));
        assert!(r.load_imbalance >= 1.0);
        assert!(r.core_hours > 0.0 && r.energy_kwh > 0.0 && r.co2_kg > 0.0);
        assert_eq!(r.gpu_hours, 0.0);
    }
    // Every sample of a run is gridded by exactly one rank.
    assert_eq!(rows[0].vis_rank, rows[0].vis_total);
    assert_eq!(rows[1].vis_rank + rows[2].vis_rank, rows[1].vis_total);
    assert!(rows[1].vis_rank > 0 && rows[2].vis_rank > 0);
    // Reductions only with two ranks. With the slab reduction (the default) both ranks send
    // half the band, but only rank 1 sends its block of the image to rank 0 (and the slabs
    // may differ by a row), so their byte counts are close, not equal.
    assert_eq!(rows[0].bytes_reduced, 0);
    let (b1, b2) = (rows[1].bytes_reduced, rows[2].bytes_reduced);
    assert!(b1 > 0 && b2 > 0, "{b1} {b2}");
    assert!(
        b1.max(b2) < 3 * b1.min(b2),
        "ranks' shares far apart: {b1} {b2}"
    );
}

#[test]
fn strong_and_weak_sweeps_with_one_and_two_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = template(d);
    let per_dump = 28 * 2;

    let strong = sweep(&cfg, "strong", "20000", &d.join("strong"), &[]);
    check_rows(&strong, "strong");
    // Strong: the same total for both runs, at least the target, less than one dump more.
    assert_eq!(strong[0].vis_total, strong[1].vis_total);
    assert!((20_000..20_000 + per_dump).contains(&strong[0].vis_total));

    let weak = sweep(&cfg, "weak", "8000", &d.join("weak"), &[]);
    check_rows(&weak, "weak");
    // Weak: the total grows with the ranks; each rank keeps about 8000.
    assert!((8_000..8_000 + per_dump).contains(&weak[0].vis_total));
    assert!((16_000..16_000 + per_dump).contains(&weak[1].vis_total));
    for r in &weak[1..] {
        assert!(
            r.vis_rank.abs_diff(8_000) < per_dump,
            "rank {} has {}",
            r.rank,
            r.vis_rank
        );
    }

    // From a file: the same observation, written once, read by the runs (reading timed).
    let file = sweep(
        &cfg,
        "strong",
        "20000",
        &d.join("strong-file"),
        &["--from-file"],
    );
    check_rows(&file, "strong");
    assert_eq!(file[0].vis_total, strong[0].vis_total);
    let data = d.join(format!("strong-file/data/vis-{}.h5", file[0].vis_total));
    assert!(data.is_file(), "no observation file {}", data.display());
    let stage = |name: &str| {
        rimager::metrics::STAGES
            .iter()
            .position(|s| *s == name)
            .unwrap()
    };
    let (read, simulate) = (stage("read"), stage("simulate"));
    assert!(
        file.iter()
            .all(|r| r.stage_s[read] > 0.0 && r.stage_s[simulate] == 0.0),
        "{file:?}"
    );
    assert!(
        strong.iter().all(|r| r.stage_s[simulate] > 0.0),
        "{strong:?}"
    );
    let runs = d.join("strong-file/runs");
    assert!(runs.join("strong-file-cpu-2x1-r1.json").is_file());

    // Per-run configs, metrics and logs are kept; images are not.
    let runs = d.join("strong/runs");
    assert!(runs.join("strong-cpu-2x1-r1.json").is_file());
    assert!(runs.join("strong-cpu-2x1-r1.toml").is_file());
    assert!(!runs.join("strong-cpu-2x1-r1.h5").exists());

    // Re-plotting both CSVs together works.
    let plot = rimager(
        &[
            "scaling",
            "plot",
            "--csv",
            s(&d.join("strong/scaling-strong.csv")),
            "--csv",
            s(&d.join("weak/scaling-weak.csv")),
            "--out",
            s(&d.join("plots")),
        ],
        &[],
    );
    plot.assert_ok();
    for f in ["speedup-strong.png", "stages-weak.png"] {
        assert!(d.join("plots").join(f).is_file(), "{f}: {plot}");
    }
}

#[test]
fn bad_layout_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = template(dir.path());
    let run = rimager(
        &[
            "scaling",
            "run",
            "--config",
            s(&cfg),
            "--mode",
            "strong",
            "--vis",
            "1e4",
            "--layouts",
            "2x",
            "--out",
            s(&dir.path().join("o")),
        ],
        &[],
    );
    run.assert_failed()
        .assert_stderr_has(&["--layouts", "\"2x\""]);
}
