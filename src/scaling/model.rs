//! `rimager scaling model`: predicted per-stage time and parallel efficiency on 1 … 4096
//! nodes, from per-stage rates measured on one node (a scaling CSV of `rimager scaling run`)
//! and a network model (bandwidth β and latency α per node; Hockney's α–β model, with the
//! collectives' costs of Thakur, Rabenseifner & Gropp 2005: a ring reduce-scatter, a pairwise
//! all-to-all, a linear gather, a pipelined tree reduce).
//!
//! One rank per node with `T` threads (the `jobs/` layout), `N` nodes, `V` visibilities:
//!
//! * simulate/read and grid: the one-node `1 × T` run's times scaled by `V / (N V₀)`, plus
//!   the per-rank cost of a whole local grid (zeroing it and scanning it for the band,
//!   `2 G / mem_bw`), which does not shrink with `N`;
//! * slab FFT: the slab transform's work in core-seconds (from the measured multi-rank slab
//!   runs) over `N T` cores; the root mode's FFT is the one-rank transform, whatever `N`;
//! * communication, slab mode: reduce-scatter `(N−1)α + G (N−1)/N / β + G / mem_bw`,
//!   transpose `(N−1)α + K (N−1)/N² / β`, gather `(N−1)α + I (N−1)/N / β`; root mode:
//!   `⌈log₂N⌉α + G/β + G/mem_bw` (an optimistic pipelined reduce);
//!
//! with `G` the bytes of the grid's band (the rows some rank wrote; its fraction of the grid
//! is read from the bytes the 2-rank run sent, [`band_fraction`]), `K` those of the band's
//! kept columns (`nx` complex values per row) and `I` the image's (`nx × ny` float64). The
//! per-rank local grid costs use the whole grid. Not modelled: the slowdown of gridding when
//! many ranks share a node's memory bandwidth, and load imbalance.
//! The check ([`check_one_node`]) applies the same model to `R` ranks × 1 thread on one node,
//! its bandwidth calibrated on the 2-rank run, and reports how far it misses the others.
use std::collections::BTreeMap;
use std::path::Path;

use super::csv::Row;
use super::ScalingError;

/// The network and memory of a node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Network {
    /// Injection bandwidth per node, bytes/s (default 25e9: HDR InfiniBand, 200 Gb/s).
    pub bw_bytes_s: f64,
    /// Latency per message, s (default 1e-6: MPI ping-pong on HDR InfiniBand).
    pub latency_s: f64,
    /// Memory bandwidth of one rank, bytes/s (default 1e11: a two-socket DDR5 node).
    pub mem_bytes_s: f64,
}

impl Default for Network {
    fn default() -> Self {
        Self {
            bw_bytes_s: 25e9,
            latency_s: 1e-6,
            mem_bytes_s: 100e9,
        }
    }
}

/// Sizes of what is communicated, bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sizes {
    /// The whole local grid of a rank (`nu × nv` complex values).
    pub local: f64,
    /// The grid's band (all of it before [`banded`]).
    pub grid: f64,
    /// The kept columns before the transpose (`nv × nx` complex values).
    pub kept: f64,
    /// The image (`nx × ny` float64).
    pub image: f64,
}

/// Per-stage rates measured on one node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rates {
    /// Visibilities of the measured run.
    pub vis: f64,
    /// Threads per rank (cores used per node).
    pub threads: usize,
    /// simulate + read, s, of the one-rank run.
    pub sim_s: f64,
    /// Gridding, s, of the one-rank run.
    pub grid_s: f64,
    /// The one-rank transform (FFT + correction), s.
    pub fft_root_s: f64,
    /// The slab transform's work, core-seconds.
    pub fft_core_s: f64,
}

/// How the grids are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Reduce-scatter, distributed FFT, gather.
    Slab,
    /// Reduce to rank 0, one-rank FFT.
    Root,
}

/// One predicted configuration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prediction {
    /// Nodes (ranks).
    pub nodes: usize,
    /// Visibilities.
    pub vis: f64,
    /// simulate/read, s.
    pub sim_s: f64,
    /// Gridding, s.
    pub grid_s: f64,
    /// Communication (reduce, transpose, gather), s.
    pub comm_s: f64,
    /// FFT and correction, s.
    pub fft_s: f64,
}

impl Prediction {
    /// grid + comm + fft (the harness's compute time).
    pub fn compute_s(&self) -> f64 {
        self.grid_s + self.comm_s + self.fft_s
    }
}

