//! Rows of a [`VisChunk`] packed into 64-bit words, to send them between ranks (w-stacking
//! routes each row to the ranks whose w-planes it reaches).
//!
//! A row is [`row_words`]`(nchan)` words: its global row index, u, v and w (the bits of the
//! `f64` metres), then one word per channel holding the visibility (real part in the low 32
//! bits, imaginary in the high, `f32` bits) and one holding the weight (`f32` bits, low half)
//! and the flag (bit 32). Values travel as bits, so every value, NaN included, arrives as it
//! left.
use num_complex::Complex32;

use super::VisChunk;

/// Words per packed row of `nchan` channels.
pub const fn row_words(nchan: usize) -> usize {
    4 + 2 * nchan
}

/// Appends row `i` of `chunk` (`nchan` channels per row) to `out`.
pub fn pack_row(chunk: &VisChunk, i: usize, nchan: usize, out: &mut Vec<u64>) {
    out.push((chunk.row0 + i) as u64);
    out.extend(chunk.uvw_m[i].iter().map(|x| x.to_bits()));
    let cols = i * nchan..(i + 1) * nchan;
    out.extend(
        chunk.vis[cols.clone()]
            .iter()
            .map(|c| u64::from(c.re.to_bits()) | (u64::from(c.im.to_bits()) << 32)),
    );
    for j in cols {
        let flag = u64::from(chunk.is_flagged(j)) << 32;
        out.push(u64::from(chunk.weight[j].to_bits()) | flag);
    }
}

/// The rows packed in `words` (`nchan` channels each) as one block, with each row's global
/// index. The block's `flag` is empty when no row is flagged; its `row0` is 0 (rows from
/// several places have no common origin).
pub fn unpack_rows(words: &[u64], nchan: usize) -> (VisChunk, Vec<usize>) {
    let n = row_words(nchan);
    let nrow = words.len() / n;
    let mut out = VisChunk {
        row0: 0,
        uvw_m: Vec::with_capacity(nrow),
        vis: Vec::with_capacity(nrow * nchan),
        weight: Vec::with_capacity(nrow * nchan),
        flag: Vec::new(),
    };
    let mut flag = Vec::with_capacity(nrow * nchan);
    let mut rows = Vec::with_capacity(nrow);
    for r in words.chunks_exact(n) {
        rows.push(r[0] as usize);
        out.uvw_m.push([
            f64::from_bits(r[1]),
            f64::from_bits(r[2]),
            f64::from_bits(r[3]),
        ]);
        let (vis, wf) = r[4..].split_at(nchan);
        out.vis.extend(
            vis.iter().map(|&x| {
                Complex32::new(f32::from_bits(x as u32), f32::from_bits((x >> 32) as u32))
            }),
        );
        for &x in wf {
            out.weight.push(f32::from_bits(x as u32));
            flag.push(x >> 32 & 1 == 1);
        }
    }
    if flag.iter().any(|&f| f) {
        out.flag = flag;
    }
    (out, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_bit_for_bit() {
        let nchan = 3;
        let chunk = VisChunk {
            row0: 40,
            uvw_m: vec![[1.5, -2.25, f64::NAN], [-0.0, 1e300, -7.0]],
            vis: vec![
                Complex32::new(1.0, -2.0),
                Complex32::new(f32::NAN, 0.5),
                Complex32::new(-0.0, f32::INFINITY),
                Complex32::new(3.0, 4.0),
                Complex32::new(5.0, 6.0),
                Complex32::new(7.0, 8.0),
            ],
            weight: vec![1.0, 0.5, -1.0, 2.0, f32::MIN_POSITIVE, 3.0],
            flag: vec![false, true, false, false, false, true],
        };
        let mut words = Vec::new();
        for i in [1, 0] {
            pack_row(&chunk, i, nchan, &mut words);
        }
        assert_eq!(words.len(), 2 * row_words(nchan));
        let (back, rows) = unpack_rows(&words, nchan);
        assert_eq!(rows, vec![41, 40]);
        let bits =
            |v: &[[f64; 3]]| -> Vec<u64> { v.iter().flatten().map(|x| x.to_bits()).collect() };
        assert_eq!(bits(&back.uvw_m), bits(&[chunk.uvw_m[1], chunk.uvw_m[0]]));
        let vbits = |v: &[Complex32]| -> Vec<(u32, u32)> {
            v.iter().map(|c| (c.re.to_bits(), c.im.to_bits())).collect()
        };
        let expect_vis: Vec<Complex32> = [&chunk.vis[3..], &chunk.vis[..3]].concat();
        assert_eq!(vbits(&back.vis), vbits(&expect_vis));
        assert_eq!(
            back.weight,
            [&chunk.weight[3..], &chunk.weight[..3]].concat()
        );
        assert_eq!(back.flag, [&chunk.flag[3..], &chunk.flag[..3]].concat());

        // No flag set: no flag array.
        let unflagged = VisChunk {
            flag: Vec::new(),
            ..chunk.clone()
        };
        let mut w2 = Vec::new();
        pack_row(&unflagged, 0, nchan, &mut w2);
        assert!(unpack_rows(&w2, nchan).0.flag.is_empty());
    }
}
