//! A robust maximum of the uv extent for `cell_arcsec = "auto"`: one baseline at 10⁹ m (a
//! corrupt row) would otherwise shrink the pixel size by orders of magnitude without a word.
//!
//! Every rank histograms max(|u|, |v|) of its rows in logarithmic bins (8 per octave), the
//! histograms are summed over ranks, and rows above twice the 99th percentile are isolated
//! outliers: the extent is then the upper edge of the highest occupied bin below that bound
//! (at most 9 % above the largest kept value, so every kept sample stays on the grid), and rank
//! 0 warns with their number and the largest value. Without such rows the exact maximum is
//! used, as before.
use tracing::warn;

use crate::dist::Dist;

/// Bins per octave.
const PER_OCTAVE: f64 = 8.0;
/// Smallest binned value, log2 metres (values below share the first bin).
const LOG2_MIN: f64 = -20.0;
/// Number of bins: 2⁻²⁰ m to 2⁶⁴ m.
const NBINS: usize = 84 * 8;

/// A histogram of max(|u|, |v|) per row, metres.
#[derive(Clone, Debug)]
pub struct UvHistogram {
    counts: Vec<f64>,
}

impl Default for UvHistogram {
    fn default() -> Self {
        Self {
            counts: vec![0.0; NBINS],
        }
    }
}

fn bin(x: f64) -> usize {
    let b = ((x.log2() - LOG2_MIN) * PER_OCTAVE).floor();
    if b.is_nan() || b < 0.0 {
        0
    } else {
        (b as usize).min(NBINS - 1)
    }
}

fn upper_edge(b: usize) -> f64 {
    ((b as f64 + 1.0) / PER_OCTAVE + LOG2_MIN).exp2()
}

impl UvHistogram {
    /// Adds rows `uvw_m` (rows with non-finite u or v, or u = v = 0, are not counted).
    pub fn add(&mut self, uvw_m: &[[f64; 3]]) {
        for &[u, v, _] in uvw_m {
            let r = u.abs().max(v.abs());
            if r.is_finite() && r > 0.0 {
                self.counts[bin(r)] += 1.0;
            }
        }
    }

    /// Sums the histograms of every rank (a collective).
    pub fn sum_over(&mut self, dist: &Dist) {
        dist.all_sum_f64(&mut self.counts);
    }

    /// The robust maximum given the exact maximum `max_m` (see the module); warns on rank 0
    /// (`warn_as`: the data's name) when rows were set aside.
    pub fn robust_max(&self, max_m: f64, source: &str, warn_as_root: bool) -> f64 {
        let total: f64 = self.counts.iter().sum();
        if total < 1.0 {
            return max_m;
        }
        let mut acc = 0.0;
        let q = self
            .counts
            .iter()
            .position(|&c| {
                acc += c;
                acc >= 0.99 * total
            })
            .unwrap_or(NBINS - 1);
        let bound = 2.0 * upper_edge(q);
        if max_m <= bound {
            return max_m;
        }
        let top = bin(bound);
        let kept = (0..top).rev().find(|&b| self.counts[b] > 0.0).unwrap_or(q);
        let outliers: f64 = self.counts[kept + 1..].iter().sum();
        let robust = upper_edge(kept).min(max_m);
        if warn_as_root {
            warn!(
                "image.cell_arcsec = \"auto\": {outliers} row(s) of {source} have max(|u|,|v|) above {bound:.4e} m \
                 (twice the 99th percentile; largest {max_m:.4e} m): ignored as outliers when choosing the pixel \
                 size from {robust:.4e} m; their samples lie beyond the grid and are dropped"
            );
        }
        robust
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_isolated_outlier_is_set_aside_and_a_clean_extent_is_exact() {
        let rows: Vec<[f64; 3]> = (0..5000)
            .map(|i| [(i % 1000) as f64 * 0.5, -((i % 777) as f64), 0.0])
            .collect();
        let mut h = UvHistogram::default();
        h.add(&rows);
        let max = 776.0;
        assert_eq!(h.robust_max(max, "t", false), max);
        h.add(&[[1e9, 0.0, 0.0], [f64::NAN, 1.0, 0.0]]);
        let r = h.robust_max(1e9, "t", false);
        assert!((776.0..=776.0 * 1.1).contains(&r), "{r}");
    }
}
