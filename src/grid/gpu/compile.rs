//! Run-time specialisation of the CUDA kernels: `kernels/grid.cu` compiled by NVRTC with the
//! kernel width, polynomial degree and coefficients, tile size, grid and image sizes and the
//! precision baked in as `#define`s, and the choice of spreading kernel.
use std::sync::Arc;
use std::time::Instant;

use cudarc::driver::sys::CUfunction_attribute;
use cudarc::driver::{CudaContext, CudaFunction};
use tracing::info;

use super::error::{drv, GpuError};
use super::real::GpuReal;
use crate::grid::geometry::GridGeometry;

/// The gridding kernels' CUDA C source.
const GRID_CU: &str = include_str!("kernels/grid.cu");

/// Most records one thread block spreads (cuFINUFFT's `maxsubprobsize`).
pub const MAX_SUBPROBLEM: u32 = 1024;

/// The compiled kernels that bucket and spread records.
pub(super) struct SpreadKernels {
    pub(super) histogram: CudaFunction,
    pub(super) scan: CudaFunction,
    pub(super) scatter: CudaFunction,
    pub(super) count_sub: CudaFunction,
    pub(super) fill_sub: CudaFunction,
    pub(super) spread: CudaFunction,
    /// Builds records from raw samples on the device (`place_samples`).
    pub(super) place: CudaFunction,
    /// Dynamic shared memory of one spreading block, bytes.
    pub(super) smem_bytes: u32,
}

/// The compiled kernels that turn the transformed grid into an image.
pub(super) struct ImageKernels {
    /// Crop, centring sign, grid correction and scale.
    pub(super) crop: CudaFunction,
    /// w-stacking: phase screen and accumulation of one transformed w-plane.
    pub(super) w_screen: CudaFunction,
}

/// Compiles the kernels for `geom` and precision `T` on device `ordinal` (`ctx`, named
/// `device_name`, for the log), loads them and gives the spreading kernel its shared memory.
pub(super) fn compile<T: GpuReal>(
    ctx: &Arc<CudaContext>,
    geom: &GridGeometry,
    ordinal: usize,
    device_name: &str,
) -> Result<(SpreadKernels, ImageKernels), GpuError> {
    let (nu, nv, tile, width) = (geom.nu, geom.nv, geom.tile, geom.kernel.width);
    let (cc_major, cc_minor) = ctx
        .compute_capability()
        .map_err(drv("cuDeviceGetAttribute(compute capability)"))?;
    let t = Instant::now();
    let defines = specialisation::<T>(geom);
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
    let (histogram, scan, scatter) = (f("histogram")?, f("scan_exclusive")?, f("scatter")?);
    let (count_sub, fill_sub) = (f("count_subproblems")?, f("fill_subproblems")?);
    let spread = f(spread_kernel_name()?)?;
    let place = f("place_samples")?;
    let image = ImageKernels {
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
        spread
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
    Ok((
        SpreadKernels {
            histogram,
            scan,
            scatter,
            count_sub,
            fill_sub,
            spread,
            place,
            smem_bytes,
        },
        image,
    ))
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
fn specialisation<T: GpuReal>(g: &GridGeometry) -> String {
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
         #define NU {}\n#define NV {}\n#define NTU {}\n#define NTILES {}u\n#define NX {}\n#define NY {}\n\
         #define MAXSUB {}u\n#define MIN_WEIGHT {:.9e}f\n#define MAX_WEIGHT {:.9e}f\n",
        T::CUDA_NAME,
        g.kernel.width,
        g.poly.degree,
        coefs.join(", "),
        g.tile,
        g.nu,
        g.nv,
        g.nu / g.tile,
        (g.nu / g.tile) * (g.nv / g.tile),
        g.nx,
        g.ny,
        MAX_SUBPROBLEM,
        crate::vis::samples::MIN_WEIGHT,
        crate::vis::samples::MAX_WEIGHT,
    )
}
