//! The floating-point type of grids and FFTs ([`Real`]: f32 or f64), a leaf of the crate:
//! what gridding, transforms and reductions need of a number, with no backend's bounds
//! (the MPI reduction and the GPU backend add theirs where they need them).

/// The floating-point precision an image was gridded and transformed in (attribute
/// `precision`: `"float32"` or `"float64"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// IEEE single precision.
    #[default]
    Float32,
    /// IEEE double precision.
    Float64,
}

impl Precision {
    /// The attribute value: `"float32"` or `"float64"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Float32 => "float32",
            Precision::Float64 => "float64",
        }
    }

    /// The precision named `s` ([`Precision::as_str`]), if any.
    pub fn parse(s: &str) -> Option<Self> {
        [Precision::Float32, Precision::Float64]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// Floating-point type of the grid and FFT (f32 or f64).
pub trait Real:
    rustfft::FftNum
    + num_traits::Float
    + num_traits::FromPrimitive
    + Default
    + bytemuck::Pod
    + std::iter::Sum
    + Send
    + Sync
{
    /// Whether this is f64.
    const IS_DOUBLE: bool;

    /// This type's [`Precision`].
    const PRECISION: Precision = if Self::IS_DOUBLE {
        Precision::Float64
    } else {
        Precision::Float32
    };

    /// Evaluates `N` polynomials at `x` by Horner's rule, `rows[0]` holding the highest-degree
    /// coefficients: explicit SIMD lanes (the `wide` crate) across the `N` polynomials, because
    /// the compiler's auto-vectoriser leaves this recurrence scalar. `N` must be a multiple of 4.
    fn horner<const N: usize>(rows: &[[Self; N]], x: Self) -> [Self; N];
}

impl Real for f32 {
    const IS_DOUBLE: bool = false;

    #[inline(always)]
    fn horner<const N: usize>(rows: &[[f32; N]], x: f32) -> [f32; N] {
        use wide::{f32x4, f32x8};
        let mut out = [0.0f32; N];
        let mut k = 0;
        while k + 8 <= N {
            let xv = f32x8::splat(x);
            let mut acc = f32x8::new(std::array::from_fn(|i| rows[0][k + i]));
            for row in &rows[1..] {
                acc = acc * xv + f32x8::new(std::array::from_fn(|i| row[k + i]));
            }
            out[k..k + 8].copy_from_slice(&acc.to_array());
            k += 8;
        }
        while k + 4 <= N {
            let xv = f32x4::splat(x);
            let mut acc = f32x4::new(std::array::from_fn(|i| rows[0][k + i]));
            for row in &rows[1..] {
                acc = acc * xv + f32x4::new(std::array::from_fn(|i| row[k + i]));
            }
            out[k..k + 4].copy_from_slice(&acc.to_array());
            k += 4;
        }
        out
    }
}

impl Real for f64 {
    const IS_DOUBLE: bool = true;

    #[inline(always)]
    fn horner<const N: usize>(rows: &[[f64; N]], x: f64) -> [f64; N] {
        use wide::f64x4;
        let mut out = [0.0f64; N];
        let mut k = 0;
        while k + 4 <= N {
            let xv = f64x4::splat(x);
            let mut acc = f64x4::new(std::array::from_fn(|i| rows[0][k + i]));
            for row in &rows[1..] {
                acc = acc * xv + f64x4::new(std::array::from_fn(|i| row[k + i]));
            }
            out[k..k + 4].copy_from_slice(&acc.to_array());
            k += 4;
        }
        out
    }
}
