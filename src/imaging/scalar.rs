//! The floating-point types the driver images with.
use crate::dist::Reducible;
use crate::grid::Real;

/// f32 or f64: what the gridders, the MPI collectives and the CUDA kernels all accept.
pub trait Scalar: Real + Reducible {}

impl<T: Real + Reducible> Scalar for T {}
