//! Streaming records to the GPU: the host batch is cut into chunks of at most the chunk
//! capacity, each copied through one of two pinned staging slots by that slot's copy stream
//! while the compute stream buckets (counting sort by tile, subproblem list) and spreads the
//! previous chunk; CUDA events order the two (the design is described in the docs of `grid::gpu`).
//! The [`Streamer`] also owns the records built on the device ([`DevRecords`]), which share
//! its [`Bucketer`].
use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaSlice, CudaStream, DevicePtrMut};

use super::bucket::{Bucketer, Unsorted};
use super::compile::SpreadKernels;
use super::devrec::DevRecords;
use super::error::{drv, GpuError};
use super::real::GpuReal;
use super::records::{make_records, HostRecords, Slot};
use super::timing::{mark, Stage, StageClock};
use super::transfer::par_copy;
use crate::grid::geometry::GridGeometry;
use crate::grid::place::{par_row_blocks, GridCounts, GridMode};
use crate::vis::VisChunk;
use crate::wstack::WPlaneSel;

/// Records collected on the host before they are streamed to the GPU.
const BATCH_RECORDS: usize = 1 << 24;

/// Most records of one streamed chunk (the default capacity is sized from free GPU memory).
const MAX_CHUNK_RECORDS: usize = 1 << 27;

/// Most records of one batch of device-built records by default (two batches alternate, so
/// the spreading of one overlaps the copying and placing of the next). Measured on the H200
/// (1e8 samples, run 15): batches of 2^25 records gave the same end-to-end time as one batch
/// (81.3 against 82.5 ms in float32) but slower kernels (GPU compute 31.7 against 22.0 ms,
/// placing and spreading sharing the GPU), so a batch is as large as a chunk.
const DEV_BATCH_RECORDS: usize = MAX_CHUNK_RECORDS;

/// Fewest records of one streamed chunk when the capacity is sized from free GPU memory.
const MIN_CHUNK_RECORDS: usize = 1 << 20;

/// The host batch of records and everything that streams it to the GPU and grids it there.
pub(super) struct Streamer<T> {
    ctx: Arc<CudaContext>,
    /// Bucketing and spreading on the compute stream.
    pub(super) bucketer: Bucketer<T>,
    /// Records built on the device from raw samples (the default path for 2-D imaging).
    pub(super) dev: DevRecords<T>,
    /// The two staging slots, allocated on first use.
    slots: [Option<Slot<T>>; 2],
    /// Their copy streams.
    copy_streams: [Arc<CudaStream>; 2],
    /// The slot the next chunk goes through.
    next_slot: usize,
    /// Records per streamed chunk at most.
    chunk_cap: usize,
    /// Records collected on the host before they are streamed.
    batch_records: usize,
    pending: HostRecords<T>,
}

impl<T: GpuReal> Streamer<T> {
    /// Makes the copy streams and the per-tile buffers for `geom`'s tiles; the chunk capacity
    /// is the largest until [`Streamer::size_chunks`].
    pub(super) fn new(
        ctx: &Arc<CudaContext>,
        stream: &Arc<CudaStream>,
        geom: &GridGeometry,
        k: SpreadKernels,
    ) -> Result<Self, GpuError> {
        let copy_streams = [
            ctx.new_stream().map_err(drv("cuStreamCreate(copy)"))?,
            ctx.new_stream().map_err(drv("cuStreamCreate(copy)"))?,
        ];
        let dev = DevRecords::new(ctx, stream, geom, k.place.clone())?;
        Ok(Self {
            ctx: ctx.clone(),
            bucketer: Bucketer::new(ctx, stream, geom, k)?,
            dev,
            slots: [None, None],
            copy_streams,
            next_slot: 0,
            chunk_cap: MAX_CHUNK_RECORDS,
            batch_records: BATCH_RECORDS,
            pending: HostRecords::default(),
        })
    }

