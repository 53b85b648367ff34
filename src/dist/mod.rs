//! Everything that knows about MPI, in one place (as kifmm keeps its multi-node code apart):
//! initialisation through rsmpi's RAII [`mpi::environment::Universe`] (MPI is finalised when
//! [`Dist`] is dropped), the split of rows between ranks, the sum-reduction of grids to rank 0,
//! the small collectives the pipeline needs, and aborting the whole job when one rank fails.
//!
//! [`Dist::single`] gives the same interface without MPI, for tests and single-process tools.
mod abort;

pub use abort::{abort_world, mpi_active};

use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::*;

mod exact_sum;
pub mod slab_fft;
mod varcount;

pub use exact_sum::ExactSum;

/// An element type the collectives can sum: any MPI-equivalent plain value (f32, f64, …).
pub trait Reducible: mpi::traits::Equivalence + Copy + Default {}

impl<T: mpi::traits::Equivalence + Copy + Default> Reducible for T {}

/// Errors setting up MPI.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// MPI could not be initialised (for example, already initialised).
    #[error("MPI initialisation failed")]
    Init,
    /// The binary is linked to another MPI than the `mpirun` that launched it.
    #[error(
        "launched as one of {launcher} ranks (OMPI_COMM_WORLD_SIZE) but MPI reports a world of {mpi}: \
         this binary is linked to a different MPI library than the mpirun that started it"
    )]
    Mismatch {
        /// Ranks the launcher started.
        launcher: usize,
        /// Ranks MPI reports.
        mpi: usize,
    },
}

/// Largest number of elements sent in one MPI call (counts are C ints).
const MAX_MPI_COUNT: usize = 1 << 26;

/// Default largest buffer, in elements, of one call of the varcount collectives (below 2³¹).
const MAX_VARCOUNT: usize = 1 << 30;

/// The varcount collectives' largest buffer: `RIMAGER_MPI_MAX_COUNT` where set to a number
/// ≥ 64 (the tests lower it to make messages go in several rounds), else 2³⁰ elements.
fn max_varcount() -> usize {
    std::env::var("RIMAGER_MPI_MAX_COUNT")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .map_or(MAX_VARCOUNT, |n| n.clamp(64, MAX_VARCOUNT))
}

/// This process's place in the job.
pub struct Dist {
    world: Option<SimpleCommunicator>,
    rank: usize,
    size: usize,
    /// Bytes this rank has sent into reductions so far.
    bytes_reduced: std::cell::Cell<u64>,
    /// This rank's index on its node, found once (a collective).
    node_local: std::cell::OnceCell<usize>,
    /// Largest buffer of one varcount collective call, elements.
    max_count: usize,
    // Dropped last: finalises MPI.
    _universe: Option<Universe>,
}

