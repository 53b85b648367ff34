//! Device-side timing: CUDA event pairs ([`Timer`], [`mark`]) and the running stage totals
//! ([`StageClock`]) that the backend reports as [`DeviceStageTimes`].
use std::sync::Arc;

use cudarc::driver::sys::CUevent_flags;
use cudarc::driver::{CudaContext, CudaEvent, CudaStream};

use super::error::{drv, GpuError};
use crate::grid::backend::DeviceStageTimes;

/// Unsettled timing-event pairs kept before they are read (each read waits for the GPU).
const MAX_OPEN_TIMERS: usize = 192;

/// Which [`DeviceStageTimes`] field an event pair adds to.
#[derive(Clone, Copy)]
pub(super) enum Stage {
    H2d,
    Bucket,
    Grid,
}

/// Records a timing event on `s`.
pub(super) fn mark(ctx: &Arc<CudaContext>, s: &CudaStream) -> Result<CudaEvent, GpuError> {
    let e = ctx
        .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
        .map_err(drv("cuEventCreate"))?;
    e.record(s).map_err(drv("cuEventRecord"))?;
    Ok(e)
}

/// A pair of timing events.
pub(super) struct Timer {
    a: CudaEvent,
    b: CudaEvent,
}

impl Timer {
    pub(super) fn new(ctx: &Arc<CudaContext>) -> Result<Self, GpuError> {
        let f = Some(CUevent_flags::CU_EVENT_DEFAULT);
        Ok(Self {
            a: ctx.new_event(f).map_err(drv("cuEventCreate"))?,
            b: ctx.new_event(f).map_err(drv("cuEventCreate"))?,
        })
    }

    pub(super) fn start(&self, s: &CudaStream) -> Result<(), GpuError> {
        self.a.record(s).map_err(drv("cuEventRecord"))
    }

    /// Records the end and returns the seconds since `start` (waits for the stream).
    pub(super) fn stop(&self, s: &CudaStream) -> Result<f64, GpuError> {
        self.b.record(s).map_err(drv("cuEventRecord"))?;
        let ms = self
            .a
            .elapsed_ms(&self.b)
            .map_err(drv("cuEventElapsedTime"))?;
        Ok(f64::from(ms) * 1e-3)
    }
}

/// The stage times so far, and the streamed stages' event pairs not yet read into them.
#[derive(Default)]
pub(super) struct StageClock {
    /// Settled totals.
    pub(super) times: DeviceStageTimes,
    /// Timing events recorded but not yet read.
    open: Vec<(Stage, CudaEvent, CudaEvent)>,
}

impl StageClock {
    /// Keeps the event pair `(a, b)` of `stage`, to be read at the next [`StageClock::settle`].
    pub(super) fn push(&mut self, stage: Stage, a: CudaEvent, b: CudaEvent) {
        self.open.push((stage, a, b));
    }

    /// Reads the recorded timing events into the stage times (waits for them).
    pub(super) fn settle(&mut self) -> Result<(), GpuError> {
        for (stage, a, b) in self.open.drain(..) {
            let secs = f64::from(a.elapsed_ms(&b).map_err(drv("cuEventElapsedTime"))?) * 1e-3;
            match stage {
                Stage::H2d => self.times.h2d_s += secs,
                Stage::Bucket => self.times.bucket_s += secs,
                Stage::Grid => self.times.grid_s += secs,
            }
        }
        Ok(())
    }

    /// [`StageClock::settle`]s when more than [`MAX_OPEN_TIMERS`] pairs are open.
    pub(super) fn settle_if_many(&mut self) -> Result<(), GpuError> {
        if self.open.len() > MAX_OPEN_TIMERS {
            self.settle()?;
        }
        Ok(())
    }
}
