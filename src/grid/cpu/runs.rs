//! Tile-sorted runs of sample records: each chunk becomes one [`Run`], its records in the
//! order (tile, row) by a two-pass parallel counting sort, in buffers recycled from run to run
//! (no allocation per chunk once warm).
//!
//! Pass 1 places every sample once ([`place_samples_in_plane`]), keeps its record and its
//! tile in sample order in a reused scratch buffer, and counts the samples of every tile in
//! each of `B` contiguous row blocks (one histogram per block); an exclusive scan in
//! (tile, block) order turns the histograms into write cursors; pass 2 copies each record to
//! its block's cursor for its tile (a scatter, no second placement). Because blocks are
//! contiguous and in row order, the result is ordered by (tile, row) whatever `B` is: the
//! record order, and so the image, does not depend on the thread count (the same counting
//! sort ducc0's wgridder builds its index with).
use rayon::prelude::*;

use crate::grid::geometry::GridGeometry;
use crate::grid::place::{place_samples_in_plane, GridCounts, GridMode, Placed};
use crate::real::Real;
use crate::vis::{split_range, VisChunk};
use crate::wstack::WPlaneSel;

/// One sample ready for gridding.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Record<T> {
    /// Footprint start relative to the tile origin, cells.
    pub du: u16,
    /// As `du`, along v.
    pub dv: u16,
    /// Fractional offsets in [0, 1).
    pub su: T,
    /// As `su`, along v.
    pub sv: T,
    /// Weighted value, real part.
    pub re: T,
    /// Weighted value, imaginary part.
    pub im: T,
}

impl<T: Real> Record<T> {
    #[inline(always)]
    pub(super) fn from_placed(p: &Placed) -> Self {
        let t = |x: f64| T::from_f64(x).unwrap_or_default();
        Record {
            du: p.du as u16,
            dv: p.dv as u16,
            su: t(p.su),
            sv: t(p.sv),
            re: t(p.re),
            im: t(p.im),
        }
    }
}

/// The records of one chunk sorted by tile.
#[derive(Default)]
pub(super) struct Run<T> {
    /// Records in (tile, row) order.
    pub records: Vec<Record<T>>,
    /// `tile_start[t] .. tile_start[t + 1]` are tile `t`'s records (`ntiles + 1` entries).
    pub tile_start: Vec<u32>,
}

impl<T> Run<T> {
    /// Tile `t`'s records.
    #[inline]
    pub fn tile(&self, t: usize) -> &[Record<T>] {
        &self.records[self.tile_start[t] as usize..self.tile_start[t + 1] as usize]
    }
}

/// Scratch reused by every call of [`build_run`] (grown, never shrunk: its pages are touched
/// once per run of the program, not once per chunk or batch).
pub(super) struct RunScratch<T> {
    /// `[block][tile]`: counts after pass 1, write cursors after the scan.
    hist: Vec<u32>,
    /// Pass 1's records in sample order, each block from its first sample's slot on.
    unsorted: Vec<Record<T>>,
    /// The tile of each record of `unsorted`.
    tiles: Vec<u32>,
}

impl<T> Default for RunScratch<T> {
    fn default() -> Self {
        Self {
            hist: Vec::new(),
            unsorted: Vec::new(),
            tiles: Vec::new(),
        }
    }
}

/// A raw pointer to a run's records that the blocks of pass 2 write through.
#[derive(Clone, Copy)]
struct SharedRecords<T>(*mut Record<T>);
// SAFETY: pass 2 writes record slots through this pointer; every slot is written by exactly
// one block (the cursors of different (tile, block) pairs cover disjoint ranges), so sharing
// the pointer across the blocks' threads is sound.
unsafe impl<T: Send> Send for SharedRecords<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for SharedRecords<T> {}

impl<T> SharedRecords<T> {
    /// Writes slot `i`.
    ///
    /// # Safety
    /// `i` must be below the buffer's capacity, and no other thread may access slot `i`.
    #[inline(always)]
    unsafe fn write(&self, i: usize, r: Record<T>) {
        // SAFETY: in bounds and exclusive, by the caller's contract.
        unsafe { self.0.add(i).write(r) }
    }
}

/// A raw pointer to the histograms (or tile starts) that the scan's tasks update, each its
/// own range of tiles.
#[derive(Clone, Copy)]
struct SharedCursors(*mut u32);
// SAFETY: the scan's tasks touch disjoint index sets through this pointer (see its use).
unsafe impl Send for SharedCursors {}
// SAFETY: as above.
unsafe impl Sync for SharedCursors {}

impl SharedCursors {
    /// # Safety
    /// `i` in bounds, and no other thread accessing index `i`.
    #[inline(always)]
    unsafe fn get(&self, i: usize) -> u32 {
        // SAFETY: by the caller's contract.
        unsafe { *self.0.add(i) }
    }

    /// # Safety
    /// As [`SharedCursors::get`].
    #[inline(always)]
    unsafe fn set(&self, i: usize, v: u32) {
        // SAFETY: by the caller's contract.
        unsafe { *self.0.add(i) = v }
    }
}