/// The prediction for `nodes` nodes and `vis` visibilities.
pub fn predict(
    r: &Rates,
    s: &Sizes,
    net: &Network,
    scheme: Scheme,
    nodes: usize,
    vis: f64,
) -> Prediction {
    let n = nodes.max(1) as f64;
    let share = vis / (n * r.vis);
    let fixed = (2.0 * s.local / net.mem_bytes_s).min(r.grid_s);
    let (a, b) = (net.latency_s, net.bw_bytes_s);
    let comm_s = if nodes <= 1 {
        0.0
    } else {
        match scheme {
            Scheme::Slab => {
                3.0 * (n - 1.0) * a
                    + (s.grid * (n - 1.0) / n
                        + s.kept * (n - 1.0) / (n * n)
                        + s.image * (n - 1.0) / n)
                        / b
                    + s.grid / net.mem_bytes_s
            }
            Scheme::Root => n.log2().ceil() * a + s.grid / b + s.grid / net.mem_bytes_s,
        }
    };
    let fft_s = match scheme {
        Scheme::Slab if nodes > 1 => r.fft_core_s / (n * r.threads as f64),
        _ => r.fft_root_s,
    };
    Prediction {
        nodes,
        vis,
        sim_s: r.sim_s * share,
        grid_s: (r.grid_s - fixed) * share + fixed,
        comm_s,
        fft_s,
    }
}

/// One measured run: its compute time, the mean over ranks of the stages the model uses,
/// and its visibilities.
struct Measured {
    compute_s: f64,
    stage: BTreeMap<&'static str, f64>,
    vis: f64,
}

/// The mean over ranks of the named stages, per run `(ranks, threads)`, fastest repeat by
/// compute time.
fn runs(rows: &[Row]) -> BTreeMap<(usize, usize), Measured> {
    let idx = |name: &str| crate::metrics::STAGES.iter().position(|s| *s == name);
    let mut by: BTreeMap<(usize, usize, usize), Vec<&Row>> = BTreeMap::new();
    for r in rows {
        by.entry((r.ranks, r.threads, r.repeat))
            .or_default()
            .push(r);
    }
    let mut out: BTreeMap<(usize, usize), Measured> = BTreeMap::new();
    for ((ranks, threads, _), rs) in by {
        let mut stage = BTreeMap::new();
        for name in ["simulate", "read", "grid", "reduce", "fft", "correct"] {
            let mean = idx(name).map_or(0.0, |i| {
                rs.iter()
                    .map(|r| r.stage_s.get(i).copied().unwrap_or(0.0))
                    .sum::<f64>()
                    / rs.len() as f64
            });
            stage.insert(name, mean);
        }
        let t = rs[0].compute_wall_s;
        if out.get(&(ranks, threads)).is_none_or(|o| t < o.compute_s) {
            out.insert(
                (ranks, threads),
                Measured {
                    compute_s: t,
                    stage,
                    vis: rs[0].vis_total as f64,
                },
            );
        }
    }
    out
}

/// The rates of a node from a strong-scaling CSV of the slab mode: the `1 × threads` run for
/// simulate, grid and the one-rank transform, and the multi-rank slab runs' FFT work (the
/// mean core-seconds over them).
pub fn rates_from_rows(rows: &[Row], threads: usize, path: &Path) -> Result<Rates, ScalingError> {
    let all = runs(rows);
    let err = |reason: String| ScalingError::Csv {
        path: path.to_path_buf(),
        line: 1,
        reason,
    };
    let one = all.get(&(1, threads)).ok_or_else(|| {
        err(format!(
            "no 1 x {threads} run to take the node's rates from"
        ))
    })?;
    let multi: Vec<f64> = all
        .iter()
        .filter(|((r, _), _)| *r > 1)
        .map(|((r, t), m)| (m.stage["fft"] + m.stage["correct"]) * (*r * *t) as f64)
        .collect();
    if multi.is_empty() {
        return Err(err(
            "no multi-rank run to take the slab FFT's work from".into()
        ));
    }
    let st = &one.stage;
    Ok(Rates {
        vis: one.vis,
        threads,
        sim_s: st["simulate"] + st["read"],
        grid_s: st["grid"],
        fft_root_s: st["fft"] + st["correct"],
        fft_core_s: multi.iter().sum::<f64>() / multi.len() as f64,
    })
}

/// One line of the one-node check: ranks × 1 thread, measured and predicted compute time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CheckLine {
    /// Ranks (1 thread each).
    pub ranks: usize,
    /// Measured compute time (grid + reduce + fft + correct, slowest rank), s.
    pub measured_s: f64,
    /// Predicted, s.
    pub predicted_s: f64,
    /// Measured communication (mean reduce stage), s.
    pub measured_comm_s: f64,
    /// Predicted communication, s.
    pub predicted_comm_s: f64,
}