    /// Sizes the chunks from the free device memory: a quarter of it for two staging chunks
    /// and one sorted chunk, within [`MIN_CHUNK_RECORDS`, `MAX_CHUNK_RECORDS`]. The test hook
    /// `RIMAGER_GPU_CHUNK_RECORDS` forces small chunks (as [`Streamer::set_chunk_records`]);
    /// batches of device-built records hold at most [`DEV_BATCH_RECORDS`] records, or
    /// `RIMAGER_GPU_BATCH_RECORDS` (a benchmark hook).
    pub(super) fn size_chunks(&mut self) -> Result<(), GpuError> {
        let (free, _) = cudarc::driver::result::mem_get_info().map_err(drv("cuMemGetInfo"))?;
        let per_record = 3 * (8 + 4 * std::mem::size_of::<T>());
        let mut chunk_cap = (free / 4 / per_record).clamp(MIN_CHUNK_RECORDS, MAX_CHUNK_RECORDS);
        let mut batch_records = BATCH_RECORDS;
        if let Some(v) = std::env::var("RIMAGER_GPU_CHUNK_RECORDS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
        {
            chunk_cap = v.clamp(1, MAX_CHUNK_RECORDS);
            batch_records = 3 * chunk_cap;
        }
        self.chunk_cap = chunk_cap;
        self.batch_records = batch_records;
        let dev_batch = std::env::var("RIMAGER_GPU_BATCH_RECORDS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(DEV_BATCH_RECORDS);
        self.dev.set_capacity(chunk_cap.min(dev_batch));
        Ok(())
    }

    /// Records per streamed chunk at most.
    pub(super) fn chunk_records(&self) -> usize {
        self.chunk_cap
    }

    /// Sets the records per streamed chunk (at least 1), and collects at most three chunks on
    /// the host before streaming them; the device-built records go in batches of as many
    /// samples, copied in pieces of at most that many. Flush first: the pending records keep
    /// no capacity.
    pub(super) fn set_chunk_records(&mut self, records: usize) {
        self.chunk_cap = records.max(1);
        self.batch_records = 3 * self.chunk_cap;
        self.dev.set_capacity(self.chunk_cap);
    }

    /// Turns `chunk` into records (only the samples of w-plane `plane` when set) and adds
    /// them to the host batch; returns the counts of every usable sample.
    pub(super) fn add(
        &mut self,
        geom: &GridGeometry,
        chunk: &VisChunk,
        freq_hz: &[f64],
        mode: GridMode,
        plane: Option<&WPlaneSel>,
    ) -> GridCounts {
        let parts: Vec<(HostRecords<T>, GridCounts)> = par_row_blocks(chunk.nrow(), |rows| {
            make_records::<T>(geom, chunk, freq_hz, rows, mode, plane)
        });
        let mut counts = GridCounts::default();
        for (r, c) in parts {
            counts.merge(&c);
            self.pending.append(&r);
        }
        counts
    }

    /// Whether the host batch is full: time to [`Streamer::flush`].
    pub(super) fn batch_full(&self) -> bool {
        self.pending.len() >= self.batch_records
    }

    /// Drops the host batch and the device batch.
    pub(super) fn clear(&mut self) {
        self.pending.clear();
        self.dev.clear();
    }

    /// Makes sure staging slot `si` and the sorted buffers hold `need` records (reallocating
    /// after waiting for the GPU when they are smaller).
    fn reserve(&mut self, si: usize, need: usize) -> Result<(), GpuError> {
        self.bucketer.reserve(need)?;
        if self.slots[si].as_ref().is_some_and(|sl| sl.cap >= need) {
            return Ok(());
        }
        self.ctx
            .synchronize()
            .map_err(drv("cuCtxSynchronize(reallocate)"))?;
        self.slots[si] = None;
        self.slots[si] = Some(Slot::new(&self.ctx, self.copy_streams[si].clone(), need)?);
        Ok(())
    }

    /// Streams the pending records to the GPU chunk by chunk, bucketing and gridding each.
    /// Returns once the last chunk is queued (the host buffer is free again); the spreading adds
    /// into `grid`, the event pairs go to `clock`.
    pub(super) fn flush(
        &mut self,
        grid: &mut CudaSlice<T>,
        clock: &mut StageClock,
    ) -> Result<(), GpuError> {
        // The device batch first: both paths share the tile counts.
        self.dev.flush(&mut self.bucketer, grid, clock)?;
        let n = self.pending.len();
        if n == 0 {
            return Ok(());
        }
        if self.chunk_cap >= u32::MAX as usize / 8 {
            return Err(GpuError::Unsupported(format!(
                "chunks of {} records",
                self.chunk_cap
            )));
        }
        // Buffers sized for this batch (a power of two, at most the chunk capacity).
        let need = n
            .min(self.chunk_cap)
            .next_power_of_two()
            .min(self.chunk_cap);
        let mut start = 0;
        while start < n {
            let m = (n - start).min(self.chunk_cap);
            self.stream_chunk(start, m, need, grid, clock)?;
            start += m;
        }
        self.pending.clear();
        clock.settle_if_many()
    }

    /// Copies pending records `start..start + m` through the next staging slot and queues
    /// their bucketing and spreading on the compute stream.
    fn stream_chunk(
        &mut self,
        start: usize,
        m: usize,
        need: usize,
        grid: &mut CudaSlice<T>,
        clock: &mut StageClock,
    ) -> Result<(), GpuError> {
        let si = self.next_slot;
        self.next_slot ^= 1;
        self.reserve(si, need.max(m))?;
        let ctx = self.ctx.clone();
        let Some(slot) = self.slots[si].as_mut() else {
            return Err(GpuError::Unsupported("staging buffers missing".into()));
        };

        // Host: wait until the slot's previous copy has finished, then fill its pinned buffers.
        slot.copied
            .synchronize()
            .map_err(drv("cuEventSynchronize(staging buffers free)"))?;
        let r = start..start + m;
        let hkey = slot
            .hkey
            .as_mut_slice()
            .map_err(drv("pinned buffer access"))?;
        par_copy(hkey, &self.pending.key[r.clone()]);
        let hduv = slot
            .hduv
            .as_mut_slice()
            .map_err(drv("pinned buffer access"))?;
        par_copy(hduv, &self.pending.duv[r.clone()]);
        let hvals = slot
            .hvals
            .as_mut_slice()
            .map_err(drv("pinned buffer access"))?;
        par_copy(hvals, &self.pending.vals[4 * r.start..4 * r.end]);

        // Copy stream: wait until the compute stream has read the device buffers, then copy.
        let cs = slot.stream.clone();
        cs.wait(&slot.consumed)
            .map_err(drv("cuStreamWaitEvent(staging buffers read)"))?;
        let t0 = mark(&ctx, &cs)?;
        {
            let hkey = slot.hkey.as_slice().map_err(drv("pinned buffer access"))?;
            let hduv = slot.hduv.as_slice().map_err(drv("pinned buffer access"))?;
            let hvals = slot.hvals.as_slice().map_err(drv("pinned buffer access"))?;
            let (dkey, _gk) = slot.key.device_ptr_mut(&cs);
            let (dduv, _gd) = slot.duv.device_ptr_mut(&cs);
            let (dvals, _gv) = slot.vals.device_ptr_mut(&cs);
            // SAFETY: each destination holds at least m records (4m values) (`reserve`), the
            // sources are the first m (4m) elements of the pinned buffers, which stay
            // allocated and unwritten until `copied` (recorded below) completes: the host
            // waits for it before refilling them and the slot waits for it when dropped.
            unsafe {
                cudarc::driver::result::memcpy_htod_async(dkey, &hkey[..m], cs.cu_stream())
                    .map_err(drv("cuMemcpyHtoDAsync(record keys)"))?;
                cudarc::driver::result::memcpy_htod_async(dduv, &hduv[..m], cs.cu_stream())
                    .map_err(drv("cuMemcpyHtoDAsync(record offsets)"))?;
                cudarc::driver::result::memcpy_htod_async(dvals, &hvals[..4 * m], cs.cu_stream())
                    .map_err(drv("cuMemcpyHtoDAsync(record values)"))?;
            }
        }
        slot.copied.record(&cs).map_err(drv("cuEventRecord"))?;
        let t1 = mark(&ctx, &cs)?;
        clock.push(Stage::H2d, t0, t1);

        // Compute stream: wait for the copy, bucket by tile, then spread.
        self.bucketer
            .wait(&slot.copied)
            .map_err(drv("cuStreamWaitEvent(records copied)"))?;
        let recs = Unsorted {
            key: &slot.key,
            duv: &slot.duv,
            vals: &slot.vals,
            len: m,
            count: None,
            consumed: Some(&slot.consumed),
        };
        self.bucketer.sort_and_spread(recs, grid, clock)
    }
}
