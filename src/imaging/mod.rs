//! The imaging driver behind `rimager image`: the only code that loops over chunks, branches
//! on the rank or orders collectives (through [`crate::dist`]).
//!
//! A run is: open the source ([`source`]), resolve the [`ImagingPlan`] once ([`plan`]: pixel
//! size, precision, kernel and grid from ε, w-planes), build the imaging weights
//! ([`weights`]), then run one mode over the single chunk loop of [`pass`] — 2-D / MFS
//! ([`mfs`], with the channel cube of [`cube`]) or w-stacked ([`wstack`]) — reducing grids
//! over ranks as the plan says ([`reduce`]), and on rank 0 write the products ([`write`]).
//! Each rank takes its contiguous share of rows and grids it; every rank plans the same grid
//! from global quantities, so the reduction is well defined.
pub mod backend;
pub mod cube;
pub mod error;
pub mod mfs;
pub mod pass;
pub mod plan;
pub mod products;
pub mod reduce;
pub mod source;
pub mod weights;
pub mod write;
pub mod wstack;

use std::path::Path;

use tracing::warn;

pub use error::ImagingError;
pub use plan::{ImageParams, ImagingMode, ImagingPlan, Precision};
pub use products::{CubePlane, ImageProducts};

use crate::config::Config;
use crate::dist::{Dist, Reducible};
use crate::grid::{GridCounts, Real};
use crate::metrics::{Stage, StageTimes};
use crate::vis::{MemVis, VisChunk, VisMeta, VisRead};
use crate::weighting::ImagingWeights;

/// The floating-point types the driver images with (f32 and f64): gridding, MPI and CUDA
/// all accept them.
pub trait Scalar: Real + Reducible {}

impl<T: Real + Reducible> Scalar for T {}

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

/// Images `source` as `plan` says on every rank of `dist`, with imaging weights built first;
/// the products on rank 0 (`None` elsewhere). `times` holds what was timed before (opening,
/// planning).
pub fn image(
    plan: &ImagingPlan,
    dist: &Dist,
    source: &dyn VisRead,
    mut times: StageTimes,
) -> Result<Option<ImageProducts>, ImagingError> {
    let density = weights::DensitySpec {
        weighting: plan.weighting,
        nx_ny: (plan.params.nx, plan.params.ny),
        cell_rad: plan.params.cell_rad,
        chunk_rows: plan.chunk_rows,
    };
    let w = weights::build(&density, source, dist, &mut times)?;
    let mut run = Run {
        plan,
        dist,
        source,
        weights: w.as_ref(),
        times,
    };
    plan.log(dist, source);
    match (plan.wplanes, plan.precision) {
        (Some(p), Precision::Float32) => wstack::run_wstacked::<f32>(&mut run, &p),
        (Some(p), Precision::Float64) => wstack::run_wstacked::<f64>(&mut run, &p),
        (None, Precision::Float32) => mfs::run_mfs::<f32>(&mut run),
        (None, Precision::Float64) => mfs::run_mfs::<f64>(&mut run),
    }
}

/// Images visibilities already in memory (`chunks`: consecutive rows of an observation
/// with metadata `meta`) in this process, one rank without MPI, through the same driver as
/// `rimager image` (tests, benchmarks, embedding).
pub fn image_in_memory(
    plan: &ImagingPlan,
    meta: VisMeta,
    chunks: &[VisChunk],
) -> Result<ImageProducts, ImagingError> {
    let source = MemVis::new("in-memory visibilities", meta, chunks);
    let dist = Dist::single();
    let products = image(plan, &dist, &source, StageTimes::default())?;
    match products {
        Some(p) => Ok(p),
        // The only rank is rank 0, which always returns its products.
        None => unreachable!("a one-rank run returned no products"),
    }
}

/// Runs `rimager image` on every rank; rank 0 writes the products and, with
/// `metrics_path`, the metrics JSON.
pub fn run_image(cfg: &Config, dist: &Dist, metrics_path: Option<&Path>) -> Result<(), ImagingError> {
    let mut times = StageTimes::default();
    let t = std::time::Instant::now();
    let source = source::open(cfg)?;
    times.add(Stage::Read, t.elapsed().as_secs_f64());
    let plan = ImagingPlan::resolve(cfg, source.as_ref(), dist, &mut times)?;
    let products = image(&plan, dist, source.as_ref(), times)?;
    if let Some(mut p) = products {
        let t = std::time::Instant::now();
        write::write_products(&plan, dist, source.meta(), &p)?;
        p.metrics.add_root_stage(Stage::Write, t.elapsed().as_secs_f64());
        p.metrics.estimate_energy(&cfg.metrics);
        eprint!("{}", p.metrics.table());
        if let Some(path) = metrics_path {
            write::write_metrics(path, &p.metrics)?;
        }
    }
    // Nobody leaves before rank 0 has written (or aborted the job).
    dist.barrier();
    Ok(())
}

/// Fails when no usable sample is left over all ranks, and warns (rank 0) about samples that
/// were dropped: beyond the grid, or with NaN/Inf values or weights ≤ 0.
fn check_counts(run: &Run, counts: &GridCounts) -> Result<(), ImagingError> {
    if !products::has_weight(counts) {
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
                "{} samples with NaN/Inf values or weights <= 0 were skipped",
                counts.invalid
            );
        }
    }
    Ok(())
}

/// Fault injection for tests (`RIMAGER_TEST_FAIL_RANK=<rank>`): that rank fails here while
/// the others wait in the next collective, so the abort path is exercised.
fn fail_point(dist: &Dist) -> Result<(), ImagingError> {
    let target = std::env::var("RIMAGER_TEST_FAIL_RANK")
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    if target == Some(dist.rank()) {
        return Err(ImagingError::Injected(dist.rank()));
    }
    Ok(())
}
