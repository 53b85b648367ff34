//! CUDA gridder: tiled shared-memory gridding, cuFFT and grid correction on one GPU.
//!
//! Method: the work distribution of Romein (2012), "An efficient work-distribution strategy for
//! gridding radio-telescope data on GPUs" (ICS '12), in the tiled shared-memory form of Merry
//! (2016, "Faster GPU-based convolutional gridding via thread coarsening") and of cuFINUFFT's
//! "SM" method (Shih et al. 2021, "cuFINUFFT: a load-balanced GPU library for general-purpose
//! nonuniform FFTs"):
//!
//! 1. records: for 2-D imaging (the default) they are built on the device (`devrec.rs`): the
//!    host copies each piece of a chunk's raw samples (uvw per row in float64, visibilities,
//!    weights and flags) into one of three page-locked staging slots, a copy stream sends it to
//!    the GPU, and the `place_samples` kernel applies the selection rule and placement
//!    arithmetic of [`crate::grid::place`] (every product rounded as on the host, so the records
//!    are bitwise the host's), counts tiles and reduces the counts (used, flagged, invalid,
//!    outside, float64 sum of weights) on the device; records collect in a device batch of up
//!    to the chunk capacity. For w-stacking, or with `RIMAGER_GPU_RECORDS=host`, the host
//!    builds them as the CPU path does (`records.rs`), batches them and streams them through
//!    two pinned staging slots (`stream.rs`). A record holds the footprint start relative to
//!    its `T × T` tile (`du`, `dv`), fractional offsets `su`, `sv ∈ [0, 1)` and the weighted
//!    value; coordinates relative to the tile keep float32 accurate on large grids;
//! 2. each batch is bucketed by tile on the GPU with a counting sort (histogram with atomics,
//!    exclusive scan, scatter), and each tile's range is cut into subproblems of at most
//!    [`MAX_SUBPROBLEM`] records (`bucket.rs`). Copies run on their own streams while the
//!    compute stream works (CUDA events order them: the compute stream waits for a piece's
//!    copy, a copy waits until the compute stream has read the device buffer it overwrites, the
//!    host refills a pinned buffer once its copy has completed). Device memory for records is
//!    bounded (staging slots and one batch), so data larger than GPU memory images; the
//!    spreading of all batches stays on the one compute stream, so no two kernels add into the
//!    grid at once. Nothing waits on the host between batches: the spreading is launched for
//!    an upper bound of subproblems and surplus blocks return at once;
//! 3. one thread block per subproblem accumulates its records' `W × W` footprints into a
//!    shared-memory buffer of `(T + W − 1)²` cells (the kernel evaluated by Horner's rule from
//!    the same [`crate::kernel::PolyKernel`] coefficients as the CPU path), then adds the
//!    buffer to the global grid once with atomics. By default W lanes of a warp share a record
//!    (`spread_warp`: lane k evaluates the kernel at column and row k only, row values move by
//!    warp shuffles, and each footprint row is W consecutive, bank-distinct cells); the
//!    thread-per-record kernel (`spread_thread`) stays for comparison, chosen with
//!    `RIMAGER_GPU_SPREAD=thread` (measured: `benchmarks/results/gpu-h100-2026-11-23-spread.md`);
//! 4. [`ImageTransform::to_image`] runs a cuFFT 2-D complex-to-complex backward transform in place,
//!    then one kernel crops, applies the centring sign, the grid correction and the scale;
//!    only the `ny × nx` image comes back to the host.
//!
//! The CUDA C source lives in `kernels/grid.cu` and is compiled by NVRTC when the gridder is
//! built, with the kernel width, polynomial degree and coefficients, tile size, grid and image
//! sizes and the precision baked in as `#define`s (run-time specialisation).
//!
//! cudarc loads the CUDA libraries at run time (`dynamic-loading`) and panics when one is
//! missing, so [`probe`] checks for each before any CUDA call: on a machine with no CUDA the
//! binary builds and runs, and asking for this backend is an error, not a panic.
//!
//! Files: this one holds [`GpuGridder`] and its backend traits; [`error`] the errors and
//! [`probe`]; [`real`] the precisions ([`GpuReal`]); `compile.rs` the NVRTC specialisation and
//! the choice of spreading kernel; `devrec.rs` the records built on the device from raw
//! samples (their staging slots in `raw.rs`); `records.rs` the host records and staging buffers; `stream.rs` their chunked
//! streaming; `bucket.rs` the bucketing and spreading of a batch; `fft.rs` cuFFT,
//! crop/correct and the w-screen; `timing.rs` the event timers; `transfer.rs` the pinned bounce copies.
use std::sync::Arc;
use std::time::Instant;

