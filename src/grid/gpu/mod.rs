//! CUDA gridder: tiled shared-memory gridding, cuFFT and grid correction on one GPU.
//!
//! Method: the work distribution of Romein (2012), "An efficient work-distribution strategy for
//! gridding radio-telescope data on GPUs" (ICS '12), in the tiled shared-memory form of Merry
//! (2016, "Faster GPU-based convolutional gridding via thread coarsening") and of cuFINUFFT's
//! "SM" method (Shih et al. 2021, "cuFINUFFT: a load-balanced GPU library for general-purpose
//! nonuniform FFTs"):
//!
//! 1. the host turns each chunk into compact records, exactly as the CPU path does
//!    ([`super::cpu`]): footprint start relative to its `T × T` tile (`du`, `dv`), fractional
//!    offsets `su`, `sv ∈ [0, 1)` and the weighted value. Coordinates relative to the tile keep
//!    float32 accurate on large grids;
//! 2. records are batched on the host and streamed to the GPU in chunks of at most the chunk
//!    capacity ([`GpuGridder::chunk_records`]): each chunk is copied into one of two page-locked
//!    (pinned) staging buffers and sent by that buffer's own copy stream, while the compute
//!    stream buckets and grids the previous chunk (CUDA events order the two: the compute
//!    stream waits for a chunk's copy, a copy waits until the compute stream has read the
//!    device buffer it overwrites). Device memory for records is bounded (two staging chunks
//!    and one sorted chunk), so data larger than GPU memory images; the spreading of all
//!    chunks stays on the one compute stream, so no two kernels add into the grid at once.
//!    Nothing waits on the host between chunks: the spreading is launched for an upper bound
//!    of subproblems and surplus blocks return at once. On the GPU each chunk is bucketed by
//!    tile with a counting sort (histogram with atomics, exclusive scan, scatter), and each
//!    tile's range is cut into subproblems of at most [`MAX_SUBPROBLEM`] records;
//! 3. one thread block per subproblem accumulates its records' `W × W` footprints into a
//!    shared-memory buffer of `(T + W − 1)²` cells (the kernel evaluated by Horner's rule from
//!    the same [`crate::kernel::PolyKernel`] coefficients as the CPU path), then adds the
//!    buffer to the global grid once with atomics. By default W lanes of a warp share a record
//!    (`spread_warp`: lane k evaluates the kernel at column and row k only, row values move by
//!    warp shuffles, and each footprint row is W consecutive, bank-distinct cells); the
//!    thread-per-record kernel (`spread_thread`) stays for comparison, chosen with
//!    `RIMAGER_GPU_SPREAD=thread` (measured: `benchmarks/results/gpu-h100-2026-11-23-spread.md`);
//! 4. [`Gridder::to_image`] runs a cuFFT 2-D complex-to-complex backward transform in place,
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
use std::sync::Arc;
use std::time::Instant;

use cudarc::cufft::CudaFft;
use cudarc::driver::sys::{CUevent_flags, CUfunction_attribute};
use cudarc::driver::{
    CudaContext, CudaEvent, CudaFunction, CudaSlice, CudaStream, DevicePtrMut, DeviceRepr,
    DriverError, LaunchConfig, PinnedHostSlice, PushKernelArg,
};
use num_complex::Complex;
use tracing::{debug, info};

use super::{
    place_samples_in_plane, GridCounts, GridGeometry, GridMode, Gridder, ImageTimings, Real,
};
use crate::kernel;
use crate::vis::VisChunk;
use crate::wstack::{WPlaneSel, WScreen};

mod transfer;
use transfer::{par_copy, Bounce};

/// Bytes of each pinned bounce buffer for the grid's and image's trips to the host.
const BOUNCE_BYTES: usize = 32 << 20;

/// The gridding kernels' CUDA C source.
const GRID_CU: &str = include_str!("kernels/grid.cu");

/// Most records one thread block spreads (cuFINUFFT's `maxsubprobsize`).
pub const MAX_SUBPROBLEM: u32 = 1024;

/// Records collected on the host before they are streamed to the GPU.
const BATCH_RECORDS: usize = 1 << 24;

/// Most records of one streamed chunk (the default capacity is sized from free GPU memory).
const MAX_CHUNK_RECORDS: usize = 1 << 27;

/// Fewest records of one streamed chunk when the capacity is sized from free GPU memory.
const MIN_CHUNK_RECORDS: usize = 1 << 20;

/// Unsettled timing-event pairs kept before they are read (each read waits for the GPU).
const MAX_OPEN_TIMERS: usize = 192;

/// Threads per block of the spreading kernel.
const SPREAD_THREADS: u32 = 256;