impl Dist {
    /// Initialises MPI and checks the world size against the launcher's.
    pub fn init() -> Result<Self, DistError> {
        let (universe, _threading) =
            mpi::initialize_with_threading(mpi::Threading::Funneled).ok_or(DistError::Init)?;
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        for var in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"] {
            if let Some(n) = std::env::var(var)
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
            {
                if n != size {
                    return Err(DistError::Mismatch {
                        launcher: n,
                        mpi: size,
                    });
                }
            }
        }
        Ok(Self {
            world: Some(world),
            rank,
            size,
            bytes_reduced: std::cell::Cell::new(0),
            node_local: std::cell::OnceCell::new(),
            max_count: max_varcount(),
            _universe: Some(universe),
        })
    }

    /// A one-rank "job" without MPI.
    pub fn single() -> Self {
        Self {
            world: None,
            rank: 0,
            size: 1,
            bytes_reduced: std::cell::Cell::new(0),
            node_local: std::cell::OnceCell::new(),
            max_count: MAX_VARCOUNT,
            _universe: None,
        }
    }

    /// This rank, 0-based.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Number of ranks.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether this is rank 0, which writes outputs.
    pub fn is_root(&self) -> bool {
        self.rank == 0
    }

    /// This rank's contiguous share of `n` rows.
    pub fn my_rows(&self, n: usize) -> std::ops::Range<usize> {
        crate::vis::split_range(n, self.size, self.rank)
    }

    /// This rank's index among the ranks on its node (an MPI shared-memory split of the
    /// world communicator, `MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)`); 0 without MPI.
    /// Used to give each rank of a node its own GPU. The split is a collective: the first
    /// call must be made by every rank; later calls return the cached value.
    pub fn node_local_rank(&self) -> usize {
        *self.node_local.get_or_init(|| match &self.world {
            Some(w) => w.split_shared(self.rank as i32).rank() as usize,
            None => 0,
        })
    }

    /// Bytes this rank has sent into reductions ([`Dist::sum_to_root`], [`Dist::all_sum_f64`])
    /// so far; 0 with one rank.
    pub fn bytes_reduced(&self) -> u64 {
        self.bytes_reduced.get()
    }

    fn count_reduced(&self, bytes: usize) {
        self.bytes_reduced
            .set(self.bytes_reduced.get() + bytes as u64);
    }

    /// Waits for every rank.
    pub fn barrier(&self) {
        if let Some(w) = &self.world {
            w.barrier();
        }
    }

    /// Sums `data` over all ranks into rank 0's `data` (other ranks' buffers are left as they
    /// were), in pieces of at most 2²⁶ elements so counts fit MPI's ints and the extra memory
    /// stays bounded.
    pub fn sum_to_root<T: Reducible>(&self, data: &mut [T]) {
        let Some(w) = &self.world else { return };
        if self.size == 1 {
            return;
        }
        self.count_reduced(std::mem::size_of_val(data));
        let root = w.process_at_rank(0);
        if self.rank == 0 {
            let mut recv = vec![T::default(); MAX_MPI_COUNT.min(data.len())];
            for piece in data.chunks_mut(MAX_MPI_COUNT) {
                let r = &mut recv[..piece.len()];
                root.reduce_into_root(&piece[..], r, SystemOperation::sum());
                piece.copy_from_slice(r);
            }
        } else {
            for piece in data.chunks(MAX_MPI_COUNT) {
                root.reduce_into(piece, SystemOperation::sum());
            }
        }
    }

    /// Element-wise sum over all ranks, result on every rank.
    pub fn all_sum_f64(&self, data: &mut [f64]) {
        let Some(w) = &self.world else { return };
        if self.size > 1 {
            self.count_reduced(std::mem::size_of_val(data));
        }
        let send = data.to_vec();
        w.all_reduce_into(&send[..], data, SystemOperation::sum());
    }

    /// Minimum over all ranks, result on every rank.
    pub fn all_min_f64(&self, x: f64) -> f64 {
        -self.all_max_f64(-x)
    }

    /// Maximum over all ranks, result on every rank.
    pub fn all_max_f64(&self, x: f64) -> f64 {
        let Some(w) = &self.world else { return x };
        let mut out = x;
        w.all_reduce_into(&x, &mut out, SystemOperation::max());
        out
    }

    /// Gathers each rank's equally long `data` to rank 0 (rank-major); `None` elsewhere.
    pub fn gather_f64(&self, data: &[f64]) -> Option<Vec<f64>> {
        let Some(w) = &self.world else {
            return Some(data.to_vec());
        };
        let root = w.process_at_rank(0);
        if self.rank == 0 {
            let mut out = vec![0.0; data.len() * self.size];
            root.gather_into_root(data, &mut out[..]);
            Some(out)
        } else {
            root.gather_into(data);
            None
        }
    }

    /// Broadcasts rank 0's `data` to every rank.
    pub fn broadcast_f64(&self, data: &mut [f64]) {
        if let Some(w) = &self.world {
            w.process_at_rank(0).broadcast_into(data);
        }
    }

    /// Ends the whole job with `code` (MPI_Abort on every rank when there are several).
    pub fn abort(&self, code: i32) -> ! {
        match &self.world {
            Some(w) if self.size > 1 => w.abort(code),
            _ => std::process::exit(code),
        }
    }
}
