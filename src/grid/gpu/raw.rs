//! One staging slot of raw samples on their way to the GPU ([`RawSlot`]): page-locked host
//! buffers for a piece of a chunk's rows (uvw per row in float64, visibilities as interleaved
//! float32, weights, flags), the device buffers they are copied into, and the two events that
//! order their reuse (see `devrec.rs`).
use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaEvent, CudaSlice, CudaStream, PinnedHostSlice};

use super::error::{drv, GpuError};

/// One staging slot: pinned host buffers, their device copies and the two ordering events.
pub(super) struct RawSlot {
    /// Rows and samples the buffers hold.
    pub(super) rows: usize,
    pub(super) samples: usize,
    pub(super) huvw: PinnedHostSlice<f64>,
    pub(super) hvis: PinnedHostSlice<f32>,
    pub(super) hwt: PinnedHostSlice<f32>,
    pub(super) hflag: PinnedHostSlice<bool>,
    pub(super) duvw: CudaSlice<f64>,
    pub(super) dvis: CudaSlice<f32>,
    pub(super) dwt: CudaSlice<f32>,
    pub(super) dflag: CudaSlice<u8>,
    /// Recorded on the copy stream after the slot's copies.
    pub(super) copied: CudaEvent,
    /// Recorded on the place stream after `place_samples` has read the device buffers.
    pub(super) consumed: CudaEvent,
}

impl RawSlot {
    /// Allocates a slot for `rows` rows and `samples` samples (device buffers on `s`).
    pub(super) fn new(
        ctx: &Arc<CudaContext>,
        s: &Arc<CudaStream>,
        rows: usize,
        samples: usize,
    ) -> Result<Self, GpuError> {
        let ev = || ctx.new_event(None).map_err(drv("cuEventCreate"));
        // SAFETY: the pinned buffers (write-combined: the host only writes them) are read by
        // copies only after the host has filled the part copied, and refilled only after the
        // slot's `copied` event has completed.
        let (huvw, hvis, hwt, hflag) = unsafe {
            (
                ctx.alloc_pinned::<f64>(3 * rows)
                    .map_err(drv("cuMemHostAlloc(raw uvw)"))?,
                ctx.alloc_pinned::<f32>(2 * samples)
                    .map_err(drv("cuMemHostAlloc(raw vis)"))?,
                ctx.alloc_pinned::<f32>(samples)
                    .map_err(drv("cuMemHostAlloc(raw weights)"))?,
                ctx.alloc_pinned::<bool>(samples)
                    .map_err(drv("cuMemHostAlloc(raw flags)"))?,
            )
        };
        Ok(Self {
            rows,
            samples,
            huvw,
            hvis,
            hwt,
            hflag,
            duvw: s
                .alloc_zeros(3 * rows)
                .map_err(drv("cuMemAlloc(raw uvw)"))?,
            dvis: s
                .alloc_zeros(2 * samples)
                .map_err(drv("cuMemAlloc(raw vis)"))?,
            dwt: s
                .alloc_zeros(samples)
                .map_err(drv("cuMemAlloc(raw weights)"))?,
            dflag: s
                .alloc_zeros(samples)
                .map_err(drv("cuMemAlloc(raw flags)"))?,
            copied: ev()?,
            consumed: ev()?,
        })
    }
}

impl Drop for RawSlot {
    fn drop(&mut self) {
        // The pinned buffers must outlive the asynchronous copies from them.
        let _ = self.copied.synchronize();
    }
}
