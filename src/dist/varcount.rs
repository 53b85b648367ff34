//! Collectives with a different count per rank, for the slab reduction and the distributed
//! FFT ([`super::slab_fft`]): a reduce-scatter (`MPI_Reduce_scatter`), an all-to-all
//! (`MPI_Alltoallv`) and a gather to rank 0 (`MPI_Gatherv`).
//!
//! MPI counts and displacements are C ints. Every collective here is therefore run in rounds:
//! each rank's block is cut into `k` pieces ([`crate::vis::split_range`]), `k` the same on every
//! rank and chosen so that no buffer of a round holds more than [`Dist::max_count`] elements
//! (2³⁰ by default, below 2³¹; `RIMAGER_MPI_MAX_COUNT` lowers it, for the tests). With one round
//! the caller's buffers go to MPI as they are; with several, each round's pieces are packed
//! into contiguous scratch. Counts are in elements of `T` (a complex value is two).
use mpi::collective::SystemOperation;
use mpi::datatype::{Partition, PartitionMut};
use mpi::raw::AsRaw;
use mpi::traits::*;
use mpi::Count;

use super::{Dist, Reducible};
use crate::vis::split_range;

/// Offsets of consecutive blocks of `counts`.
fn offsets(counts: &[usize]) -> Vec<usize> {
    let mut o = Vec::with_capacity(counts.len());
    let mut s = 0;
    for &c in counts {
        o.push(s);
        s += c;
    }
    o
}

fn as_counts(v: &[usize]) -> Vec<Count> {
    v.iter()
        .map(|&c| Count::try_from(c).unwrap_or(Count::MAX))
        .collect()
}

/// Rounds needed so that `largest` elements fit rounds of at most `max` elements each, with
/// room for the `parts` blocks of a round to round up.
fn rounds(largest: usize, parts: usize, max: usize) -> usize {
    let max = max.max(2 * parts);
    largest.div_ceil(max - parts).max(1)
}

/// Packs piece `j` of `k` of every block of `data` (blocks of `counts`) contiguously.
fn pack<T: Copy>(data: &[T], counts: &[usize], k: usize, j: usize) -> (Vec<T>, Vec<usize>) {
    let mut out = Vec::new();
    let mut lens = Vec::with_capacity(counts.len());
    for (&c, &o) in counts.iter().zip(&offsets(counts)) {
        let r = split_range(c, k, j);
        lens.push(r.len());
        out.extend_from_slice(&data[o + r.start..o + r.end]);
    }
    (out, lens)
}

/// Scatters `packed` (piece `j` of `k` of every block, contiguous) back into `data`.
fn unpack<T: Copy>(packed: &[T], data: &mut [T], counts: &[usize], k: usize, j: usize) {
    let mut at = 0;
    for (&c, &o) in counts.iter().zip(&offsets(counts)) {
        let r = split_range(c, k, j);
        data[o + r.start..o + r.end].copy_from_slice(&packed[at..at + r.len()]);
        at += r.len();
    }
}

impl Dist {
    /// Largest number of elements in one buffer of one collective call of this module.
    pub fn max_count(&self) -> usize {
        self.max_count
    }

    /// Bytes this rank sent into the varcount collectives so far (the algorithmic volume:
    /// what leaves this rank for other ranks), also counted in [`Dist::bytes_reduced`].
    fn count_sent(&self, bytes: usize) {
        self.count_reduced(bytes);
    }

