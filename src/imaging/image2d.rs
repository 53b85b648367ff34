//! 2-D imaging of a set of channels: one pass over this rank's rows grids the dirty image and
//! the PSF together into their backends, the grids are reduced over ranks and rank 0
//! transforms them. The MFS image ([`super::mfs`]) and each plane of a channel cube
//! ([`super::cube`]) are made this way.
use std::ops::Range;

use super::backend::{make_backend, BoxedBackend};
use super::context::{check_counts, fail_point, Run, Scalar};
use super::error::ImagingError;
use super::pass::{grid_pass, PassSpec, Target};
use super::products::has_weight;
use super::reduce::{global_counts, slab_image, Reduction};
use super::routed::{routed_image, RoutedGridder};
use crate::config::Backend;
use crate::grid::{BackendKind, BackendReport, GridCounts, GridMode, Gridder};
use crate::metrics::{ReadPass, Stage};

/// The backends of a run: one for the dirty image and, with the PSF, one for the PSF, so
/// one read of a chunk feeds both.
pub struct Backends<T: Scalar> {
    /// The dirty image's backend.
    pub dirty: BoxedBackend<T>,
    /// The PSF's backend.
    pub psf: Option<BoxedBackend<T>>,
}

impl<T: Scalar> Backends<T> {
    /// The backends `run.plan` asks for.
    pub fn new(run: &Run) -> Result<Self, ImagingError> {
        Ok(Self {
            dirty: make_backend(run)?,
            psf: if run.plan.psf {
                Some(make_backend(run)?)
            } else {
                None
            },
        })
    }

    /// Zeroes every grid.
    pub fn clear(&mut self) -> Result<(), ImagingError> {
        self.dirty.clear()?;
        if let Some(p) = self.psf.as_mut() {
            p.clear()?;
        }
        Ok(())
    }

    /// What every backend reports.
    pub fn reports(&self) -> Vec<BackendReport> {
        std::iter::once(self.dirty.report())
            .chain(self.psf.as_ref().map(|p| p.report()))
            .collect()
    }

    /// Grids one pass into the dirty image and the PSF; returns this rank's counts of each.
    pub fn grid(
        &mut self,
        run: &mut Run,
        spec: &PassSpec,
    ) -> Result<(GridCounts, Option<GridCounts>), ImagingError> {
        let mut targets = vec![Target::new(GridMode::Dirty, self.dirty.as_mut())];
        if let Some(p) = self.psf.as_mut() {
            targets.push(Target::new(GridMode::Psf, p.as_mut()));
        }
        grid_pass(run, spec, &mut targets)?;
        Ok((targets[0].counts, targets.get(1).map(|t| t.counts)))
    }
}

/// How 2-D images are gridded: the backends (a grid each, combined over ranks), or record
/// routing to slab owners ([`super::routed`], no full grid anywhere).
pub enum Engines<T: Scalar> {
    /// A backend per product, each with its own grid.
    Backends(Backends<T>),
    /// Records routed to slab owners, for the dirty image and the PSF.
    Routed {
        /// The dirty image's records.
        dirty: Box<RoutedGridder<T>>,
        /// The PSF's records.
        psf: Option<Box<RoutedGridder<T>>>,
    },
}

impl<T: Scalar> Engines<T> {
    /// The engines `run.plan` asks for on this many ranks ([`super::plan::ImagingPlan::routes`]).
    pub fn new(run: &Run) -> Result<Self, ImagingError> {
        if !run.plan.routes(run.dist.size()) {
            return Ok(Self::Backends(Backends::new(run)?));
        }
        match run.plan.backend {
            Backend::Gpu => {
                return Err(ImagingError::Unsupported {
                    key: "image.reduction",
                    why: "= \"route\" (and image.reproducible = true) grids on the CPU: set image.backend = \"cpu\""
                        .into(),
                })
            }
            Backend::Auto if run.dist.is_root() => tracing::info!(
                "backend auto: record routing (image.reduction = \"route\" or image.reproducible) grids on the CPU"
            ),
            _ => {}
        }
        let geom = run.plan.geom.clone();
        Ok(Self::Routed {
            dirty: Box::new(RoutedGridder::new(geom.clone())),
            psf: run.plan.psf.then(|| Box::new(RoutedGridder::new(geom))),
        })
    }

