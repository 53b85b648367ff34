//! Convolutional gridding of visibilities onto a regular uv grid.
//!
//! A backend is three pieces the imaging driver composes ([`backend`]): a [`Gridder`] puts
//! samples onto the grid, [`GridRows`] hands the grid out in host memory for the MPI reduction,
//! and an [`ImageTransform`] turns it into an image (or adds it to a w-stacking plane sum);
//! [`ImagingBackend`] is all three with a [`BackendReport`]. [`cpu::CpuGridder`] implements
//! them with rayon and [`gpu::GpuGridder`] with CUDA. Both share [`GridGeometry`] (grid and
//! image sizes, pixel size, kernel) and the sample selection and grid arithmetic of [`place`].
//!
//! Conventions (WSClean's, see `docs/conventions.md`): the dirty image is
//! `I(l, m) = Σ w V exp(−2πi (u l + v m)) / Σ w` on pixels `l = −(x − nx/2)·cell`,
//! `m = (y − ny/2)·cell`. Writing `px = x − nx/2`, `py = y − ny/2` this is
//! `Σ w V exp(2πi (u·cell·px − v·cell·py))`, so a sample is placed at grid position
//! `(u·cell·nu, −v·cell·nv)` (cells from the grid centre) and the grid is transformed with a
//! `+i` (backward) FFT.
pub mod backend;
pub mod cpu;
pub mod error;
pub mod geometry;
pub mod gpu;
pub mod place;

pub use backend::{
    BackendKind, BackendReport, CpuStageTimes, DeviceStageTimes, GridRows, Gridder, ImageTimings,
    ImageTransform, ImagingBackend,
};
pub use error::GridError;
pub use geometry::GridGeometry;
pub use place::{par_row_blocks, place_samples_in_plane, GridCounts, GridMode, Placed};
