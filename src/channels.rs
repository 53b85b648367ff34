//! Channels: multi-frequency synthesis (MFS) and channel cubes (`image.channels_out`).
//!
//! * **MFS** is what the ordinary imaging pass does: every channel of every row is gridded at
//!   its own wavelength, `(u, v) = (u_m, v_m) · ν / c`, into one grid, and the image is
//!   normalised by the sum of all weights (Conway, Cornwell & Wilkinson 1990, MNRAS 246, 490;
//!   WSClean's MFS image). Channel order in the file does not matter.
//! * **Channel cubes** follow WSClean's `-channels-out N` (Offringa et al. 2014, MNRAS 444,
//!   606): the channels, in file order, are split into `N` contiguous groups whose sizes differ
//!   by at most one ([`channel_groups`]); each group is imaged on its own (only its channels are
//!   gridded, [`select_channels`]) and normalised by its own sum of weights. The MFS image is
//!   still made and written. A plane's frequency is the centre of its group,
//!   `(min + max) / 2` of its channel frequencies.
//! * A **group with no usable sample** (every channel flagged, or all weights zero) gives a
//!   plane of NaN — "blanked", which FITS viewers show as empty and statistics skip — and a
//!   warning, never an error; the MFS image simply does not contain those samples. (WSClean
//!   writes zeros for such planes, which pipelines then have to blank themselves, e.g. CARACal
//!   pull request 665; a zero plane is indistinguishable from empty sky, NaN is not.)
use std::ops::Range;

use tracing::warn;

use crate::config::Config;
use crate::dist::Dist;
use crate::grid::{GridCounts, GridGeometry, GridMode, ImagingBackend};
use crate::pipeline::VisSource;
use crate::pipeline::{
    global_counts, grid_pass, make_gridder, reduce_grid, PipelineError, PipelineReal,
};
use crate::vis::{split_range, VisChunk, VisMeta};
use crate::weighting::ImagingWeights;

/// The `channels_out` contiguous channel groups of `nchan` channels in file order, sizes
/// differing by at most one (the larger groups first), as WSClean's `-channels-out` splits
/// them. `channels_out` must be in `1..=nchan`.
pub fn channel_groups(nchan: usize, channels_out: usize) -> Vec<Range<usize>> {
    (0..channels_out)
        .map(|k| split_range(nchan, channels_out, k))
        .collect()
}

/// Centre frequency of a group of channels: the midpoint of its lowest and highest channel
/// frequency, Hz (for equally spaced channels, also their mean).
pub fn group_centre_hz(freq_hz: &[f64]) -> f64 {
    let lo = freq_hz.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = freq_hz.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    0.5 * (lo + hi)
}

/// A copy of `chunk` (whose rows have `nchan` channels) keeping only channels `chans`: the
/// same rows and uvw, the `[nrow, chans.len()]` columns of visibilities, weights and flags.
pub fn select_channels(chunk: &VisChunk, nchan: usize, chans: Range<usize>) -> VisChunk {
    let nrow = chunk.nrow();
    let width = chans.len();
    let mut out = VisChunk {
        row0: chunk.row0,
        uvw_m: chunk.uvw_m.clone(),
        vis: Vec::with_capacity(nrow * width),
        weight: Vec::with_capacity(nrow * width),
        flag: Vec::with_capacity(if chunk.flag.is_empty() {
            0
        } else {
            nrow * width
        }),
    };
    for row in 0..nrow {
        let cols = row * nchan + chans.start..row * nchan + chans.end;
        out.vis.extend_from_slice(&chunk.vis[cols.clone()]);
        out.weight.extend_from_slice(&chunk.weight[cols.clone()]);
        if !chunk.flag.is_empty() {
            out.flag.extend_from_slice(&chunk.flag[cols]);
        }
    }
    out
}

/// One plane of a channel cube.
#[derive(Clone, Debug)]
pub struct CubePlane {
    /// Channels (indices in file order) imaged into this plane.
    pub channels: Range<usize>,
    /// Centre frequency of the group, Hz ([`group_centre_hz`]).
    pub freq_hz: f64,
    /// Global counts of the group's samples (its `sum_weights` normalises the plane).
    pub counts: GridCounts,
    /// `[ny][nx]` dirty image, Jy/beam; all NaN when the group has no usable sample.
    pub image: Vec<f64>,
    /// `[ny][nx]` PSF (with `image.psf`); all NaN when the group has no usable sample.
    pub psf: Option<Vec<f64>>,
}

impl CubePlane {
    /// Whether the group had no usable sample (its plane is blanked with NaN).
    pub fn is_empty(&self) -> bool {
        !(self.counts.sum_weights > 0.0 && self.counts.sum_weights.is_finite())
    }
}

/// Checks `image.channels_out` against the data's channel count: at most `nchan`.
pub fn check_channels_out(cfg: &Config, nchan: usize, source: &str) -> Result<(), PipelineError> {
    let n = cfg.image.channels_out;
    if n > nchan {
        return Err(PipelineError::ChannelsOut {
            path: cfg.origin.clone(),
            value: n,
            nchan,
            source_name: source.to_string(),
        });
    }
    Ok(())
}

