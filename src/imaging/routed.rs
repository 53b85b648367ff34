//! Record routing to slab owners (`image.reduction = "route"`, and the engine of
//! `image.reproducible = true`): no rank holds the whole grid and no grid is reduced.
//!
//! 1. Each rank reads its own rows and places every usable sample (weights applied) as a
//!    compact record ([`crate::grid::cpu::slab`]): global tile, footprint start, fractional
//!    offsets, weighted value ([`RoutedGridder`], a [`Gridder`]). The records are kept in
//!    this rank's sample order, with the rows their footprints touch and the exact sum of the
//!    weights ([`ExactSum`]).
//! 2. The ranks agree on the band of rows some footprint touches and split it into one slab
//!    per rank ([`SlabLayout::balanced`]; a rank may own no row), balancing each owner's
//!    modelled cost — its records × W² plus its row FFTs — from a global histogram of records
//!    per footprint row (one allreduce of `nv` counts), since the uv density is centrally
//!    peaked and equal row counts leave the central owners with most of the gridding.
//! 3. Each record goes to the owner(s) of the rows its `W`-row footprint touches (one owner,
//!    or two or more where it straddles slab edges): counts, then the records themselves,
//!    with `MPI_Alltoallv` ([`Dist::all_to_all`], in rounds below 2³¹ elements).
//! 4. Each owner grids what it received onto its slab only ([`grid_slab`]): memory ≈ its
//!    slab + the records that touch it.
//! 5. The slab FFT runs from the slabs ([`transform_slab`]) and rank 0 receives the image.
//!
//! **Reproducibility.** Ranks hold contiguous row ranges in rank order, so the records a
//! rank receives (rank 0's first, then rank 1's, …, each in its row order) are in global
//! sample order; the stable sort by tile keeps that order, each tile is one sequential sum in
//! global tile coordinates, tiles are added in the fixed colour order, and each cell is summed
//! by one rank. The slab transform's bits depend only on the summed grid, and the weights are
//! summed exactly. So the image is the same bits for any number of ranks and threads.
use std::marker::PhantomData;
use std::time::Instant;

use super::context::Scalar;
use super::error::ImagingError;
use super::reduce::with_slab_transform;
use crate::dist::slab_fft::{transform_slab, SlabLayout, SlabTimes};
use crate::dist::{Dist, ExactSum};
use crate::grid::cpu::slab::{first_row, grid_slab_into, push_record, record_words, SlabTarget};
use crate::grid::{
    par_row_blocks, place_samples_in_plane, CpuStageTimes, GridCounts, GridError, GridGeometry,
    GridMode, Gridder,
};
use crate::vis::VisChunk;
use crate::wstack::WPlaneSel;

/// The sending half of record routing: places the samples of this rank's chunks as records
/// and keeps them until [`routed_image`] sends them to their owners.
pub struct RoutedGridder<T> {
    geom: GridGeometry,
    /// Records in wire form, in this rank's sample order.
    records: Vec<u32>,
    /// Rows touched by some footprint: `lo..hi` (empty: `nv..0`).
    lo: usize,
    hi: usize,
    /// Exact sum of the weights of the samples placed.
    weights: ExactSum,
    /// Placing samples (sort) and gridding slabs (spread), seconds.
    times: CpuStageTimes,
    _t: PhantomData<T>,
}

/// What a block of rows became.
struct Block {
    counts: GridCounts,
    records: Vec<u32>,
    weights: ExactSum,
    lo: usize,
    hi: usize,
}

impl<T: Scalar> RoutedGridder<T> {
    /// An empty gridder for `geom`.
    pub fn new(geom: GridGeometry) -> Self {
        let nv = geom.nv;
        Self {
            geom,
            records: Vec::new(),
            lo: nv,
            hi: 0,
            weights: ExactSum::default(),
            times: CpuStageTimes::default(),
            _t: PhantomData,
        }
    }

    /// Seconds spent placing samples and gridding slabs.
    pub fn times(&self) -> CpuStageTimes {
        self.times
    }

    /// The exact sum over all ranks of the weights placed (a collective).
    pub fn global_weight_sum(&self, dist: &Dist) -> f64 {
        dist.all_exact_sum(&self.weights)
    }
}

