//! Spreading tile-sorted runs onto the grid: every tile's records are gridded into a small
//! private buffer of `(T + WP − 1)²` cells that stays in L1/L2 cache, which is then added to
//! the grid once. Tiles are processed in four colour passes, `(tu mod 2, tv mod 2)`; because
//! `WP − 1 ≤ T` the footprints of tiles of one colour never overlap, so no lock or atomic is
//! taken for a sample or a cell. Within a pass the tiles are handed out dynamically by rayon's
//! work stealing, the most loaded first, and a tile holding more than [`PIECE`] records is
//! itself split into pieces gridded in parallel and summed in order (ducc0's wgridder also
//! hands out work dynamically; it locks grid rows when it flushes a buffer instead).
//!
//! Nothing here depends on the thread count: which records a tile or piece holds and the
//! order of every sum are fixed by the data, so the image is the same for any thread count.
use num_complex::Complex;
use rayon::prelude::*;

use super::hot::{grid_slices, KernelRows};
use super::runs::{Record, Run};
use crate::grid::geometry::GridGeometry;
use crate::real::Real;

/// Records above which a tile is split into pieces gridded in parallel.
const PIECE: usize = 1 << 15;

/// A raw pointer to the `nv × nu` grid, or to a slab of its rows, shared by the threads of
/// one colour pass.
#[derive(Clone, Copy)]
struct SharedGrid<T> {
    ptr: *mut Complex<T>,
    nu: usize,
    nv: usize,
    /// First grid row held (0 for the whole grid).
    first_row: usize,
    /// Rows held from `first_row` (`nv` for the whole grid).
    rows: usize,
}

impl<T> SharedGrid<T> {
    /// Where grid row `v` (`< nv`) is held, if it is.
    #[inline(always)]
    fn local_row(&self, v: usize) -> Option<usize> {
        let r = v.wrapping_sub(self.first_row);
        (r < self.rows).then_some(r)
    }
}

/// Where [`spread_runs_into`] adds: a slab of grid rows (the whole grid is the slab
/// `0..nv`), and whether heavy tiles are split into pieces gridded in parallel.
pub(super) struct SpreadTarget<'a, T> {
    /// `rows.len() × nu` cells, row-major: grid rows `rows`.
    pub cells: &'a mut [Complex<T>],
    /// The grid rows held.
    pub rows: std::ops::Range<usize>,
    /// Split tiles of more than [`PIECE`] records into pieces summed in order. The pieces
    /// depend on the tile's records, so the reproducible mode (where a rank holds only the
    /// records that touch its slab) turns this off: each tile is then one sequential sum in
    /// record order.
    pub split_heavy: bool,
}
// SAFETY: the pointer is only dereferenced inside `add_tile`, and concurrent calls within one
// colour pass touch disjoint cells (see the module docs), so sharing it across threads is sound.
unsafe impl<T: Send> Send for SharedGrid<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for SharedGrid<T> {}

/// Part of a tile buffer that records touched: `[u0, u1) × [v0, v1)`.
struct BBox {
    u0: usize,
    v0: usize,
    u1: usize,
    v1: usize,
}

/// Adds the records of all `runs` to `grid` (`nv × nu`) tile by tile in four colour passes.
pub(super) fn spread_runs<T: Real>(
    geom: &GridGeometry,
    kernel: &KernelRows<T>,
    grid: &mut [Complex<T>],
    runs: &[Run<T>],
) {
    let target = SpreadTarget {
        cells: grid,
        rows: 0..geom.nv,
        split_heavy: true,
    };
    spread_runs_into(geom, kernel, target, runs);
}

