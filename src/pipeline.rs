//! The per-rank imaging pipeline behind `rimager image` (and the data sources shared with
//! `rimager simulate` and `rimager verify`).
//!
//! Each rank takes its contiguous share of rows ([`Dist::my_rows`]), reads or simulates them in
//! chunks of `input.chunk_rows` and grids each chunk; the grids are summed to rank 0
//! ([`Dist::sum_to_root`]), which transforms, corrects, normalises by the global sum of weights
//! and writes the outputs. Every rank plans the same grid from global quantities (total sample
//! count, global uv extent), so the reduction is well defined.
use std::path::{Path, PathBuf};

use num_complex::Complex;
use rayon::prelude::*;
use tracing::{info, warn};

use crate::config::{Backend, Cell, Config, Source};
use crate::constants::{RAD_PER_ARCSEC, SPEED_OF_LIGHT_M_S};
use crate::dist::Dist;
use crate::grid::cpu::CpuGridder;
use crate::grid::gpu::{GpuError, GpuGridder, GpuReal};
use crate::grid::{
    BackendKind, GridCounts, GridError, GridGeometry, GridMode, Gridder, ImagingBackend,
};
use crate::imaging::{plan, ImageParams};
use crate::kernel::KernelError;
use crate::metrics::{RunMetrics, StageTimes};
use crate::output::fits::{write_fits_image, FitsValue, SkyWcs};
use crate::output::h5image::{write_image_h5_with_cube, ImageInfo};
use crate::output::OutputError;
use crate::simulate::{SimError, Simulator};
use crate::vis::h5::{VisFileError, VisReader};
use crate::vis::{row_chunks, VisChunk, VisMeta};
use crate::weighting::{ImagingWeights, WeightingSpec};
use crate::wstack::{WPlaneSel, WPlanes, WStackError};

mod wstack;

/// The precisions the pipeline images in: gridded on either backend and reduced over MPI.
pub trait PipelineReal: GpuReal + mpi::traits::Equivalence {}
impl<T: GpuReal + mpi::traits::Equivalence> PipelineReal for T {}

