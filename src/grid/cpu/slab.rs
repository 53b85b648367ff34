//! The grid half of record routing (`image.reduction = "route"`, `image.reproducible`): sample
//! records in a flat wire form that MPI can move (`u32` words), and the gridding of the
//! records a rank received onto its slab of grid rows only.
//!
//! A record is a placed sample ([`Placed`]): its global tile, its footprint start within the
//! tile, its fractional offsets and its weighted value, the last four already rounded to the
//! grid's precision, so every rank that grids it evaluates the same kernel values on the
//! same numbers. [`grid_slab`] sorts the records by tile with a stable parallel counting sort
//! (records of a tile stay in the order received, which the caller makes the global sample
//! order) and spreads them with the tiled colour passes of the CPU gridder in global tile
//! coordinates, adding only the rows of the slab; each tile is one sequential sum (no split of
//! heavy tiles into pieces), and the slab starts at zero and receives everything in one
//! spread. [`grid_slab_into`] adds to a slab instead, optionally splitting heavy tiles (the
//! plain `route` mode, which may also grid its records in several rounds). Every
//! cell's value is therefore the same sequence of floating-point additions whatever the
//! number of ranks (as long as they are given the records that touch their rows, in sample
//! order) and threads.
use std::ops::Range;

use num_complex::Complex;
use rayon::prelude::*;

use super::hot::KernelRows;
use super::runs::{Record, Run};
use super::spread::{spread_runs_into, SpreadTarget};
use crate::grid::error::GridError;
use crate::grid::geometry::GridGeometry;
use crate::grid::place::Placed;
use crate::real::Real;

/// `u32` words of one record of precision `T`: tile, `du | dv << 16`, then `su, sv, re, im`.
pub const fn record_words<T>() -> usize {
    2 + std::mem::size_of::<T>()
}

/// Appends the wire form of `p` (values rounded to `T`, as the gridder rounds them).
#[inline]
pub fn push_record<T: Real>(p: &Placed, out: &mut Vec<u32>) {
    let r = Record::<T>::from_placed(p);
    out.push(p.tile);
    out.push(u32::from(r.du) | (u32::from(r.dv) << 16));
    out.extend_from_slice(bytemuck::cast_slice(&[r.su, r.sv, r.re, r.im]));
}

/// The first grid row (v) of the footprint of a record in wire form; the footprint covers
/// `W` rows from there, wrapping at the grid edge.
#[inline]
pub fn first_row(geom: &GridGeometry, words: &[u32]) -> usize {
    let ntu = geom.nu / geom.tile;
    (words[0] as usize / ntu) * geom.tile + (words[1] >> 16) as usize
}

fn decode<T: Real>(w: &[u32]) -> Record<T> {
    let bytes: &[u8] = bytemuck::cast_slice(&w[2..]);
    let n = std::mem::size_of::<T>();
    let v = |i: usize| bytemuck::pod_read_unaligned::<T>(&bytes[i * n..(i + 1) * n]);
    Record {
        du: (w[1] & 0xffff) as u16,
        dv: (w[1] >> 16) as u16,
        su: v(0),
        sv: v(1),
        re: v(2),
        im: v(3),
    }
}

/// Where [`grid_slab_into`] adds: a slab of grid rows and how heavy tiles are gridded.
pub struct SlabTarget<'a, T> {
    /// The `rows.len() × nu` cells of the slab, row-major.
    pub cells: &'a mut [Complex<T>],
    /// The slab's grid rows.
    pub rows: Range<usize>,
    /// Split tiles with many records into pieces gridded in parallel, as the default CPU
    /// gridder does (faster on a few dense tiles; the sums then depend on where the pieces
    /// start, so not for the reproducible mode).
    pub split_heavy: bool,
}

/// Records per block of the parallel counting sort, at least.
const SORT_BLOCK: usize = 1 << 14;

/// A raw pointer to the sorted records, shared by the scatter's threads.
#[derive(Clone, Copy)]
struct SharedRecords<T>(*mut Record<T>);
// SAFETY: every thread of the scatter writes a disjoint set of indices (see `sort_by_tile`).
unsafe impl<T: Send> Send for SharedRecords<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for SharedRecords<T> {}

impl<T> SharedRecords<T> {
    /// The pointer (a method, so that closures capture the whole `Sync` wrapper).
    fn ptr(self) -> *mut Record<T> {
        self.0
    }
}