impl<T: Scalar> Gridder<T> for RoutedGridder<T> {
    fn grid(
        &mut self,
        chunk: &VisChunk,
        freq_hz: &[f64],
        mode: GridMode,
        plane: Option<&WPlaneSel>,
    ) -> Result<GridCounts, GridError> {
        if plane.is_some() {
            return Err(GridError::Geometry(
                "record routing images in 2-D only (no w-plane)".into(),
            ));
        }
        let t = Instant::now();
        let g = &self.geom;
        let (nv, width) = (g.nv, g.kernel.width);
        let blocks = par_row_blocks(chunk.nrow(), |rows| {
            let mut b = Block {
                counts: GridCounts::default(),
                records: Vec::new(),
                weights: ExactSum::default(),
                lo: nv,
                hi: 0,
            };
            b.counts = place_samples_in_plane(g, chunk, freq_hz, rows, mode, None, |p| {
                let at = b.records.len();
                push_record::<T>(&p, &mut b.records);
                b.weights.add(p.weight);
                let r0 = first_row(g, &b.records[at..]);
                if r0 + width > nv {
                    // The footprint wraps round the grid edge.
                    (b.lo, b.hi) = (0, nv);
                } else {
                    (b.lo, b.hi) = (b.lo.min(r0), b.hi.max(r0 + width));
                }
            });
            b
        });
        let mut counts = GridCounts::default();
        for b in blocks {
            counts.merge(&b.counts);
            self.records.extend_from_slice(&b.records);
            self.weights.merge(&b.weights);
            (self.lo, self.hi) = (self.lo.min(b.lo), self.hi.max(b.hi));
        }
        self.times.sort_s += t.elapsed().as_secs_f64();
        Ok(counts)
    }

    fn finish(&mut self) -> Result<(), GridError> {
        Ok(())
    }

    fn clear(&mut self) -> Result<(), GridError> {
        self.records = Vec::new();
        (self.lo, self.hi) = (self.geom.nv, 0);
        self.weights = ExactSum::default();
        Ok(())
    }

    fn geometry(&self) -> &GridGeometry {
        &self.geom
    }
}

/// Seconds of [`routed_image`] on this rank.
#[derive(Clone, Copy, Debug, Default)]
pub struct RoutedTimes {
    /// Band agreement, sorting records by owner and the all-to-all of the records.
    pub route_s: f64,
    /// Gridding the received records onto this rank's slab.
    pub grid_s: f64,
    /// The slab FFT's steps.
    pub slab: SlabTimes,
}

/// Records received per rank and round in the plain `route` mode, bytes at most (records
/// straddling slab edges counted once per owner aside).
const ROUND_BYTES: usize = 16 << 20;