/// [`spread_runs`] into a slab of grid rows: tiles are gridded whole (global tile
/// coordinates) and only the cells of the slab's rows are added.
pub(super) fn spread_runs_into<T: Real>(
    geom: &GridGeometry,
    kernel: &KernelRows<T>,
    target: SpreadTarget<T>,
    runs: &[Run<T>],
) {
    let (nu, nv, tile) = (geom.nu, geom.nv, geom.tile);
    let (ntu, ntv) = (nu / tile, nv / tile);
    let ntiles = ntu * ntv;
    if runs.is_empty() {
        return;
    }
    let per_tile: Vec<usize> = (0..ntiles)
        .into_par_iter()
        .map(|t| runs.iter().map(|r| r.tile(t).len()).sum())
        .collect();
    let (rows, split_heavy) = (target.rows.clone(), target.split_heavy);
    assert!(rows.end <= nv, "slab within the grid");
    assert_eq!(
        target.cells.len(),
        nu * rows.len(),
        "slab of {nu}x{} cells",
        rows.len()
    );
    let grid = SharedGrid {
        ptr: target.cells.as_mut_ptr(),
        nu,
        nv,
        first_row: rows.start,
        rows: rows.len(),
    };
    let (width, wp) = (geom.kernel.width, kernel.padded());
    let bw = tile + wp - 1;
    for colour in 0..4 {
        let mut tiles: Vec<usize> = (0..ntiles)
            .into_par_iter()
            .filter(|&t| {
                per_tile[t] > 0 && (t % ntu) % 2 == colour % 2 && (t / ntu) % 2 == colour / 2
            })
            .collect();
        // Most loaded first, so the last tiles handed out are the short ones.
        tiles.par_sort_unstable_by_key(|&t| std::cmp::Reverse((per_tile[t], t)));
        tiles.par_iter().for_each_init(
            || vec![T::zero(); 2 * bw * bw],
            |buf, &t| {
                let slices: Vec<&[Record<T>]> = runs
                    .iter()
                    .map(|r| r.tile(t))
                    .filter(|s| !s.is_empty())
                    .collect();
                let bbox = footprint_box(&slices, width, wp);
                let (tu, tv) = (t % ntu, t / ntu);
                // The grid cells the flush will add to are fetched while the kernel loop runs.
                prefetch_cells(grid, bw, &bbox, tu * tile, tv * tile);
                if split_heavy && per_tile[t] > PIECE {
                    grid_in_pieces(kernel, &slices, bw, buf);
                } else {
                    grid_slices(kernel, &slices, bw, buf);
                }
                // SAFETY: tiles of one colour have disjoint footprints (tile ≥ padded W − 1
                // and an even number of tiles per axis), so no other thread touches these
                // cells during this pass; `add_tile` keeps every index below nu·rows.
                unsafe { add_tile(grid, buf, bw, &bbox, tu * tile, tv * tile) };
            },
        );
    }
}