/// Errors of the GPU backend, each naming what failed.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// A CUDA library could not be loaded.
    #[error("no usable CUDA GPU: the {0} library was not found")]
    LibraryMissing(&'static str),
    /// The driver loaded but reports no device.
    #[error("no usable CUDA GPU: the CUDA driver reports no device")]
    NoDevice,
    /// A CUDA driver call failed.
    #[error("CUDA {what} failed: {source}")]
    Driver {
        /// The operation.
        what: &'static str,
        /// The driver's error.
        source: DriverError,
    },
    /// NVRTC could not compile the kernels.
    #[error("NVRTC could not compile the CUDA kernels (kernels/grid.cu, {defines}): {log}")]
    Compile {
        /// The specialising `#define`s.
        defines: String,
        /// The compiler's log.
        log: String,
    },
    /// A cuFFT call failed.
    #[error("cuFFT {what} failed: {source}")]
    Cufft {
        /// The operation.
        what: &'static str,
        /// cuFFT's error.
        source: cudarc::cufft::result::CufftError,
    },
    /// The problem does not fit this implementation's limits.
    #[error("GPU gridder: {0}")]
    Unsupported(String),
}

/// Wraps a driver error with the name of the operation.
fn drv(what: &'static str) -> impl FnOnce(DriverError) -> GpuError {
    move |source| GpuError::Driver { what, source }
}

/// Checks that the CUDA driver, NVRTC and cuFFT libraries load and that the driver sees at
/// least one device; returns the device count. Touches no other CUDA function, so it is safe
/// on machines without CUDA (cudarc panics on a missing library once a function is called).
pub fn probe() -> Result<usize, GpuError> {
    // SAFETY: `is_culib_present` only tries to open the library under its candidate names
    // with `libloading`; it calls nothing in it.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err(GpuError::LibraryMissing("CUDA driver (libcuda)"));
    }
    // SAFETY: as above.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err(GpuError::LibraryMissing("NVRTC (libnvrtc)"));
    }
    // SAFETY: as above.
    if !unsafe { cudarc::cufft::sys::is_culib_present() } {
        return Err(GpuError::LibraryMissing("cuFFT (libcufft)"));
    }
    let n = CudaContext::device_count().map_err(drv("cuInit / cuDeviceGetCount"))?;
    if n <= 0 {
        return Err(GpuError::NoDevice);
    }
    Ok(n as usize)
}

/// Seconds spent in each GPU stage, measured with CUDA events.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GpuStageTimes {
    /// Host-to-device copies of records (and of a host grid handed out by `grid_mut`).
    pub h2d_s: f64,
    /// Counting sort by tile and subproblem list.
    pub bucket_s: f64,
    /// Shared-memory spreading.
    pub grid_s: f64,
    /// cuFFT backward transform.
    pub fft_s: f64,
    /// Crop, sign, correction and scale.
    pub correct_s: f64,
    /// Device-to-host copies (image, and the grid for the MPI reduction).
    pub d2h_s: f64,
}

/// The compiled kernels.
struct Kernels {
    histogram: CudaFunction,
    scan: CudaFunction,
    scatter: CudaFunction,
    count_sub: CudaFunction,
    fill_sub: CudaFunction,
    spread: CudaFunction,
    crop: CudaFunction,
    /// w-stacking: phase screen and accumulation of one transformed w-plane.
    w_screen: CudaFunction,
}

/// Records of one batch on the host, in the layout the kernels read.
#[derive(Default)]
struct HostRecords<T> {
    /// Tile index.
    key: Vec<u32>,
    /// `du | dv << 16`.
    duv: Vec<u32>,
    /// `[su, sv, re, im]` per record.
    vals: Vec<T>,
}

impl<T: Real> HostRecords<T> {
    fn len(&self) -> usize {
        self.key.len()
    }

    fn clear(&mut self) {
        self.key.clear();
        self.duv.clear();
        self.vals.clear();
    }

    fn append(&mut self, o: &HostRecords<T>) {
        self.key.extend_from_slice(&o.key);
        self.duv.extend_from_slice(&o.duv);
        self.vals.extend_from_slice(&o.vals);
    }
}

/// One of the two staging slots a chunk of records passes through: page-locked host buffers,
/// the device buffers they are copied into, and the stream doing the copy.
struct Slot<T> {
    /// Records the buffers hold.
    cap: usize,
    hkey: PinnedHostSlice<u32>,
    hduv: PinnedHostSlice<u32>,
    hvals: PinnedHostSlice<T>,
    key: CudaSlice<u32>,
    duv: CudaSlice<u32>,
    vals: CudaSlice<T>,
    /// The copy stream.
    stream: Arc<CudaStream>,
    /// Recorded on `stream` after a chunk's copies: the pinned buffers may be refilled and
    /// the device buffers hold the chunk.
    copied: CudaEvent,
    /// Recorded on the compute stream once the scatter has read the device buffers.
    consumed: CudaEvent,
}

impl<T: DeviceRepr + cudarc::driver::ValidAsZeroBits> Slot<T> {
    /// Allocates a slot for `cap` records with its copy stream.
    fn new(ctx: &Arc<CudaContext>, stream: Arc<CudaStream>, cap: usize) -> Result<Self, GpuError> {
        let ev = || ctx.new_event(None).map_err(drv("cuEventCreate"));
        // SAFETY: the pinned buffers are only read by copies after the host has filled the
        // part copied (`stream_chunk` writes records 0..m before copying 0..m).
        let (hkey, hduv, hvals) = unsafe {
            (
                ctx.alloc_pinned::<u32>(cap)
                    .map_err(drv("cuMemHostAlloc(record keys)"))?,
                ctx.alloc_pinned::<u32>(cap)
                    .map_err(drv("cuMemHostAlloc(record offsets)"))?,
                ctx.alloc_pinned::<T>(4 * cap)
                    .map_err(drv("cuMemHostAlloc(record values)"))?,
            )
        };
        Ok(Self {
            cap,
            hkey,
            hduv,
            hvals,
            key: stream
                .alloc_zeros::<u32>(cap)
                .map_err(drv("cuMemAlloc(record keys)"))?,
            duv: stream
                .alloc_zeros::<u32>(cap)
                .map_err(drv("cuMemAlloc(record offsets)"))?,
            vals: stream
                .alloc_zeros::<T>(4 * cap)
                .map_err(drv("cuMemAlloc(record values)"))?,
            copied: ev()?,
            consumed: ev()?,
            stream,
        })
    }
}

