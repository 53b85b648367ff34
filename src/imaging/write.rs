//! Writing the products on rank 0: the HDF5 image file (image, PSF, cube, every attribute),
//! the FITS image, PSF and cubes, the PNG quick looks, and the metrics JSON. The metadata
//! describe the plan that was run (ε, precision, kernel, w-planes, weighting), not the
//! configuration it came from.
use std::path::{Path, PathBuf};

use tracing::info;

use super::error::ImagingError;
use super::plan::ImagingPlan;
use super::products::{CubePlane, ImageProducts};
use crate::constants::RAD_PER_ARCSEC;
use crate::dist::Dist;
use crate::metrics::RunMetrics;
use crate::output::cube::{write_cube_fits, CubeArrays, PlaneData};
use crate::output::fits::{write_fits_image, Card, FitsValue, SkyWcs};
use crate::output::h5image::{write_image_h5_with_cube, ImageInfo};
use crate::output::png::{write_quick_look, DEFAULT_SIZE};
use crate::vis::VisMeta;

/// `prefix` with `suffix` appended (`out/x` + `-psf.fits`).
fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// The image file's attributes for products `p` of `plan`.
fn image_info(
    plan: &ImagingPlan,
    dist: &Dist,
    meta: &VisMeta,
    p: &ImageProducts,
) -> Result<ImageInfo, ImagingError> {
    let (fmin, fmax) = meta.freq_range_hz();
    let g = &plan.geom;
    Ok(ImageInfo {
        nx: g.nx,
        ny: g.ny,
        cell_arcsec: g.cell_rad / RAD_PER_ARCSEC,
        phase_centre_ra_deg: meta.phase_centre_ra_deg,
        phase_centre_dec_deg: meta.phase_centre_dec_deg,
        freq_min_hz: fmin,
        freq_max_hz: fmax.max(0.0),
        vis_used: p.counts.used,
        vis_flagged: p.counts.flagged,
        vis_invalid: p.counts.invalid,
        vis_outside: p.counts.outside,
        sum_weights: p.counts.sum_weights,
        epsilon: plan.params.epsilon,
        kernel_width: g.kernel.width as u64,
        kernel_beta: g.kernel.beta,
        oversampling: g.kernel.oversampling,
        grid_nu: g.nu as u64,
        grid_nv: g.nv as u64,
        backend: p.metrics.backend.clone(),
        precision: plan.precision,
        ranks: dist.size() as u64,
        threads: p.metrics.threads_per_rank as u64,
        version: env!("CARGO_PKG_VERSION").into(),
        metrics_json: serde_json::to_string(&p.metrics)?,
        weighting: plan.weighting.mode,
        robust: plan.weighting.robust,
        taper_arcsec: plan.weighting.taper_arcsec,
        wstacking: plan.wplanes.is_some(),
        w_planes: plan.wplanes.map_or(0, |w| w.nplanes as u64),
        w_first_lambda: plan.wplanes.map_or(0.0, |w| w.w0),
        w_step_lambda: plan.wplanes.map_or(0.0, |w| w.dw),
        w_nshift: plan.wplanes.map_or(0.0, |w| w.nshift),
    })
}

/// The extra FITS cards every image of the run carries (the sum of weights only on the
/// whole-band images: a cube's planes carry their own).
fn fits_cards(plan: &ImagingPlan, dist: &Dist, p: &ImageProducts) -> Vec<Card> {
    let mut cards = vec![
        Card::new("EPSILON", FitsValue::Float(plan.params.epsilon)),
        Card::new("NVIS", FitsValue::Int(p.counts.used as i64)),
        Card::new("WSUM", FitsValue::Float(p.counts.sum_weights)).whole_band(),
        Card::new("KERNELW", FitsValue::Int(plan.geom.kernel.width as i64)),
        Card::new("BACKEND", FitsValue::Str(p.metrics.backend.clone())),
        Card::new("NRANKS", FitsValue::Int(dist.size() as i64)),
        Card::new("WEIGHT", FitsValue::Str(plan.weighting.describe())),
    ];
    if let Some(w) = plan.wplanes {
        cards.push(Card::new("WPLANES", FitsValue::Int(w.nplanes as i64)));
    }
    cards
}