use cudarc::driver::{CudaContext, CudaSlice, CudaStream};
use num_complex::Complex;
use tracing::debug;

use crate::grid::backend::{
    BackendKind, BackendReport, GridRows, Gridder, ImageTimings, ImageTransform, ImagingBackend,
};
use crate::grid::error::GridError;
use crate::grid::geometry::GridGeometry;
use crate::grid::place::{GridCounts, GridMode};
use crate::vis::VisChunk;
use crate::wstack::{WPlaneSel, WScreen};

mod bucket;
mod compile;
mod devrec;
pub mod error;
mod fft;
mod raw;
pub mod real;
mod records;
mod stream;
mod timing;
mod transfer;

pub use compile::MAX_SUBPROBLEM;
pub use error::{probe, GpuError};
pub use real::GpuReal;

use compile::compile;
use error::drv;
use fft::Transform;
use stream::Streamer;
use timing::{StageClock, Timer};
use transfer::{Bounce, BOUNCE_BYTES};

/// The CUDA gridder (one GPU).
pub struct GpuGridder<T: GpuReal> {
    geom: GridGeometry,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    /// Interleaved complex grid `[nv][nu][2]`.
    grid: CudaSlice<T>,
    /// The host batch of records and its streaming onto the grid.
    streamer: Streamer<T>,
    /// FFT, correction and the w-stacking plane sum.
    transform: Transform<T>,
    /// Device stage times.
    clock: StageClock,
    host_grid: Vec<Complex<T>>,
    /// Pinned bounce buffers for the grid's trips to and from the host (made on first use).
    bounce: Option<Bounce<T>>,
    /// The host grid was handed out by `host_grid` and may have changed.
    host_dirty: bool,
    device_name: String,
    /// Build the 2-D records on the device from raw samples (default) rather than on the host.
    device_records: bool,
}

/// Checks that the kernels can grid `geom`: a power-of-two tile of at least W − 1 cells that
/// divides the grid, within the sizes the record layout holds.
fn check_geometry(geom: &GridGeometry) -> Result<(), GpuError> {
    let (nu, nv, tile, width) = (geom.nu, geom.nv, geom.tile, geom.kernel.width);
    if !tile.is_power_of_two() || width > tile + 1 || nu % tile != 0 || nv % tile != 0 {
        return Err(GpuError::Unsupported(format!(
            "tile {tile} must be a power of two >= W - 1 = {} dividing the grid {nu}x{nv}",
            width.saturating_sub(1)
        )));
    }
    if tile > 1 << 15 || nu.max(nv) > 1 << 30 {
        return Err(GpuError::Unsupported(format!("grid {nu}x{nv} too large")));
    }
    Ok(())
}

