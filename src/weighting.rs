//! Imaging weights: natural, uniform and Briggs robust weighting, with an optional Gaussian uv
//! taper, as WSClean defines them.
//!
//! Reference: WSClean's `structures/imageweights.h` and `imageweights.cpp` (Offringa et al.,
//! MNRAS 444, 606, 2014; read in the public `tjgalvin/wsclean` fork of
//! `aroffringa/wsclean`), robust weighting after Briggs (PhD thesis, New Mexico Tech, 1995).
//!
//! * **Density grid.** The summed weights `W_k` of the samples are counted on a uv grid of the
//!   image's size (`nx × ny` cells of `1/(nx·cell)` by `1/(ny·cell)` wavelengths; WSClean uses
//!   its *padded* image size, so WSClean matches with `-padding 1`). Only the half plane
//!   `v ≥ 0` is stored: a sample with `v < 0` counts at `(−u, −v)`, so a visibility and its
//!   Hermitian conjugate share a cell. A sample at (u, v) lies in cell
//!   `x = floor(u·nx·cell + nx/2)`, `y = floor(v·ny·cell)` (WSClean's `uvToXY`).
//! * **Uniform**: a sample's weight is multiplied by `1 / W_k`.
//! * **Briggs** with robustness R: by `1 / (1 + W_k·s²)`, where
//!   `s² = (5·10^(−R))² / W̄` and `W̄ = Σ_k W_k² / Σ_k W_k` (sums over cells).
//!   R = −2 is close to uniform, R = +2 close to natural.
//! * **Gaussian taper** of image-domain FWHM θ: every cell's factor is further multiplied by
//!   `exp(−(u² + v²) / (2σ²))` with `σ = 1/(2π σ_l)`, `σ_l = θ / (2√(2 ln 2))`: the taper whose
//!   Fourier transform is a Gaussian of FWHM θ. Like WSClean, (u, v) is that of the cell
//!   (`u = (x − nx/2)/(nx·cell)`, `v = y/(ny·cell)`), not of the sample.
//! * **No rank filter.** WSClean by default also clips every cell factor above 3 × the mean of
//!   the non-zero factors in a 16 × 16 window (`-weighting-rank-filter 3`,
//!   `ImageWeights::RankFilter`); rimager does not, so it matches WSClean run with
//!   `-weighting-rank-filter 0` (see `benchmarks/results/real-data-wsclean.md`).
//!
//! Each MPI rank counts its own samples and the driver sums the grids over ranks
//! (`imaging::weights`), so the weights, and the image, do not depend on the number of ranks.
//! The same selection rule as the gridders ([`crate::vis::samples`]) decides which samples
//! count. The weights are
//! applied by multiplying each chunk's weights before gridding (image and PSF) and before the
//! direct Fourier transform of `rimager verify`; the image stays normalised by the sum of the
//! weights actually used, so the PSF peaks at 1.
use crate::config::{ImageConfig, Weighting};
use crate::constants::RAD_PER_ARCSEC;
use crate::vis::samples::for_each_used;
use crate::vis::VisChunk;

/// `2√(2 ln 2)`: FWHM / σ of a Gaussian.
const FWHM_PER_SIGMA: f64 = 2.354_820_045_030_949_4;

/// Which weighting to apply.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WeightingSpec {
    /// Natural, uniform or Briggs.
    pub mode: Weighting,
    /// Briggs robustness R (only used with [`Weighting::Briggs`]).
    pub robust: f64,
    /// FWHM of the Gaussian taper in the image domain, arcsec; 0 = none.
    pub taper_arcsec: f64,
}

impl WeightingSpec {
    /// The weighting `[image]` asks for.
    pub fn from_config(im: &ImageConfig) -> Self {
        Self {
            mode: im.weighting,
            robust: im.robust,
            taper_arcsec: im.taper_arcsec,
        }
    }

    /// Natural weighting without a taper.
    pub fn natural() -> Self {
        Self {
            mode: Weighting::Natural,
            robust: 0.0,
            taper_arcsec: 0.0,
        }
    }