/// Decodes `records` (wire form, `nw` words each) and sorts them by tile with a stable
/// parallel counting sort (radix sort's scatter pass): the records are cut into contiguous
/// blocks, one per thread; each block counts its tiles (a histogram per block); the prefix
/// sums over (tile, block) give each block its own write cursor per tile; each block then
/// scatters its records in order. The records of a tile therefore keep their input order
/// (block order, then order within the block) whatever the number of threads.
fn sort_by_tile<T: Real>(records: &[u32], ntiles: usize) -> Result<Run<T>, GridError> {
    let nw = record_words::<T>();
    let n = records.len() / nw;
    if n > u32::MAX as usize {
        return Err(GridError::Geometry(format!(
            "{n} records for one slab: more than 2^32"
        )));
    }
    let nblocks = rayon::current_num_threads()
        .min(n.div_ceil(SORT_BLOCK))
        .max(1);
    let block = |b: usize| {
        let r = crate::vis::split_range(n, nblocks, b);
        &records[r.start * nw..r.end * nw]
    };
    // 1. A histogram of tiles per block.
    let mut cursors = (0..nblocks)
        .into_par_iter()
        .map(|b| {
            let mut h = vec![0u32; ntiles];
            for w in block(b).chunks_exact(nw) {
                let t = w[0] as usize;
                let Some(c) = h.get_mut(t) else {
                    return Err(GridError::Geometry(format!(
                        "routed record for tile {t} of a grid of {ntiles} tiles"
                    )));
                };
                *c += 1;
            }
            Ok(h)
        })
        .collect::<Result<Vec<_>, _>>()?;
    // 2. Tile starts, and each block's first slot per tile (the histograms become cursors).
    let mut start = vec![0u32; ntiles + 1];
    for t in 0..ntiles {
        let mut c = start[t];
        for h in cursors.iter_mut() {
            let k = h[t];
            h[t] = c;
            c += k;
        }
        start[t + 1] = c;
    }
    // 3. Scatter, every block in parallel.
    let mut sorted = vec![Record::<T>::default(); n];
    let out = SharedRecords(sorted.as_mut_ptr());
    cursors.par_iter_mut().enumerate().for_each(|(b, cur)| {
        for w in block(b).chunks_exact(nw) {
            let c = &mut cur[w[0] as usize];
            // SAFETY: block b writes tile t's slots `cursor[b][t] .. cursor[b][t] + hist[b][t]`,
            // which the prefix sums make disjoint from every other (block, tile) pair's and
            // below `start[ntiles] = n`, the length of `sorted`, which outlives the scatter.
            unsafe { out.ptr().add(*c as usize).write(decode(w)) };
            *c += 1;
        }
    });
    Ok(Run {
        records: sorted,
        tile_start: start,
    })
}

/// Grids `records` (wire form, [`record_words`] each, in the order their sums must follow)
/// onto grid rows `rows`: returns the `rows.len() × nu` slab, row-major (heavy tiles not
/// split: see [`grid_slab_into`]).
pub fn grid_slab<T: Real>(
    geom: &GridGeometry,
    records: &[u32],
    rows: Range<usize>,
) -> Result<Vec<Complex<T>>, GridError> {
    let mut cells = crate::resources::zeroed_huge_vec::<Complex<T>>(rows.len() * geom.nu);
    let target = SlabTarget {
        cells: &mut cells,
        rows,
        split_heavy: false,
    };
    grid_slab_into(geom, records, target)?;
    Ok(cells)
}

/// Adds `records` (wire form, [`record_words`] each, in the order their sums must follow)
/// to the slab `target`: a stable parallel counting sort by tile ([`sort_by_tile`]), then the
/// tiled colour passes in global tile coordinates. Records may touch rows outside the slab;
/// those cells are dropped. Without `split_heavy`, each tile is one sequential sum in record
/// order. Fails on a record whose tile is not one of the grid's.
pub fn grid_slab_into<T: Real>(
    geom: &GridGeometry,
    records: &[u32],
    target: SlabTarget<T>,
) -> Result<(), GridError> {
    let ntiles = (geom.nu / geom.tile) * (geom.nv / geom.tile);
    let run = sort_by_tile::<T>(records, ntiles)?;
    let kernel = KernelRows::new(&geom.poly.coeffs, geom.kernel.width);
    let target = SpreadTarget {
        cells: target.cells,
        rows: target.rows,
        split_heavy: target.split_heavy,
    };
    spread_runs_into(geom, &kernel, target, std::slice::from_ref(&run));
    Ok(())
}
