//! Per-stage wall-clock timings of every rank, gathered to rank 0, printed as a table and
//! written as JSON, with throughput (visibilities per second), load imbalance (max/mean over
//! ranks, per stage and for the whole imaging path), communication share, bytes reduced, peak
//! memory per rank, GPU memory, core- and GPU-hours and an energy/CO2 estimate
//! ([`crate::energy`]).
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::config::MetricsConfig;
use crate::energy::EnergyEstimate;

use crate::dist::Dist;

pub mod stage;

pub use stage::{ReadPass, Stage, STAGES};

/// Seconds spent in each [`Stage`] on one rank, and the chunks each [`ReadPass`] read.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StageTimes {
    /// Seconds per stage, indexed by [`Stage::index`].
    pub seconds: [f64; Stage::ALL.len()],
    /// Chunks read per pass, indexed like [`ReadPass::ALL`].
    pub reads: [u64; ReadPass::ALL.len()],
    /// Device memory in use on this rank's GPU, bytes.
    pub gpu_mem_bytes: Option<u64>,
    /// Energy of this rank's GPU measured by NVML during the run, J.
    pub gpu_energy_j: Option<f64>,
}

impl StageTimes {
    /// Runs `f`, adding its wall time to `stage`.
    pub fn time<R>(&mut self, stage: Stage, f: impl FnOnce() -> R) -> R {
        let t = Instant::now();
        let r = f();
        self.add(stage, t.elapsed().as_secs_f64());
        r
    }

    /// Adds `seconds` to `stage`.
    pub fn add(&mut self, stage: Stage, seconds: f64) {
        self.seconds[stage.index()] += seconds;
    }

    /// Seconds of `stage`.
    pub fn get(&self, stage: Stage) -> f64 {
        self.seconds[stage.index()]
    }

    /// Counts one chunk read by `pass`.
    pub fn count_read(&mut self, pass: ReadPass) {
        self.reads[pass as usize] += 1;
    }

    /// Chunks read by `pass` so far.
    pub fn reads(&self, pass: ReadPass) -> u64 {
        self.reads[pass as usize]
    }

    /// Sum over the host stages (the inner stages are parts of them).
    pub fn total(&self) -> f64 {
        Stage::ALL
            .iter()
            .filter(|s| !s.is_inner())
            .map(|s| self.get(*s))
            .sum()
    }
}

/// One stage summarised over ranks.
#[derive(Clone, Debug, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    /// Per-stage summaries, one per [`Stage`] in [`Stage::ALL`] order.
    pub stages: Vec<StageSummary>,
    /// Chunks read by each pass, summed over ranks (pass name → chunks; see [`ReadPass`]):
    /// the dirty image and the PSF share the `image` pass's reads.
    pub chunk_reads: std::collections::BTreeMap<String, u64>,
    /// Load imbalance of the imaging path: max/mean over ranks of each rank's imaging time
    /// (1 = perfectly balanced).
    pub load_imbalance: f64,
    /// Communication share: time in the grid reduction over the imaging time, both summed
    /// over ranks (non-root ranks' reduce time includes waiting for the slowest rank).
    pub comm_share: f64,
    /// Bytes each rank sent into reductions (grids and counts).
    pub bytes_reduced_per_rank: Vec<u64>,
    /// Peak resident memory of each rank (`VmHWM`), bytes; `null` where unknown.
    pub peak_rss_bytes_per_rank: Vec<Option<u64>>,
    /// Device memory in use on each rank's GPU at the end of the run, bytes; `null` without a GPU.
    pub gpu_mem_bytes_per_rank: Vec<Option<u64>>,
    /// GPU energy of each rank measured by NVML, J; `null` where not measured.
    pub gpu_energy_j_per_rank: Vec<Option<f64>>,
    /// Core-hours, GPU-hours, energy and CO2 (with the assumptions used).
    pub energy: EnergyEstimate,
}

/// Per-rank values gathered after the stage times, in this order.
const EXTRA: usize = 5;

