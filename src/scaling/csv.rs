//! The scaling CSV: one row per run and rank, every stage's time on that rank, and the run's
//! totals (visibilities, wall times, imbalance, communication share, energy) repeated on
//! every row of the run so that each row stands alone. Plain comma-separated numbers and
//! simple words (no quoting needed), one header line.
use std::io::Write;
use std::path::Path;

use super::ScalingError;
use crate::metrics::{RunMetrics, STAGES};

/// One row: one rank of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// `strong` or `weak`.
    pub mode: String,
    /// `cpu` or `gpu`.
    pub backend: String,
    /// Ranks of the run.
    pub ranks: usize,
    /// Threads per rank.
    pub threads: usize,
    /// Repeat number, from 1.
    pub repeat: usize,
    /// This row's rank.
    pub rank: usize,
    /// Visibilities gridded in all.
    pub vis_total: u64,
    /// Visibilities gridded by this rank.
    pub vis_rank: u64,
    /// Imaging wall time (simulate/read → correct), slowest rank, s.
    pub imaging_wall_s: f64,
    /// grid + reduce + fft + correct, slowest rank, s (what the speedup plots use: it leaves
    /// out generating the data).
    pub compute_wall_s: f64,
    /// Whole run, slowest rank, s.
    pub total_wall_s: f64,
    /// This rank's seconds per stage, indexed like [`STAGES`].
    pub stage_s: Vec<f64>,
    /// Bytes this rank sent into reductions.
    pub bytes_reduced: u64,
    /// Peak resident memory of this rank, bytes (0 = unknown).
    pub peak_rss_bytes: u64,
    /// GPU memory in use on this rank's GPU, bytes (0 = none).
    pub gpu_mem_bytes: u64,
    /// GPU energy of this rank measured by NVML, J (0 = not measured).
    pub gpu_energy_j: f64,
    /// Load imbalance of the run (max/mean imaging time over ranks).
    pub load_imbalance: f64,
    /// Communication share of the run.
    pub comm_share: f64,
    /// Core-hours of the run.
    pub core_hours: f64,
    /// GPU-hours of the run.
    pub gpu_hours: f64,
    /// Energy of the run, kWh.
    pub energy_kwh: f64,
    /// CO2 of the run, kg.
    pub co2_kg: f64,
}

/// The slowest rank's grid + reduce + fft + correct, s.
pub fn compute_wall_s(m: &RunMetrics) -> f64 {
    let per = |name: &str| -> Vec<f64> {
        m.stages
            .iter()
            .find(|s| s.stage == name)
            .map(|s| s.per_rank_s.clone())
            .unwrap_or_default()
    };
    let parts: Vec<Vec<f64>> = ["grid", "reduce", "fft", "correct"]
        .iter()
        .map(|s| per(s))
        .collect();
    (0..m.ranks)
        .map(|r| {
            parts
                .iter()
                .map(|p| p.get(r).copied().unwrap_or(0.0))
                .sum::<f64>()
        })
        .fold(0.0, f64::max)
}

/// The rows of one run's metrics.
pub fn rows_from_metrics(mode: &str, repeat: usize, m: &RunMetrics) -> Vec<Row> {
    let compute = compute_wall_s(m);
    (0..m.ranks)
        .map(|r| Row {
            mode: mode.to_string(),
            backend: m.backend.clone(),
            ranks: m.ranks,
            threads: m.threads_per_rank,
            repeat,
            rank: r,
            vis_total: m.vis_total,
            vis_rank: m.vis_per_rank.get(r).copied().unwrap_or(0),
            imaging_wall_s: m.imaging_wall_s,
            compute_wall_s: compute,
            total_wall_s: m.total_wall_s,
            stage_s: STAGES
                .iter()
                .map(|s| {
                    m.stages
                        .iter()
                        .find(|x| x.stage == *s)
                        .and_then(|x| x.per_rank_s.get(r).copied())
                        .unwrap_or(0.0)
                })
                .collect(),
            bytes_reduced: m.bytes_reduced_per_rank.get(r).copied().unwrap_or(0),
            peak_rss_bytes: m
                .peak_rss_bytes_per_rank
                .get(r)
                .copied()
                .flatten()
                .unwrap_or(0),
            gpu_mem_bytes: m
                .gpu_mem_bytes_per_rank
                .get(r)
                .copied()
                .flatten()
                .unwrap_or(0),
            gpu_energy_j: m
                .gpu_energy_j_per_rank
                .get(r)
                .copied()
                .flatten()
                .unwrap_or(0.0),
            load_imbalance: m.load_imbalance,
            comm_share: m.comm_share,
            core_hours: m.energy.core_hours,
            gpu_hours: m.energy.gpu_hours,
            energy_kwh: m.energy.energy_kwh,
            co2_kg: m.energy.co2_kg,
        })
        .collect()
}

