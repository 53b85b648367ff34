//! The top of a run: open the source, resolve the plan, build the weights, run the mode,
//! write the products and the metrics.
use std::path::Path;

use super::context::Run;
use super::error::ImagingError;
use super::outset::OutputSet;
use super::plan::{ImagingPlan, Precision};
use super::products::ImageProducts;
use super::{agree, memory, mfs, source, weights, write, wstack};
use crate::config::Config;
use crate::dist::Dist;
use crate::metrics::{Stage, StageTimes};
use crate::vis::{MemVis, VisChunk, VisMeta, VisRead};

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
pub fn run_image(
    cfg: &Config,
    dist: &Dist,
    metrics_path: Option<&Path>,
) -> Result<(), ImagingError> {
    // Paths and the prefix lock are checked before any work (rank 0 writes); the free space
    // once the plan is known to fit in memory.
    let set = match dist.is_root() {
        true => Some(OutputSet::prepare(cfg, metrics_path)?),
        false => None,
    };
    let mut times = StageTimes::default();
    let t = std::time::Instant::now();
    let source = source::open(cfg)?;
    times.add(Stage::Read, t.elapsed().as_secs_f64());
    let here = source.name();
    agree::check(dist, "settings", &here, &agree::settings_fields(cfg))?;
    agree::check(dist, "data", &here, &agree::data_fields(source.meta()))?;
    let plan = ImagingPlan::resolve(cfg, source.as_ref(), dist, &mut times)?;
    agree::check(dist, "plan", &here, &agree::plan_fields(&plan))?;
    let data = memory::DataSize {
        nchan: source.meta().nchan(),
        nrow: source.meta().nrow,
        ranks: dist.size(),
    };
    memory::check(&plan, data, dist)?;
    if let Some(set) = &set {
        set.check_space(cfg)?;
    }
    let products = image(&plan, dist, source.as_ref(), times)?;
    if let (Some(mut p), Some(set)) = (products, set) {
        let t = std::time::Instant::now();
        check_finite(&p)?;
        write::write_products(&plan, dist, source.meta(), &p, &|f| set.staging(f))?;
        p.metrics
            .add_root_stage(Stage::Write, t.elapsed().as_secs_f64());
        p.metrics.estimate_energy(&cfg.metrics);
        eprint!("{}", p.metrics.table());
        if let Some(path) = metrics_path {
            write::write_metrics(&set.staging(path), &p.metrics)?;
        }
        super::context::pause_point();
        set.commit()?;
    }
    // Nobody leaves before rank 0 has written (or aborted the job).
    dist.barrier();
    Ok(())
}

/// Refuses to write an image or PSF with non-finite pixels (an overflow of the float32 grid,
/// or a non-finite value that passed every check): a clear error instead of a NaN image.
fn check_finite(p: &ImageProducts) -> Result<(), ImagingError> {
    let bad = |v: &[f64]| v.iter().filter(|x| !x.is_finite()).count();
    let (bi, bp) = (bad(&p.image), p.psf.as_deref().map_or(0, bad));
    if bi + bp > 0 {
        return Err(ImagingError::NonFinite {
            image: bi,
            psf: bp,
            sum_weights: p.counts.sum_weights,
        });
    }
    Ok(())
}