impl<T> Drop for Slot<T> {
    fn drop(&mut self) {
        // The pinned buffers must outlive the asynchronous copies from them; a failure here
        // has nowhere to go and leaves the context in error anyway.
        let _ = self.copied.synchronize();
    }
}

/// Device buffers of the compute stream sized for one chunk: records sorted by tile and the
/// subproblem list.
struct Sorted<T> {
    /// Records they hold.
    cap: usize,
    sduv: CudaSlice<u32>,
    svals: CudaSlice<T>,
    sub_tile: CudaSlice<u32>,
    sub_start: CudaSlice<u32>,
}

/// Which [`GpuStageTimes`] field an event pair adds to.
#[derive(Clone, Copy)]
enum Stage {
    H2d,
    Bucket,
    Grid,
}

/// Records a timing event on `s`.
fn mark(ctx: &Arc<CudaContext>, s: &CudaStream) -> Result<CudaEvent, GpuError> {
    let e = ctx
        .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
        .map_err(drv("cuEventCreate"))?;
    e.record(s).map_err(drv("cuEventRecord"))?;
    Ok(e)
}

/// A pair of timing events.
struct Timer {
    a: CudaEvent,
    b: CudaEvent,
}

impl Timer {
    fn new(ctx: &Arc<CudaContext>) -> Result<Self, GpuError> {
        let f = Some(CUevent_flags::CU_EVENT_DEFAULT);
        Ok(Self {
            a: ctx.new_event(f).map_err(drv("cuEventCreate"))?,
            b: ctx.new_event(f).map_err(drv("cuEventCreate"))?,
        })
    }

    fn start(&self, s: &CudaStream) -> Result<(), GpuError> {
        self.a.record(s).map_err(drv("cuEventRecord"))
    }

    /// Records the end and returns the seconds since `start` (waits for the stream).
    fn stop(&self, s: &CudaStream) -> Result<f64, GpuError> {
        self.b.record(s).map_err(drv("cuEventRecord"))?;
        let ms = self
            .a
            .elapsed_ms(&self.b)
            .map_err(drv("cuEventElapsedTime"))?;
        Ok(f64::from(ms) * 1e-3)
    }
}

/// The CUDA gridder (one GPU).
pub struct GpuGridder<T: Real> {
    geom: GridGeometry,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    k: Kernels,
    /// Interleaved complex grid `[nv][nu][2]`.
    grid: CudaSlice<T>,
    count: CudaSlice<u32>,
    offsets: CudaSlice<u32>,
    cursor: CudaSlice<u32>,
    nsub: CudaSlice<u32>,
    suboff: CudaSlice<u32>,
    /// The two staging slots, allocated on first use.
    slots: [Option<Slot<T>>; 2],
    /// Their copy streams.
    copy_streams: [Arc<CudaStream>; 2],
    /// The slot the next chunk goes through.
    next_slot: usize,
    sorted: Option<Sorted<T>>,
    /// Records per streamed chunk at most.
    chunk_cap: usize,
    /// Records collected on the host before they are streamed.
    batch_records: usize,
    /// Timing events recorded but not yet read.
    open_timers: Vec<(Stage, CudaEvent, CudaEvent)>,
    cx: CudaSlice<f64>,
    cy: CudaSlice<f64>,
    image: CudaSlice<f64>,
    fft: CudaFft,
    pending: HostRecords<T>,
    host_grid: Vec<Complex<T>>,
    /// Pinned bounce buffers for the grid's trips to and from the host (made on first use).
    bounce: Option<Bounce<T>>,
    /// The same for the image.
    bounce_image: Option<Bounce<f64>>,
    /// The host grid was handed out by `grid_mut` and may have changed.
    host_dirty: bool,
    smem_bytes: u32,
    times: GpuStageTimes,
    device_name: String,
    /// The w-plane being gridded (w-stacking), or `None` for 2-D imaging.
    plane: Option<WPlaneSel>,
    /// w-stacking: the plane sum `[ny][nx]` on the device, allocated on first use.
    w_sum: Option<CudaSlice<f64>>,
}