    /// Parses the `weighting` attribute of an image file (`""` = natural, as written by
    /// versions without weighting).
    pub fn from_attributes(weighting: &str, robust: f64, taper_arcsec: f64) -> Option<Self> {
        let mode = match weighting {
            "" | "natural" => Weighting::Natural,
            "uniform" => Weighting::Uniform,
            "briggs" => Weighting::Briggs,
            _ => return None,
        };
        let finite_or_zero = |x: f64| if x.is_finite() { x } else { 0.0 };
        Some(Self {
            mode,
            robust: finite_or_zero(robust),
            taper_arcsec: finite_or_zero(taper_arcsec),
        })
    }

    /// Whether every imaging weight is 1 (natural weighting, no taper): no density pass.
    pub fn is_identity(&self) -> bool {
        self.mode == Weighting::Natural && self.taper_arcsec <= 0.0
    }

    /// A short description, e.g. `briggs(-0.5), taper 3 arcsec`.
    pub fn describe(&self) -> String {
        let mut s = match self.mode {
            Weighting::Briggs => format!("briggs({})", self.robust),
            m => m.name().to_string(),
        };
        if self.taper_arcsec > 0.0 {
            s += &format!(", Gaussian taper {} arcsec", self.taper_arcsec);
        }
        s
    }
}

/// The Gaussian uv taper at (u, v) wavelengths whose image-domain counterpart has FWHM
/// `fwhm_rad`: `exp(−(u² + v²)/(2σ²))`, `σ = FWHM_PER_SIGMA / (2π·fwhm_rad)`.
pub fn gaussian_taper(u: f64, v: f64, fwhm_rad: f64) -> f64 {
    let sigma_uv = FWHM_PER_SIGMA / (2.0 * std::f64::consts::PI * fwhm_rad);
    (-(u * u + v * v) / (2.0 * sigma_uv * sigma_uv)).exp()
}

/// The weight-density grid: summed weights per uv cell over the half plane `v ≥ 0`
/// (see the module documentation for the cell arithmetic).
#[derive(Clone, Debug)]
pub struct DensityGrid {
    width: usize,
    height: usize,
    cell_rad: f64,
    /// `[height/2][width]`, row = y.
    cells: Vec<f64>,
}

impl DensityGrid {
    /// An empty grid for an `nx × ny` image of pixel size `cell_rad` (odd sizes are rounded up
    /// to even, as WSClean does).
    pub fn new(nx: usize, ny: usize, cell_rad: f64) -> Self {
        let width = nx + nx % 2;
        let height = ny + ny % 2;
        Self {
            width,
            height,
            cell_rad,
            cells: vec![0.0; width * (height / 2)],
        }
    }

    /// Cell of the sample at (u, v) wavelengths, or `None` beyond the grid.
    #[inline]
    pub fn index(&self, u: f64, v: f64) -> Option<usize> {
        let (u, v) = if v < 0.0 { (-u, -v) } else { (u, v) };
        let (w, h) = (self.width as f64, self.height as f64);
        let x = (u * w * self.cell_rad + 0.5 * w).floor();
        let y = (v * h * self.cell_rad).floor();
        if x >= 0.0 && x < w && y >= 0.0 && y < (self.height / 2) as f64 {
            Some(y as usize * self.width + x as usize)
        } else {
            None
        }
    }

    /// (u, v) of cell `index`, wavelengths (WSClean's `xyToUV`: the cell's low corner).
    fn cell_uv(&self, index: usize) -> (f64, f64) {
        let (x, y) = (index % self.width, index / self.width);
        (
            (x as f64 - (self.width / 2) as f64) / (self.width as f64 * self.cell_rad),
            y as f64 / (self.height as f64 * self.cell_rad),
        )
    }