    /// Element-wise sum over all ranks of `send` (the blocks of every rank, `counts[q]`
    /// elements for rank `q`, in rank order; the same `counts` on every rank); this rank's
    /// block of the sum goes to `recv` (`counts[rank]` elements).
    ///
    /// By default one `MPI_Reduce` per block, to its owner, in pieces of at most
    /// `max_count` elements: the MPI library's pipelined reduce, which on one node
    /// (OpenMPI 4.1, shared memory) was faster than its `MPI_Reduce_scatter` (ring) for grid
    /// bands of ~200 MB; with `RIMAGER_SLAB_REDUCE_SCATTER=1`, `MPI_Reduce_scatter`.
    pub fn reduce_scatter_sum<T: Reducible>(&self, send: &[T], counts: &[usize], recv: &mut [T]) {
        assert_eq!(counts.len(), self.size, "one count per rank");
        assert_eq!(send.len(), counts.iter().sum::<usize>(), "send size");
        assert_eq!(recv.len(), counts[self.rank], "receive size");
        let Some(w) = &self.world else {
            recv.copy_from_slice(send);
            return;
        };
        let elem = std::mem::size_of::<T>();
        self.count_sent((send.len() - counts[self.rank]) * elem);
        if std::env::var("RIMAGER_SLAB_REDUCE_SCATTER").as_deref() != Ok("1") {
            let offs = offsets(counts);
            for (q, (&c, &o)) in counts.iter().zip(&offs).enumerate() {
                let owner = w.process_at_rank(q as i32);
                let block = &send[o..o + c];
                let step = self.max_count.max(1);
                for (i, piece) in block.chunks(step).enumerate() {
                    if q == self.rank {
                        let r = &mut recv[i * step..i * step + piece.len()];
                        owner.reduce_into_root(piece, r, SystemOperation::sum());
                    } else {
                        owner.reduce_into(piece, SystemOperation::sum());
                    }
                }
            }
            return;
        }
        let k = rounds(send.len(), self.size, self.max_count);
        let dtype = T::equivalent_datatype();
        let op = SystemOperation::sum();
        for j in 0..k {
            let (packed, lens) = if k == 1 {
                (Vec::new(), counts.to_vec())
            } else {
                pack(send, counts, k, j)
            };
            let sendbuf: &[T] = if k == 1 { send } else { &packed };
            let mine = split_range(counts[self.rank], k, j);
            let mut scratch = Vec::new();
            let recvbuf: &mut [T] = if k == 1 {
                &mut recv[..]
            } else {
                scratch.resize(mine.len(), T::default());
                &mut scratch
            };
            let c = as_counts(&lens);
            // SAFETY: `sendbuf` holds Σ c elements of `dtype` (the blocks of every rank, in
            // rank order), `recvbuf` holds c[rank] of them, `c` has one count per rank of the
            // communicator and every count fits a C int (rounds of at most `max_count`
            // elements); all ranks pass the same counts, datatype, operation and communicator.
            let rc = unsafe {
                mpi::ffi::MPI_Reduce_scatter(
                    sendbuf.as_ptr().cast(),
                    recvbuf.as_mut_ptr().cast(),
                    c.as_ptr(),
                    dtype.as_raw(),
                    op.as_raw(),
                    w.as_raw(),
                )
            };
            if rc != 0 {
                self.abort(rc);
            }
            if k > 1 {
                recv[mine].copy_from_slice(&scratch);
            }
        }
    }

