//! Choosing kernel and grid from ε: the candidate (W, σ) pairs with their precomputed
//! optimal kernels ([`super::table`]), FFT-friendly grid sizes and the cost model that picks
//! the cheapest candidate reaching ε.
use std::sync::OnceLock;

use super::es::EsKernel;

/// Errors choosing a kernel.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// No tabulated kernel reaches the requested accuracy.
    #[error(
        "no kernel reaches epsilon = {epsilon:e} (the most accurate available gives {best:e})"
    )]
    Unreachable {
        /// The requested accuracy.
        epsilon: f64,
        /// The smallest error estimate of any tabulated kernel.
        best: f64,
    },
}

/// Smallest and largest supported kernel widths, in grid cells.
pub const MIN_WIDTH: usize = 4;
/// Largest supported kernel width (must not exceed the tile size + 1).
pub const MAX_WIDTH: usize = 16;

/// Candidate oversampling factors σ = (grid size) / (image size).
const OVERSAMPLING: [f64; 11] = [
    1.20, 1.25, 1.30, 1.35, 1.40, 1.50, 1.60, 1.75, 2.00, 2.25, 2.50,
];

/// Computes the optimised kernel for every candidate (W, σ) (about 2 s on two cores; the
/// result is stored in [`super::table`] so runs don't pay for it).
pub fn compute_kernel_table() -> Vec<EsKernel> {
    use rayon::prelude::*;
    let pairs: Vec<(usize, f64)> = (MIN_WIDTH..=MAX_WIDTH)
        .flat_map(|w| OVERSAMPLING.iter().map(move |&s| (w, s)))
        .collect();
    pairs
        .par_iter()
        .map(|&(w, s)| EsKernel::optimised(w, s))
        .collect()
}

/// The table of optimised kernels for every candidate (W, σ) (precomputed).
pub fn kernel_table() -> &'static [EsKernel] {
    static TABLE: OnceLock<Vec<EsKernel>> = OnceLock::new();
    TABLE.get_or_init(|| {
        super::table::KERNELS
            .iter()
            .map(|&(width, oversampling, beta, error_estimate)| EsKernel {
                width,
                beta,
                oversampling,
                error_estimate,
            })
            .collect()
    })
}

/// Gridding geometry derived from ε: the kernel, and the grid size for an image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridSpec {
    /// The kernel.
    pub kernel: EsKernel,
    /// Grid size along u (image x), cells; a multiple of 2 × tile size.
    pub nu: usize,
    /// Grid size along v (image y), cells; a multiple of 2 × tile size.
    pub nv: usize,
}

/// Smallest `n ≥ min` that is a multiple of `multiple` and whose cofactor has only the prime
/// factors 2, 3, 5 (sizes rustfft transforms fastest). The cofactor is found by enumerating
/// `3^b 5^c` and the least power of two above (O(log² n) steps for any `min`; `usize::MAX` if
/// no such size fits).
pub fn good_fft_size(min: usize, multiple: usize) -> usize {
    let multiple = multiple.max(1) as u128;
    let k = (min as u128).div_ceil(multiple).max(1);
    let mut best = u128::MAX;
    let mut p5 = 1u128;
    while p5 < 2 * k {
        let mut p35 = p5;
        while p35 < 2 * k {
            let mut m = p35;
            while m < k {
                m *= 2;
            }
            best = best.min(m);
            p35 *= 3;
        }
        p5 *= 5;
    }
    usize::try_from(best * multiple).unwrap_or(usize::MAX)
}

/// Samples the CPU gridder collects before it spreads them and flushes its tile buffers into
/// the grid (one pass over the occupied grid per batch, which the cost model counts).
pub const BATCH_SAMPLES: usize = 1 << 23;

/// Chooses kernel and grid for an `nx × ny` image of `nvis` visibilities at accuracy `epsilon`.
///
/// Cost model (arbitrary units, calibrated on the CPU gridder, as ducc0's wgridder chooses
/// by its own measured costs): gridding costs `nvis · (W + 4) · WP` per sample (the hot loop
/// runs `W` rows of `WP` cells, `W` padded to a multiple of 4, and two Horner evaluations of
/// `WP` lanes), each batch of [`BATCH_SAMPLES`] one pass over the `N = nu·nv` grid to flush
/// the tile buffers, and the FFT `N log₂ N` per pass (the second pass runs only over the
/// `1/σ` of columns the image keeps).
pub fn choose_grid(
    nx: usize,
    ny: usize,
    nvis: u64,
    epsilon: f64,
    tile: usize,
) -> Result<GridSpec, KernelError> {
    let mut best: Option<(f64, GridSpec)> = None;
    for spec in grid_candidates(nx, ny, epsilon, tile) {
        let cost = grid_cost(&spec, nx, nvis, 1.0, 1.0);
        if best.is_none_or(|(c, _)| cost < c) {
            best = Some((cost, spec));
        }
    }
    best.map(|(_, g)| g)
        .ok_or_else(|| KernelError::Unreachable {
            epsilon,
            best: kernel_table()
                .iter()
                .map(|k| k.error_estimate)
                .fold(f64::INFINITY, f64::min),
        })
}