    /// Adds the weights of the usable samples of `chunk` (channel frequencies `freq_hz`).
    pub fn add_chunk(&mut self, chunk: &VisChunk, freq_hz: &[f64]) {
        for_each_used(chunk, freq_hz, self.cell_rad, |s| {
            if let Some(i) = self.index(s.u_lambda, s.v_lambda) {
                self.cells[i] += chunk.weight[s.flat] as f64;
            }
        });
    }

    /// Grid width and height (cells of the half plane stored), and the cell size in
    /// wavelengths, for messages.
    pub fn shape(&self) -> (usize, usize, f64) {
        (
            self.width,
            self.height / 2,
            1.0 / (self.width as f64 * self.cell_rad),
        )
    }

    /// The cells, for summing over ranks.
    pub fn cells_mut(&mut self) -> &mut [f64] {
        &mut self.cells
    }

    /// Turns the summed weights into the imaging-weight factor of each cell.
    pub fn finish(mut self, spec: &WeightingSpec) -> ImagingWeights {
        match spec.mode {
            Weighting::Natural => {
                for c in &mut self.cells {
                    *c = 1.0;
                }
            }
            Weighting::Uniform => {
                for c in &mut self.cells {
                    *c = if *c != 0.0 { 1.0 / *c } else { 0.0 };
                }
            }
            Weighting::Briggs => {
                let total: f64 = self.cells.iter().sum();
                let sum_sq: f64 = self.cells.iter().map(|c| c * c).sum();
                let avg_w = sum_sq / total;
                let f = 5.0 * 10f64.powf(-spec.robust);
                let s_sq = f * f / avg_w;
                for c in &mut self.cells {
                    *c = 1.0 / (1.0 + *c * s_sq);
                }
            }
        }
        if spec.taper_arcsec > 0.0 {
            let fwhm_rad = spec.taper_arcsec * RAD_PER_ARCSEC;
            for i in 0..self.cells.len() {
                let (u, v) = self.cell_uv(i);
                self.cells[i] *= gaussian_taper(u, v, fwhm_rad);
            }
        }
        ImagingWeights { factors: self }
    }
}

/// The imaging-weight factor of every uv cell, ready to multiply samples' weights by.
#[derive(Clone, Debug)]
pub struct ImagingWeights {
    factors: DensityGrid,
}

impl ImagingWeights {
    /// The factor for a sample at (u, v) wavelengths (0 beyond the grid).
    #[inline]
    pub fn factor(&self, u: f64, v: f64) -> f64 {
        self.factors
            .index(u, v)
            .map_or(0.0, |i| self.factors.cells[i])
    }

    /// Multiplies the weight of every usable sample of `chunk` by its factor. A factor of 0
    /// (a sample beyond the density grid) leaves weight 0, so the gridders drop the sample.
    pub fn apply(&self, chunk: &mut VisChunk, freq_hz: &[f64]) {
        let mut factors = Vec::with_capacity(chunk.weight.len());
        for_each_used(chunk, freq_hz, self.factors.cell_rad, |s| {
            factors.push((s.flat, self.factor(s.u_lambda, s.v_lambda)));
        });
        for (flat, f) in factors {
            chunk.weight[flat] = (chunk.weight[flat] as f64 * f) as f32;
        }
    }