/// Errors of the imaging pipeline.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Reading visibilities failed.
    #[error(transparent)]
    Vis(#[from] VisFileError),
    /// Simulating visibilities failed.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// No kernel reaches ε.
    #[error("image.epsilon: {0}")]
    Kernel(#[from] KernelError),
    /// Writing outputs failed.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// `image.backend = "gpu"` but the GPU backend could not be set up.
    #[error("image.backend = \"gpu\": {0}")]
    GpuSetup(#[source] GpuError),
    /// The gridder failed while running.
    #[error(transparent)]
    Grid(#[from] GridError),
    /// Nothing to image.
    #[error(
        "{source_name}: total weight of usable samples is zero ({used} used, {flagged} flagged, {invalid} NaN/Inf or \
         weight <= 0, {outside} beyond the grid)"
    )]
    ZeroWeight {
        source_name: String,
        used: u64,
        flagged: u64,
        invalid: u64,
        outside: u64,
    },
    /// The uv extent could not be determined for `cell_arcsec = "auto"`.
    #[error("{0}: cannot choose cell_arcsec = \"auto\": no finite, non-zero uv coordinates")]
    NoUvExtent(String),
    /// A metrics file could not be written.
    #[error("writing metrics {path}")]
    Metrics { path: PathBuf, source: OutputError },
    /// `image.channels_out` asks for more planes than the data have channels.
    #[error(
        "config {path}: field `image.channels_out` = {value}: more output channels than the {nchan} channel(s) of          {source_name}"
    )]
    ChannelsOut {
        path: PathBuf,
        value: usize,
        nchan: usize,
        source_name: String,
    },
    /// Channel cubes are imaged in 2-D only.
    #[error(
        "image.channels_out = {channels_out} with w-stacking: channel cubes are imaged in 2-D only; \
         set image.wstacking = false or image.channels_out = 1"
    )]
    CubeWithWStacking {
        /// The requested planes.
        channels_out: usize,
    },
    /// A failure injected for testing (`RIMAGER_TEST_FAIL_RANK`).
    #[error("injected failure on rank {0} (RIMAGER_TEST_FAIL_RANK)")]
    Injected(usize),
    /// w-stacking could not be planned.
    #[error("image.wstacking: {0}")]
    WStack(#[from] WStackError),
    /// The output directory could not be created.
    #[error("cannot create output directory {path}")]
    OutputDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where visibilities come from: a file, or the simulator.
pub enum VisSource {
    /// An HDF5 visibility file.
    File(VisReader),
    /// In-memory simulation of `[simulate]`.
    Sim(Box<Simulator>),
}

impl VisSource {
    /// Opens the source the configuration names.
    pub fn open(cfg: &Config) -> Result<Self, PipelineError> {
        Ok(match cfg.input.source {
            Source::File => VisSource::File(VisReader::open(&cfg.input.path)?),
            Source::Simulate => VisSource::Sim(Box::new(Simulator::new(&cfg.simulate)?)),
        })
    }

    /// A short name for messages: the file path or "simulation".
    pub fn name(&self, cfg: &Config) -> String {
        match self {
            VisSource::File(_) => cfg.input.path.display().to_string(),
            VisSource::Sim(_) => "simulated observation".into(),
        }
    }

    /// Observation metadata.
    pub fn meta(&self) -> VisMeta {
        match self {
            VisSource::File(r) => r.meta().clone(),
            VisSource::Sim(s) => s.meta(),
        }
    }

    /// Reads (or simulates) `rows`. With `need_vis = false` a simulation skips the measurement
    /// equation (the PSF needs only uvw and weights).
    pub fn read(
        &self,
        rows: std::ops::Range<usize>,
        need_vis: bool,
    ) -> Result<VisChunk, PipelineError> {
        Ok(match self {
            VisSource::File(r) => r.read_rows(rows)?,
            VisSource::Sim(s) if need_vis => s.chunk(rows),
            VisSource::Sim(s) => s.uvw_chunk(rows),
        })
    }

    /// Whether reading is simulation (timed as "simulate", not "read").
    pub fn is_simulation(&self) -> bool {
        matches!(self, VisSource::Sim(_))
    }

    /// Largest |u| and |v| over `rows`, metres.
    pub fn max_uv_m(
        &self,
        rows: std::ops::Range<usize>,
        chunk_rows: usize,
    ) -> Result<f64, PipelineError> {
        let mut m: f64 = 0.0;
        for r in row_chunks(rows, chunk_rows) {
            let uvw = match self {
                VisSource::File(f) => f.read_uvw(r)?,
                VisSource::Sim(s) => s.uvw_chunk(r).uvw_m,
            };
            for [u, v, _] in uvw {
                if u.is_finite() && v.is_finite() {
                    m = m.max(u.abs()).max(v.abs());
                }
            }
        }
        Ok(m)
    }
}

/// Pixel size in radians: the configured one, or for `"auto"` a third of the finest fringe,
/// `1 / (3 max(|u|, |v|))` at the highest frequency, over all ranks.
pub fn cell_rad(
    cfg: &Config,
    source: &VisSource,
    meta: &VisMeta,
    dist: &Dist,
) -> Result<f64, PipelineError> {
    match cfg.image.cell_arcsec {
        Cell::Arcsec(a) => Ok(a * RAD_PER_ARCSEC),
        Cell::Auto(_) => {
            let local = source.max_uv_m(dist.my_rows(meta.nrow), cfg.input.chunk_rows)?;
            let uv_m = dist.all_max_f64(local);
            let fmax = meta.freq_hz.iter().cloned().fold(0.0, f64::max);
            let uv_lambda = uv_m * fmax / SPEED_OF_LIGHT_M_S;
            if !(uv_lambda.is_finite() && uv_lambda > 0.0) {
                return Err(PipelineError::NoUvExtent(source.name(cfg)));
            }
            Ok(1.0 / (3.0 * uv_lambda))
        }
    }
}

/// Grids channels `channels` (all of them for the MFS image, one group for a cube plane, see
/// [`crate::channels`]) of this rank's rows of `source` in chunks, with the imaging `weights`
/// (computed over all channels; natural weighting if `None`) applied to each chunk, adding
/// read and grid times to `times` if given. With `plane` set (w-stacking) only that w-plane's
/// samples are gridded.
#[allow(clippy::too_many_arguments)]
pub(crate) fn grid_pass<T: PipelineReal>(
    g: &mut dyn Gridder<T>,
    source: &VisSource,
    rows: std::ops::Range<usize>,
    chunk_rows: usize,
    freq_hz: &[f64],
    channels: std::ops::Range<usize>,
    mode: GridMode,
    weights: Option<&ImagingWeights>,
    mut times: Option<&mut StageTimes>,
    plane: Option<&WPlaneSel>,
) -> Result<GridCounts, PipelineError> {
    let mut counts = GridCounts::default();
    let read_stage = if source.is_simulation() {
        "simulate"
    } else {
        "read"
    };
    let bar = crate::progress::bar(
        if mode == GridMode::Dirty {
            "grid"
        } else {
            "psf"
        },
        rows.len().div_ceil(chunk_rows) as u64,
    );
    for r in row_chunks(rows, chunk_rows) {
        bar.inc(1);
        let t = std::time::Instant::now();
        let mut chunk = source.read(r, mode == GridMode::Dirty)?;
        if let Some(w) = weights {
            w.apply(&mut chunk, freq_hz);
        }
        if channels.len() != freq_hz.len() {
            chunk = crate::channels::select_channels(&chunk, freq_hz.len(), channels.clone());
        }
        let t_read = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        counts.merge(&g.grid(&chunk, &freq_hz[channels.clone()], mode, plane)?);
        if let Some(times) = times.as_deref_mut() {
            times.add(read_stage, t_read);
            times.add("grid", t.elapsed().as_secs_f64());
        }
    }
    bar.finish_and_clear();
    Ok(counts)
}

/// Sums the grids of all ranks into rank 0's. With one rank there is nothing to do, and the
/// grid stays wherever the backend keeps it (a GPU backend needs no round trip to the host).
///
/// Only the band of grid rows (v) that some rank wrote to crosses the network: each rank finds
/// its first and last non-zero row, the ranks agree on the union, and the rows outside it,
/// zero on every rank, are skipped. A uv coverage narrower than the grid's band (pixels finer
/// than the longest baseline needs, or an oversampled grid) shrinks the reduction in
/// proportion; the result is the same as reducing every row.
pub(crate) fn reduce_grid<T: PipelineReal>(
    dist: &Dist,
    g: &mut dyn ImagingBackend<T>,
) -> Result<(), GridError> {
    if dist.size() > 1 {
        let nu = g.geometry().nu;
        let grid = g.host_grid()?;
        let nv = grid.len() / nu.max(1);
        let (lo, hi) = occupied_rows(grid, nu);
        // Union over ranks: max of hi and of −lo (a rank with no data offers the empty band).
        let hi = dist.all_max_f64(hi as f64) as usize;
        let lo = (-dist.all_max_f64(-(lo as f64))) as usize;
        if lo < hi {
            if dist.is_root() {
                tracing::debug!(
                    "reducing grid rows {lo}..{hi} of {nv} ({:.1} % of the grid)",
                    100.0 * (hi - lo) as f64 / nv.max(1) as f64
                );
            }
            dist.sum_to_root(bytemuck::cast_slice_mut::<_, T>(
                &mut grid[lo * nu..hi * nu],
            ));
        }
    }
    Ok(())
}

/// The rows `lo..hi` of a row-major grid with `nu` cells per row outside which every cell is
/// zero (`(nv, 0)`, an empty band, for an all-zero grid).
fn occupied_rows<T: PipelineReal>(grid: &[Complex<T>], nu: usize) -> (usize, usize) {
    let zero = |row: &[Complex<T>]| row.iter().all(|c| c.re == T::zero() && c.im == T::zero());
    let rows: Vec<&[Complex<T>]> = grid.chunks(nu.max(1)).collect();
    let nv = rows.len();
    match (
        rows.par_iter().position_first(|r| !zero(r)),
        rows.par_iter().position_last(|r| !zero(r)),
    ) {
        (Some(lo), Some(last)) => (lo, last + 1),
        _ => (nv, 0),
    }
}

/// Makes the gridder `image.backend` asks for. `gpu` takes the GPU of this rank's node-local
/// rank (modulo the devices present) and fails where none is usable; `auto` falls back to the
/// CPU with a notice.
pub(crate) fn make_gridder<T: PipelineReal>(
    cfg: &Config,
    dist: &Dist,
    geom: &GridGeometry,
) -> Result<Box<dyn ImagingBackend<T>>, PipelineError> {
    match cfg.image.backend {
        Backend::Cpu => Ok(Box::new(CpuGridder::<T>::new(geom.clone())?)),
        Backend::Gpu => {
            let local = dist.node_local_rank();
            let g = GpuGridder::<T>::new(geom.clone(), local).map_err(PipelineError::GpuSetup)?;
            info!(
                "rank {}: GPU backend on {} (node-local rank {local})",
                dist.rank(),
                g.device_name()
            );
            Ok(Box::new(g))
        }
        Backend::Auto => {
            let local = dist.node_local_rank();
            match GpuGridder::<T>::new(geom.clone(), local) {
                Ok(g) => {
                    info!(
                        "rank {}: backend auto: GPU backend on {} (node-local rank {local})",
                        dist.rank(),
                        g.device_name()
                    );
                    Ok(Box::new(g))
                }
                Err(e) => {
                    info!(
                        "rank {}: backend auto: {e}; using the CPU backend",
                        dist.rank()
                    );
                    Ok(Box::new(CpuGridder::<T>::new(geom.clone())?))
                }
            }
        }
    }
}

/// Sums counts over ranks (every rank gets the totals).
pub(crate) fn global_counts(dist: &Dist, c: &GridCounts) -> GridCounts {
    let mut v = [
        c.used as f64,
        c.flagged as f64,
        c.invalid as f64,
        c.outside as f64,
        c.sum_weights,
    ];
    dist.all_sum_f64(&mut v);
    GridCounts {
        used: v[0] as u64,
        flagged: v[1] as u64,
        invalid: v[2] as u64,
        outside: v[3] as u64,
        sum_weights: v[4],
    }
}

/// What `rimager image` produced (on rank 0).
pub struct ImageProducts {
    /// `[ny][nx]` dirty image, Jy/beam.
    pub image: Vec<f64>,
    /// `[ny][nx]` PSF, if asked for.
    pub psf: Option<Vec<f64>>,
    /// Global counts.
    pub counts: GridCounts,
    /// Geometry used.
    pub geom: GridGeometry,
    /// Observation metadata.
    pub meta: VisMeta,
    /// Metrics.
    pub metrics: RunMetrics,
    /// The w-planes, if the image was made with w-stacking.
    pub wplanes: Option<WPlanes>,
}

/// Runs `rimager image` on every rank; rank 0 writes `<output>.h5`, `<output>.fits` and
/// `<output>-psf.fits`, and the metrics JSON if `metrics_path` is given.
pub fn run_image(
    cfg: &Config,
    dist: &Dist,
    metrics_path: Option<&Path>,
) -> Result<(), PipelineError> {
    let threads = rayon::current_num_threads();
    let mut times = StageTimes::default();
    let t0 = std::time::Instant::now();
    let source = VisSource::open(cfg)?;
    let meta = source.meta();
    times.add("read", t0.elapsed().as_secs_f64());
    let cell = cell_rad(cfg, &source, &meta, dist)?;
    let params = ImageParams {
        nx: cfg.image.nx,
        ny: cfg.image.ny,
        cell_rad: cell,
        epsilon: cfg.image.epsilon,
        tile: cfg.image.tile_size,
    };
    crate::channels::check_channels_out(cfg, meta.nchan(), &source.name(cfg))?;
    let nvis_total = (meta.nrow * meta.nchan()) as u64;
    let weighting = WeightingSpec::from_config(&cfg.image);
    let weights = crate::weighting::build(
        &weighting,
        &source,
        &meta,
        dist,
        cfg.input.chunk_rows,
        (params.nx, params.ny),
        cell,
        Some(&mut times),
    )?;
    let weights = weights.as_ref();
    if let Some(w) = wstack::decide(cfg, dist, &source, &meta, &params)? {
        if cfg.image.channels_out > 1 {
            return Err(PipelineError::CubeWithWStacking {
                channels_out: cfg.image.channels_out,
            });
        }
        let products = wstack::run(
            cfg, dist, &source, meta, &params, w, weights, &mut times, threads,
        )?;
        return finish_image(cfg, dist, products, None, metrics_path);
    }
    let geom = plan(&params, nvis_total)?;
    log_plan(cfg, dist, &source, &meta, &params, &geom, None, threads);
    let (cube_meta, cube_geom) = (meta.clone(), geom.clone());
    let products = if cfg.use_double() {
        image_with::<f64>(cfg, dist, &source, meta, geom, weights, &mut times, threads)?
    } else {
        image_with::<f32>(cfg, dist, &source, meta, geom, weights, &mut times, threads)?
    };
    // The channel cube (image.channels_out > 1): one more imaging pass per channel group.
    let t_cube = std::time::Instant::now();
    let cube = if cfg.image.channels_out > 1 {
        if cfg.use_double() {
            crate::channels::image_cube::<f64>(cfg, dist, &source, &cube_meta, &cube_geom, weights)?
        } else {
            crate::channels::image_cube::<f32>(cfg, dist, &source, &cube_meta, &cube_geom, weights)?
        }
    } else {
        None
    };
    let t_cube = t_cube.elapsed().as_secs_f64();
    finish_image(cfg, dist, products, cube.map(|c| (c, t_cube)), metrics_path)
}

/// Logs (rank 0) what is about to be imaged and how: data, image, kernel and grid, w-planes
/// when w-stacking, precision and the rank × thread layout.
#[allow(clippy::too_many_arguments)]
pub(crate) fn log_plan(
    cfg: &Config,
    dist: &Dist,
    source: &VisSource,
    meta: &VisMeta,
    params: &ImageParams,
    geom: &GridGeometry,
    planes: Option<&crate::wstack::WPlanes>,
    threads: usize,
) {
    if !dist.is_root() {
        return;
    }
    let w = planes.map_or(String::new(), |p| {
        format!(
            "; w-stacking: {} w-planes, w0 {:.2} dw {:.3} wavelengths, nshift {:.3e}",
            p.nplanes, p.w0, p.dw, p.nshift
        )
    });
    info!(
        "{} rows x {} channels from {}; image {}x{} cell {:.4} arcsec; epsilon {:e}{w}: kernel W={} beta={:.3} \
         sigma={:.2}, grid {}x{}, {} on {} rank(s) x {} thread(s)",
        meta.nrow,
        meta.nchan(),
        source.name(cfg),
        params.nx,
        params.ny,
        params.cell_rad / RAD_PER_ARCSEC,
        params.epsilon,
        geom.kernel.width,
        geom.kernel.beta,
        geom.kernel.oversampling,
        geom.nu,
        geom.nv,
        if cfg.use_double() { "float64" } else { "float32" },
        dist.size(),
        threads
    );
}

/// Writes the products (with the channel cube and the seconds it took, if any) and the
/// metrics on rank 0, then waits for every rank.
fn finish_image(
    cfg: &Config,
    dist: &Dist,
    products: Option<ImageProducts>,
    cube: Option<(Vec<crate::channels::CubePlane>, f64)>,
    metrics_path: Option<&Path>,
) -> Result<(), PipelineError> {
    let (cube, t_cube) = match cube {
        Some((c, t)) => (Some(c), t),
        None => (None, 0.0),
    };
    if let Some(mut p) = products {
        if cube.is_some() {
            p.metrics.add_root_stage("cube", t_cube);
        }
        let t = std::time::Instant::now();
        write_outputs(cfg, dist, &p, cube.as_deref())?;
        p.metrics.add_root_stage("write", t.elapsed().as_secs_f64());
        p.metrics.estimate_energy(&cfg.metrics);
        eprint!("{}", p.metrics.table());
        if let Some(path) = metrics_path {
            let json = serde_json::to_string_pretty(&p.metrics).unwrap_or_default();
            crate::output::write_atomically(path, |w| {
                std::io::Write::write_all(w, json.as_bytes())
            })
            .map_err(|source| PipelineError::Metrics {
                path: path.to_path_buf(),
                source,
            })?;
        }
    }
    // Nobody leaves before rank 0 has written (or aborted the job).
    dist.barrier();
    Ok(())
}

/// Starts sampling this rank's GPU power through NVML while it works (`None` on the CPU
/// backend or without NVML).
pub(crate) fn start_power_sampler<T: PipelineReal>(
    cfg: &Config,
    dist: &Dist,
    g: &dyn ImagingBackend<T>,
) -> Option<crate::energy::GpuPowerSampler> {
    (g.report().kind == BackendKind::Gpu)
        .then(|| {
            crate::energy::GpuPowerSampler::start(
                dist.node_local_rank(),
                std::time::Duration::from_millis(cfg.metrics.gpu_sample_ms),
            )
        })
        .flatten()
}

/// Fails when no usable sample is left over all ranks, and warns (rank 0) about samples that
/// were dropped: beyond the grid, or with NaN/Inf values or weights ≤ 0.
pub(crate) fn check_counts(
    cfg: &Config,
    dist: &Dist,
    source: &VisSource,
    counts: &GridCounts,
) -> Result<(), PipelineError> {
    if counts.sum_weights <= 0.0 || !counts.sum_weights.is_finite() {
        return Err(PipelineError::ZeroWeight {
            source_name: source.name(cfg),
            used: counts.used,
            flagged: counts.flagged,
            invalid: counts.invalid,
            outside: counts.outside,
        });
    }
    if dist.is_root() {
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

/// Adds the backend's device stage times, GPU memory and measured GPU energy to `times` and
/// gathers every rank's metrics to rank 0 (`None` elsewhere).
pub(crate) fn gather_metrics<T: PipelineReal>(
    dist: &Dist,
    g: &dyn ImagingBackend<T>,
    power: Option<crate::energy::GpuPowerSampler>,
    times: &mut StageTimes,
    local_used: u64,
    threads: usize,
) -> Option<RunMetrics> {
    let report = g.report();
    if let Some(t) = report.stage_times {
        info!(
            "rank {}: GPU stage times (CUDA events, image and PSF): H2D {:.4} s, bucketing {:.4} s, \
             gridding {:.4} s, FFT {:.4} s, correction {:.4} s, D2H {:.4} s",
            dist.rank(),
            t.h2d_s,
            t.bucket_s,
            t.grid_s,
            t.fft_s,
            t.correct_s,
            t.d2h_s
        );
        for (stage, secs) in [
            ("gpu_h2d", t.h2d_s),
            ("gpu_bucket", t.bucket_s),
            ("gpu_grid", t.grid_s),
            ("gpu_fft", t.fft_s),
            ("gpu_correct", t.correct_s),
            ("gpu_d2h", t.d2h_s),
        ] {
            times.add(stage, secs);
        }
    }
    times.gpu_mem_bytes = report.device_memory_bytes;
    times.gpu_energy_j = power.and_then(|p| p.finish()).map(|r| r.energy_j);
    RunMetrics::gather(dist, times, local_used, threads, report.kind.as_str())
}

/// Grids, reduces and images with precision `T` and imaging `weights`; returns the products
/// on rank 0.
#[allow(clippy::too_many_arguments)]
fn image_with<T: PipelineReal>(
    cfg: &Config,
    dist: &Dist,
    source: &VisSource,
    meta: VisMeta,
    geom: GridGeometry,
    weights: Option<&ImagingWeights>,
    times: &mut StageTimes,
    threads: usize,
) -> Result<Option<ImageProducts>, PipelineError> {
    let rows = dist.my_rows(meta.nrow);
    let mut g: Box<dyn ImagingBackend<T>> = make_gridder::<T>(cfg, dist, &geom)?;
    let power = start_power_sampler(cfg, dist, g.as_ref());
    let pass = grid_pass(
        g.as_mut(),
        source,
        rows.clone(),
        cfg.input.chunk_rows,
        &meta.freq_hz,
        0..meta.nchan(),
        GridMode::Dirty,
        weights,
        Some(times),
        None,
    )?;
    // Fault injection for tests: this rank fails while the others wait in the next collective.
    if std::env::var("RIMAGER_TEST_FAIL_RANK")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        == Some(dist.rank())
    {
        return Err(PipelineError::Injected(dist.rank()));
    }
    let local_used = pass.used;
    let counts = global_counts(dist, &pass);
    check_counts(cfg, dist, source, &counts)?;
    times.time("reduce", || reduce_grid(dist, g.as_mut()))?;
    let mut image = None;
    if dist.is_root() {
        let (img, t) = g.to_image(1.0 / counts.sum_weights)?;
        times.add("fft", t.fft_s);
        times.add("correct", t.correct_s);
        image = Some(img);
    }
    let mut psf = None;
    if cfg.image.psf {
        let t = std::time::Instant::now();
        g.clear()?;
        let p = grid_pass(
            g.as_mut(),
            source,
            rows,
            cfg.input.chunk_rows,
            &meta.freq_hz,
            0..meta.nchan(),
            GridMode::Psf,
            weights,
            None,
            None,
        )?;
        let pc = global_counts(dist, &p);
        reduce_grid(dist, g.as_mut())?;
        if dist.is_root() {
            psf = Some(g.to_image(1.0 / pc.sum_weights)?.0);
        }
        times.add("psf", t.elapsed().as_secs_f64());
    }
    let metrics = gather_metrics(dist, g.as_ref(), power, times, local_used, threads);
    Ok(match (image, metrics) {
        (Some(image), Some(metrics)) => Some(ImageProducts {
            image,
            psf,
            counts,
            geom,
            meta,
            metrics,
            wplanes: None,
        }),
        _ => None,
    })
}

/// Writes the HDF5 image file and the FITS image and PSF (rank 0).
fn write_outputs(
    cfg: &Config,
    dist: &Dist,
    p: &ImageProducts,
    cube: Option<&[crate::channels::CubePlane]>,
) -> Result<(), PipelineError> {
    let prefix = &cfg.image.output;
    if let Some(dir) = prefix.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| PipelineError::OutputDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let with_ext = |suffix: &str| {
        let mut s = prefix.as_os_str().to_os_string();
        s.push(suffix);
        PathBuf::from(s)
    };
    let fmin = p.meta.freq_hz.iter().cloned().fold(f64::INFINITY, f64::min);
    let fmax = p.meta.freq_hz.iter().cloned().fold(0.0, f64::max);
    let image32: Vec<f32> = p.image.iter().map(|&x| x as f32).collect();
    let psf32: Option<Vec<f32>> = p
        .psf
        .as_ref()
        .map(|v| v.iter().map(|&x| x as f32).collect());
    let info = ImageInfo {
        nx: p.geom.nx,
        ny: p.geom.ny,
        cell_arcsec: p.geom.cell_rad / RAD_PER_ARCSEC,
        phase_centre_ra_deg: p.meta.phase_centre_ra_deg,
        phase_centre_dec_deg: p.meta.phase_centre_dec_deg,
        freq_min_hz: fmin,
        freq_max_hz: fmax,
        vis_used: p.counts.used,
        vis_flagged: p.counts.flagged,
        vis_invalid: p.counts.invalid,
        vis_outside: p.counts.outside,
        sum_weights: p.counts.sum_weights,
        epsilon: cfg.image.epsilon,
        kernel_width: p.geom.kernel.width as u64,
        kernel_beta: p.geom.kernel.beta,
        oversampling: p.geom.kernel.oversampling,
        grid_nu: p.geom.nu as u64,
        grid_nv: p.geom.nv as u64,
        backend: p.metrics.backend.clone(),
        precision: if cfg.use_double() {
            "float64"
        } else {
            "float32"
        }
        .into(),
        ranks: dist.size() as u64,
        threads: p.metrics.threads_per_rank as u64,
        version: env!("CARGO_PKG_VERSION").into(),
        metrics_json: serde_json::to_string(&p.metrics).unwrap_or_default(),
        weighting: cfg.image.weighting.name().into(),
        robust: cfg.image.robust,
        taper_arcsec: cfg.image.taper_arcsec,
        wstacking: u64::from(p.wplanes.is_some()),
        w_planes: p.wplanes.map_or(0, |w| w.nplanes as u64),
        w_first_lambda: p.wplanes.map_or(0.0, |w| w.w0),
        w_step_lambda: p.wplanes.map_or(0.0, |w| w.dw),
        w_nshift: p.wplanes.map_or(0.0, |w| w.nshift),
    };
    let cube32 =
        cube.map(|c| crate::output::cube::CubeArrays::from_planes(c, p.geom.nx, p.geom.ny));
    write_image_h5_with_cube(
        &with_ext(".h5"),
        &image32,
        psf32.as_deref(),
        &info,
        cube32.as_ref(),
    )?;
    let wcs = SkyWcs {
        ra_deg: p.meta.phase_centre_ra_deg,
        dec_deg: p.meta.phase_centre_dec_deg,
        cell_deg: p.geom.cell_rad.to_degrees(),
        freq_hz: 0.5 * (fmin + fmax),
        bandwidth_hz: (fmax - fmin).max(1.0),
    };
    let extra = vec![
        ("EPSILON".to_string(), FitsValue::Float(cfg.image.epsilon)),
        ("NVIS".to_string(), FitsValue::Int(p.counts.used as i64)),
        ("WSUM".to_string(), FitsValue::Float(p.counts.sum_weights)),
        (
            "KERNELW".to_string(),
            FitsValue::Int(p.geom.kernel.width as i64),
        ),
        (
            "BACKEND".to_string(),
            FitsValue::Str(p.metrics.backend.clone()),
        ),
        ("NRANKS".to_string(), FitsValue::Int(dist.size() as i64)),
        (
            "WEIGHT".to_string(),
            FitsValue::Str(WeightingSpec::from_config(&cfg.image).describe()),
        ),
    ];
    let mut extra = extra;
    if let Some(w) = p.wplanes {
        extra.push(("WPLANES".to_string(), FitsValue::Int(w.nplanes as i64)));
    }
    let fits = |suffix: &str, data: &[f32]| {
        write_fits_image(
            &with_ext(suffix),
            data,
            p.geom.nx,
            p.geom.ny,
            &wcs,
            "JY/BEAM",
            &extra,
        )
    };
    fits(".fits", &image32)?;
    if let Some(psf) = &psf32 {
        fits("-psf.fits", psf)?;
    }
    if let Some(c) = &cube32 {
        crate::output::cube::write_cube_fits(&with_ext("-cube.fits"), c, &c.image, &wcs, &extra)?;
        if let Some(psf) = &c.psf {
            crate::output::cube::write_cube_fits(
                &with_ext("-psf-cube.fits"),
                c,
                psf,
                &wcs,
                &extra,
            )?;
        }
    }
    if cfg.image.png {
        let cell_arcsec = p.geom.cell_rad / RAD_PER_ARCSEC;
        let png = |suffix: &str, data: &[f32], what: &str| {
            let path = with_ext(suffix);
            crate::output::png::write_quick_look(
                &path,
                data,
                p.geom.nx,
                p.geom.ny,
                cell_arcsec,
                what,
                crate::output::png::DEFAULT_SIZE,
            )
        };
        png(".png", &image32, "dirty image")?;
        if let Some(psf) = &psf32 {
            png("-psf.png", psf, "PSF")?;
        }
    }
    info!(
        "wrote {}.h5, {}.fits{}{}{}",
        prefix.display(),
        prefix.display(),
        if psf32.is_some() { " and the PSF" } else { "" },
        if cube32.is_some() {
            ", the -cube.fits"
        } else {
            ""
        },
        if cfg.image.png {
            ", the .png quick looks"
        } else {
            ""
        }
    );
    Ok(())
}

/// Runs `rimager simulate`: every rank simulates its share of rows and writes them into one
/// file in turn (rank 0 creates it under a temporary name and renames it once all are done).
pub fn run_simulate(cfg: &Config, dist: &Dist) -> Result<(), PipelineError> {
    let t0 = std::time::Instant::now();
    let sim = Simulator::new(&cfg.simulate)?;
    let meta = sim.meta();
    let out = &cfg.simulate.output;
    if dist.is_root() {
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| PipelineError::OutputDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
    }
    // Every rank writes to rank 0's temporary file.
    let mut id = [f64::from(std::process::id())];
    dist.broadcast_f64(&mut id);
    let tmp = crate::output::temp_path_with_id(out, id[0] as u32);
    if dist.is_root() {
        crate::vis::h5::VisWriter::create(&tmp, &meta, false)?;
    }
    dist.barrier();
    let rows = dist.my_rows(meta.nrow);
    for r in 0..dist.size() {
        if r == dist.rank() {
            let w = crate::vis::h5::VisWriter::open_rw(&tmp)?;
            for r in row_chunks(rows.clone(), cfg.input.chunk_rows) {
                w.write_rows(&sim.chunk(r))?;
            }
        }
        dist.barrier();
    }
    if dist.is_root() {
        crate::output::commit_temp(&tmp, out)?;
        info!(
            "wrote {}: {} rows x {} channels ({} visibilities, {}) in {:.2} s on {} rank(s)",
            out.display(),
            meta.nrow,
            meta.nchan(),
            meta.nrow * meta.nchan(),
            meta.telescope,
            t0.elapsed().as_secs_f64(),
            dist.size()
        );
    }
    dist.barrier();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occupied_rows_finds_the_band() {
        let nu = 5;
        let mut g = vec![Complex::<f32>::default(); nu * 8];
        assert_eq!(occupied_rows(&g, nu), (8, 0), "all zero: empty band");
        g[2 * nu + 4] = Complex::new(1.0, 0.0);
        assert_eq!(occupied_rows(&g, nu), (2, 3));
        g[6 * nu] = Complex::new(0.0, -2.0);
        assert_eq!(occupied_rows(&g, nu), (2, 7));
        g[0] = Complex::new(1e-30, 0.0);
        assert_eq!(occupied_rows(&g, nu), (0, 7));
    }
}
