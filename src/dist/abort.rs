//! Ending the whole MPI job from anywhere, without a [`super::Dist`] at hand: the panic hook
//! and the signal handlers of the command line use it, so that a panic on one rank ends every
//! rank within seconds instead of leaving the others waiting in a collective.

/// Whether MPI is initialised and not yet finalised in this process.
pub fn mpi_active() -> bool {
    let (mut init, mut fin) = (0, 0);
    // SAFETY: MPI_Initialized and MPI_Finalized may be called at any time, before
    // MPI_Init and after MPI_Finalize included, from any thread; they only write the flags.
    unsafe {
        mpi::ffi::MPI_Initialized(&mut init);
        mpi::ffi::MPI_Finalized(&mut fin);
    }
    init != 0 && fin == 0
}

/// Number of ranks of `MPI_COMM_WORLD` (1 without MPI).
pub fn world_size() -> usize {
    if !mpi_active() {
        return 1;
    }
    let mut n = 1;
    // SAFETY: MPI is initialised and not finalised (checked above); RSMPI_COMM_WORLD is
    // MPI_COMM_WORLD and MPI_Comm_size only writes `n`.
    unsafe {
        mpi::ffi::MPI_Comm_size(mpi::ffi::RSMPI_COMM_WORLD, &mut n);
    }
    n.max(1) as usize
}

/// Ends the job with `code`: `MPI_Abort(MPI_COMM_WORLD)` when MPI is active with several
/// ranks (every rank is killed), otherwise a plain exit.
pub fn abort_world(code: i32) -> ! {
    if world_size() > 1 {
        // SAFETY: MPI is initialised and not finalised (world_size checked it); MPI_Abort on
        // MPI_COMM_WORLD may be called from any thread and does not return on success.
        unsafe {
            mpi::ffi::MPI_Abort(mpi::ffi::RSMPI_COMM_WORLD, code);
        }
    }
    std::process::exit(code)
}