/// Applies the model to the `R × 1` slab runs of one node: the rates of the `1 × 1` run,
/// the bandwidth calibrated so that the 2-rank run's communication is exact, latency and
/// memory bandwidth from `net`; returns the calibrated bandwidth and one line per `R > 1`.
pub fn check_one_node(
    rows: &[Row],
    s: &Sizes,
    net: &Network,
    path: &Path,
) -> Result<(f64, Vec<CheckLine>), ScalingError> {
    let rates = rates_from_rows(rows, 1, path)?;
    let all = runs(rows);
    let two = all.get(&(2, 1)).ok_or_else(|| ScalingError::Csv {
        path: path.to_path_buf(),
        line: 1,
        reason: "no 2 x 1 run to calibrate the one-node bandwidth on".into(),
    })?;
    // comm(2) = 3α + (G/2 + K/4 + I/2)/β + G/mem  →  β.
    let bytes = s.grid / 2.0 + s.kept / 4.0 + s.image / 2.0;
    let rest = two.stage["reduce"] - 3.0 * net.latency_s - s.grid / net.mem_bytes_s;
    let bw = if rest > 0.0 {
        bytes / rest
    } else {
        net.bw_bytes_s
    };
    let node = Network {
        bw_bytes_s: bw,
        ..*net
    };
    let lines = all
        .iter()
        .filter(|((r, t), _)| *t == 1 && *r > 1)
        .map(|((r, _), m)| {
            let p = predict(&rates, s, &node, Scheme::Slab, *r, m.vis);
            CheckLine {
                ranks: *r,
                measured_s: m.compute_s,
                predicted_s: p.compute_s(),
                measured_comm_s: m.stage["reduce"],
                predicted_comm_s: p.comm_s,
            }
        })
        .collect();
    Ok((bw, lines))
}

/// The fraction of the grid's rows in the band (the rows some rank wrote), from the bytes
/// the busiest rank of the `2 × t` slab run sent: `f G/2` (reduce) `+ f K/4` (transpose)
/// `+ I/2` (its half of the image); 1 where no such run is in the CSV.
pub fn band_fraction(rows: &[Row], s: &Sizes) -> f64 {
    let sent = rows
        .iter()
        .filter(|r| r.ranks == 2)
        .map(|r| r.bytes_reduced as f64)
        .fold(0.0, f64::max);
    if sent <= 0.0 {
        return 1.0;
    }
    ((sent - s.image / 2.0) / (s.grid / 2.0 + s.kept / 4.0)).clamp(0.01, 1.0)
}

/// The band's sizes: the grid and kept columns scaled by the band fraction `f`.
pub fn banded(s: &Sizes, f: f64) -> Sizes {
    Sizes {
        local: s.local,
        grid: s.grid * f,
        kept: s.kept * f,
        image: s.image,
    }
}

/// Node counts 1, 2, 4, … up to `max`.
pub fn node_counts(max: usize) -> Vec<usize> {
    std::iter::successors(Some(1usize), |n| (n * 2 <= max).then_some(n * 2)).collect()
}

/// The model's table as CSV text: one line per scheme, mode and node count.
pub fn table_csv(lines: &[(Scheme, &str, Prediction, f64)]) -> String {
    let mut t =
        String::from("scheme,mode,nodes,vis,sim_s,grid_s,comm_s,fft_s,compute_s,efficiency\n");
    for (scheme, mode, p, eff) in lines {
        t += &format!(
            "{},{mode},{},{:e},{:e},{:e},{:e},{:e},{:e},{:.4}\n",
            match scheme {
                Scheme::Slab => "slab",
                Scheme::Root => "root",
            },
            p.nodes,
            p.vis,
            p.sim_s,
            p.grid_s,
            p.comm_s,
            p.fft_s,
            p.compute_s(),
            eff
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates() -> Rates {
        Rates {
            vis: 1e8,
            threads: 16,
            sim_s: 0.5,
            grid_s: 1.0,
            fft_root_s: 0.4,
            fft_core_s: 8.0,
        }
    }

    #[test]
    fn one_node_is_the_measurement_and_communication_grows() {
        let s = Sizes {
            local: 8e8,
            grid: 8e8,
            kept: 3e8,
            image: 1.3e8,
        };
        let net = Network::default();
        let p1 = predict(&rates(), &s, &net, Scheme::Slab, 1, 1e8);
        assert!((p1.compute_s() - 1.4).abs() < 1e-12, "{p1:?}");
        let p2 = predict(&rates(), &s, &net, Scheme::Slab, 2, 1e8);
        let p64 = predict(&rates(), &s, &net, Scheme::Slab, 64, 1e8);
        assert!(p64.comm_s > p2.comm_s && p64.grid_s < p2.grid_s);
        // The root mode's FFT never shrinks; the slab's does.
        let r64 = predict(&rates(), &s, &net, Scheme::Root, 64, 1e8);
        assert_eq!(r64.fft_s, 0.4);
        assert!(p64.fft_s < 0.01);
        assert_eq!(node_counts(10), vec![1, 2, 4, 8]);
    }
}
