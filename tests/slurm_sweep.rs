//! The `jobs/` Slurm script under a real scheduler: `sbatch jobs/slurm_strong.sh` on a running
//! one-node Slurm (`scripts/slurm-one-node.sh` starts one: Debian's slurm-wlm and munge)
//! runs a small strong-scaling sweep (1 and 2 ranks, `srun --mpi=pmix`) through
//! `rimager scaling run`, and the CSV it writes holds both runs with the same visibilities.
//!
//! Without a usable Slurm (no `sinfo`, no idle node) the test prints `SKIPPED:` with the
//! reason, unless `RIMAGER_REQUIRE_SLURM=1` (set by `.ci/run`), where it fails instead.

mod common;

use std::process::Command;
use std::time::Duration;

use common::cli::*;
use rimager::scaling::csv::read_csv;

/// Why Slurm cannot run a job here, if it cannot.
fn slurm_unusable() -> Option<String> {
    let out = match Command::new("sinfo")
        .args(["-h", "-N", "-o", "%t"])
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            return Some(format!(
                "no sinfo ({e}); scripts/slurm-one-node.sh starts one"
            ))
        }
    };
    let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        return Some(format!(
            "sinfo failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    match state.lines().next() {
        Some("idle" | "mix") => None,
        other => Some(format!("no idle Slurm node (sinfo state {other:?})")),
    }
}

#[test]
fn sbatch_runs_the_strong_scaling_script_and_writes_the_csv() {
    if let Some(why) = slurm_unusable() {
        if std::env::var("RIMAGER_REQUIRE_SLURM").as_deref() == Ok("1") {
            panic!("RIMAGER_REQUIRE_SLURM=1 but Slurm cannot run jobs: {why}");
        }
        eprintln!("SKIPPED: sbatch_runs_the_strong_scaling_script_and_writes_the_csv: {why}");
        return;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let job_out = dir.path().join("job.out");
    let config = format!("{root}/configs/scaling.toml");
    let env = [
        ("RIMAGER", RIMAGER),
        ("CONFIG", config.as_str()),
        ("VIS", "1e5"),
        ("NPIX", "128"),
        ("LAYOUTS", "1x1,2x1"),
        ("RESULTS", s(&results)),
        ("SRUN_ARGS", "--mpi=pmix"),
    ];
    let job = format!("{root}/jobs/slurm_strong.sh");
    let output = format!("--output={}", s(&job_out));
    let chdir = format!("--chdir={root}");
    let mut args = vec![
        chdir.as_str(),
        "--wait",
        "--nodes=1",
        "--ntasks=2",
        "--ntasks-per-node=2",
        "--cpus-per-task=1",
        "--time=10",
        &output,
    ];
    args.push(&job);
    let run = run_with_timeout("sbatch", &args, &env, Duration::from_secs(600));
    let log = std::fs::read_to_string(&job_out).unwrap_or_default();
    assert!(
        run.ok(),
        "sbatch --wait failed: {run}\n--- job output ---\n{log}"
    );
    let csv = results.join("scaling-strong.csv");
    let rows = read_csv(&csv)
        .unwrap_or_else(|e| panic!("no CSV from the job ({e})\n--- job output ---\n{log}"));
    let ranks: Vec<usize> = rows.iter().map(|r| r.ranks).collect();
    assert_eq!(
        ranks,
        vec![1, 2, 2],
        "one row per rank of 1x1 and 2x1: {log}"
    );
    assert!(rows.iter().all(|r| r.mode == "strong" && r.threads == 1));
    assert!(rows[0].vis_total >= 100_000, "{}", rows[0].vis_total);
    assert!(
        rows.iter().all(|r| r.vis_total == rows[0].vis_total),
        "strong scaling: the same visibilities on 1 and 2 ranks"
    );
    let split: u64 = rows[1..].iter().map(|r| r.vis_rank).sum();
    assert_eq!(split, rows[0].vis_total, "the 2 ranks share the rows");
    assert!(rows[1].bytes_reduced > 0, "2 ranks communicate");
    assert!(log.contains("srun"), "the job launched with srun: {log}");
}