/// Asks the CPU to bring into its L2 cache the grid cells under the `bbox` part of a tile
/// buffer at grid corner `(u0, v0)` (a hint: no memory is read or written).
#[inline]
fn prefetch_cells<T>(grid: SharedGrid<T>, bw: usize, bbox: &BBox, u0: usize, v0: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
        let nu = grid.nu;
        let nv = grid.nv;
        let u = (u0 + bbox.u0) % nu;
        let n = (bbox.u1.min(bw).saturating_sub(bbox.u0)).min(nu - u);
        let bytes = n * std::mem::size_of::<Complex<T>>();
        for j in bbox.v0..bbox.v1.min(bw) {
            let Some(lv) = grid.local_row((v0 + j) % nv) else {
                continue;
            };
            let row = grid.ptr.wrapping_add(lv * nu + u).cast::<i8>();
            for off in (0..bytes)
                .step_by(64)
                .chain(std::iter::once(bytes.saturating_sub(1)))
            {
                // SAFETY: prefetching is a hint that never faults or accesses memory
                // architecturally; the address is inside the grid anyway (u + n ≤ nu).
                unsafe { _mm_prefetch(row.wrapping_add(off), _MM_HINT_T1) };
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (grid, bw, bbox, u0, v0);
}

/// The part of a tile buffer the records of `slices` touch.
fn footprint_box<T>(slices: &[&[Record<T>]], width: usize, wp: usize) -> BBox {
    let mut bb = [u16::MAX, u16::MAX, 0u16, 0u16];
    for r in slices.iter().flat_map(|s| s.iter()) {
        bb = [
            bb[0].min(r.du),
            bb[1].min(r.dv),
            bb[2].max(r.du),
            bb[3].max(r.dv),
        ];
    }
    BBox {
        u0: bb[0] as usize,
        v0: bb[1] as usize,
        u1: bb[2] as usize + wp,
        v1: bb[3] as usize + width,
    }
}

/// Grids a heavy tile's records in pieces of [`PIECE`] records in parallel, each into its own
/// buffer, and adds the buffers to `buf` in piece order (a fixed order: the sum does not
/// depend on the thread count).
fn grid_in_pieces<T: Real>(
    kernel: &KernelRows<T>,
    slices: &[&[Record<T>]],
    bw: usize,
    buf: &mut [T],
) {
    let mut pieces: Vec<Vec<&[Record<T>]>> = vec![Vec::new()];
    let mut filled = 0;
    for s in slices {
        let mut s: &[Record<T>] = s;
        while !s.is_empty() {
            let take = (PIECE - filled).min(s.len());
            let (head, rest) = s.split_at(take);
            if let Some(p) = pieces.last_mut() {
                p.push(head);
            }
            filled += take;
            s = rest;
            if filled == PIECE {
                pieces.push(Vec::new());
                filled = 0;
            }
        }
    }
    let bufs: Vec<Vec<T>> = pieces
        .par_iter()
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut b = vec![T::zero(); 2 * bw * bw];
            grid_slices(kernel, p, bw, &mut b);
            b
        })
        .collect();
    for b in &bufs {
        buf.iter_mut().zip(b).for_each(|(x, &y)| *x = *x + y);
    }
}

/// Adds the `bbox` part of a planar `[re | im]` tile buffer of side `bw` at grid corner
/// `(u0, v0)`, wrapping, and zeroes that part of the buffer for the next tile.
///
/// # Safety
/// `grid.ptr` must point to `grid.nu · grid.rows` cells that no other thread accesses in the
/// buffer's footprint while this runs.
unsafe fn add_tile<T: Real>(
    grid: SharedGrid<T>,
    buf: &mut [T],
    bw: usize,
    bbox: &BBox,
    u0: usize,
    v0: usize,
) {
    let (nu, nv) = (grid.nu, grid.nv);
    let (re, im) = buf.split_at_mut(bw * bw);
    let (i0, i1) = (bbox.u0, bbox.u1.min(bw));
    for j in bbox.v0..bbox.v1.min(bw) {
        let (rrow, irow) = (
            &mut re[j * bw + i0..j * bw + i1],
            &mut im[j * bw + i0..j * bw + i1],
        );
        // Rows outside the slab held are another rank's: dropped (and zeroed for the next
        // tile).
        let Some(v) = grid.local_row((v0 + j) % nv) else {
            rrow.fill(T::zero());
            irow.fill(T::zero());
            continue;
        };
        // Cells u0 + i for i in i0..i1, split where the row wraps around the grid edge.
        let first = (u0 + i0) % nu;
        let straight = (nu - first).min(i1 - i0);
        for (start, range) in [(first, 0..straight), (0, straight..i1 - i0)] {
            if range.is_empty() {
                continue;
            }
            // SAFETY: v < rows and start + range.len() ≤ nu, so the cells are in bounds;
            // exclusivity is the caller's.
            let cells = unsafe {
                std::slice::from_raw_parts_mut(grid.ptr.add(v * nu + start), range.len())
            };
            for ((cell, r), i) in cells
                .iter_mut()
                .zip(&mut rrow[range.clone()])
                .zip(&mut irow[range])
            {
                cell.re = cell.re + *r;
                cell.im = cell.im + *i;
                *r = T::zero();
                *i = T::zero();
            }
        }
    }
}
