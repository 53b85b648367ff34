//! The floating-point types the driver images with.
use crate::dist::Reducible;
use crate::grid::gpu::GpuReal;

/// f32 or f64: what the gridders (CPU and CUDA) and the MPI collectives all accept.
pub trait Scalar: GpuReal + Reducible {}

impl<T: GpuReal + Reducible> Scalar for T {}
