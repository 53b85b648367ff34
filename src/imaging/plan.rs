//! The imaging plan: everything decided before the first chunk is gridded (pixel size,
//! precision, kernel and grid from ε, w-planes, weighting, products, backend and reduction),
//! resolved once from the configuration and the data, so that the passes and the writers
//! read one description of what is being done.
use std::path::PathBuf;

use tracing::{info, warn};

use super::error::ImagingError;
use super::reduce::Reduction;
use crate::config::{Backend, Cell, Config, WStacking};
use crate::constants::{RAD_PER_ARCSEC, SPEED_OF_LIGHT_M_S};
use crate::dist::Dist;
use crate::grid::GridGeometry;
use crate::kernel::{choose_grid, GridSpec, KernelError};
use crate::metrics::{ReadPass, Stage, StageTimes};
pub use crate::real::Precision;
use crate::vis::samples::wavelength_scale;
use crate::vis::{row_chunks, UvwExtent, VisRead};
use crate::weighting::WeightingSpec;
use crate::wstack::{nm1_range, plan_wstack, w_term_matters, WPlanes, WStackError, WStackRequest};

/// What an image needs besides the data: size, pixel size, accuracy and tile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImageParams {
    /// Image width, pixels.
    pub nx: usize,
    /// Image height, pixels.
    pub ny: usize,
    /// Pixel size, radians.
    pub cell_rad: f64,
    /// Requested accuracy.
    pub epsilon: f64,
    /// Tile side, cells.
    pub tile: usize,
}

impl ImageParams {
    /// The 2-D grid for `nvis` samples: kernel and oversampling from ε, cost-optimal.
    pub fn grid_2d(&self, nvis: u64) -> Result<GridGeometry, KernelError> {
        let spec = choose_grid(self.nx, self.ny, nvis, self.epsilon, self.tile)?;
        Ok(self.geometry(&spec))
    }

    fn geometry(&self, spec: &GridSpec) -> GridGeometry {
        GridGeometry::new(
            self.nx,
            self.ny,
            self.cell_rad,
            spec,
            self.epsilon,
            self.tile,
        )
    }

    /// The w-stacked grid and planes for `nvis` samples whose w lies in `[w_min, w_max]`
    /// wavelengths ([`crate::wstack::plan_wstack`]).
    pub fn grid_wstack(
        &self,
        nvis: u64,
        (w_min_lambda, w_max_lambda): (f64, f64),
    ) -> Result<(GridGeometry, WPlanes), WStackError> {
        let (spec, planes) = plan_wstack(&WStackRequest {
            nx: self.nx,
            ny: self.ny,
            cell_rad: self.cell_rad,
            nvis,
            epsilon: self.epsilon,
            tile: self.tile,
            w_min_lambda,
            w_max_lambda,
        })?;
        Ok((self.geometry(&spec), planes))
    }
}

/// Which imaging mode the plan runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImagingMode {
    /// One 2-D image over all channels (multi-frequency synthesis).
    Mfs,
    /// The 2-D image plus a channel cube.
    Cube,
    /// w-stacking (Arras et al. 2021).
    WStacked,
}

/// Everything `rimager image` decided before gridding.
#[derive(Clone, Debug)]
pub struct ImagingPlan {
    /// Image size, pixel size, ε and tile.
    pub params: ImageParams,
    /// Grid and FFT precision.
    pub precision: Precision,
    /// Kernel, grid and (fitted) polynomial.
    pub geom: GridGeometry,
    /// The w-planes, when w-stacking.
    pub wplanes: Option<WPlanes>,
    /// Imaging weights.
    pub weighting: WeightingSpec,
    /// Whether the PSF is made.
    pub psf: bool,
    /// Planes of the channel cube (1 = no cube).
    pub channels_out: usize,
    /// Rows per chunk.
    pub chunk_rows: usize,
    /// Memory a rank may hold rows in for passes that grid them more than once, bytes.
    pub cache_bytes: usize,
    /// The backend asked for.
    pub backend: Backend,
    /// How grids are combined over ranks.
    pub reduction: Reduction,
    /// Bitwise-reproducible images (`image.reproducible`): records routed to slab owners on
    /// any rank count, one included.
    pub reproducible: bool,
    /// GPU power sampling interval, ms.
    pub gpu_sample_ms: u64,
    /// Output prefix.
    pub output: PathBuf,
    /// Whether PNG quick looks are written.
    pub png: bool,
}

