//! Combining grids and counts over ranks.
//!
//! [`Reduction::ToRoot`] sums every rank's grid into rank 0's, sending only the band of grid
//! rows (v) that some rank wrote to: each rank finds its first and last non-zero row, the
//! ranks agree on the union, and the rows outside it, zero on every rank, stay off the
//! network. The result is the same as reducing every row.
//!
//! [`Reduction::Slab`] uses the same band, split into one slab of rows per rank: the ranks
//! sum it with a reduce-scatter and transform it together with the slab-decomposed FFT of
//! [`crate::dist::slab_fft`], and only the image reaches rank 0 ([`slab_image`]).
use num_complex::Complex;
use rayon::prelude::*;

use super::error::ImagingError;
use super::scalar::Scalar;
use crate::dist::slab_fft::{SlabLayout, SlabTimes, SlabTransform};
use crate::dist::Dist;
use crate::grid::{GridCounts, GridGeometry, GridRows};

/// How the grids of the ranks are combined before the image transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    /// Sum the occupied band of grid rows into rank 0, which transforms it.
    ToRoot,
    /// Reduce-scatter the band into slabs of rows, transform with the distributed FFT and
    /// gather the image to rank 0.
    Slab,
    /// Route every sample's record to the owners of the rows its footprint touches, grid
    /// each slab on its owner ([`super::routed`]), then the distributed FFT.
    Route,
}

impl From<crate::config::Reduction> for Reduction {
    fn from(r: crate::config::Reduction) -> Self {
        match r {
            crate::config::Reduction::Root => Reduction::ToRoot,
            crate::config::Reduction::Slab => Reduction::Slab,
            crate::config::Reduction::Route => Reduction::Route,
        }
    }
}

/// The band of grid rows some rank wrote (`0..0` when no rank wrote any): the union over
/// ranks of each rank's occupied rows.
fn global_band<T: Scalar>(dist: &Dist, grid: &[Complex<T>], nu: usize) -> std::ops::Range<usize> {
    let (lo, hi) = occupied_rows(grid, nu);
    let hi = dist.all_max_f64(hi as f64) as usize;
    let lo = dist.all_min_f64(lo as f64) as usize;
    if lo < hi {
        lo..hi
    } else {
        0..0
    }
}

/// Calls `f` with the slab transform of `geom` (its grid correction along both axes) scaled
/// by `scale`.
pub fn with_slab_transform<R>(
    geom: &GridGeometry,
    scale: f64,
    f: impl FnOnce(&SlabTransform) -> R,
) -> R {
    let corr_x = crate::kernel::correction(&geom.kernel, geom.nx, geom.nu);
    let corr_y = crate::kernel::correction(&geom.kernel, geom.ny, geom.nv);
    let tr = SlabTransform {
        nu: geom.nu,
        nv: geom.nv,
        nx: geom.nx,
        ny: geom.ny,
        corr_x: &corr_x,
        corr_y: &corr_y,
        scale,
    };
    f(&tr)
}

/// The slab mode's reduction and transform: sums the grids of `g` over the ranks slab by
/// slab and transforms them on every rank with the distributed FFT, grid correction of
/// `geom`'s kernel and `scale` included; the image on rank 0.
pub fn slab_image<T: Scalar>(
    dist: &Dist,
    g: &mut dyn GridRows<T>,
    geom: &GridGeometry,
    scale: f64,
) -> Result<(Option<Vec<f64>>, SlabTimes), ImagingError> {
    let t = std::time::Instant::now();
    let grid = g.host_grid()?;
    let band = global_band(dist, grid, geom.nu);
    let band_s = t.elapsed().as_secs_f64();
    if dist.is_root() {
        tracing::debug!(
            "slab reduction of grid rows {band:?} of {} over {} rank(s)",
            geom.nv,
            dist.size()
        );
    }
    let layout = SlabLayout::new(band, geom.nx, dist.size());
    let (image, mut times) = with_slab_transform(geom, scale, |tr| {
        crate::dist::slab_fft::slab_image(dist, grid, &layout, tr)
    });
    times.reduce_s += band_s;
    if dist.is_root() {
        tracing::debug!(
            "slab: band {band_s:.3} s, reduce {:.3} s, transpose + gather {:.3} s, FFT {:.3} s, correction {:.3} s (rank 0)",
            times.reduce_s - band_s,
            times.transpose_s,
            times.fft_s,
            times.correct_s
        );
    }
    Ok((image, times))
}

