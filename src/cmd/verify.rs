//! `rimager verify`: compares an image with the exact direct Fourier transform ([`crate::dft`],
//! float64) of the same visibilities at a central patch of pixels plus seeded random pixels,
//! and reports relative errors. The DFT is shared out over MPI ranks by rows and over rayon
//! threads by pixels.
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{Config, VerifyReference};
use crate::constants::RAD_PER_ARCSEC;
use crate::dft::{self, relative_l2, Pixel, PixelGrid};
use crate::dist::Dist;
use crate::imaging::weights::{build as build_weights, DensitySpec};
use crate::imaging::ImagingError;
use crate::metrics::StageTimes;
use crate::output::h5image::read_image_h5;
use crate::vis::samples::GridMode;
use crate::vis::Want;
use crate::weighting::WeightingSpec;

/// Errors of `rimager verify`.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Reading the image failed.
    #[error(transparent)]
    Image(#[from] crate::output::OutputError),
    /// Reading the visibilities failed.
    #[error(transparent)]
    Vis(#[from] ImagingError),
    /// The image was not made from these visibilities.
    #[error(
        "{image} was not made from {data}: its {field} is {image_value} but the data's is {data_value}; \
         verify an image against the visibilities it was made from"
    )]
    OtherData {
        /// The image file.
        image: String,
        /// The visibilities.
        data: String,
        /// What differs.
        field: &'static str,
        /// The image's value.
        image_value: String,
        /// The data's value.
        data_value: String,
    },
    /// The image has no usable pixel size.
    #[error("{path}: attribute cell_arcsec is missing or not positive")]
    NoCell {
        /// The image file.
        path: String,
    },
    /// The image's weighting attribute is not one rimager knows.
    #[error("{path}: attribute weighting = {value:?} is not natural, uniform or briggs")]
    BadWeighting {
        /// The image file.
        path: String,
        /// The attribute's value.
        value: String,
    },
}

/// The pixels compared: a `patch × patch` square around the phase centre and `random` more
/// drawn uniformly (seeded) from the rest of the image.
pub fn choose_pixels(nx: usize, ny: usize, patch: usize, random: usize, seed: u64) -> Vec<Pixel> {
    let p = patch.min(nx).min(ny);
    let (x0, y0) = (nx / 2 - p / 2, ny / 2 - p / 2);
    let mut pixels: Vec<Pixel> = (y0..y0 + p)
        .flat_map(|y| (x0..x0 + p).map(move |x| (x, y)))
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let in_patch = |x: usize, y: usize| (x0..x0 + p).contains(&x) && (y0..y0 + p).contains(&y);
    let mut tries = 0;
    let target = pixels.len() + random.min(nx * ny - p * p);
    while pixels.len() < target && tries < 100 * (random + 1) {
        tries += 1;
        let (x, y) = (rng.random_range(0..nx), rng.random_range(0..ny));
        if !in_patch(x, y) {
            pixels.push((x, y));
        }
    }
    pixels
}

/// Errors of one image against the DFT.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// Relative L2 error over all compared pixels.
    pub rel_l2: f64,
    /// Relative L2 error over the central patch.
    pub rel_l2_patch: f64,
    /// Largest absolute error over the compared pixels divided by the largest |DFT| value.
    pub max_err_rel_peak: f64,
    /// Number of compared pixels.
    pub npix: usize,
}

fn compare(image: &[f32], nx: usize, pixels: &[Pixel], npatch: usize, want: &[f64]) -> Comparison {
    let got: Vec<f64> = pixels
        .iter()
        .map(|&(x, y)| image[y * nx + x] as f64)
        .collect();
    Comparison {
        rel_l2: relative_l2(&got, want),
        rel_l2_patch: relative_l2(&got[..npatch], &want[..npatch]),
        max_err_rel_peak: dft::relative_max(&got, want),
        npix: pixels.len(),
    }
}