impl ImagingPlan {
    /// A plan for `geom` with the defaults of an in-process run: natural weighting, no PSF,
    /// no cube, the CPU backend, no products (tests, benchmarks).
    pub fn for_geometry(geom: GridGeometry, precision: Precision) -> Self {
        Self {
            params: ImageParams {
                nx: geom.nx,
                ny: geom.ny,
                cell_rad: geom.cell_rad,
                epsilon: geom.epsilon,
                tile: geom.tile,
            },
            precision,
            geom,
            wplanes: None,
            weighting: WeightingSpec::natural(),
            psf: false,
            channels_out: 1,
            chunk_rows: 1 << 14,
            cache_bytes: 1 << 30,
            backend: Backend::Cpu,
            reduction: Reduction::ToRoot,
            reproducible: false,
            gpu_sample_ms: 100,
            output: PathBuf::new(),
            png: false,
        }
    }

    /// Resolves the plan of `cfg` for `source` on every rank (the same on all: decided from
    /// global quantities). Reads the uvw once when the pixel size is `"auto"` or w-stacking
    /// may be on (one scan serves both).
    pub fn resolve(
        cfg: &Config,
        source: &dyn VisRead,
        dist: &Dist,
        times: &mut StageTimes,
    ) -> Result<Self, ImagingError> {
        let meta = source.meta();
        let im = &cfg.image;
        let needs_scan = matches!(im.cell_arcsec, Cell::Auto(_))
            || !matches!(im.wstacking, WStacking::Bool(false));
        let extent = if needs_scan {
            Some(global_extent(source, dist, cfg.input.chunk_rows, times)?)
        } else {
            None
        };
        let (fmin, fmax) = meta.freq_range_hz();
        let cell_rad = match (im.cell_arcsec, &extent) {
            (Cell::Arcsec(a), _) => a * RAD_PER_ARCSEC,
            (Cell::Auto(_), Some(e)) => {
                // A third of the finest fringe at the highest frequency.
                let uv_lambda = e.max_uv_m * fmax.max(0.0) / SPEED_OF_LIGHT_M_S;
                if !(uv_lambda.is_finite() && uv_lambda > 0.0) {
                    return Err(ImagingError::NoUvExtent(source.name()));
                }
                1.0 / (3.0 * uv_lambda)
            }
            (Cell::Auto(_), None) => unreachable!("the uvw scan runs for cell_arcsec = \"auto\""),
        };
        if im.channels_out > meta.nchan() {
            return Err(ImagingError::ChannelsOut {
                path: cfg.origin.clone(),
                value: im.channels_out,
                nchan: meta.nchan(),
                source_name: source.name(),
            });
        }
        let params = ImageParams {
            nx: im.nx,
            ny: im.ny,
            cell_rad,
            epsilon: im.epsilon,
            tile: im.tile_size,
        };
        let nvis = (meta.nrow * meta.nchan()) as u64;
        let w_range = extent.map(|e| abs_w_range_lambda(&e, (fmin, fmax)));
        let (geom, wplanes) = match w_range
            .filter(|&w| wants_wstacking(im.wstacking, &params, w, dist))
        {
            Some(w) => {
                if im.reproducible {
                    return Err(ImagingError::Unsupported {
                            key: "image.reproducible",
                            why: "is for 2-D imaging only, and image.wstacking = \"auto\" turned w-stacking on; \
                                  set image.wstacking = false"
                                .into(),
                        });
                }
                if im.channels_out > 1 {
                    return Err(ImagingError::CubeWithWStacking {
                        channels_out: im.channels_out,
                    });
                }
                let (g, p) = params.grid_wstack(nvis, w)?;
                (g, Some(p))
            }
            None => (params.grid_2d(nvis)?, None),
        };
        Ok(Self {
            params,
            precision: if cfg.use_double() {
                Precision::Float64
            } else {
                Precision::Float32
            },
            geom,
            wplanes,
            weighting: WeightingSpec::from_config(im),
            psf: im.psf,
            channels_out: im.channels_out,
            chunk_rows: cfg.input.chunk_rows,
            cache_bytes: cfg.input.cache_mb.saturating_mul(1 << 20),
            backend: im.backend,
            reduction: if im.reproducible {
                Reduction::Route
            } else {
                im.reduction.into()
            },
            reproducible: im.reproducible,
            gpu_sample_ms: cfg.metrics.gpu_sample_ms,
            output: im.output.clone(),
            png: im.png,
        })
    }

    /// Whether the 2-D images are made by record routing ([`super::routed`]) on `ranks`
    /// ranks: with `reduction = "route"` on several ranks, and always when reproducible.
    pub fn routes(&self, ranks: usize) -> bool {
        self.wplanes.is_none()
            && self.reduction == Reduction::Route
            && (ranks > 1 || self.reproducible)
    }

    /// The mode this plan runs.
    pub fn mode(&self) -> ImagingMode {
        if self.wplanes.is_some() {
            ImagingMode::WStacked
        } else if self.channels_out > 1 {
            ImagingMode::Cube
        } else {
            ImagingMode::Mfs
        }
    }