/// Every candidate kernel whose error estimate is at most `epsilon` and that fits the tile, with
/// its grid for an `nx × ny` image (in table order).
pub fn grid_candidates(nx: usize, ny: usize, epsilon: f64, tile: usize) -> Vec<GridSpec> {
    kernel_table()
        .iter()
        // The CPU gridder pads the footprint to a multiple of 4 cells; it must fit a tile + 1.
        .filter(|k| k.error_estimate <= epsilon && k.width.div_ceil(4) * 4 <= tile + 1)
        .map(|k| {
            let nu =
                good_fft_size((nx as f64 * k.oversampling).ceil() as usize, 2 * tile).max(2 * tile);
            let nv =
                good_fft_size((ny as f64 * k.oversampling).ceil() as usize, 2 * tile).max(2 * tile);
            GridSpec { kernel: *k, nu, nv }
        })
        .collect()
}

/// Modelled cost of imaging `nvis` samples with `spec` (see [`choose_grid`]): each sample is
/// gridded `copies` times (1 in 2-D, W with w-stacking) and the grid transformed `nfft` times.
pub fn grid_cost(spec: &GridSpec, nx: usize, nvis: u64, copies: f64, nfft: f64) -> f64 {
    let w = spec.kernel.width as f64;
    let wp = spec.kernel.width.div_ceil(4) as f64 * 4.0;
    let samples = nvis as f64 * copies;
    let grid_cost = samples * (w + 4.0) * wp * GRID_COST_PER_POINT;
    let n = (spec.nu * spec.nv) as f64;
    let batches = (samples / BATCH_SAMPLES as f64).ceil().max(1.0);
    let flush_cost = batches * n * FLUSH_COST_PER_CELL;
    let fft_cost = n * n.log2() * (0.5 + 0.5 * nx as f64 / spec.nu as f64) * FFT_COST_PER_POINT;
    grid_cost + flush_cost + nfft * fft_cost
}

/// Relative cost of one kernel-footprint cell update (see [`choose_grid`]).
const GRID_COST_PER_POINT: f64 = 1.0;
/// Relative cost of flushing one grid cell from a tile buffer (memory traffic; see
/// [`choose_grid`]).
const FLUSH_COST_PER_CELL: f64 = 2.0;
/// Relative cost of one FFT butterfly-point (see [`choose_grid`]).
const FFT_COST_PER_POINT: f64 = 0.6;

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn table_matches_computation() {
        let table = kernel_table();
        assert_eq!(
            table.len(),
            (MAX_WIDTH - MIN_WIDTH + 1) * OVERSAMPLING.len()
        );
        for i in [0, 37, 88, table.len() - 1] {
            let t = table[i];
            let k = EsKernel::optimised(t.width, t.oversampling);
            assert!((k.beta - t.beta).abs() < 1e-9 * t.beta, "{k:?} vs {t:?}");
            assert!(
                (k.error_estimate - t.error_estimate).abs() <= 1e-6 * t.error_estimate,
                "{k:?} vs {t:?}"
            );
        }
    }

    #[test]
    fn chooser_meets_epsilon_and_grows_grid_for_accuracy() {
        for eps in [1e-2, 1e-4, 1e-6, 1e-8] {
            let g = choose_grid(1024, 1024, 1_000_000, eps, 32).unwrap();
            assert!(g.kernel.error_estimate <= eps);
            assert!(g.nu >= 1024 && g.nu % 64 == 0);
        }
        let lo = choose_grid(1024, 1024, 1_000_000, 1e-2, 32).unwrap();
        let hi = choose_grid(1024, 1024, 1_000_000, 1e-8, 32).unwrap();
        assert!(hi.kernel.width > lo.kernel.width);
        assert!(choose_grid(64, 64, 10, 1e-15, 32).is_err());
    }

    #[test]
    fn good_sizes_are_smooth_multiples() {
        assert_eq!(good_fft_size(1000, 64), 1024);
        // Huge sizes end at once (a linear search would step ~10¹⁰ times).
        let huge = good_fft_size(200_000_000_000_000, 64);
        assert!(huge >= 200_000_000_000_000 && huge % 64 == 0, "{huge}");
        let mut m = huge / 64;
        for p in [2, 3, 5] {
            while m % p == 0 {
                m /= p;
            }
        }
        assert_eq!(m, 1);
        assert_eq!(good_fft_size(usize::MAX, 64), usize::MAX);
        for min in 1usize..3000 {
            let brute = (min.div_ceil(32)..)
                .map(|q| q * 32)
                .find(|&n| {
                    let mut m = n / 32;
                    for p in [2, 3, 5] {
                        while m % p == 0 {
                            m /= p;
                        }
                    }
                    m == 1
                })
                .unwrap();
            assert_eq!(good_fft_size(min, 32), brute, "min {min}");
        }
        let n = good_fft_size(1300, 64);
        assert!(n >= 1300 && n % 64 == 0);
    }
}