impl<T: Real> GpuGridder<T> {
    /// Sets up device `ordinal` (modulo the device count): compiles the kernels with NVRTC,
    /// plans the FFT and allocates the grid.
    pub fn new(geom: GridGeometry, ordinal: usize) -> Result<Self, GpuError> {
        let ndev = probe()?;
        let ordinal = ordinal % ndev;
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
        let ctx = CudaContext::new(ordinal).map_err(drv("cuCtxCreate / primary context"))?;
        let stream = ctx.default_stream();
        let device_name = ctx.name().unwrap_or_else(|_| "unknown GPU".into());
        let (cc_major, cc_minor) = ctx
            .compute_capability()
            .map_err(drv("cuDeviceGetAttribute(compute capability)"))?;

        let t = Instant::now();
        let defines = specialisation::<T>(&geom);
        let src = format!("{defines}\n{GRID_CU}");
        let opts = cudarc::nvrtc::CompileOptions {
            options: vec![format!("--gpu-architecture=compute_{cc_major}{cc_minor}")],
            name: Some("grid.cu".into()),
            ..Default::default()
        };
        let summary = format!(
            "REAL={} W={} DEG={} TILE={} grid {}x{}, {}",
            T::CUDA_NAME,
            width,
            geom.poly.degree,
            tile,
            nu,
            nv,
            spread_kernel_name()?
        );
        let ptx = cudarc::nvrtc::compile_ptx_with_opts(&src, opts).map_err(|e| match e {
            cudarc::nvrtc::CompileError::CompileError { log, .. } => GpuError::Compile {
                defines: summary.clone(),
                log: log.to_string_lossy().into_owned(),
            },
            other => GpuError::Compile {
                defines: summary.clone(),
                log: format!("{other:?}"),
            },
        })?;
        let module = ctx.load_module(ptx).map_err(drv("cuModuleLoadData"))?;
        let f = |name: &'static str| module.load_function(name).map_err(drv(name));
        let k = Kernels {
            histogram: f("histogram")?,
            scan: f("scan_exclusive")?,
            scatter: f("scatter")?,
            count_sub: f("count_subproblems")?,
            fill_sub: f("fill_subproblems")?,
            spread: f(spread_kernel_name()?)?,
            crop: f("crop_correct")?,
            w_screen: f("w_screen_accumulate")?,
        };
        let bw = tile + width - 1;
        let smem_bytes = (2 * bw * bw * std::mem::size_of::<T>()) as u32;
        let smem_max = ctx
            .attribute(
                cudarc::driver::sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
            )
            .map_err(drv("cuDeviceGetAttribute(max shared memory per block)"))?;
        if smem_bytes as i64 > i64::from(smem_max) {
            return Err(GpuError::Unsupported(format!(
                "tile_size {tile} needs {smem_bytes} bytes of shared memory per block, the GPU has \
                 {smem_max}: choose a smaller image.tile_size"
            )));
        }
        if smem_bytes > 48 * 1024 {
            k.spread
                .set_attribute(
                    CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    smem_bytes as i32,
                )
                .map_err(drv("cuFuncSetAttribute(max dynamic shared memory)"))?;
        }
        let compile_s = t.elapsed().as_secs_f64();
        info!(
            "GPU {ordinal} ({device_name}, sm_{cc_major}{cc_minor}): NVRTC compiled the gridding kernels ({summary}) in {compile_s:.3} s"
        );

        let t = Instant::now();
        let copy_streams = [
            ctx.new_stream().map_err(drv("cuStreamCreate(copy)"))?,
            ctx.new_stream().map_err(drv("cuStreamCreate(copy)"))?,
        ];
        let ntiles = (nu / tile) * (nv / tile);
        let alloc = |n: usize, what: &'static str| stream.alloc_zeros::<u32>(n).map_err(drv(what));
        let grid = stream
            .alloc_zeros::<T>(2 * nu * nv)
            .map_err(drv("cuMemAlloc(grid)"))?;
        let count = alloc(ntiles + 1, "cuMemAlloc(tile counts)")?;
        let offsets = alloc(ntiles + 1, "cuMemAlloc(tile offsets)")?;
        let cursor = alloc(ntiles + 1, "cuMemAlloc(tile cursors)")?;
        let nsub = alloc(ntiles + 1, "cuMemAlloc(subproblem counts)")?;
        let suboff = alloc(ntiles + 1, "cuMemAlloc(subproblem offsets)")?;
        let cxv = kernel::correction(&geom.kernel, geom.nx, nu);
        let cyv = kernel::correction(&geom.kernel, geom.ny, nv);
        let cx = stream
            .clone_htod(&cxv)
            .map_err(drv("cuMemcpyHtoD(correction)"))?;
        let cy = stream
            .clone_htod(&cyv)
            .map_err(drv("cuMemcpyHtoD(correction)"))?;
        let image = stream
            .alloc_zeros::<f64>(geom.nx * geom.ny)
            .map_err(drv("cuMemAlloc(image)"))?;
        let fft_type = if T::IS_DOUBLE {
            cudarc::cufft::sys::cufftType::CUFFT_Z2Z
        } else {
            cudarc::cufft::sys::cufftType::CUFFT_C2C
        };
        // Row-major [nv][nu]: the slowest dimension first.
        let fft =
            CudaFft::plan_2d(nv as i32, nu as i32, fft_type, stream.clone()).map_err(|source| {
                GpuError::Cufft {
                    what: "cufftPlan2d",
                    source,
                }
            })?;
        // Chunk capacity: a quarter of the free memory for two staging chunks and one sorted
        // chunk, within [MIN_CHUNK_RECORDS, MAX_CHUNK_RECORDS].
        let (free, _) = cudarc::driver::result::mem_get_info().map_err(drv("cuMemGetInfo"))?;
        let per_record = 3 * (8 + 4 * std::mem::size_of::<T>());
        let mut chunk_cap = (free / 4 / per_record).clamp(MIN_CHUNK_RECORDS, MAX_CHUNK_RECORDS);
        let mut batch_records = BATCH_RECORDS;
        // Test hook: `RIMAGER_GPU_CHUNK_RECORDS` forces small chunks (as `set_chunk_records`).
        if let Some(v) = std::env::var("RIMAGER_GPU_CHUNK_RECORDS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
        {
            chunk_cap = v.clamp(1, MAX_CHUNK_RECORDS);
            batch_records = 3 * chunk_cap;
        }
        debug!(
            "GPU {ordinal}: allocated the {nu}x{nv} grid and planned the FFT in {:.3} s; \
             chunks of up to {chunk_cap} records",
            t.elapsed().as_secs_f64()
        );
        Ok(Self {
            geom,
            ctx,
            stream,
            k,
            grid,
            count,
            offsets,
            cursor,
            nsub,
            suboff,
            slots: [None, None],
            copy_streams,
            next_slot: 0,
            sorted: None,
            chunk_cap,
            batch_records,
            open_timers: Vec::new(),
            cx,
            cy,
            image,
            fft,
            pending: HostRecords::default(),
            host_grid: Vec::new(),
            bounce: None,
            bounce_image: None,
            host_dirty: false,
            smem_bytes,
            times: GpuStageTimes::default(),
            device_name,
            plane: None,
            w_sum: None,
        })
    }

    /// The GPU's name.
    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    /// Seconds spent in each GPU stage so far. The streamed stages (copies, bucketing,
    /// spreading) are added to these totals when [`Gridder::to_image`] or
    /// [`Gridder::grid_mut`] waits for the GPU (queuing a chunk does not wait).
    pub fn stage_times(&self) -> GpuStageTimes {
        self.times
    }

    fn ntiles(&self) -> (usize, usize) {
        (self.geom.nu / self.geom.tile, self.geom.nv / self.geom.tile)
    }

    /// Records per streamed chunk at most.
    pub fn chunk_records(&self) -> usize {
        self.chunk_cap
    }

    /// Sets the records per streamed chunk (at least 1), and collects at most three chunks on
    /// the host before streaming them; for tests of the streaming with small chunks.
    pub fn set_chunk_records(&mut self, records: usize) -> Result<(), GpuError> {
        self.flush()?;
        self.chunk_cap = records.max(1);
        self.batch_records = 3 * self.chunk_cap;
        Ok(())
    }

    /// Sets the bytes of each pinned bounce buffer through which the grid and the image cross
    /// to the host (default 32 MiB); for tests of the piecewise copies with many small pieces.
    pub fn set_bounce_bytes(&mut self, bytes: usize) -> Result<(), GpuError> {
        self.bounce = Some(Bounce::with_piece_bytes(&self.stream, bytes)?);
        self.bounce_image = Some(Bounce::with_piece_bytes(&self.stream, bytes)?);
        Ok(())
    }

    /// Reads the recorded timing events into the stage times (waits for them).
    fn settle_times(&mut self) -> Result<(), GpuError> {
        for (stage, a, b) in self.open_timers.drain(..) {
            let secs = f64::from(a.elapsed_ms(&b).map_err(drv("cuEventElapsedTime"))?) * 1e-3;
            match stage {
                Stage::H2d => self.times.h2d_s += secs,
                Stage::Bucket => self.times.bucket_s += secs,
                Stage::Grid => self.times.grid_s += secs,
            }
        }
        Ok(())
    }

    /// Makes sure staging slot `si` and the sorted buffers hold `need` records (reallocating
    /// after waiting for the GPU when they are smaller).
    fn reserve(&mut self, si: usize, need: usize) -> Result<(), GpuError> {
        let small_slot = self.slots[si].as_ref().is_none_or(|sl| sl.cap < need);
        let small_sorted = self.sorted.as_ref().is_none_or(|so| so.cap < need);
        if !(small_slot || small_sorted) {
            return Ok(());
        }
        self.ctx
            .synchronize()
            .map_err(drv("cuCtxSynchronize(reallocate)"))?;
        if small_slot {
            self.slots[si] = None;
            self.slots[si] = Some(Slot::new(&self.ctx, self.copy_streams[si].clone(), need)?);
        }
        if small_sorted {
            let (ntu, ntv) = self.ntiles();
            let nsub = need / MAX_SUBPROBLEM as usize + ntu * ntv + 1;
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
        }
        Ok(())
    }

    /// Streams the pending records to the GPU chunk by chunk, bucketing and gridding each.
    /// Returns once the last chunk is queued (the host buffer is free again).
    fn flush(&mut self) -> Result<(), GpuError> {
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
            self.stream_chunk(start, m, need)?;
            start += m;
        }
        self.pending.clear();
        if self.open_timers.len() > MAX_OPEN_TIMERS {
            self.settle_times()?;
        }
        Ok(())
    }

