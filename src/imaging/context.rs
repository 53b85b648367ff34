//! The context of one imaging run (plan, ranks, data, weights, stage times) and the checks
//! every mode shares.
use tracing::warn;

use super::error::ImagingError;
use super::plan::ImagingPlan;
use super::products::has_weight;
pub use super::scalar::Scalar;
use crate::dist::Dist;
use crate::grid::GridCounts;
use crate::metrics::StageTimes;
use crate::vis::VisRead;
use crate::weighting::ImagingWeights;

/// The context of one imaging run on one rank: what was planned, the ranks, the data, the
/// imaging weights, and the stage times being collected.
pub struct Run<'a> {
    /// The plan.
    pub plan: &'a ImagingPlan,
    /// The ranks.
    pub dist: &'a Dist,
    /// The visibilities.
    pub source: &'a dyn VisRead,
    /// The imaging weights (`None`: natural, no taper).
    pub weights: Option<&'a ImagingWeights>,
    /// This rank's stage times so far.
    pub times: StageTimes,
}

/// Fails when no usable sample is left over all ranks, and warns (rank 0) about samples that
/// were dropped: beyond the grid, or with NaN/Inf values or weights ≤ 0.
pub fn check_counts(run: &Run, counts: &GridCounts) -> Result<(), ImagingError> {
    if !has_weight(counts) {
        return Err(ImagingError::ZeroWeight {
            source_name: run.source.name(),
            used: counts.used,
            flagged: counts.flagged,
            invalid: counts.invalid,
            outside: counts.outside,
        });
    }
    if run.dist.is_root() {
        if counts.outside > 0 {
            warn!(
                "{} of {} samples lie beyond the grid (|u| or |v| x cell >= 1/2) and were dropped; choose a smaller \
                 cell_arcsec to keep them",
                counts.outside,
                counts.used + counts.outside + counts.invalid + counts.flagged
            );
        }
        if counts.invalid > 0 {
            warn!(
                "{}: {} samples with NaN/Inf in /vis or /uvw, or a /weight outside [{:e}, {:e}] (<= 0 included), \
                 were skipped",
                run.source.name(),
                counts.invalid,
                crate::vis::samples::MIN_WEIGHT,
                crate::vis::samples::MAX_WEIGHT
            );
        }
    }
    Ok(())
}

/// Fault injection for tests (`RIMAGER_TEST_FAIL_RANK=<rank>`, or `<rank>:panic`): that
/// rank fails (or panics) here while the others wait in the next collective, so the abort
/// paths are exercised.
pub fn fail_point(dist: &Dist) -> Result<(), ImagingError> {
    let spec = std::env::var("RIMAGER_TEST_FAIL_RANK").unwrap_or_default();
    let (rank, how) = spec.split_once(':').unwrap_or((spec.as_str(), ""));
    if rank.parse::<usize>().ok() == Some(dist.rank()) {
        if how == "panic" {
            panic!(
                "injected panic on rank {} (RIMAGER_TEST_FAIL_RANK)",
                dist.rank()
            );
        }
        return Err(ImagingError::Injected(dist.rank()));
    }
    Ok(())
}

/// Test hook (`RIMAGER_TEST_PAUSE_BEFORE_COMMIT_S=<seconds>`): rank 0 waits here with every
/// product written under its temporary name, so tests can interrupt a run mid-write.
pub fn pause_point() {
    if let Some(s) = std::env::var("RIMAGER_TEST_PAUSE_BEFORE_COMMIT_S")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
    {
        std::thread::sleep(std::time::Duration::from_secs_f64(s.min(600.0)));
    }
}
