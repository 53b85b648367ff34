//! Per-stage wall-clock timings of every rank, gathered to rank 0, printed as a table and
//! written as JSON, with throughput (visibilities per second) and load imbalance (max/mean).
use std::time::Instant;

use serde::Serialize;

use crate::dist::Dist;

/// The timed stages, in pipeline order, then the GPU backend's device stages ([`DEVICE_STAGES`]).
pub const STAGES: [&str; 14] = [
    "read",
    "simulate",
    "grid",
    "reduce",
    "fft",
    "correct",
    "psf",
    "write",
    "gpu_h2d",
    "gpu_bucket",
    "gpu_grid",
    "gpu_fft",
    "gpu_correct",
    "gpu_d2h",
];

/// Stages measured on the device with CUDA events (image and PSF passes together). They run
/// inside the host stages `grid`, `fft`, `correct` and `psf`, so they are reported beside
/// them but not added into the wall times. Zero (and hidden in the table) on the CPU backend.
pub const DEVICE_STAGES: [&str; 6] = [
    "gpu_h2d",
    "gpu_bucket",
    "gpu_grid",
    "gpu_fft",
    "gpu_correct",
    "gpu_d2h",
];

/// Seconds spent in each of [`STAGES`] on one rank.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StageTimes {
    /// Seconds per stage, indexed like [`STAGES`].
    pub seconds: [f64; STAGES.len()],
}

impl StageTimes {
    /// Runs `f`, adding its wall time to `stage`.
    pub fn time<R>(&mut self, stage: &str, f: impl FnOnce() -> R) -> R {
        let t = Instant::now();
        let r = f();
        self.add(stage, t.elapsed().as_secs_f64());
        r
    }

    /// Adds `seconds` to `stage`.
    pub fn add(&mut self, stage: &str, seconds: f64) {
        if let Some(i) = STAGES.iter().position(|s| *s == stage) {
            self.seconds[i] += seconds;
        }
    }

    /// Seconds of `stage`.
    pub fn get(&self, stage: &str) -> f64 {
        STAGES
            .iter()
            .position(|s| *s == stage)
            .map_or(0.0, |i| self.seconds[i])
    }

    /// Sum over the host stages (the device stages of [`DEVICE_STAGES`] overlap them).
    pub fn total(&self) -> f64 {
        STAGES
            .iter()
            .zip(&self.seconds)
            .filter(|(s, _)| !DEVICE_STAGES.contains(s))
            .map(|(_, t)| t)
            .sum()
    }
}

/// One stage summarised over ranks.
#[derive(Clone, Debug, Serialize)]
pub struct StageSummary {
    /// Stage name.
    pub stage: String,
    /// Per-rank seconds.
    pub per_rank_s: Vec<f64>,
    /// Minimum, mean, maximum over ranks.
    pub min_s: f64,
    /// Mean over ranks.
    pub mean_s: f64,
    /// Maximum over ranks.
    pub max_s: f64,
    /// max / mean (1 = perfectly balanced).
    pub imbalance: f64,
}

/// The whole run's metrics (rank 0).
#[derive(Clone, Debug, Serialize)]
pub struct RunMetrics {
    /// Number of ranks.
    pub ranks: usize,
    /// rayon threads per rank.
    pub threads_per_rank: usize,
    /// Backend name.
    pub backend: String,
    /// Samples gridded per rank.
    pub vis_per_rank: Vec<u64>,
    /// Samples gridded in all.
    pub vis_total: u64,
    /// Wall time of the imaging path (read → correct, slowest rank), seconds.
    pub imaging_wall_s: f64,
    /// Wall time of the whole run (slowest rank), seconds.
    pub total_wall_s: f64,
    /// `vis_total / imaging_wall_s`.
    pub vis_per_s: f64,
    /// `vis_per_s / (ranks · threads)`.
    pub vis_per_s_per_thread: f64,
    /// Per-stage summaries.
    pub stages: Vec<StageSummary>,
}

/// Stages that make up the imaging path (the PSF and writing are excluded from throughput).
const IMAGING: [&str; 6] = ["read", "simulate", "grid", "reduce", "fft", "correct"];