fn opt(x: f64) -> Option<f64> {
    (x >= 0.0).then_some(x)
}

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
        mine.extend(times.reads.iter().map(|&r| r as f64));
        mine.push(vis_used as f64);
        mine.push(dist.bytes_reduced() as f64);
        mine.push(crate::resources::peak_rss_bytes().map_or(-1.0, |b| b as f64));
        mine.push(times.gpu_mem_bytes.map_or(-1.0, |b| b as f64));
        mine.push(times.gpu_energy_j.unwrap_or(-1.0));
        let all = dist.gather_f64(&mine)?;
        let nreads = ReadPass::ALL.len();
        let n = Stage::ALL.len() + nreads + EXTRA;
        let ranks = all.len() / n;
        let per_rank: Vec<&[f64]> = all.chunks(n).collect();
        let stages: Vec<StageSummary> = Stage::ALL
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let v: Vec<f64> = per_rank.iter().map(|r| r[i]).collect();
                let max = v.iter().cloned().fold(0.0, f64::max);
                let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
                let mean = v.iter().sum::<f64>() / ranks as f64;
                StageSummary {
                    stage: s.as_str().to_string(),
                    per_rank_s: v,
                    min_s: min,
                    mean_s: mean,
                    max_s: max,
                    imbalance: if mean > 0.0 { max / mean } else { 1.0 },
                }
            })
            .collect();
        let rank_sum =
            |r: &[f64], stages: &[Stage]| -> f64 { stages.iter().map(|s| r[s.index()]).sum() };
        let imaging_wall_s = per_rank
            .iter()
            .map(|r| rank_sum(r, &Stage::IMAGING))
            .fold(0.0, f64::max);
        let host: Vec<Stage> = Stage::ALL
            .iter()
            .copied()
            .filter(|s| !s.is_inner())
            .collect();
        let total_wall_s = per_rank
            .iter()
            .map(|r| rank_sum(r, &host))
            .fold(0.0, f64::max);
        let r0 = Stage::ALL.len();
        let chunk_reads = ReadPass::ALL
            .iter()
            .enumerate()
            .map(|(k, p)| {
                let n: f64 = per_rank.iter().map(|r| r[r0 + k]).sum();
                (p.as_str().to_string(), n as u64)
            })
            .collect();
        let s0 = r0 + nreads;
        let vis_per_rank: Vec<u64> = per_rank.iter().map(|r| r[s0] as u64).collect();
        let imaging: Vec<f64> = per_rank
            .iter()
            .map(|r| rank_sum(r, &Stage::IMAGING))
            .collect();
        let reduce: f64 = per_rank.iter().map(|r| r[Stage::Reduce.index()]).sum();
        let (load_imbalance, comm_share) = imbalance_and_comm_share(&imaging, reduce);
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
            chunk_reads,
            load_imbalance,
            comm_share,
            bytes_reduced_per_rank: per_rank.iter().map(|r| r[s0 + 1] as u64).collect(),
            peak_rss_bytes_per_rank: per_rank
                .iter()
                .map(|r| opt(r[s0 + 2]).map(|b| b as u64))
                .collect(),
            gpu_mem_bytes_per_rank: per_rank
                .iter()
                .map(|r| opt(r[s0 + 3]).map(|b| b as u64))
                .collect(),
            gpu_energy_j_per_rank: per_rank.iter().map(|r| opt(r[s0 + 4])).collect(),
            energy: EnergyEstimate::default(),
        })
        .map(|mut m| {
            m.estimate_energy(&MetricsConfig::default());
            m
        })
    }

    /// (Re)computes [`RunMetrics::energy`] from the whole run's wall time with the
    /// assumptions `cfg`: every rank's threads count as cores; on the GPU backend each rank
    /// has one GPU, whose energy is the NVML measurement when every rank has one.
    pub fn estimate_energy(&mut self, cfg: &MetricsConfig) {
        let gpus = if self.backend == "gpu" { self.ranks } else { 0 };
        let measured: Option<f64> = self.gpu_energy_j_per_rank.iter().copied().sum();
        self.energy = crate::energy::estimate(
            self.total_wall_s,
            self.ranks * self.threads_per_rank.max(1),
            gpus,
            measured,
            cfg,
        );
    }

    /// Adds `seconds` of `stage` done by rank 0 alone after the gather (writing outputs).
    pub fn add_root_stage(&mut self, stage: Stage, seconds: f64) {
        if let Some(s) = self.stages.iter_mut().find(|s| s.stage == stage.as_str()) {
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

    /// Largest peak resident memory over ranks, bytes (0 if unknown).
    pub fn max_peak_rss_bytes(&self) -> u64 {
        self.peak_rss_bytes_per_rank
            .iter()
            .map(|b| b.unwrap_or(0))
            .max()
            .unwrap_or(0)
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
        let reads: Vec<String> = self
            .chunk_reads
            .iter()
            .filter(|(_, &n)| n > 0)
            .map(|(p, n)| format!("{p} {n}"))
            .collect();
        if !reads.is_empty() {
            s += &format!("chunks read per pass (all ranks): {}\n", reads.join(", "));
        }
        s += &format!(
            "load imbalance {:.2} (max/mean imaging time), communication {:.1} %, {:.1} MiB reduced, peak memory {:.1} MiB/rank (max)\n",
            self.load_imbalance,
            100.0 * self.comm_share,
            self.bytes_reduced_per_rank.iter().sum::<u64>() as f64 / 1048576.0,
            self.max_peak_rss_bytes() as f64 / 1048576.0
        );
        s += &format!(
            "{:.4} core-h, {:.4} GPU-h, {:.3e} kWh{}, {:.3e} kg CO2e (assumptions: [metrics] in configs/README.md)\n",
            self.energy.core_hours,
            self.energy.gpu_hours,
            self.energy.energy_kwh,
            if self.energy.gpu_energy_measured { " (GPU measured by NVML)" } else { "" },
            self.energy.co2_kg
        );
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

/// Load imbalance (max/mean of the per-rank imaging times; 1 when all are zero) and
/// communication share (`reduce_sum_s` over the sum of the imaging times; 0 when that is 0).
pub fn imbalance_and_comm_share(imaging_s: &[f64], reduce_sum_s: f64) -> (f64, f64) {
    let sum: f64 = imaging_s.iter().sum();
    let max = imaging_s.iter().cloned().fold(0.0, f64::max);
    let mean = sum / imaging_s.len().max(1) as f64;
    let imbalance = if mean > 0.0 { max / mean } else { 1.0 };
    let share = if sum > 0.0 { reduce_sum_s / sum } else { 0.0 };
    (imbalance, share)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imbalance_and_comm_share_arithmetic() {
        // Ranks took 2, 3 and 4 s; mean 3, max 4; 1.8 s of reduction in all.
        let (imb, share) = imbalance_and_comm_share(&[2.0, 3.0, 4.0], 1.8);
        assert!((imb - 4.0 / 3.0).abs() < 1e-12);
        assert!((share - 0.2).abs() < 1e-12);
        assert_eq!(imbalance_and_comm_share(&[0.0, 0.0], 0.0), (1.0, 0.0));
    }

    #[test]
    fn one_rank_run_has_resources_and_energy() {
        let mut t = StageTimes::default();
        t.add(Stage::Grid, 3.0);
        t.add(Stage::Reduce, 1.0);
        t.gpu_energy_j = Some(50.0);
        let mut m = RunMetrics::gather(&Dist::single(), &t, 10, 4, "cpu").unwrap();
        assert!((m.comm_share - 0.25).abs() < 1e-12);
        assert_eq!(m.load_imbalance, 1.0);
        assert_eq!(m.bytes_reduced_per_rank, vec![0]);
        assert_eq!(m.gpu_energy_j_per_rank, vec![Some(50.0)]);
        assert_eq!(m.gpu_mem_bytes_per_rank, vec![None]);
        if cfg!(target_os = "linux") {
            assert!(m.max_peak_rss_bytes() > 0);
        }
        // 4 cores x 4 s at 6.25 W/core = 100 J; no GPU on the CPU backend.
        assert!((m.energy.cpu_energy_j - 100.0).abs() < 1e-9);
        assert_eq!(m.energy.gpu_hours, 0.0);
        let cfg = MetricsConfig {
            cpu_watts_per_core: 1.0,
            ..Default::default()
        };
        m.estimate_energy(&cfg);
        assert!((m.energy.cpu_energy_j - 16.0).abs() < 1e-9);
        assert!(m.table().contains("core-h"));
        // The JSON reads back.
        let back: RunMetrics = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back.energy, m.energy);
    }

    #[test]
    fn single_rank_summary_is_consistent() {
        let mut t = StageTimes::default();
        t.add(Stage::Grid, 2.0);
        t.add(Stage::Fft, 1.0);
        t.add(Stage::Write, 5.0);
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
        t.add(Stage::Grid, 2.0);
        t.add(Stage::Fft, 1.0);
        t.add(Stage::GpuGrid, 1.5);
        t.add(Stage::GpuFft, 0.5);
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
