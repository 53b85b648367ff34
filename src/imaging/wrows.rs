//! The rows a rank's w-planes need, read once per pass and held in memory, sorted by w
//! (w-stacking, [`super::wstack`]).
//!
//! Every sample reaches only the `W` planes around its w, so gridding each plane from the
//! whole data set (as a plain pass would) reads and classifies every row once per plane. Here
//! one read of the data (each rank reading its own rows and sending each to the ranks whose
//! planes it reaches, [`super::wroute`]) keeps the rows that reach this rank's planes, with the imaging
//! weights applied and **folded to w ≥ 0** (`(u, v, w, V) → (−u, −v, −w, V*)` where w < 0:
//! the same real image, since `V(−u, −v, −w) = V*(u, v, w)` for a real sky, as ducc0's
//! wgridder folds them, which halves the planes a range symmetric about 0 needs), and sorts
//! them by w. Each plane then grids the contiguous range of rows whose w reaches it, found
//! by binary search. When the rows do not fit in `input.cache_mb`, the planes are taken in
//! groups ([`plane_groups`]), one read per group.
//!
//! Ties in w are sorted by global row index, so a plane's rows and their order, and so its
//! grid, do not depend on the grouping, the number of ranks, or which rank grids it.
use std::ops::Range;
use std::time::Instant;

use rayon::prelude::*;

use super::context::Run;
use super::error::ImagingError;
use super::wroute::{exchange, Targets};
use crate::grid::{par_row_blocks, place_samples_in_plane, GridCounts, GridMode};
use crate::metrics::{ReadPass, Stage};
use crate::vis::samples::wavelength_scale;
use crate::vis::{row_chunks, MemVis, VisChunk, Want};
use crate::wstack::WPlanes;

/// The rows some planes need, sorted by folded w.
pub struct WRows {
    /// The rows, sorted by w ≥ 0 (metres), imaging weights applied.
    pub vis: MemVis,
    /// The folded w of each held row, metres, ascending.
    w_m: Vec<f64>,
    /// `ν / c` of the lowest and the highest channel.
    scale: (f64, f64),
    /// Counts of every sample read (all rows, whether held or not).
    pub counts: GridCounts,
}

/// The planes of `mine` in groups whose rows fit in the plan's cache memory: all in one group
/// when they fit, else groups of equal size (each needs one read of the data). The held rows
/// are estimated assuming w spread evenly over the planes; twice them (the rows as read and
/// sorted) must fit.
pub fn plane_groups(run: &Run, planes: &WPlanes, mine: Range<usize>) -> Vec<Range<usize>> {
    let meta = run.source.meta();
    let nchan = meta.nchan();
    let row_bytes = 24 + nchan * 13;
    let all_bytes = 2.0 * meta.nrow as f64 * row_bytes as f64;
    let budget = run.plan.cache_bytes as f64;
    let n = mine.len().max(1);
    let k = if all_bytes <= budget {
        n
    } else {
        // A group of k planes holds about (k + W + s)/nplanes of the rows, s the planes one
        // row's channels span at the largest w.
        let (fmin, fmax) = meta.freq_range_hz();
        let spread = (planes.w0 / planes.dw + planes.nplanes as f64) * (1.0 - fmin / fmax);
        let extra = planes.kernel.width as f64 + spread.max(0.0);
        let k = (budget / all_bytes * planes.nplanes as f64 - extra).floor();
        (k.max(1.0) as usize).min(n)
    };
    mine.clone()
        .step_by(k)
        .map(|s| s..(s + k).min(mine.end))
        .collect()
}

