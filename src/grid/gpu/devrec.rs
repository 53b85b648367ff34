//! Records built on the device from raw samples: the host copies each piece of a chunk's rows
//! (uvw per row in float64, visibilities as complex float32, weights, flags) into one of
//! [`NSLOTS`] page-locked staging slots, a copy stream sends it to the slot's device buffers,
//! and the compute stream runs `place_samples` on it (kernels/grid.cu): the selection rule and
//! placement arithmetic of [`crate::grid::place`] (bitwise the host path's records), the tile
//! histogram, and the tallies of used, flagged, invalid and outside samples and the float64
//! sum of used weights, reduced on the device. `place_samples` runs on its own stream (the
//! place stream) and its records collect in one of two device batches, with the batch's tile
//! counts; a full (or flushed) batch is bucketed and spread ([`Bucketer`]) on the compute
//! stream while the place stream fills the other, so the spreading of one batch overlaps the
//! copying and placing of the next. The host fills slot k + 1 while the GPU copies and places
//! slot k. Events order it all: a slot's pinned buffers are refilled after its copy has
//! completed, its device buffers overwritten after the place stream has read them; the compute
//! stream sorts a batch after its last placing (`placed`), and the place stream refills a batch
//! after the compute stream has read it (`sorted`). The placing's event times count as
//! bucketing (`DeviceStageTimes::bucket_s`, the metrics' `gpu_bucket`).
use std::sync::Arc;

use cudarc::driver::{
    CudaContext, CudaEvent, CudaFunction, CudaSlice, CudaStream, DevicePtrMut, DeviceRepr,
    LaunchConfig, PushKernelArg,
};

use super::bucket::{Bucketer, Unsorted};
use super::error::{drv, GpuError};
use super::raw::RawSlot;
use super::real::GpuReal;
use super::timing::{mark, Stage, StageClock};
use super::transfer::par_copy;
use crate::grid::geometry::GridGeometry;
use crate::grid::place::{GridCounts, GridMode};
use crate::vis::samples::wavelength_scale;
use crate::vis::{row_chunks, VisChunk};

/// Staging slots in the ring.
const NSLOTS: usize = 3;

/// Samples of one staged piece at most (4 Mi: 52 MB of raw data per slot).
const PIECE_SAMPLES: usize = 1 << 22;

/// The `PlaceArgs` struct of `place_samples` (same field order and types).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct PlaceArgs {
    cell: f64,
    ku: f64,
    kv: f64,
    cu: f64,
    cv: f64,
    nrow: u32,
    nchan: u32,
    base: u32,
    has_flag: i32,
    psf: i32,
}

// SAFETY: `PlaceArgs` is `repr(C)` plain data laid out as the kernel's struct (five doubles,
// three unsigned and two int, padded to 8 bytes by both compilers).
unsafe impl DeviceRepr for PlaceArgs {}

/// One device batch of records and its tile counts (`ntiles + 1`).
struct Batch<T> {
    cap: usize,
    key: CudaSlice<u32>,
    duv: CudaSlice<u32>,
    vals: CudaSlice<T>,
    count: CudaSlice<u32>,
    /// Recorded on the place stream after the batch's last placing.
    placed: CudaEvent,
    /// Recorded on the compute stream once the bucketing has read the batch.
    sorted: CudaEvent,
}

/// Raw samples to records on the device (see the module docs).
pub(super) struct DevRecords<T> {
    ctx: Arc<CudaContext>,
    /// The compute stream (bucketing and spreading).
    stream: Arc<CudaStream>,
    /// The place stream (`place_samples`, the tallies).
    pstream: Arc<CudaStream>,
    /// The copy stream of every slot (the copies share the bus anyway).
    copy: Arc<CudaStream>,
    place: CudaFunction,
    geom: GridGeometry,
    slots: Vec<RawSlot>,
    next: usize,
    /// Samples per staged piece at most.
    piece: usize,
    /// Records of a batch at most.
    cap: usize,
    batches: [Option<Batch<T>>; 2],
    /// The batch being filled.
    cur: usize,
    /// Records placed in it so far (gridded or not).
    fill: usize,
    /// `ν / c` per channel on the device, and the frequencies it was made from.
    scale: Option<CudaSlice<f64>>,
    scale_freq_hz: Vec<f64>,
    /// used, flagged, invalid, outside.
    tallies: CudaSlice<u64>,
    sumw: CudaSlice<f64>,
}

