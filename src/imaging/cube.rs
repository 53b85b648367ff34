//! Channel cubes (`image.channels_out`, WSClean's `-channels-out`): after the MFS image, each
//! contiguous channel group ([`crate::vis::channels::channel_groups`]) is imaged on its own
//! with the same backends, normalised by its own sum of weights.
//!
//! A **group with no usable sample** (every channel flagged, or all weights zero) gives a
//! plane of NaN — "blanked", which FITS viewers show as empty and statistics skip — and a
//! warning, never an error. (WSClean writes zeros for such planes, which pipelines then have
//! to blank themselves, e.g. CARACal pull request 665; a zero plane is indistinguishable from
//! empty sky, NaN is not.)
use tracing::warn;

use super::context::{Run, Scalar};
use super::error::ImagingError;
use super::image2d::{image_channels, Engines};
use super::products::CubePlane;
use crate::metrics::Stage;
use crate::vis::channels::{channel_groups, group_centre_hz};

/// Images every channel group on every rank (one read of each chunk per group feeds the
/// group's dirty image and PSF); the planes on rank 0, `None` elsewhere. All of it is timed
/// as [`Stage::Cube`].
pub fn image_cube<T: Scalar>(
    run: &mut Run,
    b: &mut Engines<T>,
) -> Result<Option<Vec<CubePlane>>, ImagingError> {
    let freq_hz = run.source.meta().freq_hz.clone();
    let npix = run.plan.params.nx * run.plan.params.ny;
    let psf_on = run.plan.psf;
    let mut planes = Vec::new();
    for chans in channel_groups(freq_hz.len(), run.plan.channels_out) {
        let imgs = image_channels(run, b, chans.clone(), Some(Stage::Cube), false)?;
        let plane = CubePlane {
            freq_hz: group_centre_hz(&freq_hz[chans.clone()]),
            channels: chans,
            counts: imgs.counts,
            image: imgs.image.unwrap_or_else(|| vec![f64::NAN; npix]),
            psf: psf_on.then(|| imgs.psf.unwrap_or_else(|| vec![f64::NAN; npix])),
        };
        if run.dist.is_root() && plane.is_empty() {
            warn!(
                "cube plane {} (channels {}..{}, {:.6e} Hz) has no usable samples ({} flagged, {} NaN/Inf or \
                 weight <= 0, {} beyond the grid): written as NaN",
                planes.len(),
                plane.channels.start,
                plane.channels.end - 1,
                plane.freq_hz,
                plane.counts.flagged,
                plane.counts.invalid,
                plane.counts.outside
            );
        }
        planes.push(plane);
    }
    Ok(run.dist.is_root().then_some(planes))
}