const HEAD: [&str; 10] = [
    "mode",
    "backend",
    "ranks",
    "threads",
    "repeat",
    "rank",
    "vis_total",
    "vis_rank",
    "imaging_wall_s",
    "compute_wall_s",
];
const TAIL: [&str; 10] = [
    "bytes_reduced",
    "peak_rss_bytes",
    "gpu_mem_bytes",
    "gpu_energy_j",
    "load_imbalance",
    "comm_share",
    "core_hours",
    "gpu_hours",
    "energy_kwh",
    "co2_kg",
];

/// The header line's column names.
pub fn header() -> Vec<String> {
    let mut h: Vec<String> = HEAD.iter().map(|s| s.to_string()).collect();
    h.push("total_wall_s".into());
    h.extend(STAGES.iter().map(|s| format!("{s}_s")));
    h.extend(TAIL.iter().map(|s| s.to_string()));
    h
}

fn line(r: &Row) -> String {
    let mut f: Vec<String> = vec![
        r.mode.clone(),
        r.backend.clone(),
        r.ranks.to_string(),
        r.threads.to_string(),
        r.repeat.to_string(),
        r.rank.to_string(),
        r.vis_total.to_string(),
        r.vis_rank.to_string(),
        format!("{:e}", r.imaging_wall_s),
        format!("{:e}", r.compute_wall_s),
        format!("{:e}", r.total_wall_s),
    ];
    f.extend(r.stage_s.iter().map(|s| format!("{s:e}")));
    f.extend([
        r.bytes_reduced.to_string(),
        r.peak_rss_bytes.to_string(),
        r.gpu_mem_bytes.to_string(),
        format!("{:e}", r.gpu_energy_j),
        format!("{:e}", r.load_imbalance),
        format!("{:e}", r.comm_share),
        format!("{:e}", r.core_hours),
        format!("{:e}", r.gpu_hours),
        format!("{:e}", r.energy_kwh),
        format!("{:e}", r.co2_kg),
    ]);
    f.join(",")
}

/// Writes `rows` (with the header) to `path`, atomically.
pub fn write_csv(path: &Path, rows: &[Row]) -> Result<(), ScalingError> {
    crate::output::write_atomically(path, |w| {
        writeln!(w, "{}", header().join(","))?;
        for r in rows {
            writeln!(w, "{}", line(r))?;
        }
        Ok(())
    })?;
    Ok(())
}

/// The stage columns of header line `h` as indices into [`STAGES`], if `h` is a header of
/// [`header`]'s form with any subset of the stages in their order.
fn stage_columns(h: &str) -> Option<Vec<usize>> {
    let names: Vec<&str> = h.trim().split(',').map(str::trim).collect();
    let (head, rest) = names.split_at_checked(HEAD.len() + 1)?;
    let (mid, tail) = rest.split_at_checked(rest.len().checked_sub(TAIL.len())?)?;
    let head_ok = head[..HEAD.len()] == HEAD && head[HEAD.len()] == "total_wall_s";
    if !head_ok || tail != TAIL {
        return None;
    }
    let cols: Option<Vec<usize>> = mid
        .iter()
        .map(|c| {
            let stage = c.strip_suffix("_s")?;
            STAGES.iter().position(|s| *s == stage)
        })
        .collect();
    cols.filter(|c| c.windows(2).all(|w| w[0] < w[1]))
}