    /// Copies pending records `start..start + m` through the next staging slot and queues
    /// their bucketing and spreading on the compute stream.
    fn stream_chunk(&mut self, start: usize, m: usize, need: usize) -> Result<(), GpuError> {
        let si = self.next_slot;
        self.next_slot ^= 1;
        self.reserve(si, need.max(m))?;
        let (ntu, ntv) = self.ntiles();
        let ntiles = ntu * ntv;
        let ctx = self.ctx.clone();
        let s = self.stream.clone();
        let (Some(slot), Some(so)) = (self.slots[si].as_mut(), self.sorted.as_mut()) else {
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
        self.open_timers.push((Stage::H2d, t0, t1));

        // Compute stream: wait for the copy, bucket by tile, then spread.
        s.wait(&slot.copied)
            .map_err(drv("cuStreamWaitEvent(records copied)"))?;
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
        s.memset_zeros(&mut self.count)
            .map_err(drv("cuMemsetD8(tile counts)"))?;
        let mut b = s.launch_builder(&self.k.histogram);
        b.arg(&slot.key).arg(&n32).arg(&mut self.count);
        // SAFETY: `key` holds m tile indices < ntiles (made by `make_records`) and `count`
        // has ntiles + 1 elements; the argument types match the kernel's signature.
        unsafe { b.launch(blocks(n32)) }.map_err(drv("launch histogram"))?;
        let mut b = s.launch_builder(&self.k.scan);
        b.arg(&self.count).arg(&nt32).arg(&mut self.offsets);
        // SAFETY: `count` has ntiles (+1) elements and `offsets` ntiles + 1.
        unsafe { b.launch(one_block) }.map_err(drv("launch scan_exclusive(tiles)"))?;
        s.memcpy_dtod(&self.offsets, &mut self.cursor)
            .map_err(drv("cuMemcpyDtoD(tile cursors)"))?;
        let mut b = s.launch_builder(&self.k.scatter);
        b.arg(&slot.key)
            .arg(&slot.duv)
            .arg(&slot.vals)
            .arg(&n32)
            .arg(&mut self.cursor)
            .arg(&mut so.sduv)
            .arg(&mut so.svals);
        // SAFETY: all record arrays hold at least m records (4m values), the cursors start at
        // each tile's offset, so every write index is below m.
        unsafe { b.launch(blocks(n32)) }.map_err(drv("launch scatter"))?;
        slot.consumed.record(&s).map_err(drv("cuEventRecord"))?;
        let mut b = s.launch_builder(&self.k.count_sub);
        b.arg(&self.count).arg(&nt32).arg(&mut self.nsub);
        // SAFETY: both arrays have ntiles + 1 elements.
        unsafe { b.launch(blocks(nt32)) }.map_err(drv("launch count_subproblems"))?;
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
        self.open_timers.push((Stage::Bucket, b0, b1));
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
            .arg(&mut self.grid);
        let cfg = LaunchConfig {
            grid_dim: (max_sub.max(1), 1, 1),
            block_dim: (SPREAD_THREADS, 1, 1),
            shared_mem_bytes: self.smem_bytes,
        };
        // SAFETY: blocks below suboff[ntiles] read subproblems filled above, each naming a
        // tile < ntiles and a record range inside that tile's bucket; footprints start at
        // du, dv < tile so they stay inside the (tile + W − 1)² shared buffer, and grid
        // writes wrap modulo nu, nv. All spreading is on this one stream, so no two launches
        // add into the grid at once.
        unsafe { b.launch(cfg) }.map_err(drv("launch spread"))?;
        let g1 = mark(&ctx, &s)?;
        self.open_timers.push((Stage::Grid, g0, g1));
        Ok(())
    }

    /// Grids everything pending and uploads a host grid handed out by `grid_mut`.
    fn sync_device(&mut self) -> Result<(), GpuError> {
        self.flush()?;
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
            self.times.h2d_s += timer.stop(&s)?;
            self.host_dirty = false;
        }
        Ok(())
    }

