//! Sky-model components prepared for the measurement equation.
//!
//! A component at direction cosines (l, m), n = √(1 − l² − m²), with flux S and visibility
//! taper G(u, v) contributes S·G(u, v)·exp(+2πi (u l + v m + w (n − 1))) to the visibility
//! at (u, v, w) in wavelengths (Thompson, Moran & Swenson 2017, eq. 4.1 and ch. 4; sign
//! convention of the Measurement Set / WSClean, which the imager inverts).
//!
//! Elliptical Gaussian with FWHM θ_maj, θ_min (radians) and position angle ψ of the major
//! axis (east of north): the sky brightness
//! I(l, m) ∝ exp(−l'²/(2σ_maj²) − m'²/(2σ_min²)), σ = θ/(2√(2 ln 2)), with l' = l sin ψ + m cos ψ
//! (along the major axis) and m' = l cos ψ − m sin ψ, has the Fourier transform
//! G(u, v) = exp(−2π² (σ_maj² u'² + σ_min² v'²)), u' = u sin ψ + v cos ψ, v' = u cos ψ − v sin ψ
//! (the same rotation applied to (u, v)). G(0, 0) = 1, so `flux_jy` is the integrated flux.
use crate::config::{SkyComponent, SourceKind};
use crate::constants::RAD_PER_ARCSEC;

/// Gaussian taper parameters in the form used by the inner loop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GaussianTaper {
    /// 2π² σ_maj², radians².
    pub a_maj: f64,
    /// 2π² σ_min², radians².
    pub a_min: f64,
    /// sin ψ, cos ψ of the major-axis position angle (east of north).
    pub sin_pa: f64,
    /// cos ψ.
    pub cos_pa: f64,
}

impl GaussianTaper {
    /// The exponent 2π²(σ_maj² u'² + σ_min² v'²) for (u, v) in wavelengths; G = exp(−this).
    #[inline]
    pub fn exponent(&self, u_lambda: f64, v_lambda: f64) -> f64 {
        let u_maj = u_lambda * self.sin_pa + v_lambda * self.cos_pa;
        let v_min = u_lambda * self.cos_pa - v_lambda * self.sin_pa;
        self.a_maj * u_maj * u_maj + self.a_min * v_min * v_min
    }

    /// G(u, v) for (u, v) in wavelengths.
    #[inline]
    pub fn taper(&self, u_lambda: f64, v_lambda: f64) -> f64 {
        (-self.exponent(u_lambda, v_lambda)).exp()
    }
}

/// One component ready for evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PreparedSource {
    /// Integrated flux density, Jy.
    pub flux_jy: f64,
    /// Direction cosine l (east), radians.
    pub l: f64,
    /// Direction cosine m (north), radians.
    pub m: f64,
    /// n − 1 = −(l² + m²)/(1 + n), computed without cancellation.
    pub n_minus_1: f64,
    /// `Some` for a Gaussian, `None` for a point source.
    pub gaussian: Option<GaussianTaper>,
}

/// FWHM → σ factor: 1/(2√(2 ln 2)).
pub const FWHM_TO_SIGMA: f64 = 0.424_660_900_144_009_5;

