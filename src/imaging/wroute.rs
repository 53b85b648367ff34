//! Routing w-stacking's rows between ranks ([`super::wrows`]): each rank reads only its own
//! rows and sends each row to the ranks whose w-planes of this pass it reaches, so the data
//! are read once per pass in all, not once per rank, and cross the network once.
//!
//! A row reaches plane `p` when `lo < p < hi` for its plane span `(lo, hi)`
//! ([`crate::wstack::WPlanes::plane_span`]); the ranks' planes are contiguous and in rank
//! order, so the ranks a row reaches are found by binary search (a row of a narrow span
//! reaches one or two ranks whatever their number). Rows travel packed as 64-bit words
//! ([`crate::vis::pack`]) in one `MPI_Alltoallv` per chunk, after one of the counts.
use std::ops::Range;

use crate::dist::Dist;
use crate::vis::pack::{pack_row, row_words, unpack_rows};
use crate::vis::VisChunk;

/// The planes each rank takes in one pass, as float bounds for the span test.
pub struct Targets {
    /// (rank, first plane, last plane) of every rank with planes, by first plane.
    t: Vec<(usize, f64, f64)>,
}

impl Targets {
    /// The planes `groups[q]` of each rank `q` this pass (`None` or empty: none).
    pub fn new(groups: &[Option<Range<usize>>]) -> Self {
        let mut t: Vec<(usize, f64, f64)> = groups
            .iter()
            .enumerate()
            .filter_map(|(q, g)| {
                g.as_ref()
                    .filter(|g| !g.is_empty())
                    .map(|g| (q, g.start as f64, (g.end - 1) as f64))
            })
            .collect();
        t.sort_by(|a, b| a.1.total_cmp(&b.1));
        Self { t }
    }

    /// Calls `f` with each rank whose planes a row of plane span `(lo, hi)` reaches (a plane
    /// `p` with `lo < p < hi`), in rank order.
    pub fn each(&self, (lo, hi): (f64, f64), mut f: impl FnMut(usize)) {
        // The planes reached are the integers plo..=phi.
        let (plo, phi) = (lo.floor() + 1.0, hi.ceil() - 1.0);
        if !(plo.is_finite() && phi.is_finite()) || plo > phi {
            return;
        }
        let first = self.t.partition_point(|&(_, _, last)| last < plo);
        for &(q, start, _) in &self.t[first..] {
            if start > phi {
                break;
            }
            f(q);
        }
    }

    /// Whether a row of plane span `span` reaches any rank's planes.
    pub fn reached(&self, span: (f64, f64)) -> bool {
        let mut any = false;
        self.each(span, |_| any = true);
        any
    }
}

/// Sends every row of `chunk` whose plane span (`spans[i]`, `None` for a row to drop) reaches
/// a rank of `targets` to that rank, and receives the rows sent to this one: them (in rank
/// order, each rank's in its order) and their global row indices. A collective: every rank
/// calls it once per chunk, with an empty chunk when it has no more rows.
pub fn exchange(
    dist: &Dist,
    chunk: &VisChunk,
    spans: &[Option<(f64, f64)>],
    targets: &Targets,
    nchan: usize,
) -> (VisChunk, Vec<usize>) {
    let size = dist.size();
    let mut out: Vec<Vec<u64>> = vec![Vec::new(); size];
    for (i, span) in spans.iter().enumerate() {
        if let Some(span) = span {
            targets.each(*span, |q| pack_row(chunk, i, nchan, &mut out[q]));
        }
    }
    let send_counts: Vec<usize> = out.iter().map(Vec::len).collect();
    // Counts first (one word to and from every rank), then the rows.
    let counts_out: Vec<u64> = send_counts.iter().map(|&c| c as u64).collect();
    let mut counts_in = vec![0u64; size];
    let ones = vec![1usize; size];
    dist.all_to_all(&counts_out, &ones, &mut counts_in, &ones);
    let recv_counts: Vec<usize> = counts_in.iter().map(|&c| c as usize).collect();
    let send: Vec<u64> = out.concat();
    let mut recv = vec![0u64; recv_counts.iter().sum()];
    dist.all_to_all(&send, &send_counts, &mut recv, &recv_counts);
    debug_assert_eq!(recv.len() % row_words(nchan), 0);
    unpack_rows(&recv, nchan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reached(t: &Targets, span: (f64, f64)) -> Vec<usize> {
        let mut v = Vec::new();
        t.each(span, |q| v.push(q));
        v
    }

    #[test]
    fn rows_reach_the_ranks_whose_planes_their_span_covers() {
        // Rank 0: planes 0..4, rank 1: none, rank 2: 4..7, rank 3: 7..10.
        let t = Targets::new(&[Some(0..4), None, Some(4..7), Some(7..10)]);
        // A row reaches plane p when lo < p < hi; brute force over the planes agrees.
        let owner = |p: usize| match p {
            0..=3 => 0,
            4..=6 => 2,
            _ => 3,
        };
        for lo10 in -20..110 {
            for width in [1, 5, 17, 25, 40, 200] {
                let span = (lo10 as f64 / 10.0, (lo10 + width) as f64 / 10.0);
                let mut expect: Vec<usize> = (0..10usize)
                    .filter(|&p| span.0 < p as f64 && (p as f64) < span.1)
                    .map(owner)
                    .collect();
                expect.dedup();
                assert_eq!(reached(&t, span), expect, "span {span:?}");
                assert_eq!(t.reached(span), !expect.is_empty());
            }
        }
        assert!(reached(&Targets::new(&[None, Some(3..3)]), (-1.0, 99.0)).is_empty());
    }

    #[test]
    fn one_rank_keeps_the_rows_it_reaches() {
        let dist = Dist::single();
        let nchan = 2;
        let chunk = VisChunk {
            row0: 10,
            uvw_m: vec![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]],
            vis: vec![num_complex::Complex32::new(1.0, 2.0); 6],
            weight: vec![1.0; 6],
            flag: Vec::new(),
        };
        let t = Targets::new(&[Some(2..5)]);
        let spans = [Some((0.0, 1.5)), Some((1.0, 3.0)), None];
        let (rows, idx) = exchange(&dist, &chunk, &spans, &t, nchan);
        assert_eq!(idx, vec![11]);
        assert_eq!(rows.uvw_m, vec![[4.0, 5.0, 6.0]]);
    }
}
