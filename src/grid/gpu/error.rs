//! Errors of the GPU backend ([`GpuError`]) and the check that CUDA is usable ([`probe`]).
//! Imports nothing from the rest of the crate, so the grid module's `GridError` can wrap
//! it without an import cycle.
use cudarc::driver::{CudaContext, DriverError};

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
pub(super) fn drv(what: &'static str) -> impl FnOnce(DriverError) -> GpuError {
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