    /// The kind of backend that grids.
    pub fn kind(&self) -> BackendKind {
        match self {
            Self::Backends(b) => b.dirty.report().kind,
            Self::Routed { .. } => BackendKind::Cpu,
        }
    }

    /// What every backend reports.
    pub fn reports(&self) -> Vec<BackendReport> {
        match self {
            Self::Backends(b) => b.reports(),
            Self::Routed { dirty, psf } => std::iter::once(dirty)
                .chain(psf.as_ref())
                .map(|g| BackendReport {
                    kind: BackendKind::Cpu,
                    device_name: None,
                    stage_times: None,
                    cpu_times: Some(g.times()),
                    device_memory_bytes: None,
                })
                .collect(),
        }
    }

    fn clear(&mut self) -> Result<(), ImagingError> {
        match self {
            Self::Backends(b) => b.clear(),
            Self::Routed { dirty, psf } => {
                dirty.clear()?;
                if let Some(p) = psf.as_mut() {
                    p.clear()?;
                }
                Ok(())
            }
        }
    }

    fn grid(
        &mut self,
        run: &mut Run,
        spec: &PassSpec,
    ) -> Result<(GridCounts, Option<GridCounts>), ImagingError> {
        let (dirty, psf): (&mut dyn Gridder<T>, Option<&mut dyn Gridder<T>>) = match self {
            Self::Backends(b) => return b.grid(run, spec),
            Self::Routed { dirty, psf } => (
                dirty.as_mut(),
                psf.as_mut().map(|p| p.as_mut() as &mut dyn Gridder<T>),
            ),
        };
        let mut targets = vec![Target::new(GridMode::Dirty, dirty)];
        if let Some(p) = psf {
            targets.push(Target::new(GridMode::Psf, p));
        }
        grid_pass(run, spec, &mut targets)?;
        Ok((targets[0].counts, targets.get(1).map(|t| t.counts)))
    }
}

/// Global counts of `local` (summed over ranks); with record routing, the sum of the
/// weights is the exact one of `routed` (a collective), so that it does not depend on the
/// rank count.
fn counts_of<T: Scalar>(
    run: &Run,
    local: &GridCounts,
    routed: Option<&RoutedGridder<T>>,
) -> GridCounts {
    let mut c = global_counts(run.dist, local);
    if let Some(g) = routed {
        c.sum_weights = g.global_weight_sum(run.dist);
    }
    c
}

/// Routes `g`'s records to their slab owners, grids and transforms there; the image on rank
/// 0. The routing goes to `stages[0]` (with the slab FFT's transpose and gather), the owners'
/// gridding to [`Stage::Grid`] (or `stages[0]` when that is not [`Stage::Reduce`]), the FFT and
/// correction to `stages[1]` and `stages[2]`.
fn route_and_transform<T: Scalar>(
    run: &mut Run,
    g: &mut RoutedGridder<T>,
    counts: &GridCounts,
    stages: [Stage; 3],
) -> Result<Option<Vec<f64>>, ImagingError> {
    let (img, t) = routed_image(run.dist, g, 1.0 / counts.sum_weights, run.plan.reproducible)?;
    let grid_stage = if stages[0] == Stage::Reduce {
        Stage::Grid
    } else {
        stages[0]
    };
    run.times.add(stages[0], t.route_s + t.slab.transpose_s);
    run.times.add(grid_stage, t.grid_s);
    run.times.add(stages[1], t.slab.fft_s);
    run.times.add(stages[2], t.slab.correct_s);
    Ok(img)
}

/// The images of one set of channels: global counts, and on rank 0 the images.
pub struct ChannelImages {
    /// Global counts of the dirty image.
    pub counts: GridCounts,
    /// Samples this rank gridded into the dirty image.
    pub local_used: u64,
    /// The dirty image (rank 0, when the counts have weight).
    pub image: Option<Vec<f64>>,
    /// The PSF (rank 0, with the PSF, when the counts have weight).
    pub psf: Option<Vec<f64>>,
}

