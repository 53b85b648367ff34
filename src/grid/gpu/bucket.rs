//! Bucketing and spreading of one batch of device records, shared by the host-built records
//! (`stream.rs`) and the records built on the device (`devrec.rs`): a counting sort by tile
//! (histogram with atomics, exclusive scan, scatter), the subproblem list (each tile's range
//! cut into pieces of at most [`MAX_SUBPROBLEM`] records), then one spreading block per
//! subproblem (the method is described in the docs of `grid::gpu`).
use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaEvent, CudaSlice, CudaStream, LaunchConfig, PushKernelArg};

use super::compile::{SpreadKernels, MAX_SUBPROBLEM};
use super::error::{drv, GpuError};
use super::real::GpuReal;
use super::records::Sorted;
use super::timing::{mark, Stage, StageClock};
use crate::grid::geometry::GridGeometry;

/// Threads per block of the spreading kernel.
const SPREAD_THREADS: u32 = 256;

/// Unsorted records of one batch on the device: `key` (tile index, or the tile count for a
/// sample that is not gridded), `duv` and `vals` (`[su, sv, re, im]`), `len` records.
pub(super) struct Unsorted<'a, T> {
    pub(super) key: &'a CudaSlice<u32>,
    pub(super) duv: &'a CudaSlice<u32>,
    pub(super) vals: &'a CudaSlice<T>,
    pub(super) len: usize,
    /// The batch's tile counts when they were made while placing (`ntiles + 1` values);
    /// `None`: the histogram is made here, into the bucketer's own counts.
    pub(super) count: Option<&'a CudaSlice<u32>>,
    /// Recorded on the compute stream once the records and the counts have been read.
    pub(super) consumed: Option<&'a CudaEvent>,
}

/// The per-tile buffers, the sorted records and the kernels of the compute stream.
pub(super) struct Bucketer<T> {
    ctx: Arc<CudaContext>,
    /// The compute stream.
    stream: Arc<CudaStream>,
    pub(super) k: SpreadKernels,
    /// Tiles along u and v.
    ntu: usize,
    ntv: usize,
    /// Records per tile (`ntiles + 1`) of host-built records.
    count: CudaSlice<u32>,
    offsets: CudaSlice<u32>,
    cursor: CudaSlice<u32>,
    nsub: CudaSlice<u32>,
    suboff: CudaSlice<u32>,
    sorted: Option<Sorted<T>>,
}

impl<T: GpuReal> Bucketer<T> {
    /// The per-tile buffers for `geom`'s tiles on the compute stream `stream`.
    pub(super) fn new(
        ctx: &Arc<CudaContext>,
        stream: &Arc<CudaStream>,
        geom: &GridGeometry,
        k: SpreadKernels,
    ) -> Result<Self, GpuError> {
        let (ntu, ntv) = (geom.nu / geom.tile, geom.nv / geom.tile);
        let ntiles = ntu * ntv;
        let alloc = |n: usize, what: &'static str| stream.alloc_zeros::<u32>(n).map_err(drv(what));
        Ok(Self {
            ctx: ctx.clone(),
            stream: stream.clone(),
            k,
            ntu,
            ntv,
            count: alloc(ntiles + 1, "cuMemAlloc(tile counts)")?,
            offsets: alloc(ntiles + 1, "cuMemAlloc(tile offsets)")?,
            cursor: alloc(ntiles + 1, "cuMemAlloc(tile cursors)")?,
            nsub: alloc(ntiles + 1, "cuMemAlloc(subproblem counts)")?,
            suboff: alloc(ntiles + 1, "cuMemAlloc(subproblem offsets)")?,
            sorted: None,
        })
    }

    /// Makes the compute stream wait for `e`.
    pub(super) fn wait(&self, e: &CudaEvent) -> Result<(), cudarc::driver::DriverError> {
        self.stream.wait(e)
    }

    /// Number of tiles.
    pub(super) fn ntiles(&self) -> usize {
        self.ntu * self.ntv
    }

    /// Makes sure the sorted buffers hold `need` records (reallocating after waiting for the
    /// GPU when they are smaller).
    pub(super) fn reserve(&mut self, need: usize) -> Result<(), GpuError> {
        if self.sorted.as_ref().is_some_and(|so| so.cap >= need) {
            return Ok(());
        }
        self.ctx
            .synchronize()
            .map_err(drv("cuCtxSynchronize(reallocate)"))?;
        let nsub = need / MAX_SUBPROBLEM as usize + self.ntiles() + 1;
        let s = &self.stream;
        let a = |len: usize, what: &'static str| s.alloc_zeros::<u32>(len).map_err(drv(what));
        self.sorted = None;
        self.sorted = Some(Sorted {
            cap: need,
            sduv: a(need, "cuMemAlloc(sorted record offsets)")?,
            svals: s
                .alloc_zeros::<T>(4 * need)
                .map_err(drv("cuMemAlloc(sorted record values)"))?,
            sub_tile: a(nsub, "cuMemAlloc(subproblems)")?,
            sub_start: a(nsub, "cuMemAlloc(subproblems)")?,
        });
        Ok(())
    }