    /// Backward FFT of the device grid in place.
    fn fft_in_place(&mut self) -> Result<(), GpuError> {
        let s = self.stream.clone();
        let (ptr, _guard) = self.grid.device_ptr_mut(&s);
        let dir = cudarc::cufft::FftDirection::Inverse as std::ffi::c_int;
        // SAFETY: the plan was made for this nv × nu transform of T's complex type on this
        // stream, and `ptr` points to the 2·nu·nv values of the grid, transformed in place.
        let r = unsafe {
            if T::IS_DOUBLE {
                cudarc::cufft::result::exec_z2z(
                    self.fft.handle(),
                    ptr as *mut _,
                    ptr as *mut _,
                    dir,
                )
            } else {
                cudarc::cufft::result::exec_c2c(
                    self.fft.handle(),
                    ptr as *mut _,
                    ptr as *mut _,
                    dir,
                )
            }
        };
        r.map_err(|source| GpuError::Cufft {
            what: "cufftExecC2C/Z2Z",
            source,
        })
    }

    fn try_grid_chunk(
        &mut self,
        chunk: &VisChunk,
        freq_hz: &[f64],
        mode: GridMode,
    ) -> Result<GridCounts, GpuError> {
        let parts: Vec<(HostRecords<T>, GridCounts)> =
            super::par_row_blocks(chunk.nrow(), |rows| {
                make_records::<T>(&self.geom, chunk, freq_hz, rows, mode, self.plane.as_ref())
            });
        let mut counts = GridCounts::default();
        for (r, c) in parts {
            counts.merge(&c);
            self.pending.append(&r);
        }
        if self.pending.len() >= self.batch_records {
            self.flush()?;
        }
        Ok(counts)
    }