/// Images every channel group of `image.channels_out` on every rank (each a gridding pass
/// over this rank's rows with only the group's channels, a reduction and, on rank 0, an FFT);
/// returns the planes on rank 0 and `None` elsewhere. Groups without usable samples give NaN
/// planes and a warning on rank 0.
pub fn image_cube<T: PipelineReal>(
    cfg: &Config,
    dist: &Dist,
    source: &VisSource,
    meta: &VisMeta,
    geom: &GridGeometry,
    weights: Option<&ImagingWeights>,
) -> Result<Option<Vec<CubePlane>>, PipelineError> {
    let nchan = meta.nchan();
    let rows = dist.my_rows(meta.nrow);
    let mut g: Box<dyn ImagingBackend<T>> = make_gridder::<T>(cfg, dist, geom)?;
    let npix = geom.nx * geom.ny;
    let mut planes = Vec::new();
    for chans in channel_groups(nchan, cfg.image.channels_out) {
        // Runs a pass of `mode` over the group: the global counts, and on rank 0 the image
        // (None when the group is empty, identically on every rank: the counts are global).
        let mut pass = |mode: GridMode| -> Result<(GridCounts, Option<Vec<f64>>), PipelineError> {
            g.clear()?;
            let local = grid_pass(
                g.as_mut(),
                source,
                rows.clone(),
                cfg.input.chunk_rows,
                &meta.freq_hz,
                chans.clone(),
                mode,
                weights,
                None,
                None,
            )?;
            let counts = global_counts(dist, &local);
            if !(counts.sum_weights > 0.0 && counts.sum_weights.is_finite()) {
                return Ok((counts, None));
            }
            reduce_grid(dist, g.as_mut())?;
            let img = if dist.is_root() {
                Some(g.to_image(1.0 / counts.sum_weights)?.0)
            } else {
                None
            };
            Ok((counts, img))
        };
        let (counts, image) = pass(GridMode::Dirty)?;
        // Decided from the global counts, identically on every rank (the image itself exists
        // on rank 0 only), so that every rank takes part in the PSF pass's collectives.
        let has_data = counts.sum_weights > 0.0 && counts.sum_weights.is_finite();
        let psf = if cfg.image.psf && has_data {
            pass(GridMode::Psf)?.1
        } else {
            None
        };
        let plane = CubePlane {
            freq_hz: group_centre_hz(&meta.freq_hz[chans.clone()]),
            channels: chans,
            counts,
            image: image.unwrap_or_else(|| vec![f64::NAN; npix]),
            psf: cfg
                .image
                .psf
                .then(|| psf.unwrap_or_else(|| vec![f64::NAN; npix])),
        };
        if dist.is_root() && plane.is_empty() {
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
    Ok(dist.is_root().then_some(planes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_complex::Complex32;

    #[test]
    fn groups_are_contiguous_in_file_order_and_cover_every_channel_once() {
        assert_eq!(channel_groups(8, 1), vec![0..8]);
        assert_eq!(channel_groups(8, 4), vec![0..2, 2..4, 4..6, 6..8]);
        assert_eq!(channel_groups(7, 3), vec![0..3, 3..5, 5..7]);
        assert_eq!(channel_groups(3, 3), vec![0..1, 1..2, 2..3]);
        for nchan in 1..20 {
            for n in 1..=nchan {
                let g = channel_groups(nchan, n);
                assert_eq!(g.len(), n);
                assert_eq!(g[0].start, 0);
                assert_eq!(g[n - 1].end, nchan);
                assert!(g.windows(2).all(|w| w[0].end == w[1].start));
                assert!(g.iter().all(|r| !r.is_empty()));
            }
        }
    }

    #[test]
    fn centre_is_midpoint_whatever_the_order() {
        assert_eq!(group_centre_hz(&[1.0e9, 1.1e9, 1.2e9]), 1.1e9);
        assert_eq!(group_centre_hz(&[1.3e9, 1.2e9]), 1.25e9);
        assert_eq!(group_centre_hz(&[7.0]), 7.0);
    }

    #[test]
    fn select_channels_keeps_the_right_columns() {
        let (nrow, nchan) = (3, 5);
        let chunk = VisChunk {
            row0: 10,
            uvw_m: (0..nrow).map(|r| [r as f64, 2.0 * r as f64, 0.5]).collect(),
            vis: (0..nrow * nchan)
                .map(|i| Complex32::new(i as f32, -(i as f32)))
                .collect(),
            weight: (0..nrow * nchan).map(|i| 100.0 + i as f32).collect(),
            flag: (0..nrow * nchan).map(|i| i % 3 == 0).collect(),
        };
        let s = select_channels(&chunk, nchan, 1..4);
        assert_eq!(s.row0, 10);
        assert_eq!(s.uvw_m, chunk.uvw_m);
        let want: Vec<usize> = (0..nrow)
            .flat_map(|r| (1..4).map(move |c| r * nchan + c))
            .collect();
        assert_eq!(
            s.vis,
            want.iter().map(|&i| chunk.vis[i]).collect::<Vec<_>>()
        );
        assert_eq!(
            s.weight,
            want.iter().map(|&i| chunk.weight[i]).collect::<Vec<_>>()
        );
        assert_eq!(
            s.flag,
            want.iter().map(|&i| chunk.flag[i]).collect::<Vec<_>>()
        );
        // No flags stay no flags.
        let mut nf = chunk.clone();
        nf.flag.clear();
        assert!(select_channels(&nf, nchan, 0..2).flag.is_empty());
    }
}