impl<T: GpuReal> DevRecords<T> {
    pub(super) fn new(
        ctx: &Arc<CudaContext>,
        stream: &Arc<CudaStream>,
        geom: &GridGeometry,
        place: CudaFunction,
    ) -> Result<Self, GpuError> {
        let pstream = ctx.new_stream().map_err(drv("cuStreamCreate(place)"))?;
        Ok(Self {
            ctx: ctx.clone(),
            stream: stream.clone(),
            copy: ctx.new_stream().map_err(drv("cuStreamCreate(raw copy)"))?,
            place,
            geom: geom.clone(),
            slots: Vec::new(),
            next: 0,
            piece: PIECE_SAMPLES,
            cap: PIECE_SAMPLES,
            batches: [None, None],
            cur: 0,
            fill: 0,
            scale: None,
            scale_freq_hz: Vec::new(),
            tallies: pstream
                .alloc_zeros(4)
                .map_err(drv("cuMemAlloc(sample tallies)"))?,
            sumw: pstream
                .alloc_zeros(1)
                .map_err(drv("cuMemAlloc(sum of weights)"))?,
            pstream,
        })
    }

    /// Sets the batch capacity (records) and the piece size (at most [`PIECE_SAMPLES`]); takes
    /// effect at the next batch (flush first).
    pub(super) fn set_capacity(&mut self, records: usize) {
        self.cap = records.max(1);
        self.piece = self.cap.min(PIECE_SAMPLES);
    }

    /// Drops the records not yet spread.
    pub(super) fn clear(&mut self) {
        self.fill = 0;
    }

    /// Buckets and spreads the batch being filled on the compute stream, after its last
    /// placing (queued; nothing waits on the host), and moves on to the other batch.
    pub(super) fn flush(
        &mut self,
        bucketer: &mut Bucketer<T>,
        grid: &mut CudaSlice<T>,
        clock: &mut StageClock,
    ) -> Result<(), GpuError> {
        let (Some(b), true) = (self.batches[self.cur].as_ref(), self.fill > 0) else {
            return Ok(());
        };
        b.placed
            .record(&self.pstream)
            .map_err(drv("cuEventRecord"))?;
        self.stream
            .wait(&b.placed)
            .map_err(drv("cuStreamWaitEvent(batch placed)"))?;
        let recs = Unsorted {
            key: &b.key,
            duv: &b.duv,
            vals: &b.vals,
            len: self.fill,
            count: Some(&b.count),
            consumed: Some(&b.sorted),
        };
        bucketer.sort_and_spread(recs, grid, clock)?;
        self.fill = 0;
        self.cur ^= 1;
        Ok(())
    }

    /// Starts filling the current batch: the place stream waits until the compute stream has
    /// read the batch's previous contents, then zeroes its tile counts.
    fn start_batch(&mut self) -> Result<(), GpuError> {
        let Some(b) = self.batches[self.cur].as_mut() else {
            return Err(GpuError::Unsupported("record batch missing".into()));
        };
        self.pstream
            .wait(&b.sorted)
            .map_err(drv("cuStreamWaitEvent(batch sorted)"))?;
        self.pstream
            .memset_zeros(&mut b.count)
            .map_err(drv("cuMemsetD8(tile counts)"))
    }

    /// Makes sure the slots hold `rows` rows and `samples` samples, the batch `cap` records
    /// and the scale `freq_hz`'s channels (reallocating after waiting for the GPU).
    fn reserve(&mut self, rows: usize, samples: usize, freq_hz: &[f64]) -> Result<(), GpuError> {
        let small_slots = self.slots.is_empty()
            || self
                .slots
                .iter()
                .any(|s| s.rows < rows || s.samples < samples);
        let cap = self.cap.max(samples);
        let small_batch = self
            .batches
            .iter()
            .any(|b| b.as_ref().is_none_or(|b| b.cap < cap));
        if small_slots || small_batch {
            self.ctx
                .synchronize()
                .map_err(drv("cuCtxSynchronize(reallocate)"))?;
        }
        if small_slots {
            self.slots.clear();
            for _ in 0..NSLOTS {
                self.slots
                    .push(RawSlot::new(&self.ctx, &self.stream, rows, samples)?);
            }
        }
        if small_batch {
            let s = &self.stream;
            let ntiles = (self.geom.nu / self.geom.tile) * (self.geom.nv / self.geom.tile);
            let ev = || self.ctx.new_event(None).map_err(drv("cuEventCreate"));
            self.fill = 0;
            for b in self.batches.iter_mut() {
                *b = None;
                *b = Some(Batch {
                    cap,
                    key: s.alloc_zeros(cap).map_err(drv("cuMemAlloc(record keys)"))?,
                    duv: s
                        .alloc_zeros(cap)
                        .map_err(drv("cuMemAlloc(record offsets)"))?,
                    vals: s
                        .alloc_zeros(4 * cap)
                        .map_err(drv("cuMemAlloc(record values)"))?,
                    count: s
                        .alloc_zeros(ntiles + 1)
                        .map_err(drv("cuMemAlloc(tile counts)"))?,
                    placed: ev()?,
                    sorted: ev()?,
                });
            }
        }
        if self.scale.is_none() || self.scale_freq_hz != freq_hz {
            let v = wavelength_scale(freq_hz);
            // A copy from pageable memory, ordered on the place stream after every kernel
            // that read the old scale.
            let mut d = self
                .pstream
                .alloc_zeros::<f64>(v.len().max(1))
                .map_err(drv("cuMemAlloc(channel scale)"))?;
            self.pstream
                .memcpy_htod(&v, &mut d)
                .map_err(drv("cuMemcpyHtoD(channel scale)"))?;
            self.scale = Some(d);
            self.scale_freq_hz = freq_hz.to_vec();
        }
        Ok(())
    }

