//! The "exponential of semicircle" (ES) gridding kernel of Barnett, Magland & af Klinteberg,
//! "A parallel non-uniform fast Fourier transform library based on an 'exponential of
//! semicircle' kernel", SIAM J. Sci. Comput. 41 (2019), with its width `W`, shape `β` and grid
//! oversampling `σ` chosen from a requested accuracy ε as ducc0's wgridder does (Arras et al.,
//! A&A 646, A58, 2021): among all candidate (W, σ) whose estimated aliasing error is at most ε,
//! take the one with the lowest modelled cost for the data size at hand.
//!
//! In grid-cell units the kernel is `ψ(t) = exp(β (sqrt(1 − (2t/W)²) − 1))` for `|t| < W/2`.
//! Gridding evaluates it through a piecewise polynomial ([`PolyKernel`], one polynomial per
//! cell of the support, as ducc0 does) and the image is corrected by `1/ψ̂` computed by
//! Gauss–Legendre quadrature ([`EsKernel::fourier`]).
//!
//! Files: [`es`] (the kernel, its transform, the aliasing estimate and the correction `1/ψ̂`),
//! [`poly`] (the piecewise polynomial and the accuracy it is fitted to), [`plan`] (candidate
//! kernels, grid sizes and the cost model) and [`table`] (the precomputed kernels).
pub mod es;
pub mod plan;
pub mod poly;
pub mod table;

pub use es::{aliasing_error, correction, EsKernel};
pub use plan::{
    choose_grid, compute_kernel_table, good_fft_size, grid_candidates, grid_cost, kernel_table,
    GridSpec, KernelError, BATCH_SAMPLES, MAX_WIDTH, MIN_WIDTH,
};
pub use poly::PolyKernel;
