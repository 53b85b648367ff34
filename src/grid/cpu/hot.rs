//! The CPU gridder's hot loop: per record, the kernel's `W` polynomials evaluated by Horner's
//! rule in `x = 2s − 1` along u and v (vectorised across the footprint cells), then `W` rows
//! of length-`WP` axpys into the planar `[re | im]` tile buffer.
//!
//! The loop is monomorphised for every width `W` (padded to `WP`, a multiple of 4 lanes, the
//! extra cells getting kernel value 0) and compiled twice: once with AVX2 + FMA enabled, using
//! fused multiply-adds, chosen at run time when the CPU has both (as RustFFT chooses its SIMD
//! paths); once portable, with separate multiplies and adds.
use crate::kernel;
use crate::real::Real;

use super::runs::Record;

/// Kernel width rounded up to a multiple of 4 SIMD lanes; the extra footprint cells get
/// kernel value 0, so the inner loops are whole vectors.
pub(super) fn padded_width(width: usize) -> usize {
    width.div_ceil(4) * 4
}

/// The piecewise-polynomial kernel in the form the hot loop uses.
pub(super) struct KernelRows<T> {
    /// `[degree + 1][padded]`, Horner order (highest degree first), zero-padded.
    coeffs: Vec<T>,
    /// Kernel width `W`.
    width: usize,
    /// `W` rounded up to a multiple of 4.
    padded: usize,
}

impl<T: Real> KernelRows<T> {
    /// The rows of `coeffs` (`[degree + 1][width]`, Horner order) widened to the padded width.
    pub(super) fn new(coeffs: &[f64], width: usize) -> Self {
        let padded = padded_width(width);
        let mut out = Vec::with_capacity(coeffs.len() / width * padded);
        for row in coeffs.chunks_exact(width) {
            out.extend(row.iter().map(|&c| T::from_f64(c).unwrap_or_default()));
            out.extend(std::iter::repeat_n(T::zero(), padded - width));
        }
        Self {
            coeffs: out,
            width,
            padded,
        }
    }

    /// Padded kernel width.
    pub(super) fn padded(&self) -> usize {
        self.padded
    }
}

/// Whether this CPU runs the AVX2 + FMA variant of the hot loop (checked once).
pub fn uses_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Grids every record of `slices` into the planar tile buffer `buf` (`[re | im]`, each
/// `bw × bw`), with the variant for the kernel's width and this CPU.
pub(super) fn grid_slices<T: Real>(
    kernel: &KernelRows<T>,
    slices: &[&[Record<T>]],
    bw: usize,
    buf: &mut [T],
) {
    macro_rules! go {
        ($(($w:literal, $wp:literal)),*) => {
            match kernel.width {
                $($w => run_width::<T, $w, $wp>(kernel, slices, bw, buf),)*
                w => unreachable!("kernel width {w} outside {}..={}", kernel::MIN_WIDTH, kernel::MAX_WIDTH),
            }
        };
    }
    go!(
        (4, 4),
        (5, 8),
        (6, 8),
        (7, 8),
        (8, 8),
        (9, 12),
        (10, 12),
        (11, 12),
        (12, 12),
        (13, 16),
        (14, 16),
        (15, 16),
        (16, 16)
    )
}

fn run_width<T: Real, const W: usize, const WP: usize>(
    kernel: &KernelRows<T>,
    slices: &[&[Record<T>]],
    bw: usize,
    buf: &mut [T],
) {
    debug_assert_eq!(kernel.padded, WP);
    let rows: Vec<[T; WP]> = kernel
        .coeffs
        .chunks_exact(WP)
        .map(|c| std::array::from_fn(|i| c[i]))
        .collect();
    #[cfg(target_arch = "x86_64")]
    {
        if uses_avx2_fma() {
            for s in slices {
                // SAFETY: the CPU supports AVX2 and FMA (checked by `uses_avx2_fma`).
                unsafe { grid_records_avx2::<T, W, WP>(s, &rows, bw, buf) };
            }
            return;
        }
    }
    for s in slices {
        grid_records::<T, W, WP, false>(s, &rows, bw, buf);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn grid_records_avx2<T: Real, const W: usize, const WP: usize>(
    recs: &[Record<T>],
    rows: &[[T; WP]],
    bw: usize,
    buf: &mut [T],
) {
    grid_records::<T, W, WP, true>(recs, rows, bw, buf)
}

/// `a · b + c`, fused when `FMA` (only inside code compiled with the `fma` target feature,
/// where it is one instruction; elsewhere it would call a slow library routine).
#[inline(always)]
fn madd<T: Real, const FMA: bool>(a: T, b: T, c: T) -> T {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `WP` polynomials at `x` by Horner's rule, `rows[0]` the highest degree.
#[inline(always)]
fn horner<T: Real, const WP: usize, const FMA: bool>(rows: &[[T; WP]], x: T) -> [T; WP] {
    let mut acc = rows[0];
    for row in &rows[1..] {
        for k in 0..WP {
            acc[k] = madd::<T, FMA>(acc[k], x, row[k]);
        }
    }
    acc
}

/// The hot loop over the records of one tile.
#[inline(always)]
fn grid_records<T: Real, const W: usize, const WP: usize, const FMA: bool>(
    recs: &[Record<T>],
    rows: &[[T; WP]],
    bw: usize,
    buf: &mut [T],
) {
    let (bre, bim) = buf.split_at_mut(bw * bw);
    let two = T::one() + T::one();
    for r in recs {
        let ku = horner::<T, WP, FMA>(rows, r.su * two - T::one());
        let kv = horner::<T, WP, FMA>(rows, r.sv * two - T::one());
        let mut tre = [T::zero(); WP];
        let mut tim = [T::zero(); WP];
        for k in 0..WP {
            tre[k] = ku[k] * r.re;
            tim[k] = ku[k] * r.im;
        }
        let base = r.dv as usize * bw + r.du as usize;
        for (j, &f) in kv.iter().take(W).enumerate() {
            let o = base + j * bw;
            let (Ok(rr), Ok(ri)) = (
                <&mut [T; WP]>::try_from(&mut bre[o..o + WP]),
                <&mut [T; WP]>::try_from(&mut bim[o..o + WP]),
            ) else {
                unreachable!("slices of length WP");
            };
            // Two separate loops: the compiler cannot prove `rr` and `ri` disjoint, and a
            // joint loop stays scalar.
            for k in 0..WP {
                rr[k] = madd::<T, FMA>(f, tre[k], rr[k]);
            }
            for k in 0..WP {
                ri[k] = madd::<T, FMA>(f, tim[k], ri[k]);
            }
        }
    }
}