/// Reduces `backend`'s grid over ranks and transforms it, scaled by `1 / sum_weights` of
/// `counts`: on rank 0 alone ([`Reduction::ToRoot`], and any mode on one rank) or on every
/// rank with the slab FFT ([`Reduction::Slab`]); the image on rank 0. The reduction (and the
/// slab mode's transpose and gather), FFT and correction times go to `stages` (or all to one
/// stage).
fn reduce_and_transform<T: Scalar>(
    run: &mut Run,
    backend: &mut BoxedBackend<T>,
    counts: &GridCounts,
    stages: [Stage; 3],
) -> Result<Option<Vec<f64>>, ImagingError> {
    let scale = 1.0 / counts.sum_weights;
    if run.plan.reduction == Reduction::Slab && run.dist.size() > 1 {
        let (img, t) = slab_image(run.dist, backend.as_mut(), &run.plan.geom, scale)?;
        run.times.add(stages[0], t.reduce_s + t.transpose_s);
        run.times.add(stages[1], t.fft_s);
        run.times.add(stages[2], t.correct_s);
        return Ok(img);
    }
    let nu = run.plan.geom.nu;
    let t = std::time::Instant::now();
    run.plan.reduction.reduce(run.dist, backend.as_mut(), nu)?;
    run.times.add(stages[0], t.elapsed().as_secs_f64());
    if !run.dist.is_root() {
        return Ok(None);
    }
    let (img, t) = backend.to_image(scale)?;
    run.times.add(stages[1], t.fft_s);
    run.times.add(stages[2], t.correct_s);
    Ok(Some(img))
}

/// Grids `channels` of this rank's rows into `b` (cleared first), reduces and transforms.
/// Fails when the dirty image has no weight if `require_weight`; otherwise an empty set gives
/// no images (decided from global counts, identically on every rank). With `timed_as` every
/// second goes to that stage.
pub fn image_channels<T: Scalar>(
    run: &mut Run,
    b: &mut Engines<T>,
    channels: Range<usize>,
    timed_as: Option<Stage>,
    require_weight: bool,
) -> Result<ChannelImages, ImagingError> {
    b.clear()?;
    let spec = PassSpec {
        rows: run.dist.my_rows(run.source.meta().nrow),
        channels,
        plane: None,
        pass: if timed_as.is_some() {
            ReadPass::Cube
        } else {
            ReadPass::Image
        },
        timed_as,
    };
    let (dirty_local, psf_local) = b.grid(run, &spec)?;
    fail_point(run.dist)?;
    let routed_dirty = match &*b {
        Engines::Routed { dirty, .. } => Some(dirty.as_ref()),
        Engines::Backends(_) => None,
    };
    let counts = counts_of(run, &dirty_local, routed_dirty);
    if require_weight {
        check_counts(run, &counts)?;
    } else if !has_weight(&counts) {
        return Ok(ChannelImages {
            counts,
            local_used: dirty_local.used,
            image: None,
            psf: None,
        });
    }
    let stages = match timed_as {
        Some(s) => [s; 3],
        None => [Stage::Reduce, Stage::Fft, Stage::Correct],
    };
    // The PSF's reduction and transform, as one stage.
    let psf_stage = [timed_as.unwrap_or(Stage::Psf); 3];
    let (image, psf) = match b {
        Engines::Backends(b) => {
            let image = reduce_and_transform(run, &mut b.dirty, &counts, stages)?;
            let psf = match (b.psf.as_mut(), psf_local) {
                (Some(p), Some(local)) => {
                    let pc = global_counts(run.dist, &local);
                    reduce_and_transform(run, p, &pc, psf_stage)?
                }
                _ => None,
            };
            (image, psf)
        }
        Engines::Routed { dirty, psf } => {
            let image = route_and_transform(run, dirty, &counts, stages)?;
            let psf = match (psf.as_mut(), psf_local) {
                (Some(p), Some(local)) => {
                    let pc = counts_of(run, &local, Some(p.as_ref()));
                    route_and_transform(run, p, &pc, psf_stage)?
                }
                _ => None,
            };
            (image, psf)
        }
    };
    Ok(ChannelImages {
        counts,
        local_used: dirty_local.used,
        image,
        psf,
    })
}