    /// Grids every usable sample of `chunk` (records built on the device, added to the batch)
    /// and returns the counts, reduced on the device (waits for the last piece's placing, not
    /// for the spreading).
    pub(super) fn grid(
        &mut self,
        bucketer: &mut Bucketer<T>,
        chunk: &VisChunk,
        freq_hz: &[f64],
        mode: GridMode,
        grid: &mut CudaSlice<T>,
        clock: &mut StageClock,
    ) -> Result<GridCounts, GpuError> {
        let (nrow, nchan) = (chunk.nrow(), freq_hz.len());
        if nrow == 0 || nchan == 0 {
            return Ok(GridCounts::default());
        }
        let nsamp = nrow * nchan;
        let has_flag = !chunk.flag.is_empty();
        if chunk.vis.len() != nsamp
            || chunk.weight.len() != nsamp
            || (has_flag && chunk.flag.len() != nsamp)
        {
            return Err(GpuError::Unsupported(format!(
                "chunk of {nrow} rows x {nchan} channels with {} values, {} weights, {} flags",
                chunk.vis.len(),
                chunk.weight.len(),
                chunk.flag.len()
            )));
        }
        let rows_per = (self.piece / nchan).max(1);
        self.reserve(rows_per, rows_per * nchan, freq_hz)?;
        let s = self.pstream.clone();
        s.memset_zeros(&mut self.tallies)
            .map_err(drv("cuMemsetD8(sample tallies)"))?;
        s.memset_zeros(&mut self.sumw)
            .map_err(drv("cuMemsetD8(sum of weights)"))?;
        let g = &self.geom;
        let w = g.kernel.width as f64;
        let mut args = PlaceArgs {
            cell: g.cell_rad,
            ku: g.cell_rad * g.nu as f64,
            kv: -g.cell_rad * g.nv as f64,
            cu: 0.5 * g.nu as f64 - 0.5 * w,
            cv: 0.5 * g.nv as f64 - 0.5 * w,
            nrow: 0,
            nchan: nchan as u32,
            base: 0,
            has_flag: i32::from(has_flag),
            psf: i32::from(mode == GridMode::Psf),
        };
        for rows in row_chunks(0..nrow, rows_per) {
            let m = rows.len() * nchan;
            let cap = self.batches[self.cur].as_ref().map_or(0, |b| b.cap);
            if self.fill + m > cap {
                self.flush(bucketer, grid, clock)?;
            }
            if self.fill == 0 {
                self.start_batch()?;
            }
            args.nrow = rows.len() as u32;
            args.base = self.fill as u32;
            self.stage(rows, chunk, clock)?;
            self.launch_place(args, m, clock)?;
            self.fill += m;
        }
        let t = s
            .clone_dtoh(&self.tallies)
            .map_err(drv("cuMemcpyDtoH(sample tallies)"))?;
        let sw = s
            .clone_dtoh(&self.sumw)
            .map_err(drv("cuMemcpyDtoH(sum of weights)"))?;
        s.synchronize().map_err(drv("cuStreamSynchronize"))?;
        clock.settle_if_many()?;
        Ok(GridCounts {
            used: t[0],
            flagged: t[1],
            invalid: t[2],
            outside: t[3],
            sum_weights: sw[0],
        })
    }

