//! The CPU gridder's hot path: sample records bucketed by tile (counting sort), tiles
//! spread into cache-resident buffers in four colour passes, and the monomorphised,
//! AVX2-dispatched Horner + axpy loop (the design is described in the docs of `grid::cpu`).
use num_complex::Complex;
use rayon::prelude::*;

use crate::grid::geometry::GridGeometry;
use crate::grid::place::{place_samples_in_plane, GridCounts, GridMode};
use crate::kernel;
use crate::real::Real;
use crate::vis::VisChunk;
use crate::wstack::WPlaneSel;

/// One sample ready for gridding.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Record<T> {
    /// Footprint start relative to the tile origin, cells.
    du: u16,
    dv: u16,
    /// Fractional offsets in [0, 1).
    su: T,
    sv: T,
    /// Weighted value.
    re: T,
    im: T,
}

/// One block of rows, its records sorted by tile.
pub(super) struct Block<T> {
    records: Vec<Record<T>>,
    /// `offsets[t] .. offsets[t + 1]` are tile `t`'s records.
    offsets: Vec<u32>,
}

impl<T> Block<T> {
    /// Records in the block.
    pub(super) fn len(&self) -> usize {
        self.records.len()
    }
}

/// A raw pointer to the `nv × nu` grid shared by the threads of one colour pass.
#[derive(Clone, Copy)]
struct SharedGrid<T> {
    ptr: *mut Complex<T>,
    nu: usize,
    nv: usize,
}
// SAFETY: the pointer is only dereferenced inside `add_tile`, and concurrent calls within one
// colour pass touch disjoint cells (see the module docs), so sharing it across threads is sound.
unsafe impl<T: Send> Send for SharedGrid<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for SharedGrid<T> {}

/// Turns rows `rows` of `chunk` into tile-sorted records (only the samples of w-plane
/// `plane` when set).
pub(super) fn make_block<T: Real>(
    geom: &GridGeometry,
    chunk: &VisChunk,
    freq_hz: &[f64],
    rows: std::ops::Range<usize>,
    mode: GridMode,
    plane: Option<&WPlaneSel>,
) -> (Block<T>, GridCounts) {
    let nchan = freq_hz.len();
    let (ntu, ntv) = (geom.nu / geom.tile, geom.nv / geom.tile);
    let mut recs = Vec::with_capacity(rows.len() * nchan);
    let mut tiles: Vec<u32> = Vec::with_capacity(rows.len() * nchan);
    let t = |x: f64| T::from_f64(x).unwrap_or_default();
    let counts = place_samples_in_plane(geom, chunk, freq_hz, rows, mode, plane, |p| {
        tiles.push(p.tile);
        recs.push(Record {
            du: p.du as u16,
            dv: p.dv as u16,
            su: t(p.su),
            sv: t(p.sv),
            re: t(p.re),
            im: t(p.im),
        });
    });
    // Counting sort by tile.
    let ntiles = ntu * ntv;
    let mut offsets = vec![0u32; ntiles + 1];
    for &t in &tiles {
        offsets[t as usize + 1] += 1;
    }
    for t in 0..ntiles {
        offsets[t + 1] += offsets[t];
    }
    let mut cursor = offsets.clone();
    let mut sorted = vec![Record::<T>::default(); recs.len()];
    for (r, &t) in recs.iter().zip(&tiles) {
        let c = &mut cursor[t as usize];
        sorted[*c as usize] = *r;
        *c += 1;
    }
    (
        Block {
            records: sorted,
            offsets,
        },
        counts,
    )
}

