//! The grid half of record routing (`image.reduction = "route"`, `image.reproducible`): sample
//! records in a flat wire form that MPI can move (`u32` words), and the gridding of the
//! records a rank received onto its slab of grid rows only.
//!
//! A record is a placed sample ([`Placed`]): its global tile, its footprint start within the
//! tile, its fractional offsets and its weighted value, the last four already rounded to the
//! grid's precision, so every rank that grids it evaluates the same kernel values on the
//! same numbers. [`grid_slab`] sorts the records by tile with a stable counting sort (records
//! of a tile stay in the order received, which the caller makes the global sample order) and
//! spreads them with the tiled colour passes of the CPU gridder in global tile coordinates,
//! adding only the rows of the slab; each tile is one sequential sum (no split of heavy tiles
//! into pieces), and the slab starts at zero and receives everything in one spread. Every
//! cell's value is therefore the same sequence of floating-point additions whatever the
//! number of ranks (as long as they are given the records that touch their rows, in sample
//! order) and threads.
use std::ops::Range;

use num_complex::Complex;

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

/// Grids `records` (wire form, [`record_words`] each, in the order their sums must follow)
/// onto grid rows `rows`: returns the `rows.len() × nu` slab, row-major. Records may touch
/// rows outside `rows`; those cells are dropped. Fails on a record whose tile is not one of
/// the grid's.
pub fn grid_slab<T: Real>(
    geom: &GridGeometry,
    records: &[u32],
    rows: Range<usize>,
) -> Result<Vec<Complex<T>>, GridError> {
    let nw = record_words::<T>();
    let ntiles = (geom.nu / geom.tile) * (geom.nv / geom.tile);
    let n = records.len() / nw;
    if n > u32::MAX as usize {
        return Err(GridError::Geometry(format!(
            "{n} records for one slab: more than 2^32"
        )));
    }
    // Stable counting sort by tile.
    let mut start = vec![0u32; ntiles + 1];
    for w in records.chunks_exact(nw) {
        let t = w[0] as usize;
        if t >= ntiles {
            return Err(GridError::Geometry(format!(
                "routed record for tile {t} of a grid of {ntiles} tiles"
            )));
        }
        start[t + 1] += 1;
    }
    for t in 0..ntiles {
        start[t + 1] += start[t];
    }
    let mut cursor = start.clone();
    let mut sorted = vec![Record::<T>::default(); n];
    for w in records.chunks_exact(nw) {
        let c = &mut cursor[w[0] as usize];
        sorted[*c as usize] = decode(w);
        *c += 1;
    }
    let run = Run {
        records: sorted,
        tile_start: start,
    };
    let kernel = KernelRows::new(&geom.poly.coeffs, geom.kernel.width);
    let mut cells = crate::resources::zeroed_huge_vec::<Complex<T>>(rows.len() * geom.nu);
    let target = SpreadTarget {
        cells: &mut cells,
        rows,
        split_heavy: false,
    };
    spread_runs_into(geom, &kernel, target, std::slice::from_ref(&run));
    Ok(cells)
}
