//! Exact, order-independent sums of float64 values: a long fixed-point accumulator (Kulisch's
//! "exact dot product" accumulator; the reproducible-sum argument of Hallberg & Adcroft 2014,
//! Parallel Computing 40, "An order-invariant real-to-integer conversion sum", and of Demmel &
//! Nguyen's ReproBLAS). Every float64 is an integer multiple of 2⁻¹⁰⁷⁴; the accumulator holds
//! that integer in base-2³² limbs, so adding is exact and the result does not depend on the
//! order of the additions, the split into threads or the split into ranks.
//!
//! Used by the reproducible imaging mode for the sum of the weights (the image's
//! normalisation): a float64 sum in rank order would change in its last bits with the rank
//! count. Summing over ranks ([`Dist::all_exact_sum`]) adds the normalised limbs (each below
//! 2³² in magnitude) as float64 with `MPI_Allreduce`: exact in any order for fewer than 2²⁰
//! ranks.
use super::Dist;

/// Limbs of 32 bits: 2⁻¹⁰⁷⁴ … 2¹⁰²⁴ is 2098 bits, plus 64 bits of headroom for 2⁶⁴ addends.
const LIMBS: usize = 68;
/// Additions after which the limbs are normalised (each addition adds below 2³² to a limb).
const NORMALISE_EVERY: u32 = 1 << 30;

/// An exact sum of float64 values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExactSum {
    /// Limb `k` weighs 2^(32k − 1074); normalised, limbs `0..LIMBS−1` are in [0, 2³²) and
    /// the last one carries the sign.
    limbs: [i64; LIMBS],
    /// Additions since the last normalisation.
    pending: u32,
}

impl Default for ExactSum {
    fn default() -> Self {
        Self {
            limbs: [0; LIMBS],
            pending: 0,
        }
    }
}

impl ExactSum {
    /// Adds `x` exactly. Non-finite values are ignored (the imaging weights are finite by the
    /// selection rule).
    pub fn add(&mut self, x: f64) {
        if !x.is_finite() || x == 0.0 {
            return;
        }
        let bits = x.to_bits();
        let exp = ((bits >> 52) & 0x7ff) as u32;
        let frac = bits & ((1u64 << 52) - 1);
        // x = ±m · 2^(p − 1074), p ≥ 0.
        let (m, p) = if exp == 0 {
            (frac, 0u32)
        } else {
            (frac | (1u64 << 52), exp - 1)
        };
        let (k, s) = ((p / 32) as usize, p % 32);
        let wide = u128::from(m) << s; // below 2^85: three limbs
        let neg = bits >> 63 == 1;
        for (j, limb) in self.limbs[k..(k + 3).min(LIMBS)].iter_mut().enumerate() {
            let part = ((wide >> (32 * j)) & 0xffff_ffff) as i64;
            *limb += if neg { -part } else { part };
        }
        self.pending += 1;
        if self.pending >= NORMALISE_EVERY {
            self.normalise();
        }
    }

    /// Adds another exact sum.
    pub fn merge(&mut self, other: &ExactSum) {
        let mut o = other.clone();
        o.normalise();
        self.normalise();
        for (a, b) in self.limbs.iter_mut().zip(&o.limbs) {
            *a += b;
        }
        self.normalise();
    }

    /// Carries so that every limb but the last is in [0, 2³²): a unique form of the value.
    fn normalise(&mut self) {
        for k in 0..LIMBS - 1 {
            let carry = self.limbs[k] >> 32; // floor division by 2³²
            self.limbs[k] -= carry << 32;
            self.limbs[k + 1] += carry;
        }
        self.pending = 0;
    }

    /// The sum as float64: the limbs from the most significant down, each scaled exactly. A
    /// function of the exact value alone (the normalised form is unique), so it is the same
    /// whatever the order of the additions.
    pub fn value(&self) -> f64 {
        let mut s = self.clone();
        s.normalise();
        // Sign and magnitude: a negative sum is converted as the negated (positive) one.
        let neg = s.limbs[LIMBS - 1] < 0;
        if neg {
            s.limbs.iter_mut().for_each(|l| *l = -*l);
            s.normalise();
        }
        let mut out = 0.0f64;
        for k in (0..LIMBS).rev() {
            if s.limbs[k] != 0 {
                out += s.limbs[k] as f64 * pow2(32 * k as i32 - 1074);
            }
        }
        if neg {
            -out
        } else {
            out
        }
    }
}

/// 2^e, exactly, for e in [−1074, 1023]; infinity above.
fn pow2(e: i32) -> f64 {
    if e > 1023 {
        f64::INFINITY
    } else if e >= -1022 {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (e + 1074).max(0))
    }
}

impl Dist {
    /// The exact sum over all ranks of every rank's `sum`, as float64 (the same bits on every
    /// rank and for every split of the addends into ranks).
    pub fn all_exact_sum(&self, sum: &ExactSum) -> f64 {
        let mut s = sum.clone();
        s.normalise();
        if self.size() == 1 {
            return s.value();
        }
        // Limbs below 2³² in magnitude: their float64 sum over < 2²⁰ ranks is exact.
        let mut limbs: Vec<f64> = s.limbs.iter().map(|&l| l as f64).collect();
        self.all_sum_f64(&mut limbs);
        let mut total = ExactSum::default();
        for (t, l) in total.limbs.iter_mut().zip(&limbs) {
            *t = *l as i64;
        }
        total.value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn the_sum_is_exact_and_order_independent() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let xs: Vec<f64> = (0..5000)
            .map(|i| {
                let e = rng.random_range(-60..60);
                let sign = if i % 3 == 0 { -1.0 } else { 1.0 };
                sign * rng.random::<f64>() * 2f64.powi(e)
            })
            .collect();
        let mut fwd = ExactSum::default();
        xs.iter().for_each(|&x| fwd.add(x));
        let mut rev = ExactSum::default();
        xs.iter().rev().for_each(|&x| rev.add(x));
        assert_eq!(fwd.value().to_bits(), rev.value().to_bits());
        // Split into parts and merged in another order.
        let mut parts: Vec<ExactSum> = xs
            .chunks(777)
            .map(|c| {
                let mut s = ExactSum::default();
                c.iter().for_each(|&x| s.add(x));
                s
            })
            .collect();
        parts.reverse();
        let mut merged = ExactSum::default();
        parts.iter().for_each(|p| merged.merge(p));
        assert_eq!(merged.value().to_bits(), fwd.value().to_bits());
        // Cancellation: x + big − big = x exactly.
        let mut c = ExactSum::default();
        for x in [1e300, 3.5e-300, -1e300, 1.0, -1.0] {
            c.add(x);
        }
        assert_eq!(c.value(), 3.5e-300);
        // Integers sum exactly.
        let mut n = ExactSum::default();
        (1..=1000).for_each(|i| n.add(i as f64));
        assert_eq!(n.value(), 500500.0);
        assert_eq!(ExactSum::default().value(), 0.0);
        let mut t = ExactSum::default();
        t.add(f64::from_bits(1));
        t.add(-0.25);
        assert_eq!(t.value(), -0.25 + f64::from_bits(1));
    }
}