impl Reduction {
    /// Sums the grids of `g` (rows of `nu` cells) over the ranks of `dist` into rank 0's. With
    /// one rank there is nothing to do, and the grid stays wherever the backend keeps it.
    pub fn reduce<T: Scalar>(
        self,
        dist: &Dist,
        g: &mut dyn GridRows<T>,
        nu: usize,
    ) -> Result<(), ImagingError> {
        match self {
            // The slab mode transforms as it reduces ([`slab_image`]); where a caller needs
            // the whole grid on rank 0 it sums to rank 0.
            Reduction::ToRoot | Reduction::Slab | Reduction::Route => {
                reduce_band_to_root(dist, g, nu)
            }
        }
    }
}

fn reduce_band_to_root<T: Scalar>(
    dist: &Dist,
    g: &mut dyn GridRows<T>,
    nu: usize,
) -> Result<(), ImagingError> {
    if dist.size() == 1 {
        return Ok(());
    }
    let grid = g.host_grid()?;
    let nv = grid.len() / nu.max(1);
    // Union over ranks (a rank with no data offers the empty band).
    let band = global_band(dist, grid, nu);
    let (lo, hi) = (band.start, band.end);
    if lo < hi {
        if dist.is_root() {
            tracing::debug!(
                "reducing grid rows {lo}..{hi} of {nv} ({:.1} % of the grid)",
                100.0 * (hi - lo) as f64 / nv.max(1) as f64
            );
        }
        dist.sum_to_root(bytemuck::cast_slice_mut::<_, T>(
            &mut grid[lo * nu..hi * nu],
        ));
    }
    Ok(())
}

/// The rows `lo..hi` of a row-major grid with `nu` cells per row outside which every cell is
/// zero (`(nv, 0)`, an empty band, for an all-zero grid).
fn occupied_rows<T: Scalar>(grid: &[Complex<T>], nu: usize) -> (usize, usize) {
    let zero = |row: &[Complex<T>]| row.iter().all(|c| c.re == T::zero() && c.im == T::zero());
    let rows: Vec<&[Complex<T>]> = grid.chunks(nu.max(1)).collect();
    let nv = rows.len();
    match (
        rows.par_iter().position_first(|r| !zero(r)),
        rows.par_iter().position_last(|r| !zero(r)),
    ) {
        (Some(lo), Some(last)) => (lo, last + 1),
        _ => (nv, 0),
    }
}

/// Sums counts over ranks (every rank gets the totals).
pub fn global_counts(dist: &Dist, c: &GridCounts) -> GridCounts {
    let mut v = c.to_array();
    dist.all_sum_f64(&mut v);
    GridCounts::from_array(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occupied_rows_finds_the_band() {
        let nu = 5;
        let mut g = vec![Complex::<f32>::default(); nu * 8];
        assert_eq!(occupied_rows(&g, nu), (8, 0), "all zero: empty band");
        g[2 * nu + 4] = Complex::new(1.0, 0.0);
        assert_eq!(occupied_rows(&g, nu), (2, 3));
        g[6 * nu] = Complex::new(0.0, -2.0);
        assert_eq!(occupied_rows(&g, nu), (2, 7));
        g[0] = Complex::new(1e-30, 0.0);
        assert_eq!(occupied_rows(&g, nu), (0, 7));
    }
}