    /// All-to-all: `send` holds this rank's block for every rank in rank order
    /// (`send_counts[q]` elements for rank `q`), `recv` receives every rank's block for this
    /// one in rank order (`recv_counts[q]` from rank `q`). `MPI_Alltoallv`.
    pub fn all_to_all<T: Reducible>(
        &self,
        send: &[T],
        send_counts: &[usize],
        recv: &mut [T],
        recv_counts: &[usize],
    ) {
        assert_eq!(send_counts.len(), self.size, "one send count per rank");
        assert_eq!(recv_counts.len(), self.size, "one receive count per rank");
        assert_eq!(send.len(), send_counts.iter().sum::<usize>(), "send size");
        assert_eq!(
            recv.len(),
            recv_counts.iter().sum::<usize>(),
            "receive size"
        );
        let Some(w) = &self.world else {
            recv.copy_from_slice(send);
            return;
        };
        let elem = std::mem::size_of::<T>();
        self.count_sent((send.len() - send_counts[self.rank]) * elem);
        let largest = self.all_max_f64(send.len().max(recv.len()) as f64) as usize;
        let k = rounds(largest, self.size, self.max_count);
        for j in 0..k {
            let (sp, sl) = if k == 1 {
                (Vec::new(), send_counts.to_vec())
            } else {
                pack(send, send_counts, k, j)
            };
            let rl: Vec<usize> = recv_counts
                .iter()
                .map(|&c| split_range(c, k, j).len())
                .collect();
            let mut rp = if k == 1 {
                Vec::new()
            } else {
                vec![T::default(); rl.iter().sum()]
            };
            {
                let sendbuf: &[T] = if k == 1 { send } else { &sp };
                let recvbuf: &mut [T] = if k == 1 { &mut recv[..] } else { &mut rp };
                let (sc, sd) = (as_counts(&sl), as_counts(&offsets(&sl)));
                let (rc, rd) = (as_counts(&rl), as_counts(&offsets(&rl)));
                let s = Partition::new(sendbuf, &sc[..], &sd[..]);
                let mut r = PartitionMut::new(recvbuf, &rc[..], &rd[..]);
                w.all_to_all_varcount_into(&s, &mut r);
            }
            if k > 1 {
                unpack(&rp, recv, recv_counts, k, j);
            }
        }
    }

    /// Gathers every rank's `data` (`counts[q]` elements from rank `q`, the same `counts` on
    /// every rank) to rank 0 in rank order; `None` on the other ranks. `MPI_Gatherv`.
    pub fn gather_v<T: Reducible>(&self, data: &[T], counts: &[usize]) -> Option<Vec<T>> {
        assert_eq!(counts.len(), self.size, "one count per rank");
        assert_eq!(data.len(), counts[self.rank], "send size");
        let Some(w) = &self.world else {
            return Some(data.to_vec());
        };
        let root = w.process_at_rank(0);
        let total: usize = counts.iter().sum();
        let k = rounds(total, self.size, self.max_count);
        let mut out = if self.is_root() {
            vec![T::default(); total]
        } else {
            self.count_sent(std::mem::size_of_val(data));
            Vec::new()
        };
        for j in 0..k {
            let mine = split_range(data.len(), k, j);
            let piece = &data[mine];
            if !self.is_root() {
                root.gather_varcount_into(piece);
                continue;
            }
            let rl: Vec<usize> = counts.iter().map(|&c| split_range(c, k, j).len()).collect();
            let (rc, rd) = (as_counts(&rl), as_counts(&offsets(&rl)));
            if k == 1 {
                let mut r = PartitionMut::new(&mut out[..], &rc[..], &rd[..]);
                root.gather_varcount_into_root(piece, &mut r);
            } else {
                let mut rp = vec![T::default(); rl.iter().sum()];
                {
                    let mut r = PartitionMut::new(&mut rp[..], &rc[..], &rd[..]);
                    root.gather_varcount_into_root(piece, &mut r);
                }
                unpack(&rp, &mut out, counts, k, j);
            }
        }
        self.is_root().then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_and_unpack_cover_every_element_once() {
        let counts = [5usize, 0, 3, 7];
        let data: Vec<u32> = (0..15).collect();
        for k in 1..=4 {
            let mut back = vec![u32::MAX; 15];
            let mut total = 0;
            for j in 0..k {
                let (p, lens) = pack(&data, &counts, k, j);
                assert_eq!(p.len(), lens.iter().sum::<usize>());
                total += p.len();
                unpack(&p, &mut back, &counts, k, j);
            }
            assert_eq!(total, 15);
            assert_eq!(back, data, "k = {k}");
        }
    }

    #[test]
    fn rounds_keep_pieces_under_the_limit() {
        for (largest, parts, max) in [(10usize, 3usize, 8usize), (1 << 20, 7, 1000), (5, 1, 100)] {
            let k = rounds(largest, parts, max);
            // Each of `parts` blocks rounds up by at most one element per round.
            assert!(
                largest.div_ceil(k) + parts <= max.max(2 * parts) + 1,
                "{largest} {parts} {max} {k}"
            );
        }
    }
}
