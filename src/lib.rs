//! rimager: an MPI + rayon radio-interferometric imaging mini-app.
//!
//! Data flow, one module per stage:
//! [`config`] → [`vis`] (HDF5 visibilities) or [`simulate`] → [`kernel`] (ES kernel from ε)
//! → [`grid`] (tiled convolutional gridding behind the [`grid::Gridder`] trait) → [`dist`]
//! (MPI reduction) → [`fft`] → [`imaging`] (grid correction, crop, normalisation) → [`output`]
//! (HDF5 + FITS + PNG; [`image`] has the statistics and sky coordinates of image planes), with [`dft`] (direct Fourier transform) for verification and [`metrics`]
//! for per-stage timings, resources ([`resources`]) and energy ([`energy`]); [`scaling`] is the
//! strong/weak scaling harness; [`weighting`] (natural/uniform/Briggs), [`wstack`]
//! (w-stacking for wide fields) and [`channels`] (MFS and channel cubes).
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
