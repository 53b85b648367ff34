//! Visibility data model and its HDF5 file format.
//!
//! A visibility set is `nrow` rows (one baseline at one time) by `nchan` channels.
//! Arrays are row-major with axis order `[row, chan]`; `uvw_m` is `[row]` of (u, v, w) in
//! metres, Measurement Set convention (u east, v north, w towards the phase centre).
pub mod channels;
pub mod h5;
pub mod h5diag;
pub mod pack;
pub mod read;
pub mod samples;

pub use read::{MemVis, UvwExtent, VisError, VisRead, Want};

use num_complex::Complex32;

/// Observation-wide metadata, identical on every rank.
#[derive(Clone, Debug, PartialEq)]
pub struct VisMeta {
    /// Telescope name (free text).
    pub telescope: String,
    /// Phase-centre right ascension, degrees (J2000).
    pub phase_centre_ra_deg: f64,
    /// Phase-centre declination, degrees (J2000).
    pub phase_centre_dec_deg: f64,
    /// Channel frequencies in Hz, `[nchan]`, in file order (any order is allowed).
    pub freq_hz: Vec<f64>,
    /// Total number of rows in the whole data set (all ranks).
    pub nrow: usize,
}

impl VisMeta {
    /// Number of channels.
    pub fn nchan(&self) -> usize {
        self.freq_hz.len()
    }

    /// Lowest and highest channel frequency, Hz (`(+∞, −∞)` without channels).
    pub fn freq_range_hz(&self) -> (f64, f64) {
        freq_range_hz(&self.freq_hz)
    }
}

/// A contiguous block of rows `row0 .. row0 + nrow()` of a visibility set.
///
/// `vis`, `weight` and `flag` are row-major `[nrow, nchan]`; `flag` is empty when the
/// source has no flags.
#[derive(Clone, Debug, Default)]
pub struct VisChunk {
    /// Index of this block's first row in the whole data set.
    pub row0: usize,
    /// (u, v, w) per row, metres.
    pub uvw_m: Vec<[f64; 3]>,
    /// Stokes I visibilities, Jy, `[nrow, nchan]`.
    pub vis: Vec<Complex32>,
    /// Weights, `[nrow, nchan]`.
    pub weight: Vec<f32>,
    /// Flags (`true` = ignore), `[nrow, nchan]`, or empty for "no flags".
    pub flag: Vec<bool>,
}

impl VisChunk {
    /// Number of rows in the block.
    pub fn nrow(&self) -> usize {
        self.uvw_m.len()
    }

    /// Whether sample `(row, chan)` (flat index `row * nchan + chan`) is flagged.
    #[inline]
    pub fn is_flagged(&self, flat: usize) -> bool {
        !self.flag.is_empty() && self.flag[flat]
    }

    /// A copy of rows `rows` (indices within this block) as a block of its own.
    pub fn slice_rows(&self, rows: std::ops::Range<usize>) -> VisChunk {
        let nchan = self.vis.len() / self.nrow().max(1);
        let cols = rows.start * nchan..rows.end * nchan;
        VisChunk {
            row0: self.row0 + rows.start,
            uvw_m: self.uvw_m[rows].to_vec(),
            vis: self.vis[cols.clone()].to_vec(),
            weight: self.weight[cols.clone()].to_vec(),
            flag: if self.flag.is_empty() {
                Vec::new()
            } else {
                self.flag[cols].to_vec()
            },
        }
    }
}

/// Lowest and highest of `freq_hz`, Hz (`(+∞, −∞)` when empty).
pub fn freq_range_hz(freq_hz: &[f64]) -> (f64, f64) {
    freq_hz
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &f| {
            (lo.min(f), hi.max(f))
        })
}

/// `rows` in consecutive pieces of at most `chunk` rows (the unit of reading and gridding).
pub fn row_chunks(
    rows: std::ops::Range<usize>,
    chunk: usize,
) -> impl Iterator<Item = std::ops::Range<usize>> {
    let chunk = chunk.max(1);
    (rows.start..rows.end)
        .step_by(chunk)
        .map(move |s| s..(s + chunk).min(rows.end))
}

/// Splits `n` items into `parts` contiguous ranges whose lengths differ by at most one.
pub fn split_range(n: usize, parts: usize, index: usize) -> std::ops::Range<usize> {
    let parts = parts.max(1);
    let base = n / parts;
    let extra = n % parts;
    let start = index * base + index.min(extra);
    let len = base + usize::from(index < extra);
    start..start + len
}

#[cfg(test)]
mod tests {
    use super::split_range;

    #[test]
    fn row_chunks_tile_the_range() {
        let c: Vec<_> = super::row_chunks(3..11, 3).collect();
        assert_eq!(c, vec![3..6, 6..9, 9..11]);
        assert_eq!(super::row_chunks(5..5, 3).count(), 0);
    }

    #[test]
    fn split_range_covers_everything_once() {
        for n in [0usize, 1, 7, 100, 101] {
            for parts in 1..6 {
                let mut next = 0;
                for i in 0..parts {
                    let r = split_range(n, parts, i);
                    assert_eq!(r.start, next);
                    next = r.end;
                }
                assert_eq!(next, n);
            }
        }
    }
}