/// [`ROUND_BYTES`], or `RIMAGER_ROUTE_ROUND_BYTES` where set (tests and tuning).
fn round_bytes() -> usize {
    std::env::var("RIMAGER_ROUTE_ROUND_BYTES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&b| b > 0)
        .unwrap_or(ROUND_BYTES)
}

/// Modelled owner cost of one record, ns per kernel cell (× W²): kernel evaluation and the
/// tile's cell additions, calibrated on one core (AMD EPYC, float32).
const RECORD_NS_PER_CELL: f64 = 2.0;
/// Modelled owner cost of one record beyond its cells (decoding and sorting), ns.
const RECORD_NS: f64 = 10.0;
/// Modelled row FFT cost, ns per `nu log2 nu` (the slab FFT stage of equal-row layouts took
/// 0.7–1.0 ns per point and log₂ on the same machine).
const ROW_FFT_NS: f64 = 1.0;

/// The slab layout of the band for record routing, balanced on the owners' modelled cost: a
/// global histogram of records by the first row of their footprint (this rank's counts
/// summed over ranks with one allreduce, exact in `f64`) gives, for a slab `a..b`, the
/// records it grids — those starting in `a − W + 1 .. b` — and the owner's cost is modelled
/// as `records × (W² · RECORD_NS_PER_CELL + RECORD_NS) + rows × ROW_FFT_NS · nu log2 nu`;
/// [`SlabLayout::balanced`] minimises the largest. The column FFTs after the transpose keep
/// their equal split. The layout depends on the data only through the global histogram, and
/// the image's bits do not depend on the layout at all.
fn balanced_layout<T: Scalar>(
    dist: &Dist,
    records: &[u32],
    band: std::ops::Range<usize>,
    geom: &GridGeometry,
) -> SlabLayout {
    let (nv, width, nu) = (geom.nv, geom.kernel.width, geom.nu);
    if dist.size() == 1 || band.is_empty() {
        return SlabLayout::new(band, geom.nx, dist.size());
    }
    let mut hist = vec![0.0f64; nv];
    for w in records.chunks_exact(record_words::<T>()) {
        hist[first_row(geom, w)] += 1.0;
    }
    dist.all_sum_f64(&mut hist);
    // prefix[v] = records whose footprint starts before row v.
    let mut prefix = Vec::with_capacity(nv + 1);
    prefix.push(0.0f64);
    for h in &hist {
        prefix.push(prefix[prefix.len() - 1] + h);
    }
    let per_record = (width * width) as f64 * RECORD_NS_PER_CELL + RECORD_NS;
    let per_row = ROW_FFT_NS * nu as f64 * (nu.max(2) as f64).log2();
    SlabLayout::balanced(band, geom.nx, dist.size(), |r| {
        if r.is_empty() {
            return 0.0;
        }
        let n = prefix[r.end] - prefix[r.start.saturating_sub(width - 1)];
        n * per_record + r.len() as f64 * per_row
    })
}

/// The owner of every row of `layout.band` (index `row − band.start`).
fn row_owners(layout: &SlabLayout) -> Vec<u32> {
    let mut owner = vec![0u32; layout.band.len()];
    for (q, r) in layout.rows.iter().enumerate() {
        for v in r.clone() {
            owner[v - layout.band.start] = q as u32;
        }
    }
    owner
}

/// Calls `f(q)` once for each rank `q` owning a row of the `width`-row footprint starting at
/// row `r0` (wrapping at `nv`), in the order the footprint's rows meet them.
fn for_each_owner(
    layout: &SlabLayout,
    owner: &[u32],
    (r0, width, nv): (usize, usize, usize),
    mut f: impl FnMut(usize),
) {
    let b0 = layout.band.start;
    // At most one owner per footprint row (W ≤ 16 rows).
    let mut seen = [u32::MAX; crate::kernel::MAX_WIDTH];
    let mut n = 0;
    let segs = [r0..(r0 + width).min(nv), 0..(r0 + width).saturating_sub(nv)];
    for v in segs.into_iter().flatten() {
        let Some(&q) = v.checked_sub(b0).and_then(|i| owner.get(i)) else {
            continue;
        };
        if n < seen.len() && !seen[..n].contains(&q) {
            seen[n] = q;
            n += 1;
            f(q as usize);
        }
    }
}

/// Routes the records of `g` to their slab owners over the ranks of `dist`, grids every slab
/// on its owner and transforms with the slab FFT (grid correction of `g`'s kernel and `scale`
/// included); the image on rank 0, `None` elsewhere. The records are consumed.
pub fn routed_image<T: Scalar>(
    dist: &Dist,
    g: &mut RoutedGridder<T>,
    scale: f64,
    reproducible: bool,
) -> Result<(Option<Vec<f64>>, RoutedTimes), ImagingError> {
    let mut times = RoutedTimes::default();
    let t = Instant::now();
    let geom = g.geom.clone();
    let (nv, width) = (geom.nv, geom.kernel.width);
    let lo = dist.all_min_f64(g.lo as f64) as usize;
    let hi = dist.all_max_f64(g.hi as f64) as usize;
    let band = if lo < hi { lo..hi } else { 0..0 };
    let nw = record_words::<T>();
    let layout = balanced_layout::<T>(dist, &g.records, band, &geom);
    let records = std::mem::take(&mut g.records);
    let mine = layout.rows[dist.rank()].clone();
    let mut slab = crate::resources::zeroed_huge_vec(mine.len() * geom.nu);
    // Reproducible: one exchange of the whole pass, so that each owner receives every tile's
    // records in global sample order. Plain route: rounds of at most ROUND_BYTES received per
    // rank (each rank sends ROUND_BYTES / ranks of its records per round), each gridded into
    // the slab before the next (a tile's sum then follows round order, not sample order).
    let per_round = if reproducible || dist.size() == 1 {
        usize::MAX
    } else {
        (round_bytes() / (4 * nw) / dist.size()).max(1)
    };
    let n = records.len() / nw;
    let rounds = if per_round == usize::MAX {
        1
    } else {
        dist.all_max_f64(n.div_ceil(per_round) as f64) as usize
    };
    let mut received = 0;
    times.route_s += t.elapsed().as_secs_f64();
    for k in 0..rounds {
        let t = Instant::now();
        let r = (k * per_round).min(n)..(k.saturating_add(1).saturating_mul(per_round)).min(n);
        let mine_words = &records[r.start * nw..r.end * nw];
        let recv = if dist.size() == 1 {
            // One rank owns the whole band: its records as they are.
            None
        } else {
            Some(exchange(dist, mine_words, &layout, (nw, width, nv), &geom))
        };
        times.route_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let recv = recv.as_deref().unwrap_or(mine_words);
        received += recv.len() / nw;
        let target = SlabTarget {
            cells: &mut slab,
            rows: mine.clone(),
            split_heavy: !reproducible,
        };
        grid_slab_into::<T>(&geom, recv, target)?;
        times.grid_s += t.elapsed().as_secs_f64();
    }
    drop(records);
    g.times.spread_s += times.grid_s;
    if dist.is_root() {
        let empty = layout.rows.iter().filter(|r| r.is_empty()).count();
        tracing::debug!(
            "routing: band {:?} of {nv} rows, slabs {:?}, {empty} rank(s) without rows, {received} \
             records gridded by rank 0 in {rounds} round(s) (routing {:.3} s, gridding {:.3} s)",
            layout.band,
            layout.rows,
            times.route_s,
            times.grid_s
        );
    }

    let (image, slab_times) =
        with_slab_transform(&geom, scale, |tr| transform_slab(dist, slab, &layout, tr));
    times.slab = slab_times;
    Ok((image, times))
}

/// Sends each record of `records` (this rank's, `nw` words each, in sample order) to the
/// owner(s) of the rows its `width`-row footprint touches: the counts first (one per rank),
/// then the records, both with `MPI_Alltoallv`. Returns the records this rank owns: rank 0's
/// first, then rank 1's, …, each rank's in its sample order.
fn exchange(
    dist: &Dist,
    records: &[u32],
    layout: &SlabLayout,
    (nw, width, nv): (usize, usize, usize),
    geom: &GridGeometry,
) -> Vec<u32> {
    let owner = row_owners(layout);
    // Each record's owners, counted then placed (in this rank's sample order per owner).
    let mut send_counts = vec![0usize; dist.size()];
    for w in records.chunks_exact(nw) {
        let r0 = first_row(geom, w);
        for_each_owner(layout, &owner, (r0, width, nv), |q| send_counts[q] += nw);
    }
    let mut cursor = offsets(&send_counts);
    let mut send = vec![0u32; send_counts.iter().sum()];
    for w in records.chunks_exact(nw) {
        let r0 = first_row(geom, w);
        for_each_owner(layout, &owner, (r0, width, nv), |q| {
            send[cursor[q]..cursor[q] + nw].copy_from_slice(w);
            cursor[q] += nw;
        });
    }
    let sc: Vec<u64> = send_counts.iter().map(|&c| c as u64).collect();
    let mut rc = vec![0u64; dist.size()];
    let ones = vec![1usize; dist.size()];
    dist.all_to_all(&sc, &ones, &mut rc, &ones);
    let recv_counts: Vec<usize> = rc.iter().map(|&c| c as usize).collect();
    let mut recv = vec![0u32; recv_counts.iter().sum()];
    dist.all_to_all(&send, &send_counts, &mut recv, &recv_counts);
    recv
}

/// Offsets of consecutive blocks of `counts`.
fn offsets(counts: &[usize]) -> Vec<usize> {
    counts
        .iter()
        .scan(0, |s, &c| {
            let o = *s;
            *s += c;
            Some(o)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_of_footprints_across_slab_edges_and_the_wrap() {
        // Band 2..14 over 4 ranks: rows 2..5, 5..8, 8..11, 11..14.
        let layout = SlabLayout::new(2..14, 8, 4);
        let owner = row_owners(&layout);
        let got = |r0, w, nv| {
            let mut v = Vec::new();
            for_each_owner(&layout, &owner, (r0, w, nv), |q| v.push(q));
            v
        };
        assert_eq!(got(2, 3, 16), vec![0]);
        assert_eq!(got(4, 3, 16), vec![0, 1]);
        assert_eq!(got(3, 9, 16), vec![0, 1, 2, 3]);
        // One rank owning the whole grid, a wrapped footprint: sent once.
        let one = SlabLayout::new(0..16, 8, 1);
        let o1 = row_owners(&one);
        let mut v = Vec::new();
        for_each_owner(&one, &o1, (14, 4, 16), |q| v.push(q));
        assert_eq!(v, vec![0]);
        // Two ranks, wrapped footprint touching both ends: rank 1 then rank 0, once each.
        let two = SlabLayout::new(0..16, 8, 2);
        let o2 = row_owners(&two);
        let mut v = Vec::new();
        for_each_owner(&two, &o2, (14, 4, 16), |q| v.push(q));
        assert_eq!(v, vec![1, 0]);
    }
}