impl<T: GpuReal> GpuGridder<T> {
    /// Sets up device `ordinal` (modulo the device count): compiles the kernels with NVRTC,
    /// plans the FFT and allocates the grid.
    pub fn new(geom: GridGeometry, ordinal: usize) -> Result<Self, GpuError> {
        let ndev = probe()?;
        let ordinal = ordinal % ndev;
        check_geometry(&geom)?;
        let ctx = CudaContext::new(ordinal).map_err(drv("cuCtxCreate / primary context"))?;
        let stream = ctx.default_stream();
        let device_name = ctx.name().unwrap_or_else(|_| "unknown GPU".into());
        let (spread_kernels, image_kernels) = compile::<T>(&ctx, &geom, ordinal, &device_name)?;

        let t = Instant::now();
        let mut streamer = Streamer::new(&ctx, &stream, &geom, spread_kernels)?;
        let grid = stream
            .alloc_zeros::<T>(2 * geom.nu * geom.nv)
            .map_err(drv("cuMemAlloc(grid)"))?;
        let transform = Transform::new(&ctx, &stream, &geom, image_kernels)?;
        streamer.size_chunks()?;
        debug!(
            "GPU {ordinal}: allocated the {}x{} grid and planned the FFT in {:.3} s; \
             chunks of up to {} records",
            geom.nu,
            geom.nv,
            t.elapsed().as_secs_f64(),
            streamer.chunk_records()
        );
        Ok(Self {
            geom,
            ctx,
            stream,
            grid,
            streamer,
            transform,
            clock: StageClock::default(),
            host_grid: Vec::new(),
            bounce: None,
            host_dirty: false,
            device_name,
            device_records: records_on_device()?,
        })
    }

    /// The GPU's name.
    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    /// Records per streamed chunk at most.
    pub fn chunk_records(&self) -> usize {
        self.streamer.chunk_records()
    }

    /// Sets the records per streamed chunk (at least 1), and collects at most three chunks on
    /// the host before streaming them; for tests of the streaming with small chunks.
    pub fn set_chunk_records(&mut self, records: usize) -> Result<(), GpuError> {
        self.streamer.flush(&mut self.grid, &mut self.clock)?;
        self.streamer.set_chunk_records(records);
        Ok(())
    }

    /// Whether 2-D records are built on the device from the raw samples (the default) or on
    /// the host (`RIMAGER_GPU_RECORDS=host`, or `set_device_records(false)`); w-stacking
    /// always builds them on the host.
    pub fn device_records(&self) -> bool {
        self.device_records
    }

    /// Chooses where 2-D records are built (see [`GpuGridder::device_records`]); for tests
    /// and benchmarks comparing the two.
    pub fn set_device_records(&mut self, on: bool) -> Result<(), GpuError> {
        self.streamer.flush(&mut self.grid, &mut self.clock)?;
        self.device_records = on;
        Ok(())
    }

    /// Sets the bytes of each pinned bounce buffer through which the grid and the image cross
    /// to the host (default 32 MiB); for tests of the piecewise copies with many small pieces.
    pub fn set_bounce_bytes(&mut self, bytes: usize) -> Result<(), GpuError> {
        self.bounce = Some(Bounce::with_piece_bytes(&self.stream, bytes)?);
        self.transform.set_bounce_bytes(bytes)
    }

    /// Used memory of this GPU (total − free from `cuMemGetInfo`, all processes on it).
    fn device_memory_bytes(&self) -> Option<u64> {
        self.ctx.bind_to_thread().ok()?;
        let (free, total) = cudarc::driver::result::mem_get_info().ok()?;
        Some(total.saturating_sub(free) as u64)
    }

    /// Grids everything pending and uploads a host grid handed out by `host_grid`.
    fn sync_device(&mut self) -> Result<(), GpuError> {
        self.streamer.flush(&mut self.grid, &mut self.clock)?;
        if self.host_dirty {
            let timer = Timer::new(&self.ctx)?;
            let s = self.stream.clone();
            timer.start(&s)?;
            let bounce = Bounce::get_or_make(&mut self.bounce, &s, BOUNCE_BYTES)?;
            bounce.upload(
                &s,
                bytemuck::cast_slice::<Complex<T>, T>(&self.host_grid),
                &mut self.grid,
            )?;
            self.clock.times.h2d_s += timer.stop(&s)?;
            self.host_dirty = false;
        }
        Ok(())
    }