/// Checks that the image's phase centre, frequency range and sample count (used, flagged,
/// invalid and beyond the grid) are those of the data (attributes an older file lacks are
/// not checked).
fn same_data(
    info: &crate::output::h5image::ImageInfo,
    meta: &crate::vis::VisMeta,
    image: &str,
    data: &str,
) -> Result<(), VerifyError> {
    let (fmin, fmax) = meta.freq_range_hz();
    let close = |a: f64, b: f64| !a.is_finite() || (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    let nvis = (meta.nrow * meta.nchan()) as u64;
    let counted = info.vis_used + info.vis_flagged + info.vis_invalid + info.vis_outside;
    let checks: [(&'static str, f64, f64, bool); 5] = [
        (
            "phase_centre_ra_deg",
            info.phase_centre_ra_deg,
            meta.phase_centre_ra_deg,
            true,
        ),
        (
            "phase_centre_dec_deg",
            info.phase_centre_dec_deg,
            meta.phase_centre_dec_deg,
            true,
        ),
        ("lowest frequency (Hz)", info.freq_min_hz, fmin, true),
        ("highest frequency (Hz)", info.freq_max_hz, fmax, true),
        (
            "number of samples",
            counted as f64,
            nvis as f64,
            counted > 0,
        ),
    ];
    for (field, a, b, applies) in checks {
        if applies && !close(a, b) {
            return Err(VerifyError::OtherData {
                image: image.into(),
                data: data.into(),
                field,
                image_value: format!("{a}"),
                data_value: format!("{b}"),
            });
        }
    }
    Ok(())
}

/// Runs the verification; returns whether every compared image passed (the same on all ranks).
pub fn run_verify(cfg: &Config, image_path: &Path, dist: &Dist) -> Result<bool, VerifyError> {
    let file = read_image_h5(image_path)?;
    let info = &file.info;
    if !(info.cell_arcsec.is_finite() && info.cell_arcsec > 0.0) {
        return Err(VerifyError::NoCell {
            path: image_path.display().to_string(),
        });
    }
    let cell = info.cell_arcsec * RAD_PER_ARCSEC;
    let (nx, ny) = (info.nx, info.ny);
    let source = crate::imaging::source::open(cfg)?;
    let source = source.as_ref();
    let meta = source.meta();
    same_data(
        info,
        meta,
        &image_path.display().to_string(),
        &source.name(),
    )?;
    let pixels = choose_pixels(
        nx,
        ny,
        cfg.verify.patch,
        cfg.verify.random_pixels,
        cfg.verify.seed,
    );
    let npatch = cfg.verify.patch.min(nx).min(ny).pow(2);
    // The image's own weighting, from its attributes.
    let spec =
        WeightingSpec::from_attributes(info.weighting.name(), info.robust, info.taper_arcsec)
            .ok_or_else(|| VerifyError::BadWeighting {
                path: image_path.display().to_string(),
                value: info.weighting.name().to_string(),
            })?;
    let density = DensitySpec {
        weighting: spec,
        nx_ny: (nx, ny),
        cell_rad: cell,
        chunk_rows: cfg.input.chunk_rows,
    };
    let weights = build_weights(&density, source, dist, &mut StageTimes::default())?;
    let kinds: Vec<GridMode> = if file.psf.is_some() {
        vec![GridMode::Dirty, GridMode::Psf]
    } else {
        vec![GridMode::Dirty]
    };
    // The references to compare with: the 2-D DFT and/or the DFT with the w-term.
    let made_with_w = info.wstacking;
    let refs: Vec<bool> = match cfg.verify.reference {
        VerifyReference::Auto => vec![made_with_w],
        VerifyReference::TwoD => vec![false],
        VerifyReference::Wterm => vec![true],
        VerifyReference::Both => vec![false, true],
    };
    let modes: Vec<(GridMode, bool)> = kinds
        .iter()
        .flat_map(|&k| refs.iter().map(move |&w| (k, w)))
        .collect();
    // sums[mode][pixel], then the sums of weights.
    let np = pixels.len();
    let mut sums = vec![0.0; modes.len() * (np + 1)];
    let rows = dist.my_rows(meta.nrow);
    let t = std::time::Instant::now();
    for r in crate::vis::row_chunks(rows, cfg.input.chunk_rows) {
        let mut chunk = source.read(r, Want::All).map_err(ImagingError::from)?;
        if let Some(w) = &weights {
            w.apply(&mut chunk, &meta.freq_hz);
        }
        for (k, &(mode, w_term)) in modes.iter().enumerate() {
            let block = &mut sums[k * (np + 1)..(k + 1) * (np + 1)];
            let (px, w) = block.split_at_mut(np);
            let dft_fn = if w_term {
                dft::accumulate_w_term
            } else {
                dft::accumulate
            };
            w[0] += dft_fn(
                &chunk,
                &meta.freq_hz,
                PixelGrid {
                    nx,
                    ny,
                    cell_rad: cell,
                },
                &pixels,
                mode,
                px,
            );
        }
    }
    dist.all_sum_f64(&mut sums);
    let threshold = if cfg.verify.threshold > 0.0 {
        cfg.verify.threshold
    } else {
        // float32 storage of the image limits what can be checked to about 1e-7.
        info.epsilon.max(1e-6)
    };
    let mut passed = true;
    if dist.is_root() {
        println!(
            "verify {} ({} weighting): {} pixels ({}x{} central patch + {} random) against the float64 direct Fourier transform of {} \
             ({:.1} s)",
            image_path.display(),
            spec.describe(),
            np,
            cfg.verify.patch.min(nx).min(ny),
            cfg.verify.patch.min(nx).min(ny),
            np - npatch,
            source.name(),
            t.elapsed().as_secs_f64()
        );
        println!(
            "w-term: the image was made {}",
            if made_with_w {
                format!("with w-stacking ({} w-planes)", info.w_planes)
            } else {
                "in 2-D (w ignored)".to_string()
            }
        );
        println!(
            "{:<6} {:<18} {:>14} {:>14} {:>16} {:>10}",
            "what", "reference", "rel L2 (all)", "rel L2 (patch)", "max err / peak", "threshold"
        );
        for (k, &(mode, w_term)) in modes.iter().enumerate() {
            let block = &sums[k * (np + 1)..(k + 1) * (np + 1)];
            let sumw = block[np];
            let want: Vec<f64> = block[..np].iter().map(|s| s / sumw).collect();
            let (name, data) = match mode {
                GridMode::Dirty => ("image", &file.image),
                GridMode::Psf => ("psf", file.psf.as_ref().unwrap_or(&file.image)),
            };
            let c = compare(data, nx, &pixels, npatch, &want);
            let ok = c.rel_l2 <= threshold && c.rel_l2.is_finite();
            passed &= ok;
            println!(
                "{:<6} {:<18} {:>14.3e} {:>14.3e} {:>16.3e} {:>10.1e}  {}",
                name,
                if w_term {
                    "vs DFT with w-term"
                } else {
                    "vs 2-D DFT"
                },
                c.rel_l2,
                c.rel_l2_patch,
                c.max_err_rel_peak,
                threshold,
                if ok { "PASS" } else { "FAIL" }
            );
        }
    }
    let mut flag = [if passed { 1.0 } else { 0.0 }];
    dist.broadcast_f64(&mut flag);
    Ok(flag[0] == 1.0)
}

#[cfg(test)]
mod tests {
    use super::choose_pixels;

    #[test]
    fn pixels_are_patch_then_distinct_random_in_range() {
        let p = choose_pixels(64, 48, 8, 100, 1);
        assert_eq!(p.len(), 164);
        assert!(p.contains(&(32, 24)));
        assert!(p.iter().all(|&(x, y)| x < 64 && y < 48));
        assert_eq!(choose_pixels(64, 48, 8, 100, 1), p);
    }
}
