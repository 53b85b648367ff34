//! w-stacked imaging ([`crate::wstack`], Arras et al. 2021) behind `rimager image` with
//! `image.wstacking` on.
//!
//! Gridding is shared out by **w-plane**, reading by rows: each rank reads (or simulates) its
//! own rows once per pass and sends each to the ranks whose contiguous ranges of planes it
//! reaches ([`super::wroute`]); each rank keeps the rows its planes need, folded to w ≥ 0 and
//! sorted by w ([`super::wrows`]), grids each plane from the rows whose w reaches it (dirty
//! image and PSF together), transforms and screens each plane and sums the real parts; the
//! ranks then sum their `ny × nx` real images to rank 0 (far fewer bytes than reducing every
//! plane's complex grid), which applies the grid and w-corrections and normalises. Each rank
//! counts the samples of the rows it read; the counts are summed over ranks.
use std::ops::Range;

use rayon::prelude::*;
use tracing::info;

use super::backend::{gather_metrics, start_power_sampler, BoxedBackend};
use super::context::{check_counts, fail_point, Run, Scalar};
use super::error::ImagingError;
use super::image2d::Backends;
use super::pass::PassSpec;
use super::products::{has_weight, ImageProducts};
use super::reduce::global_counts;
use super::wrows::{plane_groups, WRows};
use crate::grid::{GridCounts, GridGeometry, ImageTimings};
use crate::metrics::{ReadPass, Stage};
use crate::vis::split_range;
use crate::vis::VisRead;
use crate::wstack::{WPlanes, WScreen};

/// The phase screen of plane `p`.
pub fn w_screen(geom: &GridGeometry, planes: &WPlanes, p: usize) -> WScreen {
    WScreen {
        w_lambda: planes.w_of(p),
        nshift: planes.nshift,
        cell_rad: geom.cell_rad,
    }
}

/// Turns the sum of the screened planes into the image: divides by the 2-D grid correction
/// and the w-correction `ψ̂((n − 1 + nshift)·dw)` and multiplies by `scale`.
pub fn finish_w_image(sum: &mut [f64], geom: &GridGeometry, planes: &WPlanes, scale: f64) {
    let cx = crate::kernel::correction(&geom.kernel, geom.nx, geom.nu);
    let cy = crate::kernel::correction(&geom.kernel, geom.ny, geom.nv);
    let cw = planes.correction(geom.nx, geom.ny, geom.cell_rad);
    let nx = geom.nx;
    sum.par_chunks_mut(nx)
        .zip(cw.par_chunks(nx))
        .zip(cy.par_iter())
        .for_each(|((row, cw), &cy)| {
            for ((p, &cx), &cw) in row.iter_mut().zip(&cx).zip(cw) {
                *p *= cx * cy * cw * scale;
            }
        });
}

/// Sums the screened planes of `backend` over ranks into rank 0 and corrects them there
/// (`None` elsewhere, or when `counts` has no weight).
fn finish_planes<T: Scalar>(
    run: &mut Run,
    backend: &mut BoxedBackend<T>,
    planes: &WPlanes,
    counts: &GridCounts,
    stages: [Stage; 2],
) -> Result<Option<Vec<f64>>, ImagingError> {
    let t = std::time::Instant::now();
    let mut sum = backend.take_w_sum()?;
    run.dist.sum_to_root(&mut sum);
    run.times.add(stages[0], t.elapsed().as_secs_f64());
    if !(run.dist.is_root() && has_weight(counts)) {
        return Ok(None);
    }
    let t = std::time::Instant::now();
    finish_w_image(&mut sum, &run.plan.geom, planes, 1.0 / counts.sum_weights);
    run.times.add(stages[1], t.elapsed().as_secs_f64());
    Ok(Some(sum))
}

fn add_times(run: &mut Run, t: ImageTimings, stages: [Stage; 2]) {
    run.times.add(stages[0], t.fft_s);
    run.times.add(stages[1], t.correct_s);
}

/// Images with w-stacking; the products on rank 0.
pub fn run_wstacked<T: Scalar>(
    run: &mut Run,
    planes: &WPlanes,
) -> Result<Option<ImageProducts>, ImagingError> {
    let mut b = Backends::<T>::new(run)?;
    let power = start_power_sampler(run, b.dirty.report().kind);
    let nchan = run.source.meta().nchan();
    let geom = run.plan.geom.clone();
    // Every rank's planes in groups that fit in memory; pass g reads the data once and grids
    // the g-th group of every rank.
    let size = run.dist.size();
    let all_groups: Vec<Vec<Range<usize>>> = (0..size)
        .map(|q| plane_groups(run, planes, split_range(planes.nplanes, size, q)))
        .collect();
    let passes = all_groups.iter().map(Vec::len).max().unwrap_or(0);
    let mine = split_range(planes.nplanes, size, run.dist.rank());
    if run.dist.is_root() && passes > 1 {
        info!(
            "w-stacking: the rows of {} planes do not fit in input.cache_mb = {} MiB; planes in {} groups of \
             at most {}, one read of the data each",
            mine.len(),
            run.plan.cache_bytes >> 20,
            passes,
            all_groups[0][0].len()
        );
    }
    // Each rank counts the samples of the rows it reads (its own): summed over ranks below.
    let mut counts = GridCounts::default();
    for g in 0..passes {
        let groups: Vec<Option<Range<usize>>> =
            all_groups.iter().map(|gs| gs.get(g).cloned()).collect();
        let rows = WRows::read(run, planes, &groups)?;
        counts = rows.counts;
        let Some(group) = groups[run.dist.rank()].clone() else {
            continue;
        };
        tracing::debug!(
            "w-planes {group:?}: {} rows held ({:.1} MiB)",
            rows.vis.meta().nrow,
            rows.bytes() as f64 / (1u64 << 20) as f64
        );
        for p in group {
            b.clear()?;
            let sel = planes.select(p);
            let spec = PassSpec {
                rows: rows.rows_of_plane(planes, p),
                channels: 0..nchan,
                plane: Some(&sel),
                pass: ReadPass::Held,
                timed_as: None,
            };
            // The held rows carry their imaging weights already.
            let mut held = Run {
                plan: run.plan,
                dist: run.dist,
                source: &rows.vis,
                weights: None,
                times: std::mem::take(&mut run.times),
            };
            let result = b.grid(&mut held, &spec);
            run.times = held.times;
            result?;
            let screen = w_screen(&geom, planes, p);
            let t = b.dirty.add_w_plane(&screen)?;
            add_times(run, t, [Stage::Fft, Stage::Correct]);
            if let Some(psf) = b.psf.as_mut() {
                let t = psf.add_w_plane(&screen)?;
                add_times(run, t, [Stage::Psf, Stage::Psf]);
            }
        }
    }
    let local_used = counts.used;
    fail_point(run.dist)?;
    let counts = global_counts(run.dist, &counts);
    check_counts(run, &counts)?;
    let image = finish_planes(
        run,
        &mut b.dirty,
        planes,
        &counts,
        [Stage::Reduce, Stage::Correct],
    )?;
    let psf = match b.psf.as_mut() {
        Some(psf) => finish_planes(run, psf, planes, &counts, [Stage::Psf, Stage::Psf])?,
        None => None,
    };
    let metrics = gather_metrics(run, &b.reports(), power, local_used);
    Ok(match (image, metrics) {
        (Some(image), Some(metrics)) => Some(ImageProducts {
            image,
            psf,
            counts,
            metrics,
            cube: None,
        }),
        _ => None,
    })
}