/// Adds the records of all blocks to `grid` (`nv × nu`) tile by tile in four colour passes.
pub(super) fn grid_blocks<T: Real>(
    geom: &GridGeometry,
    grid: &mut [Complex<T>],
    blocks: &[Block<T>],
) {
    let (ntu, ntv) = (geom.nu / geom.tile, geom.nv / geom.tile);
    let ntiles = ntu * ntv;
    let mut per_tile = vec![0u64; ntiles];
    for b in blocks {
        for (t, c) in per_tile.iter_mut().enumerate() {
            *c += u64::from(b.offsets[t + 1] - b.offsets[t]);
        }
    }
    let total: u64 = per_tile.iter().sum();
    if total == 0 {
        return;
    }
    // A tile holding more than this many records is itself split across threads.
    let heavy = (total / (4 * rayon::current_num_threads() as u64)).max(4096);
    let width = geom.kernel.width;
    let wp = padded_width(width);
    let coeffs = padded_coeffs::<T>(&geom.poly.coeffs, width, wp);
    let degree = geom.poly.degree;
    let (nu, nv, tile) = (geom.nu, geom.nv, geom.tile);
    assert_eq!(grid.len(), nu * nv, "grid of {nu}x{nv} cells");
    let grid = SharedGrid {
        ptr: grid.as_mut_ptr(),
        nu,
        nv,
    };
    let bw = tile + wp - 1;
    let kernel = KernelRows {
        coeffs: &coeffs,
        degree,
        width,
        padded: wp,
    };
    for colour in 0..4 {
        let tiles: Vec<usize> = (0..ntiles)
            .filter(|&t| {
                per_tile[t] > 0 && (t % ntu) % 2 == colour % 2 && (t / ntu) % 2 == colour / 2
            })
            .collect();
        tiles.par_iter().for_each_init(
            || vec![T::zero(); 2 * bw * bw],
            |buf, &t| {
                let slices: Vec<&[Record<T>]> = blocks
                    .iter()
                    .map(|b| &b.records[b.offsets[t] as usize..b.offsets[t + 1] as usize])
                    .filter(|s| !s.is_empty())
                    .collect();
                // Footprint bounding box within the tile buffer.
                let mut bb = [u16::MAX, u16::MAX, 0u16, 0u16];
                for r in slices.iter().flat_map(|s| s.iter()) {
                    bb = [
                        bb[0].min(r.du),
                        bb[1].min(r.dv),
                        bb[2].max(r.du),
                        bb[3].max(r.dv),
                    ];
                }
                let bbox = BBox {
                    u0: bb[0] as usize,
                    v0: bb[1] as usize,
                    u1: bb[2] as usize + wp,
                    v1: bb[3] as usize + width,
                };
                if per_tile[t] > heavy && slices.len() > 1 {
                    let sum = slices
                        .par_iter()
                        .map(|s| {
                            let mut b = vec![T::zero(); 2 * bw * bw];
                            dispatch(&kernel, &[s], bw, &mut b);
                            b
                        })
                        .reduce_with(|mut a, b| {
                            a.iter_mut().zip(&b).for_each(|(x, y)| *x = *x + *y);
                            a
                        });
                    if let Some(sum) = sum {
                        buf.copy_from_slice(&sum);
                    }
                } else {
                    dispatch(&kernel, &slices, bw, buf);
                }
                let (tu, tv) = (t % ntu, t / ntu);
                // SAFETY: tiles of one colour have disjoint footprints (tile ≥ padded W − 1
                // and an even number of tiles per axis), so no other thread touches these
                // cells during this pass; `add_tile` keeps every index below nu·nv.
                unsafe { add_tile(grid, buf, bw, &bbox, tu * tile, tv * tile) };
            },
        );
    }
}

/// Kernel width rounded up to a multiple of 4 SIMD lanes; the extra footprint cells get
/// kernel value 0, so the inner loops are whole vectors.
pub(super) fn padded_width(width: usize) -> usize {
    width.div_ceil(4) * 4
}

/// Polynomial coefficient rows `[D + 1][W]` widened to `[D + 1][WP]` with zeros.
fn padded_coeffs<T: Real>(coeffs: &[f64], width: usize, wp: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(coeffs.len() / width * wp);
    for row in coeffs.chunks_exact(width) {
        out.extend(row.iter().map(|&c| T::from_f64(c).unwrap_or_default()));
        out.extend(std::iter::repeat_n(T::zero(), wp - width));
    }
    out
}

/// The piecewise-polynomial kernel in the form the hot loop uses.
struct KernelRows<'a, T> {
    /// `[degree + 1][padded]`, Horner order.
    coeffs: &'a [T],
    degree: usize,
    width: usize,
    padded: usize,
}

/// Part of a tile buffer that records touched: `[u0, u1) × [v0, v1)`.
struct BBox {
    u0: usize,
    v0: usize,
    u1: usize,
    v1: usize,
}

