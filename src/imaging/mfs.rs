//! 2-D imaging (multi-frequency synthesis, Conway, Cornwell & Wilkinson 1990, MNRAS 246,
//! 490; WSClean's MFS image): every channel of every row is gridded at its own wavelength,
//! `(u, v) = (u_m, v_m) · ν / c`, into one grid, normalised by the sum of all weights; then
//! the channel cube, if asked for.
use super::backend::{gather_metrics, start_power_sampler};
use super::context::{Run, Scalar};
use super::error::ImagingError;
use super::image2d::{image_channels, Engines};
use super::products::ImageProducts;

/// 2-D imaging of every channel (and the cube, with `image.channels_out > 1`); the products
/// on rank 0.
pub fn run_mfs<T: Scalar>(run: &mut Run) -> Result<Option<ImageProducts>, ImagingError> {
    let mut b = Engines::<T>::new(run)?;
    let power = start_power_sampler(run, b.kind());
    let nchan = run.source.meta().nchan();
    let mfs = image_channels(run, &mut b, 0..nchan, None, true)?;
    let cube = if run.plan.channels_out > 1 {
        super::cube::image_cube(run, &mut b)?
    } else {
        None
    };
    let metrics = gather_metrics(run, &b.reports(), power, mfs.local_used);
    Ok(match (mfs.image, metrics) {
        (Some(image), Some(metrics)) => Some(ImageProducts {
            image,
            psf: mfs.psf,
            counts: mfs.counts,
            metrics,
            cube,
        }),
        _ => None,
    })
}
