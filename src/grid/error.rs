//! [`GridError`]: what a backend's operations can fail with.
use super::gpu::error::GpuError;

/// Errors of a gridder (the CPU gridder fails only on a geometry it cannot grid; the GPU one
/// reports CUDA failures).
#[derive(Debug, thiserror::Error)]
pub enum GridError {
    /// The geometry does not suit the backend.
    #[error("gridder geometry: {0}")]
    Geometry(String),
    /// The GPU backend failed.
    #[error(transparent)]
    Gpu(#[from] GpuError),
}
