//! The w-stacking imaging driver ([`crate::wstack`], Arras et al. 2021) behind `rimager image`
//! with `image.wstacking` on.
//!
//! Work is shared out by **w-plane**, not by rows: each rank reads (or simulates) every row,
//! grids only the samples of its own contiguous range of planes, transforms and screens each
//! plane and sums the real parts; the ranks then sum their `ny × nx` real images to rank 0
//! (far fewer bytes than reducing every plane's complex grid), which applies the grid and
//! w-corrections and normalises. The counts are the same on every rank (each sees all rows)
//! and are taken from rank 0.
use tracing::{info, warn};

use crate::weighting::ImagingWeights;

use super::{grid_pass, make_gridder, ImageProducts, PipelineError, PipelineReal, VisSource};
use crate::config::{Config, WStacking};
use crate::constants::SPEED_OF_LIGHT_M_S;
use crate::dist::Dist;
use crate::grid::{GridCounts, GridGeometry, GridMode, ImagingBackend};
use crate::imaging::{finish_w_image, plan_w, w_screen, ImageParams};
use crate::metrics::StageTimes;
use crate::vis::{row_chunks, VisMeta};
use crate::wstack::{nm1_range, w_term_matters, WPlanes};

/// The planned w-stacking: geometry and planes.
pub(super) struct WPlan {
    geom: GridGeometry,
    planes: WPlanes,
}

/// Global range of w (wavelengths) over all rows and channels: `(min, max)`.
fn w_range_lambda(
    cfg: &Config,
    dist: &Dist,
    source: &VisSource,
    meta: &VisMeta,
) -> Result<(f64, f64), PipelineError> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for r in row_chunks(dist.my_rows(meta.nrow), cfg.input.chunk_rows) {
        let uvw = match source {
            VisSource::File(f) => f.read_uvw(r)?,
            VisSource::Sim(s) => s.uvw_chunk(r).uvw_m,
        };
        for [_, _, w] in uvw {
            if w.is_finite() {
                lo = lo.min(w);
                hi = hi.max(w);
            }
        }
    }
    let lo_m = -dist.all_max_f64(-lo);
    let hi_m = dist.all_max_f64(hi);
    if !(lo_m.is_finite() && hi_m.is_finite()) {
        return Ok((0.0, 0.0));
    }
    let fmin = meta.freq_hz.iter().cloned().fold(f64::INFINITY, f64::min);
    let fmax = meta.freq_hz.iter().cloned().fold(0.0, f64::max);
    let s = |f: f64| f / SPEED_OF_LIGHT_M_S;
    let cands = [
        lo_m * s(fmin),
        lo_m * s(fmax),
        hi_m * s(fmin),
        hi_m * s(fmax),
    ];
    Ok((
        cands.iter().cloned().fold(f64::INFINITY, f64::min),
        cands.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
    ))
}

/// Decides whether to w-stack (`image.wstacking`) and plans it; `None` for 2-D imaging.
pub(super) fn decide(
    cfg: &Config,
    dist: &Dist,
    source: &VisSource,
    meta: &VisMeta,
    params: &ImageParams,
) -> Result<Option<WPlan>, PipelineError> {
    let auto = match cfg.image.wstacking {
        WStacking::Bool(false) => return Ok(None),
        WStacking::Bool(true) => false,
        WStacking::Auto(_) => true,
    };
    let (wmin, wmax) = w_range_lambda(cfg, dist, source, meta)?;
    let max_abs_w = wmin.abs().max(wmax.abs());
    if auto {
        let nm1 = match nm1_range(params.nx, params.ny, params.cell_rad) {
            Ok((lo, _)) => lo,
            Err(e) => {
                if dist.is_root() {
                    warn!("image.wstacking = \"auto\": {e}; imaging in 2-D");
                }
                return Ok(None);
            }
        };
        let on = w_term_matters(max_abs_w, nm1, params.epsilon);
        if dist.is_root() {
            info!(
                "image.wstacking = \"auto\": largest w-term phase 2 pi max|w| max|n-1| = {:.3e} rad (max|w| {:.1} \
                 wavelengths, max|n-1| {:.3e}) vs epsilon {:e}: w-stacking {}",
                2.0 * std::f64::consts::PI * max_abs_w * nm1.abs(),
                max_abs_w,
                nm1.abs(),
                params.epsilon,
                if on { "on" } else { "off" }
            );
        }
        if !on {
            return Ok(None);
        }
    }
    let nvis = (meta.nrow * meta.nchan()) as u64;
    let (geom, planes) = plan_w(params, nvis, wmin, wmax)?;
    Ok(Some(WPlan { geom, planes }))
}