/// The cube's planes as the output's plain per-plane data.
fn cube_arrays(planes: &[CubePlane], nx: usize, ny: usize) -> CubeArrays {
    let data: Vec<PlaneData> = planes
        .iter()
        .map(|q| PlaneData {
            channels: q.channels.clone(),
            freq_hz: q.freq_hz,
            sum_weights: q.counts.sum_weights,
            vis_used: q.counts.used,
            image: &q.image,
            psf: q.psf.as_deref(),
        })
        .collect();
    CubeArrays::from_planes(&data, nx, ny)
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// Writes the HDF5 image file, the FITS image, PSF and cubes and the PNG quick looks (rank 0),
/// each to `stage(final path)` (the output set's temporary name; committed by the caller).
pub fn write_products(
    plan: &ImagingPlan,
    dist: &Dist,
    meta: &VisMeta,
    p: &ImageProducts,
    stage: &dyn Fn(&Path) -> PathBuf,
) -> Result<(), ImagingError> {
    let prefix = &plan.output;
    if let Some(dir) = prefix.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| ImagingError::OutputDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let out = |suffix: &str| stage(&with_suffix(prefix, suffix));
    let (nx, ny) = (plan.geom.nx, plan.geom.ny);
    let image32 = to_f32(&p.image);
    let psf32 = p.psf.as_deref().map(to_f32);
    let info = image_info(plan, dist, meta, p)?;
    let cube32 = p.cube.as_deref().map(|c| cube_arrays(c, nx, ny));
    write_image_h5_with_cube(
        &out(".h5"),
        &image32,
        psf32.as_deref(),
        &info,
        cube32.as_ref(),
    )?;
    let (fmin, fmax) = (info.freq_min_hz, info.freq_max_hz);
    let wcs = SkyWcs {
        ra_deg: meta.phase_centre_ra_deg,
        dec_deg: meta.phase_centre_dec_deg,
        cell_deg: plan.geom.cell_rad.to_degrees(),
        freq_hz: 0.5 * (fmin + fmax),
        bandwidth_hz: (fmax - fmin).max(1.0),
    };
    let cards = fits_cards(plan, dist, p);
    let fits = |suffix: &str, data: &[f32]| {
        write_fits_image(&out(suffix), data, nx, ny, &wcs, "JY/BEAM", &cards)
    };
    fits(".fits", &image32)?;
    if let Some(psf) = &psf32 {
        fits("-psf.fits", psf)?;
    }
    if let Some(c) = &cube32 {
        write_cube_fits(&out("-cube.fits"), c, &c.image, &wcs, &cards)?;
        if let Some(psf) = &c.psf {
            write_cube_fits(&out("-psf-cube.fits"), c, psf, &wcs, &cards)?;
        }
    }
    if plan.png {
        let cell_arcsec = plan.geom.cell_rad / RAD_PER_ARCSEC;
        let png = |suffix: &str, data: &[f32], what: &str| {
            write_quick_look(&out(suffix), data, nx, ny, cell_arcsec, what, DEFAULT_SIZE)
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
        if plan.png {
            ", the .png quick looks"
        } else {
            ""
        }
    );
    Ok(())
}

/// Writes the metrics JSON to `path` (temporary name, then rename).
pub fn write_metrics(path: &Path, metrics: &RunMetrics) -> Result<(), ImagingError> {
    let json = serde_json::to_string_pretty(metrics)?;
    crate::output::write_atomically(path, |w| std::io::Write::write_all(w, json.as_bytes()))
        .map_err(|source| ImagingError::Metrics {
            path: path.to_path_buf(),
            source,
        })
}