impl WRows {
    /// Reads this rank's rows of the data once (all rows on one rank; in chunks, imaging
    /// weights applied), counts their samples, and keeps the rows that reach a plane of
    /// `groups[rank]`, folded and sorted by w. With several ranks each row goes to every rank
    /// whose planes of this pass (`groups[q]`) it reaches ([`super::wroute`]): a collective,
    /// called by every rank with the same `groups`.
    pub fn read(
        run: &mut Run,
        planes: &WPlanes,
        groups: &[Option<Range<usize>>],
    ) -> Result<Self, ImagingError> {
        let t = Instant::now();
        let meta = run.source.meta();
        let (fmin, fmax) = meta.freq_range_hz();
        let s = wavelength_scale(&[fmin, fmax]);
        let scale = (s[0], s[1]);
        let nchan = meta.nchan();
        let geom = &run.plan.geom;
        let dist = run.dist;
        let routed = dist.size() > 1;
        let targets = Targets::new(groups);
        let chunks: Vec<Range<usize>> =
            row_chunks(dist.my_rows(meta.nrow), run.plan.chunk_rows).collect();
        // Every rank takes part in every exchange, with an empty chunk once its rows are read.
        let rounds = if routed {
            dist.all_max_f64(chunks.len() as f64) as usize
        } else {
            chunks.len()
        };
        let mut held = Held::default();
        let mut counts = GridCounts::default();
        for k in 0..rounds {
            let chunk = match chunks.get(k) {
                Some(r) => {
                    let mut chunk = run.source.read(r.clone(), Want::All)?;
                    run.times.count_read(ReadPass::Image);
                    if let Some(w) = run.weights {
                        w.apply(&mut chunk, &meta.freq_hz);
                    }
                    chunk
                }
                None => VisChunk::default(),
            };
            let nrow = chunk.nrow();
            for c in par_row_blocks(nrow, |rows| {
                place_samples_in_plane(
                    geom,
                    &chunk,
                    &meta.freq_hz,
                    rows,
                    GridMode::Psf,
                    None,
                    |_| {},
                )
            }) {
                counts.merge(&c);
            }
            let spans: Vec<Option<(f64, f64)>> = chunk
                .uvw_m
                .iter()
                .map(|uvw| {
                    let w = uvw[2].abs();
                    w.is_finite()
                        .then(|| planes.plane_span(w * scale.0, w * scale.1))
                })
                .collect();
            if routed {
                let (rows, index) = exchange(dist, &chunk, &spans, &targets, nchan);
                held.push(&rows, 0..rows.nrow(), &index, nchan);
            } else {
                let keep = spans
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.is_some_and(|s| targets.reached(s)))
                    .map(|(i, _)| i);
                let index: Vec<usize> = (chunk.row0..chunk.row0 + nrow).collect();
                held.push(&chunk, keep, &index, nchan);
            }
        }
        let (rows, w_m) = held.sorted(nchan);
        run.times.add(Stage::Read, t.elapsed().as_secs_f64());
        Ok(Self {
            vis: MemVis::from_rows(run.source.name(), meta.clone(), rows),
            w_m,
            scale,
            counts,
        })
    }

    /// The held rows (indices into [`WRows::vis`]) whose w reaches plane `p`.
    pub fn rows_of_plane(&self, planes: &WPlanes, p: usize) -> Range<usize> {
        let p = p as f64;
        let (s_lo, s_hi) = self.scale;
        // The span's ends grow with w ≥ 0, so each bound is a partition point.
        let start = self
            .w_m
            .partition_point(|&w| planes.plane_span(w * s_lo, w * s_hi).1 <= p);
        let end = self
            .w_m
            .partition_point(|&w| planes.plane_span(w * s_lo, w * s_hi).0 < p);
        start..end.max(start)
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.w_m.len() * 8 + self.vis.bytes()
    }
}

/// Rows gathered from the chunks, folded to w ≥ 0, with their global row indices.
#[derive(Default)]
struct Held {
    rows: VisChunk,
    /// The global row index of each held row.
    index: Vec<usize>,
    /// Whether any chunk had flags (then `rows.flag` covers every row).
    flagged: bool,
}

impl Held {
    /// Appends rows `keep` of `chunk` (global indices `index`, one per row of `chunk`),
    /// folded.
    fn push(
        &mut self,
        chunk: &VisChunk,
        keep: impl IntoIterator<Item = usize>,
        index: &[usize],
        nchan: usize,
    ) {
        if !chunk.flag.is_empty() && !self.flagged {
            self.flagged = true;
            self.rows.flag = vec![false; self.rows.vis.len()];
        }
        for i in keep {
            self.index.push(index[i]);
            let [u, v, w] = chunk.uvw_m[i];
            let fold = w < 0.0;
            self.rows
                .uvw_m
                .push(if fold { [-u, -v, -w] } else { [u, v, w] });
            let cols = i * nchan..(i + 1) * nchan;
            let vis = &chunk.vis[cols.clone()];
            if fold {
                self.rows.vis.extend(vis.iter().map(|c| c.conj()));
            } else {
                self.rows.vis.extend_from_slice(vis);
            }
            self.rows
                .weight
                .extend_from_slice(&chunk.weight[cols.clone()]);
            if self.flagged {
                if chunk.flag.is_empty() {
                    self.rows.flag.extend(std::iter::repeat_n(false, nchan));
                } else {
                    self.rows.flag.extend_from_slice(&chunk.flag[cols]);
                }
            }
        }
    }

    /// The rows sorted by w, ties by global row index, and their w.
    fn sorted(self, nchan: usize) -> (VisChunk, Vec<f64>) {
        let src = self.rows;
        let index = self.index;
        let mut order: Vec<usize> = (0..src.nrow()).collect();
        order.par_sort_unstable_by(|&a, &b| {
            src.uvw_m[a][2]
                .total_cmp(&src.uvw_m[b][2])
                .then(index[a].cmp(&index[b]))
        });
        let w_m = order.iter().map(|&i| src.uvw_m[i][2]).collect();
        let mut rows = VisChunk {
            row0: 0,
            uvw_m: order.iter().map(|&i| src.uvw_m[i]).collect(),
            ..VisChunk::default()
        };
        gather_rows(&src.vis, &order, nchan, &mut rows.vis);
        gather_rows(&src.weight, &order, nchan, &mut rows.weight);
        if !src.flag.is_empty() {
            gather_rows(&src.flag, &order, nchan, &mut rows.flag);
        }
        (rows, w_m)
    }
}

/// `out` = the `[row, chan]` array `data` with its rows in the order `order` (in parallel).
fn gather_rows<E: Copy + Default + Send + Sync>(
    data: &[E],
    order: &[usize],
    nchan: usize,
    out: &mut Vec<E>,
) {
    out.clear();
    out.resize(order.len() * nchan, E::default());
    out.par_chunks_mut(nchan.max(1))
        .zip(order.par_iter())
        .for_each(|(dst, &i)| dst.copy_from_slice(&data[i * nchan..(i + 1) * nchan]));
}