    /// Logs (rank 0) what is about to be imaged and how.
    pub fn log(&self, dist: &Dist, source: &dyn VisRead) {
        if !dist.is_root() {
            return;
        }
        let meta = source.meta();
        let w = self.wplanes.map_or(String::new(), |p| {
            format!(
                "; w-stacking: {} w-planes, w0 {:.2} dw {:.3} wavelengths, nshift {:.3e}",
                p.nplanes, p.w0, p.dw, p.nshift
            )
        });
        let (p, g) = (&self.params, &self.geom);
        info!(
            "{} rows x {} channels from {}; image {}x{} cell {:.4} arcsec; epsilon {:e}{w}: kernel W={} beta={:.3} \
             sigma={:.2}, grid {}x{}, {} on {} rank(s) x {} thread(s)",
            meta.nrow,
            meta.nchan(),
            source.name(),
            p.nx,
            p.ny,
            p.cell_rad / RAD_PER_ARCSEC,
            p.epsilon,
            g.kernel.width,
            g.kernel.beta,
            g.kernel.oversampling,
            g.nu,
            g.nv,
            self.precision.as_str(),
            dist.size(),
            rayon::current_num_threads()
        );
    }
}

/// The uv extent and w range of every rank's rows (uvw only), combined over ranks.
fn global_extent(
    source: &dyn VisRead,
    dist: &Dist,
    chunk_rows: usize,
    times: &mut StageTimes,
) -> Result<UvwExtent, ImagingError> {
    let t = std::time::Instant::now();
    let mut e = UvwExtent::default();
    let mut hist = super::extent::UvHistogram::default();
    for r in row_chunks(dist.my_rows(source.meta().nrow), chunk_rows) {
        let uvw = source.read_uvw(r)?;
        e.add(&uvw);
        hist.add(&uvw);
        times.count_read(ReadPass::UvExtent);
    }
    times.add(Stage::Read, t.elapsed().as_secs_f64());
    hist.sum_over(dist);
    let max_uv_m = dist.all_max_f64(e.max_uv_m);
    Ok(UvwExtent {
        max_uv_m: hist.robust_max(max_uv_m, &source.name(), dist.is_root()),
        w_min_m: dist.all_min_f64(e.w_min_m),
        w_max_m: dist.all_max_f64(e.w_max_m),
    })
}

/// The range of |w| in wavelengths over all channels (`(0, 0)` without finite w). w-stacking
/// folds every sample to w ≥ 0 (`V(−u, −v, −w) = V*(u, v, w)` for a real sky, as ducc0's
/// wgridder does), so its planes need only span |w|: half the planes of a range symmetric
/// about 0.
fn abs_w_range_lambda(e: &UvwExtent, (fmin, fmax): (f64, f64)) -> (f64, f64) {
    if !(e.w_min_m.is_finite() && e.w_max_m.is_finite()) {
        return (0.0, 0.0);
    }
    let (lo_m, hi_m) = if e.w_min_m <= 0.0 && e.w_max_m >= 0.0 {
        (0.0, e.w_max_m.max(-e.w_min_m))
    } else {
        let (a, b) = (e.w_min_m.abs(), e.w_max_m.abs());
        (a.min(b), a.max(b))
    };
    let s = wavelength_scale(&[fmin.max(0.0), fmax.max(0.0)]);
    (lo_m * s[0], hi_m * s[1])
}

/// Whether to w-stack: `image.wstacking = true`, or `"auto"` and the w-term's largest phase
/// `2π max|w| max|n − 1|` exceeds ε.
fn wants_wstacking(
    setting: WStacking,
    p: &ImageParams,
    (wmin, wmax): (f64, f64),
    dist: &Dist,
) -> bool {
    match setting {
        WStacking::Bool(on) => on,
        WStacking::Auto(_) => {
            let max_abs_w = wmin.abs().max(wmax.abs());
            let nm1 = match nm1_range(p.nx, p.ny, p.cell_rad) {
                Ok((lo, _)) => lo,
                Err(e) => {
                    if dist.is_root() {
                        warn!("image.wstacking = \"auto\": {e}; imaging in 2-D");
                    }
                    return false;
                }
            };
            let on = w_term_matters(max_abs_w, nm1, p.epsilon);
            if dist.is_root() {
                info!(
                    "image.wstacking = \"auto\": largest w-term phase 2 pi max|w| max|n-1| = {:.3e} rad (max|w| {:.1} \
                     wavelengths, max|n-1| {:.3e}) vs epsilon {:e}: w-stacking {}",
                    2.0 * std::f64::consts::PI * max_abs_w * nm1.abs(),
                    max_abs_w,
                    nm1.abs(),
                    p.epsilon,
                    if on { "on" } else { "off" }
                );
            }
            on
        }
    }
}