    /// The density grid's shape (see [`DensityGrid::shape`]).
    pub fn shape(&self) -> (usize, usize, f64) {
        self.factors.shape()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_complex::Complex32;

    const CELL: f64 = 1e-4; // rad: cells of 1/(16·1e-4) = 625 wavelengths for 16 pixels
    const C: f64 = crate::constants::SPEED_OF_LIGHT_M_S;

    /// One channel at c Hz, so uvw in metres equals (u, v) in wavelengths.
    fn chunk(uv: &[(f64, f64)], weights: &[f32]) -> VisChunk {
        VisChunk {
            row0: 0,
            uvw_m: uv.iter().map(|&(u, v)| [u, v, 0.0]).collect(),
            vis: vec![Complex32::new(1.0, 0.5); uv.len()],
            weight: weights.to_vec(),
            flag: Vec::new(),
        }
    }

    fn weights_of(spec: WeightingSpec, uv: &[(f64, f64)], w: &[f32]) -> Vec<f64> {
        let mut c = chunk(uv, w);
        let mut g = DensityGrid::new(16, 16, CELL);
        g.add_chunk(&c, &[C]);
        g.finish(&spec).apply(&mut c, &[C]);
        c.weight.iter().map(|&x| x as f64).collect()
    }

    fn spec(mode: Weighting, robust: f64) -> WeightingSpec {
        WeightingSpec {
            mode,
            robust,
            taper_arcsec: 0.0,
        }
    }

    #[test]
    fn cells_follow_wsclean_and_fold_the_lower_half_plane() {
        let g = DensityGrid::new(16, 16, CELL);
        // Cell size 625 wavelengths; x = floor(u/625 + 8), y = floor(v/625).
        assert_eq!(g.index(0.0, 0.0), Some(8));
        assert_eq!(g.index(700.0, 1300.0), Some(2 * 16 + 9));
        assert_eq!(g.index(-700.0, -1300.0), Some(2 * 16 + 9)); // folded to (700, 1300)
        assert_eq!(g.index(-100.0, 10.0), Some(7));
        // A sample and its conjugate share the cell.
        assert_eq!(g.index(1234.0, -2345.0), g.index(-1234.0, 2345.0));
        // Beyond the grid: |u|·cell ≥ 1/2 or v·cell ≥ 1/2.
        assert_eq!(g.index(5000.0, 0.0), None);
        assert_eq!(g.index(0.0, 5000.0), None);
        assert_eq!(g.index(-5000.0, 0.0), Some(0));
    }

    #[test]
    fn uniform_gives_every_occupied_cell_the_same_total_weight() {
        // Cell A: two samples (weights 1 and 3), one of them as its conjugate; cell B: one
        // sample of weight 2; cell C: one of weight 0.5.
        let uv = [
            (700.0, 1300.0),
            (-710.0, -1310.0),
            (-2000.0, 600.0),
            (3000.0, 3000.0),
        ];
        let w = weights_of(spec(Weighting::Uniform, 0.0), &uv, &[1.0, 3.0, 2.0, 0.5]);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
        assert!(close(w[0], 0.25) && close(w[1], 0.75), "{w:?}");
        assert!(close(w[2], 1.0) && close(w[3], 1.0), "{w:?}");
        // Equal density everywhere: uniform = natural up to a constant.
        let uv: Vec<(f64, f64)> = (0..6)
            .map(|i| (-3000.0 + 1000.0 * i as f64, 900.0))
            .collect();
        let w = weights_of(spec(Weighting::Uniform, 0.0), &uv, &[2.0; 6]);
        assert!(w.iter().all(|&x| close(x, 1.0)), "{w:?}");
    }

    /// Normalised effective weights of random samples under `spec` and under natural weighting.
    fn normalised(spec_: WeightingSpec) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        // Centrally concentrated samples: very different densities per cell.
        let uv: Vec<(f64, f64)> = (0..2000)
            .map(|_| {
                let r = 4900.0 * rng.random::<f64>().powi(2);
                let t = rng.random::<f64>() * std::f64::consts::TAU;
                (r * t.cos(), r * t.sin())
            })
            .collect();
        let w0: Vec<f32> = (0..uv.len()).map(|_| 0.5 + rng.random::<f32>()).collect();
        let norm = |v: Vec<f64>| {
            let s: f64 = v.iter().sum();
            v.into_iter().map(|x| x / s).collect::<Vec<_>>()
        };
        (
            norm(weights_of(spec_, &uv, &w0)),
            norm(weights_of(spec(Weighting::Natural, 0.0), &uv, &w0)),
            norm(weights_of(spec(Weighting::Uniform, 0.0), &uv, &w0)),
        )
    }