    fn try_grid_mut(&mut self) -> Result<(), GpuError> {
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
        self.times.d2h_s += timer.stop(&s)?;
        self.settle_times()?;
        self.host_dirty = true;
        Ok(())
    }

    fn try_to_image(&mut self, scale: f64) -> Result<(Vec<f64>, ImageTimings), GpuError> {
        self.sync_device()?;
        let g = &self.geom;
        let (nx, ny) = (g.nx as u32, g.ny as u32);
        let timer = Timer::new(&self.ctx)?;
        let s = self.stream.clone();
        timer.start(&s)?;
        self.fft_in_place()?;
        let fft_s = timer.stop(&s)?;
        timer.start(&s)?;
        {
            // Poison the image (all-ones bytes are NaN) so unwritten pixels show.
            let nbytes = self.image.len() * std::mem::size_of::<f64>();
            let (ptr, _guard) = self.image.device_ptr_mut(&s);
            // SAFETY: `ptr` points to the image's nx·ny f64 values, on this stream.
            unsafe { cudarc::driver::result::memset_d8_async(ptr, 0xff, nbytes, s.cu_stream()) }
                .map_err(drv("cuMemsetD8Async(image poison)"))?;
        }
        let mut b = s.launch_builder(&self.k.crop);
        b.arg(&self.grid)
            .arg(&self.cx)
            .arg(&self.cy)
            .arg(&scale)
            .arg(&mut self.image);
        let cfg = LaunchConfig {
            grid_dim: (nx.div_ceil(256), ny, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the kernel reads grid cells at indices < nu·nv, cx[x < nx], cy[y < ny] and
        // writes image[y][x] for x < nx, y < ny.
        unsafe { b.launch(cfg) }.map_err(drv("launch crop_correct"))?;
        let correct_s = timer.stop(&s)?;
        timer.start(&s)?;
        let mut img = vec![0.0f64; self.image.len()];
        let bounce = Bounce::get_or_make(&mut self.bounce_image, &s, BOUNCE_BYTES)?;
        bounce.download(&s, &self.image, &mut img)?;
        self.times.d2h_s += timer.stop(&s)?;
        self.times.fft_s += fft_s;
        self.times.correct_s += correct_s;
        self.settle_times()?;
        debug!("GPU stage times so far: {:?}", self.times);
        Ok((img, ImageTimings { fft_s, correct_s }))
    }

    /// w-stacking: FFT of the device grid, then the phase screen and accumulation of the real
    /// part into the device plane sum (nothing comes back to the host).
    fn try_add_w_plane(&mut self, screen: &WScreen) -> Result<ImageTimings, GpuError> {
        self.sync_device()?;
        let (nx, ny) = (self.geom.nx as u32, self.geom.ny as u32);
        let timer = Timer::new(&self.ctx)?;
        let s = self.stream.clone();
        if self.w_sum.is_none() {
            self.w_sum = Some(
                s.alloc_zeros::<f64>(self.geom.nx * self.geom.ny)
                    .map_err(drv("cuMemAlloc(w-plane sum)"))?,
            );
        }
        timer.start(&s)?;
        self.fft_in_place()?;
        let fft_s = timer.stop(&s)?;
        timer.start(&s)?;
        let Some(sum) = self.w_sum.as_mut() else {
            return Err(GpuError::Unsupported("w-plane sum not allocated".into()));
        };
        let mut b = s.launch_builder(&self.k.w_screen);
        b.arg(&self.grid)
            .arg(&screen.w_lambda)
            .arg(&screen.nshift)
            .arg(&screen.cell_rad)
            .arg(sum);
        let cfg = LaunchConfig {
            grid_dim: (nx.div_ceil(256), ny, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the kernel reads grid cells at indices < nu·nv and reads and writes
        // sum[y][x] for x < nx, y < ny (the nx·ny values allocated above), on this stream.
        unsafe { b.launch(cfg) }.map_err(drv("launch w_screen_accumulate"))?;
        let screen_s = timer.stop(&s)?;
        self.times.fft_s += fft_s;
        self.times.correct_s += screen_s;
        self.settle_times()?;
        Ok(ImageTimings {
            fft_s,
            correct_s: screen_s,
        })
    }

    /// w-stacking: copies the device plane sum to the host and zeroes it.
    fn try_take_w_sum(&mut self) -> Result<Vec<f64>, GpuError> {
        let n = self.geom.nx * self.geom.ny;
        let Some(sum) = self.w_sum.as_mut() else {
            return Ok(vec![0.0; n]);
        };
        let s = self.stream.clone();
        let timer = Timer::new(&self.ctx)?;
        timer.start(&s)?;
        let mut out = vec![0.0f64; sum.len()];
        Bounce::get_or_make(&mut self.bounce_image, &s, BOUNCE_BYTES)?
            .download(&s, sum, &mut out)?;
        self.times.d2h_s += timer.stop(&s)?;
        s.memset_zeros(sum)
            .map_err(drv("cuMemsetD8(w-plane sum)"))?;
        Ok(out)
    }

    fn try_clear(&mut self) -> Result<(), GpuError> {
        self.pending.clear();
        self.host_dirty = false;
        self.stream
            .memset_zeros(&mut self.grid)
            .map_err(drv("cuMemsetD8(grid)"))
    }
}

/// The spreading kernel: `spread_warp` (W lanes of a warp per record, the default) or
/// `spread_thread` (a thread per record), chosen by `RIMAGER_GPU_SPREAD=warp|thread` so the
/// two can be compared in one benchmark run.
fn spread_kernel_name() -> Result<&'static str, GpuError> {
    match std::env::var("RIMAGER_GPU_SPREAD").as_deref() {
        Err(_) | Ok("warp") => Ok("spread_warp"),
        Ok("thread") => Ok("spread_thread"),
        Ok(other) => Err(GpuError::Unsupported(format!(
            "RIMAGER_GPU_SPREAD={other}: expected \"warp\" or \"thread\""
        ))),
    }
}

/// The `#define`s that specialise `kernels/grid.cu` for this geometry and precision.
fn specialisation<T: Real>(g: &GridGeometry) -> String {
    let coefs: Vec<String> = g
        .poly
        .coeffs
        .iter()
        .map(|c| {
            if T::IS_DOUBLE {
                format!("{c:.17e}")
            } else {
                format!("{:.9e}f", *c as f32)
            }
        })
        .collect();
    format!(
        "#define REAL {}\n#define W {}\n#define DEG {}\n#define COEFS {}\n#define TILE {}\n\
         #define NU {}\n#define NV {}\n#define NTU {}\n#define NX {}\n#define NY {}\n\
         #define MAXSUB {}u\n",
        T::CUDA_NAME,
        g.kernel.width,
        g.poly.degree,
        coefs.join(", "),
        g.tile,
        g.nu,
        g.nv,
        g.nu / g.tile,
        g.nx,
        g.ny,
        MAX_SUBPROBLEM
    )
}

/// Turns rows `rows` of `chunk` into records (same arithmetic as the CPU path's records).
fn make_records<T: Real>(
    g: &GridGeometry,
    chunk: &VisChunk,
    freq_hz: &[f64],
    rows: std::ops::Range<usize>,
    mode: GridMode,
    plane: Option<&WPlaneSel>,
) -> (HostRecords<T>, GridCounts) {
    let cap = rows.len() * freq_hz.len();
    let mut out = HostRecords {
        key: Vec::with_capacity(cap),
        duv: Vec::with_capacity(cap),
        vals: Vec::with_capacity(4 * cap),
    };
    let t = |x: f64| T::from_f64(x).unwrap_or_default();
    let counts = place_samples_in_plane(g, chunk, freq_hz, rows, mode, plane, |p| {
        out.key.push(p.tile);
        out.duv.push((p.du | (p.dv << 16)) as u32);
        out.vals
            .extend_from_slice(&[t(p.su), t(p.sv), t(p.re), t(p.im)]);
    });
    (out, counts)
}

impl<T: Real> Gridder<T> for GpuGridder<T> {
    fn grid_chunk(
        &mut self,
        chunk: &VisChunk,
        freq_hz: &[f64],
        mode: GridMode,
    ) -> Result<GridCounts, super::GridError> {
        Ok(self.try_grid_chunk(chunk, freq_hz, mode)?)
    }

    fn grid_mut(&mut self) -> Result<&mut [Complex<T>], super::GridError> {
        self.try_grid_mut()?;
        Ok(&mut self.host_grid)
    }

    fn clear(&mut self) -> Result<(), super::GridError> {
        Ok(self.try_clear()?)
    }

    fn to_image(&mut self, scale: f64) -> Result<(Vec<f64>, ImageTimings), super::GridError> {
        Ok(self.try_to_image(scale)?)
    }

    fn geometry(&self) -> &GridGeometry {
        &self.geom
    }

    fn backend_name(&self) -> &'static str {
        "gpu"
    }

    fn device_stage_times(&self) -> Option<GpuStageTimes> {
        Some(self.times)
    }

    /// Used memory of this GPU (total − free from `cuMemGetInfo`, all processes on it).
    fn device_memory_bytes(&self) -> Option<u64> {
        self.ctx.bind_to_thread().ok()?;
        let (free, total) = cudarc::driver::result::mem_get_info().ok()?;
        Some(total.saturating_sub(free) as u64)
    }

    fn set_w_plane(&mut self, plane: Option<WPlaneSel>) {
        self.plane = plane;
    }

    fn add_w_plane(&mut self, screen: &WScreen) -> Result<ImageTimings, super::GridError> {
        Ok(self.try_add_w_plane(screen)?)
    }

    fn take_w_sum(&mut self) -> Result<Vec<f64>, super::GridError> {
        Ok(self.try_take_w_sum()?)
    }
}
