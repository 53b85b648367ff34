//! The [`VisRead`] trait: where the imaging driver gets its visibilities from, whatever
//! holds them (an HDF5 file, the in-memory simulator, chunks already in memory).
//!
//! A reader hands out contiguous row ranges as [`VisChunk`]s. [`Want`] says what a pass
//! needs, so a reader can skip the visibilities when only uvw, weights and flags are used
//! (imaging weights, a PSF-only pass).
use std::ops::Range;

use super::h5::VisFileError;
use super::{VisChunk, VisMeta};

/// What a pass needs of each row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// uvw, visibilities, weights and flags.
    All,
    /// uvw, weights and flags; the visibilities may be left at zero.
    NoVis,
}

/// Why rows could not be read.
#[derive(Debug, thiserror::Error)]
pub enum VisError {
    /// The visibility file could not be read.
    #[error(transparent)]
    File(#[from] VisFileError),
}

/// The largest |u|, |v| (metres) and the range of w (metres) over some rows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UvwExtent {
    /// max(|u|, |v|) over the rows with finite u and v, metres (0 if none).
    pub max_uv_m: f64,
    /// Smallest finite w, metres (+∞ if none).
    pub w_min_m: f64,
    /// Largest finite w, metres (−∞ if none).
    pub w_max_m: f64,
}

impl Default for UvwExtent {
    fn default() -> Self {
        Self {
            max_uv_m: 0.0,
            w_min_m: f64::INFINITY,
            w_max_m: f64::NEG_INFINITY,
        }
    }
}

impl UvwExtent {
    /// Widens the extent by the rows `uvw_m`.
    pub fn add(&mut self, uvw_m: &[[f64; 3]]) {
        for &[u, v, w] in uvw_m {
            if u.is_finite() && v.is_finite() {
                self.max_uv_m = self.max_uv_m.max(u.abs()).max(v.abs());
            }
            if w.is_finite() {
                self.w_min_m = self.w_min_m.min(w);
                self.w_max_m = self.w_max_m.max(w);
            }
        }
    }
}

/// A source of visibility rows.
pub trait VisRead: Sync {
    /// A short name for messages: the file path, or "simulated observation".
    fn name(&self) -> String;

    /// Observation metadata (the same on every rank).
    fn meta(&self) -> &VisMeta;

    /// Rows `rows`; with [`Want::NoVis`] the visibilities may be zero where that cannot
    /// change which samples are used (a simulation's are always finite).
    fn read(&self, rows: Range<usize>, want: Want) -> Result<VisChunk, VisError>;

    /// Only the uvw of rows `rows`, metres.
    fn read_uvw(&self, rows: Range<usize>) -> Result<Vec<[f64; 3]>, VisError>;

    /// Whether reading computes the data (timed as simulation rather than reading).
    fn is_simulation(&self) -> bool {
        false
    }
}

impl VisRead for super::h5::VisReader {
    fn name(&self) -> String {
        self.path().display().to_string()
    }

    fn meta(&self) -> &VisMeta {
        super::h5::VisReader::meta(self)
    }

    /// Reads the visibilities whatever `want` says: the selection rule drops samples with
    /// non-finite visibilities, so even a pass that does not grid them must see them.
    fn read(&self, rows: Range<usize>, _want: Want) -> Result<VisChunk, VisError> {
        Ok(self.read_rows(rows)?)
    }

    fn read_uvw(&self, rows: Range<usize>) -> Result<Vec<[f64; 3]>, VisError> {
        Ok(super::h5::VisReader::read_uvw(self, rows)?)
    }
}

/// Visibilities already in memory: one chunk holding every row (tests, benchmarks, and
/// callers that produce data themselves).
#[derive(Clone, Debug)]
pub struct MemVis {
    name: String,
    meta: VisMeta,
    rows: VisChunk,
}

impl MemVis {
    /// Holds `chunks` (consecutive rows, `row0` ignored) of an observation with metadata
    /// `meta`; `meta.nrow` is set to the number of rows given.
    pub fn new(name: impl Into<String>, mut meta: VisMeta, chunks: &[VisChunk]) -> Self {
        let mut rows = VisChunk::default();
        for c in chunks {
            rows.uvw_m.extend_from_slice(&c.uvw_m);
            rows.vis.extend_from_slice(&c.vis);
            rows.weight.extend_from_slice(&c.weight);
            if !c.flag.is_empty() {
                rows.flag.extend_from_slice(&c.flag);
            }
        }
        if rows.flag.len() != rows.vis.len() {
            // Some chunks had no flags: none flagged there.
            let mut flag = Vec::with_capacity(rows.vis.len());
            for c in chunks {
                if c.flag.is_empty() {
                    flag.extend(std::iter::repeat_n(false, c.vis.len()));
                } else {
                    flag.extend_from_slice(&c.flag);
                }
            }
            rows.flag = if flag.iter().any(|&f| f) {
                flag
            } else {
                Vec::new()
            };
        }
        meta.nrow = rows.nrow();
        Self {
            name: name.into(),
            meta,
            rows,
        }
    }
}

impl MemVis {
    /// Holds `rows` (consecutive rows, `row0` ignored) of an observation with metadata
    /// `meta`, without copying them; `meta.nrow` is set to their number.
    pub fn from_rows(name: impl Into<String>, mut meta: VisMeta, rows: VisChunk) -> Self {
        meta.nrow = rows.nrow();
        Self {
            name: name.into(),
            meta,
            rows,
        }
    }

    /// Bytes of the rows held.
    pub fn bytes(&self) -> usize {
        let r = &self.rows;
        r.uvw_m.len() * 24 + r.vis.len() * 8 + r.weight.len() * 4 + r.flag.len()
    }
}

impl VisRead for MemVis {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn meta(&self) -> &VisMeta {
        &self.meta
    }

    fn read(&self, rows: Range<usize>, _want: Want) -> Result<VisChunk, VisError> {
        Ok(self.rows.slice_rows(rows))
    }

    fn read_uvw(&self, rows: Range<usize>) -> Result<Vec<[f64; 3]>, VisError> {
        Ok(self.rows.uvw_m[rows].to_vec())
    }
}