    fn rel(a: &[f64], b: &[f64]) -> f64 {
        let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
        let n: f64 = b.iter().map(|y| y * y).sum();
        (d / n).sqrt()
    }

    #[test]
    fn briggs_spans_uniform_to_natural() {
        let (b2, nat, uni) = normalised(spec(Weighting::Briggs, 2.0));
        assert!(rel(&b2, &nat) < 0.01, "R=+2 vs natural {}", rel(&b2, &nat));
        assert!(
            rel(&nat, &uni) > 0.3,
            "test data too uniform: {}",
            rel(&nat, &uni)
        );
        let (bm2, _, _) = normalised(spec(Weighting::Briggs, -2.0));
        assert!(
            rel(&bm2, &uni) < 0.01,
            "R=-2 vs uniform {}",
            rel(&bm2, &uni)
        );
        let (b0, _, _) = normalised(spec(Weighting::Briggs, 0.0));
        assert!(rel(&b0, &nat) > 0.05 && rel(&b0, &uni) > 0.05);
    }

    #[test]
    fn briggs_matches_the_formula() {
        // Two cells: weights 1+3 = 4 and 2. avgW = (16 + 4) / 6; s² = 25 / avgW (R = 0).
        let uv = [(700.0, 1300.0), (710.0, 1310.0), (-2000.0, 600.0)];
        let w = weights_of(spec(Weighting::Briggs, 0.0), &uv, &[1.0, 3.0, 2.0]);
        let s2 = 25.0 / (20.0 / 6.0);
        let want = [
            1.0 / (1.0 + 4.0 * s2),
            3.0 / (1.0 + 4.0 * s2),
            2.0 / (1.0 + 2.0 * s2),
        ];
        for (g, w) in w.iter().zip(want) {
            assert!((g - w).abs() < 1e-6 * w, "{g} vs {w}");
        }
    }

    #[test]
    fn taper_is_half_power_at_half_the_fwhm_in_the_image() {
        // 1-D Fourier transform of the taper along u: its image-domain profile must fall to
        // 1/2 at l = FWHM/2.
        let fwhm_rad = 20.0 * RAD_PER_ARCSEC;
        let du = 50.0;
        let profile = |l: f64| -> f64 {
            (-40000..=40000)
                .map(|k| {
                    let u = k as f64 * du;
                    gaussian_taper(u, 0.0, fwhm_rad) * (2.0 * std::f64::consts::PI * u * l).cos()
                })
                .sum()
        };
        let ratio = profile(0.5 * fwhm_rad) / profile(0.0);
        assert!((ratio - 0.5).abs() < 1e-6, "{ratio}");
        assert_eq!(gaussian_taper(0.0, 0.0, fwhm_rad), 1.0);
    }

    #[test]
    fn taper_scales_natural_weights_per_cell() {
        let uv = [(0.0, 0.0), (3000.0, 0.0)];
        let s = WeightingSpec {
            mode: Weighting::Natural,
            robust: 0.0,
            taper_arcsec: 60.0,
        };
        let w = weights_of(s, &uv, &[1.0, 1.0]);
        // Sample 2 lies in cell x = 12: u = 4·625 = 2500 wavelengths (the cell's corner).
        let want = gaussian_taper(2500.0, 0.0, 60.0 * RAD_PER_ARCSEC);
        assert!(
            (w[0] - 1.0).abs() < 1e-7 && (w[1] - want).abs() < 1e-6,
            "{w:?} {want}"
        );
        assert!(want < 0.9 && want > 0.1);
    }

    #[test]
    fn attributes_round_trip() {
        let s = WeightingSpec::from_attributes("briggs", -0.5, 2.0).unwrap();
        assert_eq!(
            (s.mode, s.robust, s.taper_arcsec),
            (Weighting::Briggs, -0.5, 2.0)
        );
        assert!(WeightingSpec::from_attributes("", f64::NAN, f64::NAN)
            .unwrap()
            .is_identity());
        assert!(WeightingSpec::from_attributes("super", 0.0, 0.0).is_none());
    }
}
