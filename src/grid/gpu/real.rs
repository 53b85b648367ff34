//! [`GpuReal`]: the precisions the CUDA backend computes in.
use crate::real::Real;

/// A [`Real`] that can live in device memory and be named in the CUDA C source.
pub trait GpuReal: Real + cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits {
    /// The CUDA C type (`float` or `double`).
    const CUDA_NAME: &'static str;
}

impl GpuReal for f32 {
    const CUDA_NAME: &'static str = "float";
}

impl GpuReal for f64 {
    const CUDA_NAME: &'static str = "double";
}
