//! Sample records on their way to the GPU: the host batch in the kernels' layout
//! ([`HostRecords`], made by [`make_records`] with the same arithmetic as the CPU path), the
//! two pinned staging slots a chunk of them is copied through ([`Slot`]), and the device
//! buffers of one sorted chunk ([`Sorted`]).
use std::sync::Arc;

use cudarc::driver::{
    CudaContext, CudaEvent, CudaSlice, CudaStream, DeviceRepr, PinnedHostSlice, ValidAsZeroBits,
};

use super::error::{drv, GpuError};
use super::real::GpuReal;
use crate::grid::geometry::GridGeometry;
use crate::grid::place::{place_samples_in_plane, GridCounts, GridMode};
use crate::vis::VisChunk;
use crate::wstack::WPlaneSel;

/// Records of one batch on the host, in the layout the kernels read.
#[derive(Default)]
pub(super) struct HostRecords<T> {
    /// Tile index.
    pub(super) key: Vec<u32>,
    /// `du | dv << 16`.
    pub(super) duv: Vec<u32>,
    /// `[su, sv, re, im]` per record.
    pub(super) vals: Vec<T>,
}

impl<T: GpuReal> HostRecords<T> {
    pub(super) fn len(&self) -> usize {
        self.key.len()
    }

    pub(super) fn clear(&mut self) {
        self.key.clear();
        self.duv.clear();
        self.vals.clear();
    }

    pub(super) fn append(&mut self, o: &HostRecords<T>) {
        self.key.extend_from_slice(&o.key);
        self.duv.extend_from_slice(&o.duv);
        self.vals.extend_from_slice(&o.vals);
    }
}

/// One of the two staging slots a chunk of records passes through: page-locked host buffers,
/// the device buffers they are copied into, and the stream doing the copy.
pub(super) struct Slot<T> {
    /// Records the buffers hold.
    pub(super) cap: usize,
    pub(super) hkey: PinnedHostSlice<u32>,
    pub(super) hduv: PinnedHostSlice<u32>,
    pub(super) hvals: PinnedHostSlice<T>,
    pub(super) key: CudaSlice<u32>,
    pub(super) duv: CudaSlice<u32>,
    pub(super) vals: CudaSlice<T>,
    /// The copy stream.
    pub(super) stream: Arc<CudaStream>,
    /// Recorded on `stream` after a chunk's copies: the pinned buffers may be refilled and
    /// the device buffers hold the chunk.
    pub(super) copied: CudaEvent,
    /// Recorded on the compute stream once the scatter has read the device buffers.
    pub(super) consumed: CudaEvent,
}

impl<T: DeviceRepr + ValidAsZeroBits> Slot<T> {
    /// Allocates a slot for `cap` records with its copy stream.
    pub(super) fn new(
        ctx: &Arc<CudaContext>,
        stream: Arc<CudaStream>,
        cap: usize,
    ) -> Result<Self, GpuError> {
        let ev = || ctx.new_event(None).map_err(drv("cuEventCreate"));
        // SAFETY: the pinned buffers are only read by copies after the host has filled the
        // part copied (`stream_chunk` writes records 0..m before copying 0..m).
        let (hkey, hduv, hvals) = unsafe {
            (
                ctx.alloc_pinned::<u32>(cap)
                    .map_err(drv("cuMemHostAlloc(record keys)"))?,
                ctx.alloc_pinned::<u32>(cap)
                    .map_err(drv("cuMemHostAlloc(record offsets)"))?,
                ctx.alloc_pinned::<T>(4 * cap)
                    .map_err(drv("cuMemHostAlloc(record values)"))?,
            )
        };
        Ok(Self {
            cap,
            hkey,
            hduv,
            hvals,
            key: stream
                .alloc_zeros::<u32>(cap)
                .map_err(drv("cuMemAlloc(record keys)"))?,
            duv: stream
                .alloc_zeros::<u32>(cap)
                .map_err(drv("cuMemAlloc(record offsets)"))?,
            vals: stream
                .alloc_zeros::<T>(4 * cap)
                .map_err(drv("cuMemAlloc(record values)"))?,
            copied: ev()?,
            consumed: ev()?,
            stream,
        })
    }
}

impl<T> Drop for Slot<T> {
    fn drop(&mut self) {
        // The pinned buffers must outlive the asynchronous copies from them; a failure here
        // has nowhere to go and leaves the context in error anyway.
        let _ = self.copied.synchronize();
    }
}

/// Device buffers of the compute stream sized for one chunk: records sorted by tile and the
/// subproblem list.
pub(super) struct Sorted<T> {
    /// Records they hold.
    pub(super) cap: usize,
    pub(super) sduv: CudaSlice<u32>,
    pub(super) svals: CudaSlice<T>,
    pub(super) sub_tile: CudaSlice<u32>,
    pub(super) sub_start: CudaSlice<u32>,
}

/// Turns rows `rows` of `chunk` into records (same arithmetic as the CPU path's records).
pub(super) fn make_records<T: GpuReal>(
    g: &GridGeometry,
    chunk: &VisChunk,
    freq_hz: &[f64],
    rows: std::ops::Range<usize>,
    mode: GridMode,
    plane: Option<&WPlaneSel>,
) -> (HostRecords<T>, GridCounts) {
    let cap = rows.len() * freq_hz.len();
    let mut out = HostRecords {
        key: Vec::with_capacity(cap),
        duv: Vec::with_capacity(cap),
        vals: Vec::with_capacity(4 * cap),
    };
    let t = |x: f64| T::from_f64(x).unwrap_or_default();
    let counts = place_samples_in_plane(g, chunk, freq_hz, rows, mode, plane, |p| {
        out.key.push(p.tile);
        out.duv.push((p.du | (p.dv << 16)) as u32);
        out.vals
            .extend_from_slice(&[t(p.su), t(p.sv), t(p.re), t(p.im)]);
    });
    (out, counts)
}