/// Adds the `bbox` part of a planar `[re | im]` tile buffer of side `bw` at grid corner
/// `(u0, v0)`, wrapping, and zeroes that part of the buffer for the next tile.
///
/// # Safety
/// `grid.ptr` must point to `grid.nu · grid.nv` cells that no other thread accesses in the
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
    for j in bbox.v0..bbox.v1.min(bw) {
        let v = (v0 + j) % nv;
        for i in bbox.u0..bbox.u1.min(bw) {
            let k = j * bw + i;
            let u = (u0 + i) % nu;
            // SAFETY: v < nv and u < nu, so the index is in bounds; exclusivity is the caller's.
            let cell = unsafe { &mut *grid.ptr.add(v * nu + u) };
            cell.re = cell.re + re[k];
            cell.im = cell.im + im[k];
            re[k] = T::zero();
            im[k] = T::zero();
        }
    }
}

/// Runs the gridding loop for the kernel's width, choosing AVX2+FMA code when available.
fn dispatch<T: Real>(kernel: &KernelRows<T>, slices: &[&[Record<T>]], bw: usize, buf: &mut [T]) {
    macro_rules! go {
        ($(($w:literal, $wp:literal)),*) => {
            match kernel.width {
                $($w => run_width::<T, $w, $wp>(kernel, slices, bw, buf),)*
                w => unreachable!("kernel width {w} outside {}..={}", kernel::MIN_WIDTH, kernel::MAX_WIDTH),
            }
        };
    }
    go!(
        (4, 4),
        (5, 8),
        (6, 8),
        (7, 8),
        (8, 8),
        (9, 12),
        (10, 12),
        (11, 12),
        (12, 12),
        (13, 16),
        (14, 16),
        (15, 16),
        (16, 16)
    )
}

fn run_width<T: Real, const W: usize, const WP: usize>(
    kernel: &KernelRows<T>,
    slices: &[&[Record<T>]],
    bw: usize,
    buf: &mut [T],
) {
    debug_assert_eq!(kernel.padded, WP);
    let rows: Vec<[T; WP]> = kernel
        .coeffs
        .chunks_exact(WP)
        .map(|c| {
            let mut a = [T::zero(); WP];
            a.copy_from_slice(c);
            a
        })
        .collect();
    debug_assert_eq!(rows.len(), kernel.degree + 1);
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            for s in slices {
                // SAFETY: the CPU supports AVX2 and FMA (checked just above).
                unsafe { grid_records_avx2::<T, W, WP>(s, &rows, bw, buf) };
            }
            return;
        }
    }
    for s in slices {
        grid_records::<T, W, WP>(s, &rows, bw, buf);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn grid_records_avx2<T: Real, const W: usize, const WP: usize>(
    recs: &[Record<T>],
    rows: &[[T; WP]],
    bw: usize,
    buf: &mut [T],
) {
    grid_records::<T, W, WP>(recs, rows, bw, buf)
}

/// The hot loop: the kernel by Horner's rule in `x = 2s − 1` for `WP` (padded) cells per axis,
/// then `W` rows of length-`WP` axpys on the planar buffer.
#[inline(always)]
fn grid_records<T: Real, const W: usize, const WP: usize>(
    recs: &[Record<T>],
    rows: &[[T; WP]],
    bw: usize,
    buf: &mut [T],
) {
    let (bre, bim) = buf.split_at_mut(bw * bw);
    let two = T::one() + T::one();
    for r in recs {
        let xu = r.su * two - T::one();
        let xv = r.sv * two - T::one();
        let ku = T::horner::<WP>(rows, xu);
        let kv = T::horner::<WP>(rows, xv);
        let mut tre = [T::zero(); WP];
        let mut tim = [T::zero(); WP];
        for k in 0..WP {
            tre[k] = ku[k] * r.re;
            tim[k] = ku[k] * r.im;
        }
        let base = r.dv as usize * bw + r.du as usize;
        for (j, &f) in kv.iter().take(W).enumerate() {
            let o = base + j * bw;
            let rr: &mut [T; WP] = (&mut bre[o..o + WP])
                .try_into()
                .expect("slice of length WP");
            let ri: &mut [T; WP] = (&mut bim[o..o + WP])
                .try_into()
                .expect("slice of length WP");
            // Two separate loops: the compiler cannot prove `rr` and `ri` disjoint, and a
            // joint loop stays scalar.
            for k in 0..WP {
                rr[k] = rr[k] + f * tre[k];
            }
            for k in 0..WP {
                ri[k] = ri[k] + f * tim[k];
            }
        }
    }
}
