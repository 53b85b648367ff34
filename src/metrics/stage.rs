//! The timed stages of a run, as a type: a stage that is timed is a variant, so it cannot be
//! misspelt or dropped on its way to the metrics JSON and table.

/// One timed stage. Host stages are wall-clock times on a rank; inner stages
/// ([`Stage::is_inner`]: the CPU gridder's phases, and the device stages measured with CUDA
/// events) are parts of a host stage, reported beside it and not added to the totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// Reading visibilities (and opening the source).
    Read,
    /// Simulating visibilities (`input.source = "simulate"`).
    Simulate,
    /// The imaging-weights density pass (uniform, Briggs, taper).
    Weights,
    /// Gridding (the dirty image and, in the same pass, the PSF).
    Grid,
    /// Reducing the grid over ranks.
    Reduce,
    /// FFT of the grid.
    Fft,
    /// Grid correction, crop and normalisation (and the w-screens).
    Correct,
    /// The PSF's own reduction and transform (its gridding is in [`Stage::Grid`]).
    Psf,
    /// The channel cube's passes.
    Cube,
    /// Writing the outputs (rank 0).
    Write,
    /// The reader thread's time reading (or simulating) chunks, overlapped with gridding;
    /// [`Stage::Read`] (or [`Stage::Simulate`]) is the part that was not hidden.
    ReadIo,
    /// CPU gridder, inside [`Stage::Grid`]: placing samples and sorting them by tile.
    CpuSort,
    /// CPU gridder, inside [`Stage::Grid`]: spreading onto the grid (kernel loop, flushes).
    CpuSpread,
    /// GPU: host → device copies.
    GpuH2d,
    /// GPU: bucketing records into tiles.
    GpuBucket,
    /// GPU: spreading onto the grid.
    GpuGrid,
    /// GPU: cuFFT.
    GpuFft,
    /// GPU: crop and correction.
    GpuCorrect,
    /// GPU: device → host copies.
    GpuD2h,
}

impl Stage {
    /// Every stage in pipeline order, then the inner stages.
    pub const ALL: [Stage; 19] = [
        Stage::Read,
        Stage::Simulate,
        Stage::Weights,
        Stage::Grid,
        Stage::Reduce,
        Stage::Fft,
        Stage::Correct,
        Stage::Psf,
        Stage::Cube,
        Stage::Write,
        Stage::ReadIo,
        Stage::CpuSort,
        Stage::CpuSpread,
        Stage::GpuH2d,
        Stage::GpuBucket,
        Stage::GpuGrid,
        Stage::GpuFft,
        Stage::GpuCorrect,
        Stage::GpuD2h,
    ];

    /// The stages of the imaging path, whose sum is the imaging time throughput is quoted
    /// for (the weights, PSF, cube and writing are not in it).
    pub const IMAGING: [Stage; 6] = [
        Stage::Read,
        Stage::Simulate,
        Stage::Grid,
        Stage::Reduce,
        Stage::Fft,
        Stage::Correct,
    ];

    /// The name in the metrics JSON, table and scaling CSV.
    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Read => "read",
            Stage::Simulate => "simulate",
            Stage::Weights => "weights",
            Stage::Grid => "grid",
            Stage::Reduce => "reduce",
            Stage::Fft => "fft",
            Stage::Correct => "correct",
            Stage::Psf => "psf",
            Stage::Cube => "cube",
            Stage::Write => "write",
            Stage::ReadIo => "read_io",
            Stage::CpuSort => "cpu_sort",
            Stage::CpuSpread => "cpu_spread",
            Stage::GpuH2d => "gpu_h2d",
            Stage::GpuBucket => "gpu_bucket",
            Stage::GpuGrid => "gpu_grid",
            Stage::GpuFft => "gpu_fft",
            Stage::GpuCorrect => "gpu_correct",
            Stage::GpuD2h => "gpu_d2h",
        }
    }

    /// Index into [`Stage::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Whether the stage is part of, or overlaps, a host stage (the reader thread, the CPU
    /// gridder's phases, or measured on the device), so not added to the totals.
    pub const fn is_inner(self) -> bool {
        matches!(
            self,
            Stage::ReadIo
                | Stage::CpuSort
                | Stage::CpuSpread
                | Stage::GpuH2d
                | Stage::GpuBucket
                | Stage::GpuGrid
                | Stage::GpuFft
                | Stage::GpuCorrect
                | Stage::GpuD2h
        )
    }
}

/// The stage names in [`Stage::ALL`] order.
pub const STAGES: [&str; Stage::ALL.len()] = {
    let mut names = [""; Stage::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = Stage::ALL[i].as_str();
        i += 1;
    }
    names
};

/// A pass over the data that reads chunks, for the read counts of the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadPass {
    /// The uv extent for `cell_arcsec = "auto"` (uvw only).
    UvExtent,
    /// The w range for w-stacking (uvw only).
    WRange,
    /// The imaging-weights density pass.
    Weights,
    /// The imaging pass: one read per chunk feeds the dirty image and the PSF.
    Image,
    /// The channel cube's passes (one per channel group).
    Cube,
    /// Passes over rows already held in memory (w-stacking's planes, [`crate::vis::MemVis`]):
    /// not reads of the data.
    Held,
}

impl ReadPass {
    /// Every pass.
    pub const ALL: [ReadPass; 6] = [
        ReadPass::UvExtent,
        ReadPass::WRange,
        ReadPass::Weights,
        ReadPass::Image,
        ReadPass::Cube,
        ReadPass::Held,
    ];

    /// The name in the metrics JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReadPass::UvExtent => "uv_extent",
            ReadPass::WRange => "w_range",
            ReadPass::Weights => "weights",
            ReadPass::Image => "image",
            ReadPass::Cube => "cube",
            ReadPass::Held => "held",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_index_order_and_names_are_unique() {
        for (i, s) in Stage::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
        }
        let mut names = STAGES.to_vec();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Stage::ALL.len());
        assert!(Stage::IMAGING.iter().all(|s| !s.is_inner()));
    }
}
