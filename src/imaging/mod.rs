//! The imaging driver behind `rimager image`: the only code that loops over chunks, branches
//! on the rank or orders collectives (through [`crate::dist`]).
//!
//! A run is: open the source ([`source`]), resolve the [`ImagingPlan`] once ([`plan`]: pixel
//! size, precision, kernel and grid from ε, w-planes), build the imaging weights
//! ([`weights`]), then run one mode over the single chunk loop of [`pass`] — 2-D / MFS
//! ([`mfs`], with the channel cube of [`cube`]) or w-stacked ([`wstack`]) — reducing grids
//! over ranks as the plan says ([`reduce`], or routing records to slab owners: [`routed`]), and on rank 0 write the products ([`write`]).
//! Each rank takes its contiguous share of rows and grids it; every rank plans the same grid
//! from global quantities, so the reduction is well defined.
pub mod agree;
pub mod backend;
pub mod context;
pub mod cube;
pub mod driver;
pub mod error;
pub mod extent;
pub mod image2d;
pub mod memory;
pub mod mfs;
pub mod outset;
pub mod pass;
pub mod plan;
pub mod products;
pub mod reduce;
pub mod routed;
pub mod scalar;
pub mod source;
pub mod weights;
pub mod write;
pub mod wroute;
pub mod wrows;
pub mod wstack;

pub use context::Run;
pub use driver::{image, image_in_memory, run_image};
pub use error::ImagingError;
pub use plan::{ImageParams, ImagingMode, ImagingPlan, Precision};
pub use products::{CubePlane, ImageProducts};
pub use scalar::Scalar;
