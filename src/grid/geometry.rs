//! [`GridGeometry`]: what every backend shares about a grid, its image and its kernel.
use crate::kernel::{EsKernel, GridSpec, PolyKernel};

/// Geometry shared by all gridders: grid size, pixel size and kernel.
#[derive(Clone, Debug)]
pub struct GridGeometry {
    /// Image width, pixels.
    pub nx: usize,
    /// Image height, pixels.
    pub ny: usize,
    /// Grid size along u, cells.
    pub nu: usize,
    /// Grid size along v, cells.
    pub nv: usize,
    /// Pixel size, radians.
    pub cell_rad: f64,
    /// The requested accuracy ε the kernel and grid were chosen for.
    pub epsilon: f64,
    /// The kernel.
    pub kernel: EsKernel,
    /// Its piecewise-polynomial form ([`PolyKernel::for_epsilon`]).
    pub poly: PolyKernel,
    /// Tile side, cells.
    pub tile: usize,
}

impl GridGeometry {
    /// Builds the geometry for `spec` at accuracy `epsilon`, the kernel's polynomial form
    /// fitted for that accuracy ([`PolyKernel::for_epsilon`]).
    pub fn new(
        nx: usize,
        ny: usize,
        cell_rad: f64,
        spec: &GridSpec,
        epsilon: f64,
        tile: usize,
    ) -> Self {
        Self {
            nx,
            ny,
            nu: spec.nu,
            nv: spec.nv,
            cell_rad,
            epsilon,
            kernel: spec.kernel,
            poly: PolyKernel::for_epsilon(&spec.kernel, epsilon),
            tile,
        }
    }
}