    /// Copies rows `rows` of `chunk` into the next slot's pinned buffers (after its previous
    /// copy has completed) and queues their copy to the device on the copy stream.
    fn stage(
        &mut self,
        rows: std::ops::Range<usize>,
        chunk: &VisChunk,
        clock: &mut StageClock,
    ) -> Result<(), GpuError> {
        let nchan = chunk.vis.len() / chunk.nrow();
        let cols = rows.start * nchan..rows.end * nchan;
        let m = cols.len();
        let slot = &mut self.slots[self.next];
        slot.copied
            .synchronize()
            .map_err(drv("cuEventSynchronize(raw staging free)"))?;
        let pin = |e| drv("pinned buffer access")(e);
        let uvw: &[f64] = bytemuck::cast_slice(&chunk.uvw_m[rows.clone()]);
        let vis: &[f32] = bytemuck::cast_slice(&chunk.vis[cols.clone()]);
        par_copy(slot.huvw.as_mut_slice().map_err(pin)?, uvw);
        par_copy(slot.hvis.as_mut_slice().map_err(pin)?, vis);
        par_copy(
            slot.hwt.as_mut_slice().map_err(pin)?,
            &chunk.weight[cols.clone()],
        );
        let has_flag = !chunk.flag.is_empty();
        if has_flag {
            par_copy(slot.hflag.as_mut_slice().map_err(pin)?, &chunk.flag[cols]);
        }
        let cs = self.copy.clone();
        cs.wait(&slot.consumed)
            .map_err(drv("cuStreamWaitEvent(raw buffers read)"))?;
        let t0 = mark(&self.ctx, &cs)?;
        {
            let huvw = slot.huvw.as_slice().map_err(pin)?;
            let hvis = slot.hvis.as_slice().map_err(pin)?;
            let hwt = slot.hwt.as_slice().map_err(pin)?;
            let hflag = slot.hflag.as_slice().map_err(pin)?;
            let (duvw, _g1) = slot.duvw.device_ptr_mut(&cs);
            let (dvis, _g2) = slot.dvis.device_ptr_mut(&cs);
            let (dwt, _g3) = slot.dwt.device_ptr_mut(&cs);
            let (dflag, _g4) = slot.dflag.device_ptr_mut(&cs);
            let st = cs.cu_stream();
            // SAFETY: the device buffers hold at least the slot's rows (3 values each) and
            // samples (2 values each for vis), which bound uvw.len(), vis.len() and m (the
            // slot was sized for this piece in `reserve`); the pinned sources stay allocated
            // and unwritten until `copied`, recorded next, has completed (the host waits for
            // it before refilling them and the slot waits for it when dropped).
            unsafe {
                use cudarc::driver::result::memcpy_htod_async as h2d;
                h2d(duvw, &huvw[..uvw.len()], st).map_err(drv("cuMemcpyHtoDAsync(raw uvw)"))?;
                h2d(dvis, &hvis[..vis.len()], st).map_err(drv("cuMemcpyHtoDAsync(raw vis)"))?;
                h2d(dwt, &hwt[..m], st).map_err(drv("cuMemcpyHtoDAsync(raw weights)"))?;
                if has_flag {
                    h2d(dflag, &hflag[..m], st).map_err(drv("cuMemcpyHtoDAsync(raw flags)"))?;
                }
            }
        }
        slot.copied.record(&cs).map_err(drv("cuEventRecord"))?;
        let t1 = mark(&self.ctx, &cs)?;
        clock.push(Stage::H2d, t0, t1);
        Ok(())
    }

    /// Queues `place_samples` on the place stream for the last staged slot's `m` samples
    /// (after its copy), then moves on to the next slot.
    fn launch_place(
        &mut self,
        args: PlaceArgs,
        m: usize,
        clock: &mut StageClock,
    ) -> Result<(), GpuError> {
        let slot = &self.slots[self.next];
        self.next = (self.next + 1) % NSLOTS;
        let s = self.pstream.clone();
        s.wait(&slot.copied)
            .map_err(drv("cuStreamWaitEvent(raw samples copied)"))?;
        let (Some(batch), Some(scale)) = (self.batches[self.cur].as_mut(), self.scale.as_ref())
        else {
            return Err(GpuError::Unsupported("record batch missing".into()));
        };
        let p0 = mark(&self.ctx, &s)?;
        let mut b = s.launch_builder(&self.place);
        b.arg(&slot.duvw)
            .arg(&slot.dvis)
            .arg(&slot.dwt)
            .arg(&slot.dflag)
            .arg(scale)
            .arg(&args)
            .arg(&mut batch.key)
            .arg(&mut batch.duv)
            .arg(&mut batch.vals)
            .arg(&mut batch.count)
            .arg(&mut self.tallies)
            .arg(&mut self.sumw);
        let cfg = LaunchConfig {
            grid_dim: ((m as u32).div_ceil(256), 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the slot's device buffers hold the piece's nrow rows and m = nrow·nchan
        // samples (copied above, ordered by `copied`); scale holds nchan values; the kernel
        // writes records base..base + m < the batch capacity (`grid` flushes a full batch),
        // counts tiles < ntiles in a count array of ntiles + 1, and adds to the 4 tallies
        // and one sum. The argument types match the kernel's signature (PlaceArgs by value).
        unsafe { b.launch(cfg) }.map_err(drv("launch place_samples"))?;
        slot.consumed.record(&s).map_err(drv("cuEventRecord"))?;
        let p1 = mark(&self.ctx, &s)?;
        clock.push(Stage::Bucket, p0, p1);
        Ok(())
    }
}