/// Sorts the samples of `chunk` (only those of w-plane `plane` when set) into `run`, whose
/// buffers are reused; returns the counts of the samples seen.
pub(super) fn build_run<T: Real>(
    geom: &GridGeometry,
    chunk: &VisChunk,
    freq_hz: &[f64],
    mode: GridMode,
    plane: Option<&WPlaneSel>,
    run: &mut Run<T>,
    scratch: &mut RunScratch<T>,
) -> GridCounts {
    let ntiles = (geom.nu / geom.tile) * (geom.nv / geom.tile);
    let nrow = chunk.nrow();
    let nchan = freq_hz.len();
    // One block per thread (the work per row is uniform), at least 1024 rows each; blocks
    // of `block_rows` rows, the last one shorter.
    let block_rows = nrow
        .div_ceil(rayon::current_num_threads().min(nrow / 1024).max(1))
        .max(1);
    let nblocks = nrow.div_ceil(block_rows).max(1);
    let block_samples = (block_rows * nchan).max(1);
    let nsamples = nrow * nchan;
    let RunScratch {
        hist,
        unsorted,
        tiles,
    } = scratch;
    if hist.len() != nblocks * ntiles {
        hist.clear();
        hist.resize(nblocks * ntiles, 0);
    } else {
        hist.par_chunks_mut(ntiles).for_each(|h| h.fill(0));
    }
    if unsorted.len() < nsamples {
        crate::resources::reserve_huge(unsorted, nsamples);
        crate::resources::reserve_huge(tiles, nsamples);
        unsorted.resize(nsamples, Record::default());
        tiles.resize(nsamples, 0);
    }

    // Pass 1: every sample placed once; its record and tile kept in sample order, and the
    // per-block tile histograms and counts.
    let counts: Vec<(GridCounts, usize)> = hist
        .par_chunks_mut(ntiles)
        .zip(unsorted[..nsamples].par_chunks_mut(block_samples))
        .zip(tiles[..nsamples].par_chunks_mut(block_samples))
        .enumerate()
        .map(|(b, ((h, recs), tile_of))| {
            let rows = b * block_rows..((b + 1) * block_rows).min(nrow);
            let mut n = 0;
            let c = place_samples_in_plane(geom, chunk, freq_hz, rows, mode, plane, |p| {
                h[p.tile as usize] += 1;
                recs[n] = Record::from_placed(&p);
                tile_of[n] = p.tile;
                n += 1;
            });
            (c, n)
        })
        .collect();
    let mut total = GridCounts::default();
    counts.iter().for_each(|(c, _)| total.merge(c));

    // Scan in (tile, block) order: tile_start[t], and block b's cursor for tile t; in
    // parallel over ranges of tiles (each range's total first, then the ranges in order).
    let tile_start = &mut run.tile_start;
    tile_start.clear();
    tile_start.resize(ntiles + 1, 0);
    let nranges = (4 * rayon::current_num_threads()).min(ntiles).max(1);
    let range = |k: usize| split_range(ntiles, nranges, k);
    let hist_ro: &[u32] = hist;
    let totals: Vec<u32> = (0..nranges)
        .into_par_iter()
        .map(|k| {
            (0..nblocks)
                .map(|b| hist_ro[b * ntiles..][range(k)].iter().sum::<u32>())
                .sum()
        })
        .collect();
    let mut firsts = Vec::with_capacity(nranges);
    let mut next = 0u32;
    for t in &totals {
        firsts.push(next);
        next += t;
    }
    let nrec = next as usize;
    tile_start[ntiles] = next;
    let cursors = SharedCursors(hist.as_mut_ptr());
    let starts = SharedCursors(tile_start.as_mut_ptr());
    (0..nranges).into_par_iter().for_each(|k| {
        let mut next = firsts[k];
        for t in range(k) {
            // SAFETY: range k's tiles are written by this task only (ranges are disjoint),
            // at indices t < ntiles of tile_start and b·ntiles + t < nblocks·ntiles of hist.
            unsafe {
                starts.set(t, next);
                for b in 0..nblocks {
                    let n = cursors.get(b * ntiles + t);
                    cursors.set(b * ntiles + t, next);
                    next += n;
                }
            }
        }
    });

    // Pass 2: every record copied to its cursor.
    run.records.clear();
    crate::resources::reserve_huge(&mut run.records, nrec);
    let out = SharedRecords(run.records.as_mut_ptr());
    hist.par_chunks_mut(ntiles)
        .zip(unsorted[..nsamples].par_chunks(block_samples))
        .zip(tiles[..nsamples].par_chunks(block_samples))
        .zip(&counts)
        .for_each(|(((cursor, recs), tile_of), &(_, n))| {
            for (r, &t) in recs[..n].iter().zip(&tile_of[..n]) {
                let c = &mut cursor[t as usize];
                // SAFETY: `*c < nrec` (the scan gives block b's records of tile t the slots
                // `[cursor, cursor + count)`, all below `nrec`, and pass 2 copies exactly the
                // records pass 1 counted); no other block writes these slots; the buffer has
                // capacity `nrec`.
                unsafe { out.write(*c as usize, *r) };
                *c += 1;
            }
        });
    // SAFETY: pass 2 wrote every slot in `0..nrec` exactly once (the cursors of all
    // (tile, block) pairs tile `0..nrec`), and `Record` has no drop glue.
    unsafe { run.records.set_len(nrec) };
    total
}