impl PreparedSource {
    /// Prepares a config component; `Err(field, value)` when l² + m² ≥ 1 (below the horizon
    /// of the tangent plane).
    pub fn new(c: &SkyComponent) -> Result<Self, (&'static str, f64)> {
        let l = c.l_arcsec * RAD_PER_ARCSEC;
        let m = c.m_arcsec * RAD_PER_ARCSEC;
        let r2 = l * l + m * m;
        if r2.is_nan() || r2 >= 1.0 {
            return Err(("l_arcsec", c.l_arcsec));
        }
        let n = (1.0 - r2).sqrt();
        let gaussian = match c.kind {
            SourceKind::Point => None,
            SourceKind::Gaussian => {
                let s_maj = c.major_arcsec * RAD_PER_ARCSEC * FWHM_TO_SIGMA;
                let s_min = c.minor_arcsec * RAD_PER_ARCSEC * FWHM_TO_SIGMA;
                let two_pi2 = 2.0 * std::f64::consts::PI * std::f64::consts::PI;
                let (sin_pa, cos_pa) = (c.pa_deg * crate::constants::RAD_PER_DEG).sin_cos();
                Some(GaussianTaper {
                    a_maj: two_pi2 * s_maj * s_maj,
                    a_min: two_pi2 * s_min * s_min,
                    sin_pa,
                    cos_pa,
                })
            }
        };
        Ok(Self {
            flux_jy: c.flux_jy,
            l,
            m,
            n_minus_1: -r2 / (1.0 + n),
            gaussian,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fwhm_to_sigma_constant() {
        let expect = 1.0 / (2.0 * (2.0 * std::f64::consts::LN_2).sqrt());
        assert!((FWHM_TO_SIGMA - expect).abs() < 1e-16);
    }

    /// Brute-force 2-D DFT of a sampled sky Gaussian checks the PA convention and the
    /// σ ↔ FWHM scaling of `GaussianTaper` independently of its formula.
    #[test]
    fn taper_matches_numerical_fourier_transform_of_sky_gaussian() {
        let comp = SkyComponent {
            kind: SourceKind::Gaussian,
            flux_jy: 1.0,
            l_arcsec: 0.0,
            m_arcsec: 0.0,
            major_arcsec: 60.0,
            minor_arcsec: 20.0,
            pa_deg: 30.0,
        };
        let g = PreparedSource::new(&comp).unwrap().gaussian.unwrap();
        let pa = 30f64.to_radians();
        let s_maj = 60.0 * RAD_PER_ARCSEC / (2.0 * (2.0 * 2f64.ln()).sqrt());
        let s_min = 20.0 * RAD_PER_ARCSEC / (2.0 * (2.0 * 2f64.ln()).sqrt());
        // Sky grid ±6σ_maj, pixels of σ_min/6.
        let d = s_min / 6.0;
        let half = (6.0 * s_maj / d) as i64;
        let mut pix = Vec::new();
        let mut total = 0.0;
        for i in -half..=half {
            for j in -half..=half {
                let (l, m) = (i as f64 * d, j as f64 * d);
                // Major axis along PA from north (+m) towards east (+l).
                let along = l * pa.sin() + m * pa.cos();
                let across = l * pa.cos() - m * pa.sin();
                let b = (-0.5
                    * (along * along / (s_maj * s_maj) + across * across / (s_min * s_min)))
                    .exp();
                total += b;
                pix.push((l, m, b));
            }
        }
        let fwhm_maj_rad = 60.0 * RAD_PER_ARCSEC;
        for (u, v) in [(0.3, 0.0), (0.0, 0.3), (0.2, 0.2), (-0.25, 0.1)] {
            let (u, v) = (u / fwhm_maj_rad, v / fwhm_maj_rad);
            let mut re = 0.0;
            let mut im = 0.0;
            for &(l, m, b) in &pix {
                let ph = -2.0 * std::f64::consts::PI * (u * l + v * m);
                re += b * ph.cos();
                im += b * ph.sin();
            }
            let (re, im) = (re / total, im / total);
            let expect = g.taper(u, v);
            assert!(
                (re - expect).abs() < 1e-6 && im.abs() < 1e-6,
                "(u,v)=({u},{v}): dft {re}+{im}i vs {expect}"
            );
        }
    }

    #[test]
    fn source_beyond_the_horizon_is_rejected() {
        let comp = SkyComponent {
            kind: SourceKind::Point,
            flux_jy: 1.0,
            l_arcsec: 206_265.0 * 1.01,
            m_arcsec: 0.0,
            major_arcsec: 0.0,
            minor_arcsec: 0.0,
            pa_deg: 0.0,
        };
        assert!(PreparedSource::new(&comp).is_err());
    }
}