/// Reads a CSV written by [`write_csv`] (of this or an earlier version).
pub fn read_csv(path: &Path) -> Result<Vec<Row>, ScalingError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScalingError::Io {
        op: "cannot read",
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |line: usize, reason: String| ScalingError::Csv {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let mut lines = text.lines().enumerate();
    let want = header().join(",");
    // The stage columns of the file, as indices into STAGES: files written before a stage
    // existed (without `weights_s`, `cube_s`) still read, the missing stages as zero.
    let cols: Vec<usize> = match lines.next().map(|(_, h)| stage_columns(h)) {
        Some(Some(c)) => c,
        _ => return Err(bad(1, format!("expected the header {want}"))),
    };
    let ns = cols.len();
    let mut rows = Vec::new();
    for (i, l) in lines {
        if l.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = l.split(',').map(str::trim).collect();
        let n = HEAD.len() + 1 + ns + TAIL.len();
        if f.len() != n {
            return Err(bad(i + 1, format!("{} fields, expected {n}", f.len())));
        }
        let num = |k: usize| -> Result<f64, ScalingError> {
            f[k].parse::<f64>().map_err(|_| {
                bad(
                    i + 1,
                    format!("column {}: {:?} is not a number", k + 1, f[k]),
                )
            })
        };
        let t = HEAD.len() + 1 + ns;
        rows.push(Row {
            mode: f[0].to_string(),
            backend: f[1].to_string(),
            ranks: num(2)? as usize,
            threads: num(3)? as usize,
            repeat: num(4)? as usize,
            rank: num(5)? as usize,
            vis_total: num(6)? as u64,
            vis_rank: num(7)? as u64,
            imaging_wall_s: num(8)?,
            compute_wall_s: num(9)?,
            total_wall_s: num(10)?,
            stage_s: {
                let mut v = vec![0.0; STAGES.len()];
                for (k, &c) in cols.iter().enumerate() {
                    v[c] = num(11 + k)?;
                }
                v
            },
            bytes_reduced: num(t)? as u64,
            peak_rss_bytes: num(t + 1)? as u64,
            gpu_mem_bytes: num(t + 2)? as u64,
            gpu_energy_j: num(t + 3)?,
            load_imbalance: num(t + 4)?,
            comm_share: num(t + 5)?,
            core_hours: num(t + 6)?,
            gpu_hours: num(t + 7)?,
            energy_kwh: num(t + 8)?,
            co2_kg: num(t + 9)?,
        });
    }
    Ok(rows)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::metrics::Stage;

    #[test]
    fn headers_of_earlier_versions_still_read() {
        let now = header().join(",");
        assert_eq!(
            stage_columns(&now),
            Some((0..STAGES.len()).collect::<Vec<_>>())
        );
        // A file from before the weights and cube stages were timed.
        let old = now.replace("weights_s,", "").replace("cube_s,", "");
        let cols = stage_columns(&old).expect("old header");
        assert_eq!(cols.len(), STAGES.len() - 2);
        assert!(!cols.contains(&Stage::Weights.index()) && !cols.contains(&Stage::Cube.index()));
        assert_eq!(stage_columns(&now.replace("grid_s", "gird_s")), None);
        assert_eq!(stage_columns("mode,backend"), None);
    }

    /// A synthetic row: `ranks` × `threads`, compute time `t` s.
    pub(crate) fn row(
        mode: &str,
        backend: &str,
        ranks: usize,
        threads: usize,
        rank: usize,
        t: f64,
    ) -> Row {
        let mut stage_s = vec![0.0; STAGES.len()];
        stage_s[Stage::Simulate.index()] = 0.5 * t;
        stage_s[Stage::Grid.index()] = 0.7 * t;
        stage_s[Stage::Reduce.index()] = 0.1 * t;
        stage_s[Stage::Fft.index()] = 0.2 * t;
        Row {
            mode: mode.into(),
            backend: backend.into(),
            ranks,
            threads,
            repeat: 1,
            rank,
            vis_total: 1000,
            vis_rank: 1000 / ranks as u64,
            imaging_wall_s: 1.5 * t,
            compute_wall_s: t,
            total_wall_s: 1.6 * t,
            stage_s,
            bytes_reduced: 4096 * (ranks as u64 - 1).min(1),
            peak_rss_bytes: 1 << 20,
            gpu_mem_bytes: 0,
            gpu_energy_j: 0.0,
            load_imbalance: 1.05,
            comm_share: 0.1,
            core_hours: 1e-3,
            gpu_hours: 0.0,
            energy_kwh: 1e-5,
            co2_kg: 5e-6,
        }
    }

    #[test]
    fn csv_round_trip_and_bad_lines_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.csv");
        let rows = vec![
            row("strong", "cpu", 1, 2, 0, 3.25),
            row("strong", "cpu", 2, 2, 0, 1.75),
            row("strong", "cpu", 2, 2, 1, 1.75),
        ];
        write_csv(&p, &rows).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 4);
        assert!(text.starts_with("mode,backend,ranks,threads,"));
        assert!(text.lines().next().unwrap().contains("grid_s,reduce_s"));
        assert_eq!(read_csv(&p).unwrap(), rows);
        std::fs::write(&p, format!("{}\nstrong,cpu,1\n", header().join(","))).unwrap();
        let e = read_csv(&p).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("fields"), "{e}");
    }
}
