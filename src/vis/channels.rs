//! Channel selection for channel cubes (`image.channels_out`, as WSClean's
//! `-channels-out N`, Offringa et al. 2014, MNRAS 444, 606): the channels, in file order, are
//! split into `N` contiguous groups whose sizes differ by at most one ([`channel_groups`]);
//! each group is imaged on its own from a copy of the chunk holding only its channels
//! ([`select_channels`]). A plane's frequency is the centre of its group ([`group_centre_hz`]).
use std::ops::Range;

use super::{freq_range_hz, split_range, VisChunk};

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
    let (lo, hi) = freq_range_hz(freq_hz);
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