    /// Grids everything pending and copies the device grid into the host grid.
    fn download_grid(&mut self) -> Result<(), GpuError> {
        self.sync_device()?;
        let n = self.geom.nu * self.geom.nv;
        if self.host_grid.len() != n {
            self.host_grid = vec![Complex::default(); n];
        }
        let timer = Timer::new(&self.ctx)?;
        let s = self.stream.clone();
        timer.start(&s)?;
        let bounce = Bounce::get_or_make(&mut self.bounce, &s, BOUNCE_BYTES)?;
        bounce.download(
            &s,
            &self.grid,
            bytemuck::cast_slice_mut::<Complex<T>, T>(&mut self.host_grid),
        )?;
        self.clock.times.d2h_s += timer.stop(&s)?;
        self.clock.settle()?;
        self.host_dirty = true;
        Ok(())
    }
}

/// Where 2-D records are built: `RIMAGER_GPU_RECORDS=device` (default) or `host`.
fn records_on_device() -> Result<bool, GpuError> {
    match std::env::var("RIMAGER_GPU_RECORDS").as_deref() {
        Err(_) | Ok("device") => Ok(true),
        Ok("host") => Ok(false),
        Ok(other) => Err(GpuError::Unsupported(format!(
            "RIMAGER_GPU_RECORDS={other}: expected \"device\" or \"host\""
        ))),
    }
}

impl<T: GpuReal> Gridder<T> for GpuGridder<T> {
    fn grid(
        &mut self,
        chunk: &VisChunk,
        freq_hz: &[f64],
        mode: GridMode,
        plane: Option<&WPlaneSel>,
    ) -> Result<GridCounts, GridError> {
        if plane.is_none() && self.device_records {
            let st = &mut self.streamer;
            return Ok(st.dev.grid(
                &mut st.bucketer,
                chunk,
                freq_hz,
                mode,
                &mut self.grid,
                &mut self.clock,
            )?);
        }
        let counts = self.streamer.add(&self.geom, chunk, freq_hz, mode, plane);
        if self.streamer.batch_full() {
            self.streamer.flush(&mut self.grid, &mut self.clock)?;
        }
        Ok(counts)
    }

    fn finish(&mut self) -> Result<(), GridError> {
        Ok(self.streamer.flush(&mut self.grid, &mut self.clock)?)
    }

    fn clear(&mut self) -> Result<(), GridError> {
        self.streamer.clear();
        self.host_dirty = false;
        self.stream
            .memset_zeros(&mut self.grid)
            .map_err(drv("cuMemsetD8(grid)"))?;
        Ok(())
    }

    fn geometry(&self) -> &GridGeometry {
        &self.geom
    }
}

impl<T: GpuReal> GridRows<T> for GpuGridder<T> {
    fn host_grid(&mut self) -> Result<&mut [Complex<T>], GridError> {
        self.download_grid()?;
        Ok(&mut self.host_grid)
    }
}

impl<T: GpuReal> ImageTransform<T> for GpuGridder<T> {
    fn to_image(&mut self, scale: f64) -> Result<(Vec<f64>, ImageTimings), GridError> {
        self.sync_device()?;
        Ok(self
            .transform
            .image(&mut self.grid, scale, &mut self.clock)?)
    }

    fn add_w_plane(&mut self, screen: &WScreen) -> Result<ImageTimings, GridError> {
        self.sync_device()?;
        Ok(self
            .transform
            .add_w_plane(&mut self.grid, screen, &mut self.clock)?)
    }

    fn take_w_sum(&mut self) -> Result<Vec<f64>, GridError> {
        Ok(self.transform.take_w_sum(&mut self.clock)?)
    }
}

impl<T: GpuReal> ImagingBackend<T> for GpuGridder<T> {
    fn report(&self) -> BackendReport {
        BackendReport {
            cpu_times: None,
            kind: BackendKind::Gpu,
            device_name: Some(self.device_name.clone()),
            stage_times: Some(self.clock.times),
            device_memory_bytes: self.device_memory_bytes(),
        }
    }
}