impl RunMetrics {
    /// Gathers every rank's times and sample count to rank 0 (`None` on other ranks).
    pub fn gather(
        dist: &Dist,
        times: &StageTimes,
        vis_used: u64,
        threads: usize,
        backend: &str,
    ) -> Option<Self> {
        let mut mine = times.seconds.to_vec();
        mine.push(vis_used as f64);
        let all = dist.gather_f64(&mine)?;
        let n = STAGES.len() + 1;
        let ranks = all.len() / n;
        let per_rank: Vec<&[f64]> = all.chunks(n).collect();
        let stages: Vec<StageSummary> = STAGES
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let v: Vec<f64> = per_rank.iter().map(|r| r[i]).collect();
                let max = v.iter().cloned().fold(0.0, f64::max);
                let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
                let mean = v.iter().sum::<f64>() / ranks as f64;
                StageSummary {
                    stage: s.to_string(),
                    per_rank_s: v,
                    min_s: min,
                    mean_s: mean,
                    max_s: max,
                    imbalance: if mean > 0.0 { max / mean } else { 1.0 },
                }
            })
            .collect();
        let rank_sum = |r: &[f64], names: &[&str]| -> f64 {
            STAGES
                .iter()
                .enumerate()
                .filter(|(_, s)| names.contains(s))
                .map(|(i, _)| r[i])
                .sum()
        };
        let imaging_wall_s = per_rank
            .iter()
            .map(|r| rank_sum(r, &IMAGING))
            .fold(0.0, f64::max);
        let host: Vec<&str> = STAGES
            .iter()
            .copied()
            .filter(|s| !DEVICE_STAGES.contains(s))
            .collect();
        let total_wall_s = per_rank
            .iter()
            .map(|r| rank_sum(r, &host))
            .fold(0.0, f64::max);
        let vis_per_rank: Vec<u64> = per_rank.iter().map(|r| r[n - 1] as u64).collect();
        let vis_total: u64 = vis_per_rank.iter().sum();
        let vis_per_s = if imaging_wall_s > 0.0 {
            vis_total as f64 / imaging_wall_s
        } else {
            0.0
        };
        Some(Self {
            ranks,
            threads_per_rank: threads,
            backend: backend.to_string(),
            vis_per_rank,
            vis_total,
            imaging_wall_s,
            total_wall_s,
            vis_per_s,
            vis_per_s_per_thread: vis_per_s / (ranks * threads.max(1)) as f64,
            stages,
        })
    }

    /// Adds `seconds` of `stage` done by rank 0 alone after the gather (writing outputs).
    pub fn add_root_stage(&mut self, stage: &str, seconds: f64) {
        if let Some(s) = self.stages.iter_mut().find(|s| s.stage == stage) {
            s.per_rank_s[0] += seconds;
            let n = s.per_rank_s.len() as f64;
            s.max_s = s.per_rank_s.iter().cloned().fold(0.0, f64::max);
            s.min_s = s.per_rank_s.iter().cloned().fold(f64::INFINITY, f64::min);
            s.mean_s = s.per_rank_s.iter().sum::<f64>() / n;
            s.imbalance = if s.mean_s > 0.0 {
                s.max_s / s.mean_s
            } else {
                1.0
            };
        }
        self.total_wall_s += seconds;
    }

    /// A human-readable table.
    pub fn table(&self) -> String {
        // Name column: 10 wide, wider only when a shown stage name needs it.
        let w = self
            .stages
            .iter()
            .filter(|st| st.max_s != 0.0)
            .map(|st| st.stage.len())
            .fold(10, usize::max);
        let mut s = format!(
            "{:<w$} {:>10} {:>10} {:>10} {:>10}\n",
            "stage", "min [s]", "mean [s]", "max [s]", "max/mean"
        );
        for st in &self.stages {
            if st.max_s == 0.0 {
                continue;
            }
            s += &format!(
                "{:<w$} {:>10.4} {:>10.4} {:>10.4} {:>10.2}\n",
                st.stage, st.min_s, st.mean_s, st.max_s, st.imbalance
            );
        }
        s += &format!(
            "{} visibilities on {} rank(s) x {} thread(s), {}: imaging {:.3} s, {:.3e} vis/s ({:.3e} vis/s/thread)\n",
            self.vis_total,
            self.ranks,
            self.threads_per_rank,
            self.backend,
            self.imaging_wall_s,
            self.vis_per_s,
            self.vis_per_s_per_thread
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_rank_summary_is_consistent() {
        let mut t = StageTimes::default();
        t.add("grid", 2.0);
        t.add("fft", 1.0);
        t.add("write", 5.0);
        let m = RunMetrics::gather(&Dist::single(), &t, 300, 2, "cpu").unwrap();
        assert_eq!(m.ranks, 1);
        assert!((m.imaging_wall_s - 3.0).abs() < 1e-12);
        assert!((m.total_wall_s - 8.0).abs() < 1e-12);
        assert!((m.vis_per_s - 100.0).abs() < 1e-9);
        assert!((m.vis_per_s_per_thread - 50.0).abs() < 1e-9);
        assert!(m.table().contains("grid"));
        assert!(!m.table().contains("gpu_"));
    }

    #[test]
    fn device_stages_are_reported_but_not_summed() {
        let mut t = StageTimes::default();
        t.add("grid", 2.0);
        t.add("fft", 1.0);
        t.add("gpu_grid", 1.5);
        t.add("gpu_fft", 0.5);
        assert!((t.total() - 3.0).abs() < 1e-12);
        let m = RunMetrics::gather(&Dist::single(), &t, 300, 2, "gpu").unwrap();
        assert!((m.imaging_wall_s - 3.0).abs() < 1e-12);
        assert!((m.total_wall_s - 3.0).abs() < 1e-12);
        let table = m.table();
        assert!(table.contains("gpu_grid"));
        assert!(table.contains("gpu_fft"));
        assert!(!table.contains("gpu_h2d"));
        let g = m.stages.iter().find(|s| s.stage == "gpu_grid").unwrap();
        assert_eq!(g.per_rank_s, vec![1.5]);
    }
}