    /// Queues the bucketing of `recs` by tile and their spreading onto `grid` on the compute
    /// stream (nothing waits on the host); the event pairs go to `clock`.
    pub(super) fn sort_and_spread(
        &mut self,
        recs: Unsorted<'_, T>,
        grid: &mut CudaSlice<T>,
        clock: &mut StageClock,
    ) -> Result<(), GpuError> {
        let m = recs.len;
        if m == 0 {
            return Ok(());
        }
        self.reserve(m)?;
        let ntiles = self.ntiles();
        let ctx = self.ctx.clone();
        let s = self.stream.clone();
        let Some(so) = self.sorted.as_mut() else {
            return Err(GpuError::Unsupported("sorted buffers missing".into()));
        };
        let b0 = mark(&ctx, &s)?;
        let n32 = m as u32;
        let nt32 = ntiles as u32;
        let blocks = |k: u32| LaunchConfig {
            grid_dim: (k.div_ceil(256).max(1), 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        let one_block = LaunchConfig {
            grid_dim: (1, 1, 1),
            block_dim: (1024, 1, 1),
            shared_mem_bytes: 0,
        };
        let count = match recs.count {
            Some(c) => c,
            None => {
                s.memset_zeros(&mut self.count)
                    .map_err(drv("cuMemsetD8(tile counts)"))?;
                let mut b = s.launch_builder(&self.k.histogram);
                b.arg(recs.key).arg(&n32).arg(&mut self.count);
                // SAFETY: `key` holds m tile indices (keys ≥ ntiles are skipped) and `count`
                // has ntiles + 1 elements; the argument types match the kernel's signature.
                unsafe { b.launch(blocks(n32)) }.map_err(drv("launch histogram"))?;
                &self.count
            }
        };
        let mut b = s.launch_builder(&self.k.scan);
        b.arg(count).arg(&nt32).arg(&mut self.offsets);
        // SAFETY: `count` has ntiles (+1) elements and `offsets` ntiles + 1.
        unsafe { b.launch(one_block) }.map_err(drv("launch scan_exclusive(tiles)"))?;
        s.memcpy_dtod(&self.offsets, &mut self.cursor)
            .map_err(drv("cuMemcpyDtoD(tile cursors)"))?;
        let mut b = s.launch_builder(&self.k.scatter);
        b.arg(recs.key)
            .arg(recs.duv)
            .arg(recs.vals)
            .arg(&n32)
            .arg(&mut self.cursor)
            .arg(&mut so.sduv)
            .arg(&mut so.svals);
        // SAFETY: all record arrays hold at least m records (4m values), the cursors start at
        // each tile's offset and only keys < ntiles are moved, so every write index is below
        // the number of gridded records ≤ m ≤ the sorted capacity (`reserve`).
        unsafe { b.launch(blocks(n32)) }.map_err(drv("launch scatter"))?;
        let mut b = s.launch_builder(&self.k.count_sub);
        b.arg(count).arg(&nt32).arg(&mut self.nsub);
        // SAFETY: both arrays have ntiles + 1 elements.
        unsafe { b.launch(blocks(nt32)) }.map_err(drv("launch count_subproblems"))?;
        if let Some(e) = recs.consumed {
            e.record(&s).map_err(drv("cuEventRecord"))?;
        }
        let mut b = s.launch_builder(&self.k.scan);
        b.arg(&self.nsub).arg(&nt32).arg(&mut self.suboff);
        // SAFETY: as for the tile scan.
        unsafe { b.launch(one_block) }.map_err(drv("launch scan_exclusive(subproblems)"))?;
        let mut b = s.launch_builder(&self.k.fill_sub);
        b.arg(&self.suboff)
            .arg(&self.offsets)
            .arg(&nt32)
            .arg(&mut so.sub_tile)
            .arg(&mut so.sub_start);
        // SAFETY: suboff[ntiles] = Σ ceil(count/MAXSUB) ≤ m/MAXSUB + ntiles, below the
        // subproblem arrays' length (`reserve`).
        unsafe { b.launch(blocks(nt32)) }.map_err(drv("launch fill_subproblems"))?;
        let b1 = mark(&ctx, &s)?;
        clock.push(Stage::Bucket, b0, b1);
        let g0 = mark(&ctx, &s)?;

        // Spreading, for the upper bound of subproblems; blocks past suboff[ntiles] return.
        let max_sub = (m / MAX_SUBPROBLEM as usize + ntiles) as u32;
        let mut b = s.launch_builder(&self.k.spread);
        b.arg(&so.sub_tile)
            .arg(&so.sub_start)
            .arg(&self.offsets)
            .arg(&so.sduv)
            .arg(&so.svals)
            .arg(&self.suboff)
            .arg(&nt32)
            .arg(grid);
        let cfg = LaunchConfig {
            grid_dim: (max_sub.max(1), 1, 1),
            block_dim: (SPREAD_THREADS, 1, 1),
            shared_mem_bytes: self.k.smem_bytes,
        };
        // SAFETY: blocks below suboff[ntiles] read subproblems filled above, each naming a
        // tile < ntiles and a record range inside that tile's bucket; footprints start at
        // du, dv < tile so they stay inside the (tile + W − 1)² shared buffer, and grid
        // writes wrap modulo nu, nv. All spreading is on this one stream, so no two launches
        // add into the grid at once.
        unsafe { b.launch(cfg) }.map_err(drv("launch spread"))?;
        let g1 = mark(&ctx, &s)?;
        clock.push(Stage::Grid, g0, g1);
        Ok(())
    }
}