/// Images with w-stacking; returns the products on rank 0.
#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    cfg: &Config,
    dist: &Dist,
    source: &VisSource,
    meta: VisMeta,
    params: &ImageParams,
    plan: WPlan,
    weights: Option<&ImagingWeights>,
    times: &mut StageTimes,
    threads: usize,
) -> Result<Option<ImageProducts>, PipelineError> {
    let WPlan { geom, planes } = plan;
    super::log_plan(
        cfg,
        dist,
        source,
        &meta,
        params,
        &geom,
        Some(&planes),
        threads,
    );
    if cfg.use_double() {
        run_with::<f64>(
            cfg, dist, source, meta, geom, planes, weights, times, threads,
        )
    } else {
        run_with::<f32>(
            cfg, dist, source, meta, geom, planes, weights, times, threads,
        )
    }
}

/// Grids, screens and sums this rank's planes for `mode`, sums the planes of all ranks to rank
/// 0 and corrects there. Returns the image (rank 0) and the global counts.
#[allow(clippy::too_many_arguments)]
fn image_planes<T: PipelineReal>(
    cfg: &Config,
    dist: &Dist,
    source: &VisSource,
    meta: &VisMeta,
    g: &mut dyn ImagingBackend<T>,
    planes: &WPlanes,
    mode: GridMode,
    weights: Option<&ImagingWeights>,
    mut times: Option<&mut StageTimes>,
) -> Result<(Option<Vec<f64>>, GridCounts), PipelineError> {
    let mine = crate::vis::split_range(planes.nplanes, dist.size(), dist.rank());
    let mut counts = GridCounts::default();
    for p in mine {
        g.clear()?;
        let sel = planes.select(p);
        counts = grid_pass(
            g,
            source,
            0..meta.nrow,
            cfg.input.chunk_rows,
            &meta.freq_hz,
            0..meta.nchan(),
            mode,
            weights,
            times.as_deref_mut(),
            Some(&sel),
        )?;
        let t = g.add_w_plane(&w_screen(g.geometry(), planes, p))?;
        if let Some(times) = times.as_deref_mut() {
            times.add("fft", t.fft_s);
            times.add("correct", t.correct_s);
        }
    }
    if std::env::var("RIMAGER_TEST_FAIL_RANK")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        == Some(dist.rank())
    {
        return Err(PipelineError::Injected(dist.rank()));
    }
    // Every rank saw every row; rank 0 always has planes (nplanes ≥ W ≥ 4 is split from the
    // front), so its counts are the global ones.
    let mut c = [
        counts.used as f64,
        counts.flagged as f64,
        counts.invalid as f64,
        counts.outside as f64,
        counts.sum_weights,
    ];
    dist.broadcast_f64(&mut c);
    let counts = GridCounts {
        used: c[0] as u64,
        flagged: c[1] as u64,
        invalid: c[2] as u64,
        outside: c[3] as u64,
        sum_weights: c[4],
    };
    let t = std::time::Instant::now();
    let mut sum = g.take_w_sum()?;
    dist.sum_to_root(&mut sum);
    if let Some(times) = times.as_deref_mut() {
        times.add("reduce", t.elapsed().as_secs_f64());
    }
    if !(dist.is_root() && counts.sum_weights > 0.0 && counts.sum_weights.is_finite()) {
        return Ok((None, counts));
    }
    let t = std::time::Instant::now();
    let geom = g.geometry().clone();
    finish_w_image(&mut sum, &geom, planes, 1.0 / counts.sum_weights);
    if let Some(times) = times {
        times.add("correct", t.elapsed().as_secs_f64());
    }
    Ok((Some(sum), counts))
}

#[allow(clippy::too_many_arguments)]
fn run_with<T: PipelineReal>(
    cfg: &Config,
    dist: &Dist,
    source: &VisSource,
    meta: VisMeta,
    geom: GridGeometry,
    planes: WPlanes,
    weights: Option<&ImagingWeights>,
    times: &mut StageTimes,
    threads: usize,
) -> Result<Option<ImageProducts>, PipelineError> {
    let mut g = make_gridder::<T>(cfg, dist, &geom)?;
    let power = super::start_power_sampler(cfg, dist, g.as_ref());
    let (image, counts) = image_planes(
        cfg,
        dist,
        source,
        &meta,
        g.as_mut(),
        &planes,
        GridMode::Dirty,
        weights,
        Some(times),
    )?;
    super::check_counts(cfg, dist, source, &counts)?;
    let mut psf = None;
    if cfg.image.psf {
        let t = std::time::Instant::now();
        psf = image_planes(
            cfg,
            dist,
            source,
            &meta,
            g.as_mut(),
            &planes,
            GridMode::Psf,
            weights,
            None,
        )?
        .0;
        times.add("psf", t.elapsed().as_secs_f64());
    }
    let metrics = super::gather_metrics(dist, g.as_ref(), power, times, counts.used, threads);
    Ok(match (image, metrics) {
        (Some(image), Some(metrics)) => Some(ImageProducts {
            image,
            psf,
            counts,
            geom,
            meta,
            metrics,
            wplanes: Some(planes),
        }),
        _ => None,
    })
}
