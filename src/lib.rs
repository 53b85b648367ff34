//! rimager: an MPI + rayon (+ CUDA) radio-interferometric imaging mini-app.
//!
//! Layers, bottom to top (a module imports only from its own layer or below; see
//! `docs/architecture.md`, enforced by `tests/layout.rs`):
//! 1. leaves and data: [`constants`], [`real`], [`config`], [`vis`] (the [`vis::VisRead`]
//!    sources, the one sample-selection rule in [`vis::samples`], channel selection),
//!    [`image`] (plane statistics, sky coordinates), [`progress`], [`plot`], [`resources`];
//! 2. maths: [`kernel`] (ES kernel from ε), [`wstack`], [`weighting`], [`dft`] (the float64
//!    reference), [`simulate`];
//! 3. engines: [`dist`] (everything MPI), [`fft`], [`grid`] (CPU and CUDA backends behind
//!    [`grid::Gridder`], [`grid::GridRows`] and [`grid::ImageTransform`]);
//! 4. output and metrics: [`output`] (HDF5, FITS, PNG), [`metrics`] (typed stages), [`energy`];
//! 5. the driver [`imaging`] (plan, the one chunk loop, reduction, 2-D / cube / w-stacked
//!    modes, products);
//! 6. commands: [`cmd`] (`simulate`, `verify`, `info`), [`scaling`];
//! 7. the command line, [`cli`].
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

pub mod cli;
pub mod cmd;
pub mod config;
pub mod constants;
pub mod dft;
pub mod dist;
pub mod energy;
pub mod fft;
pub mod grid;
pub mod image;
pub mod imaging;
pub mod kernel;
pub mod metrics;
pub mod output;
pub mod plot;
pub mod progress;
pub mod real;
pub mod resources;
pub mod scaling;
pub mod simulate;
pub mod vis;
pub mod weighting;
pub mod wstack;
