//! Large host ↔ device copies through page-locked bounce buffers.
//!
//! A `cuMemcpy` from or to pageable host memory runs at a fraction of the bus rate (the driver
//! stages it through its own small pinned buffer). The image (`nx·ny` f64) and, for the MPI
//! reduction, the whole grid cross the bus in pieces instead: the GPU copies piece i + 1 into
//! one pinned buffer while the host's threads move piece i between the other and the pageable
//! destination (or the other way round for uploads).
use std::sync::Arc;

use cudarc::driver::{
    CudaEvent, CudaSlice, CudaStream, DevicePtr, DevicePtrMut, DeviceRepr, PinnedHostSlice,
    ValidAsZeroBits,
};
use rayon::prelude::*;

use super::error::{drv, GpuError};

/// Bytes of each pinned bounce buffer for the grid's and image's trips to the host.
pub(super) const BOUNCE_BYTES: usize = 32 << 20;

/// Two page-locked host buffers for piecewise copies of `V`s, each with an event recorded
/// after the last copy that used it.
pub(super) struct Bounce<V> {
    bufs: [PinnedHostSlice<V>; 2],
    done: [CudaEvent; 2],
    /// Elements per piece.
    piece: usize,
}

/// Copies `src` into the front of `dst` with all threads.
pub(super) fn par_copy<V: Copy + Send + Sync>(dst: &mut [V], src: &[V]) {
    const PIECE: usize = 1 << 16;
    dst[..src.len()]
        .par_chunks_mut(PIECE)
        .zip(src.par_chunks(PIECE))
        .for_each(|(d, s)| d.copy_from_slice(s));
}

impl<V: DeviceRepr + ValidAsZeroBits + Copy + Send + Sync> Bounce<V> {
    /// Allocates two buffers of `piece_bytes` (at least one element) in `stream`'s context.
    pub(super) fn with_piece_bytes(
        stream: &Arc<CudaStream>,
        piece_bytes: usize,
    ) -> Result<Self, GpuError> {
        let piece = (piece_bytes / std::mem::size_of::<V>()).max(1);
        let ctx = stream.context();
        // SAFETY: the buffers are touched by the host only after waiting for the event of
        // their last copy (`done`), and copies into or out of them are queued only after the
        // host has finished with them. Flags 0: cached memory, not write-combined, because the
        // host reads it back.
        let alloc = || unsafe {
            ctx.alloc_pinned_with_flags::<V>(piece, 0)
                .map_err(drv("cuMemHostAlloc(bounce buffer)"))
        };
        let ev = || ctx.new_event(None).map_err(drv("cuEventCreate"));
        Ok(Self {
            bufs: [alloc()?, alloc()?],
            done: [ev()?, ev()?],
            piece,
        })
    }

    /// The bounce buffers in `slot`, made with `piece_bytes` per piece on first use.
    pub(super) fn get_or_make<'a>(
        slot: &'a mut Option<Self>,
        stream: &Arc<CudaStream>,
        piece_bytes: usize,
    ) -> Result<&'a mut Self, GpuError> {
        if slot.is_none() {
            *slot = Some(Self::with_piece_bytes(stream, piece_bytes)?);
        }
        slot.as_mut()
            .ok_or_else(|| GpuError::Unsupported("bounce buffers missing".into()))
    }

    fn range(&self, i: usize, n: usize) -> std::ops::Range<usize> {
        i * self.piece..((i + 1) * self.piece).min(n)
    }

    /// Copies device `src` into host `dst` (the shorter of the two), waiting until done.
    pub(super) fn download(
        &mut self,
        stream: &Arc<CudaStream>,
        src: &CudaSlice<V>,
        dst: &mut [V],
    ) -> Result<(), GpuError> {
        let n = src.len().min(dst.len());
        let np = n.div_ceil(self.piece);
        for i in 0..=np {
            if i < np {
                let r = self.range(i, n);
                let b = i % 2;
                // The host finished reading this buffer (piece i − 2) in iteration i − 1.
                let h = self.bufs[b]
                    .as_mut_slice()
                    .map_err(drv("pinned buffer access"))?;
                let view = src.slice(r.clone());
                let (dptr, _g) = view.device_ptr(stream);
                // SAFETY: `dptr` points to r.len() elements of `src`, `h` holds at least that
                // many; the buffer is not touched again before `done[b]`, recorded next, has
                // completed (waited for below and at the start of every later use).
                unsafe {
                    cudarc::driver::result::memcpy_dtoh_async(
                        &mut h[..r.len()],
                        dptr,
                        stream.cu_stream(),
                    )
                }
                .map_err(drv("cuMemcpyDtoHAsync(bounce)"))?;
                self.done[b].record(stream).map_err(drv("cuEventRecord"))?;
            }
            if i > 0 {
                let r = self.range(i - 1, n);
                let b = (i - 1) % 2;
                self.done[b]
                    .synchronize()
                    .map_err(drv("cuEventSynchronize(bounce)"))?;
                let h = self.bufs[b]
                    .as_slice()
                    .map_err(drv("pinned buffer access"))?;
                par_copy(&mut dst[r.clone()], &h[..r.len()]);
            }
        }
        Ok(())
    }

    /// Copies host `src` into device `dst` (the shorter of the two); returns once every
    /// piece has been read out of the bounce buffers.
    pub(super) fn upload(
        &mut self,
        stream: &Arc<CudaStream>,
        src: &[V],
        dst: &mut CudaSlice<V>,
    ) -> Result<(), GpuError> {
        let n = src.len().min(dst.len());
        let np = n.div_ceil(self.piece);
        for i in 0..np {
            let r = self.range(i, n);
            let b = i % 2;
            // Wait for this buffer's previous copy (piece i − 2) before refilling it.
            self.done[b]
                .synchronize()
                .map_err(drv("cuEventSynchronize(bounce)"))?;
            let h = self.bufs[b]
                .as_mut_slice()
                .map_err(drv("pinned buffer access"))?;
            par_copy(&mut h[..r.len()], &src[r.clone()]);
            let mut view = dst.slice_mut(r.clone());
            let (dptr, _g) = view.device_ptr_mut(stream);
            // SAFETY: `dptr` points to r.len() elements of `dst`; the first r.len() elements of
            // the pinned buffer were just written and stay untouched until `done[b]`, recorded
            // next, has completed.
            unsafe {
                cudarc::driver::result::memcpy_htod_async(dptr, &h[..r.len()], stream.cu_stream())
            }
            .map_err(drv("cuMemcpyHtoDAsync(bounce)"))?;
            self.done[b].record(stream).map_err(drv("cuEventRecord"))?;
        }
        for e in &self.done {
            e.synchronize().map_err(drv("cuEventSynchronize(bounce)"))?;
        }
        Ok(())
    }
}
