//! From the device grid to an image on the GPU: the cuFFT backward transform in place, the
//! crop/correct kernel (centring sign, grid correction `1/ψ̂`, scale) whose `ny × nx` image
//! alone comes back to the host, and for w-stacking the phase screen and plane sum, which
//! stay on the device until taken.
use std::sync::Arc;

use cudarc::cufft::CudaFft;
use cudarc::driver::{
    CudaContext, CudaSlice, CudaStream, DevicePtrMut, LaunchConfig, PushKernelArg,
};
use rayon::prelude::*;
use tracing::debug;

use super::compile::ImageKernels;
use super::error::{drv, GpuError};
use super::real::GpuReal;
use super::timing::{mark, StageClock, Timer};
use super::transfer::{Bounce, BOUNCE_BYTES};
use crate::grid::backend::ImageTimings;
use crate::grid::geometry::GridGeometry;
use crate::kernel;
use crate::wstack::WScreen;

/// The transform of one grid size, with its device buffers.
pub(super) struct Transform<T> {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    k: ImageKernels,
    fft: CudaFft,
    /// Image size.
    nx: usize,
    ny: usize,
    /// Grid-correction factors along x and y.
    cx: CudaSlice<f64>,
    cy: CudaSlice<f64>,
    image: CudaSlice<f64>,
    /// w-stacking: the plane sum `[ny][nx]` on the device, allocated on first use.
    w_sum: Option<CudaSlice<f64>>,
    /// Pinned bounce buffers for the image's and plane sum's trips to the host (made on
    /// first use).
    bounce: Option<Bounce<f64>>,
    _real: std::marker::PhantomData<T>,
}

impl<T: GpuReal> Transform<T> {
    /// Uploads the grid correction, allocates the image and plans the FFT of `geom`'s grid
    /// on `stream`.
    pub(super) fn new(
        ctx: &Arc<CudaContext>,
        stream: &Arc<CudaStream>,
        geom: &GridGeometry,
        k: ImageKernels,
    ) -> Result<Self, GpuError> {
        let (nu, nv) = (geom.nu, geom.nv);
        let cxv = kernel::correction(&geom.kernel, geom.nx, nu);
        let cyv = kernel::correction(&geom.kernel, geom.ny, nv);
        let cx = stream
            .clone_htod(&cxv)
            .map_err(drv("cuMemcpyHtoD(correction)"))?;
        let cy = stream
            .clone_htod(&cyv)
            .map_err(drv("cuMemcpyHtoD(correction)"))?;
        let image = stream
            .alloc_zeros::<f64>(geom.nx * geom.ny)
            .map_err(drv("cuMemAlloc(image)"))?;
        let fft_type = if T::IS_DOUBLE {
            cudarc::cufft::sys::cufftType::CUFFT_Z2Z
        } else {
            cudarc::cufft::sys::cufftType::CUFFT_C2C
        };
        // Row-major [nv][nu]: the slowest dimension first.
        let fft =
            CudaFft::plan_2d(nv as i32, nu as i32, fft_type, stream.clone()).map_err(|source| {
                GpuError::Cufft {
                    what: "cufftPlan2d",
                    source,
                }
            })?;
        Ok(Self {
            ctx: ctx.clone(),
            stream: stream.clone(),
            k,
            fft,
            nx: geom.nx,
            ny: geom.ny,
            cx,
            cy,
            image,
            w_sum: None,
            bounce: None,
            _real: std::marker::PhantomData,
        })
    }

    /// Replaces the image's bounce buffers with ones of `bytes` per piece.
    pub(super) fn set_bounce_bytes(&mut self, bytes: usize) -> Result<(), GpuError> {
        self.bounce = Some(Bounce::with_piece_bytes(&self.stream, bytes)?);
        Ok(())
    }

    /// Backward FFT of the device grid in place.
    fn fft_in_place(&mut self, grid: &mut CudaSlice<T>) -> Result<(), GpuError> {
        let s = self.stream.clone();
        let (ptr, _guard) = grid.device_ptr_mut(&s);
        let dir = cudarc::cufft::FftDirection::Inverse as std::ffi::c_int;
        // SAFETY: the plan was made for this nv × nu transform of T's complex type on this
        // stream, and `ptr` points to the 2·nu·nv values of the grid, transformed in place.
        let r = unsafe {
            if T::IS_DOUBLE {
                cudarc::cufft::result::exec_z2z(
                    self.fft.handle(),
                    ptr as *mut _,
                    ptr as *mut _,
                    dir,
                )
            } else {
                cudarc::cufft::result::exec_c2c(
                    self.fft.handle(),
                    ptr as *mut _,
                    ptr as *mut _,
                    dir,
                )
            }
        };
        r.map_err(|source| GpuError::Cufft {
            what: "cufftExecC2C/Z2Z",
            source,
        })
    }

    /// FFT of `grid` in place, then crop, centring sign, grid correction and `scale` into the
    /// device image, which comes back to the host; adds the stage times to `clock` and settles
    /// it.
    pub(super) fn image(
        &mut self,
        grid: &mut CudaSlice<T>,
        scale: f64,
        clock: &mut StageClock,
    ) -> Result<(Vec<f64>, ImageTimings), GpuError> {
        let (nx, ny) = (self.nx as u32, self.ny as u32);
        let s = self.stream.clone();
        // Event marks, read after the copy: the host does not wait for the GPU before it.
        let e0 = mark(&self.ctx, &s)?;
        self.fft_in_place(grid)?;
        let e1 = mark(&self.ctx, &s)?;
        {
            // Poison the image (all-ones bytes are NaN) so unwritten pixels show.
            let nbytes = self.image.len() * std::mem::size_of::<f64>();
            let (ptr, _guard) = self.image.device_ptr_mut(&s);
            // SAFETY: `ptr` points to the image's nx·ny f64 values, on this stream.
            unsafe { cudarc::driver::result::memset_d8_async(ptr, 0xff, nbytes, s.cu_stream()) }
                .map_err(drv("cuMemsetD8Async(image poison)"))?;
        }
        let mut b = s.launch_builder(&self.k.crop);
        b.arg(&*grid)
            .arg(&self.cx)
            .arg(&self.cy)
            .arg(&scale)
            .arg(&mut self.image);
        let cfg = LaunchConfig {
            grid_dim: (nx.div_ceil(256), ny, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the kernel reads grid cells at indices < nu·nv, cx[x < nx], cy[y < ny] and
        // writes image[y][x] for x < nx, y < ny.
        unsafe { b.launch(cfg) }.map_err(drv("launch crop_correct"))?;
        let e2 = mark(&self.ctx, &s)?;
        // The host image, its pages mapped by all threads while the GPU still spreads and
        // transforms (first-touch page faults would otherwise slow the copy below).
        let mut img: Vec<f64> = Vec::with_capacity(self.image.len());
        img.par_extend((0..self.image.len()).into_par_iter().map(|_| 0.0));
        let timer = Timer::new(&self.ctx)?;
        timer.start(&s)?;
        let bounce = Bounce::get_or_make(&mut self.bounce, &s, BOUNCE_BYTES)?;
        bounce.download(&s, &self.image, &mut img)?;
        clock.times.d2h_s += timer.stop(&s)?;
        let fft_s = f64::from(e0.elapsed_ms(&e1).map_err(drv("cuEventElapsedTime"))?) * 1e-3;
        let correct_s = f64::from(e1.elapsed_ms(&e2).map_err(drv("cuEventElapsedTime"))?) * 1e-3;
        clock.times.fft_s += fft_s;
        clock.times.correct_s += correct_s;
        clock.settle()?;
        debug!("GPU stage times so far: {:?}", clock.times);
        Ok((img, ImageTimings { fft_s, correct_s }))
    }

    /// w-stacking: FFT of the device grid, then the phase screen and accumulation of the real
    /// part into the device plane sum (nothing comes back to the host); adds the stage times to
    /// `clock` and settles it.
    pub(super) fn add_w_plane(
        &mut self,
        grid: &mut CudaSlice<T>,
        screen: &WScreen,
        clock: &mut StageClock,
    ) -> Result<ImageTimings, GpuError> {
        let (nx, ny) = (self.nx as u32, self.ny as u32);
        let timer = Timer::new(&self.ctx)?;
        let s = self.stream.clone();
        if self.w_sum.is_none() {
            self.w_sum = Some(
                s.alloc_zeros::<f64>(self.nx * self.ny)
                    .map_err(drv("cuMemAlloc(w-plane sum)"))?,
            );
        }
        timer.start(&s)?;
        self.fft_in_place(grid)?;
        let fft_s = timer.stop(&s)?;
        timer.start(&s)?;
        let Some(sum) = self.w_sum.as_mut() else {
            return Err(GpuError::Unsupported("w-plane sum not allocated".into()));
        };
        let mut b = s.launch_builder(&self.k.w_screen);
        b.arg(&*grid)
            .arg(&screen.w_lambda)
            .arg(&screen.nshift)
            .arg(&screen.cell_rad)
            .arg(sum);
        let cfg = LaunchConfig {
            grid_dim: (nx.div_ceil(256), ny, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the kernel reads grid cells at indices < nu·nv and reads and writes
        // sum[y][x] for x < nx, y < ny (the nx·ny values allocated above), on this stream.
        unsafe { b.launch(cfg) }.map_err(drv("launch w_screen_accumulate"))?;
        let screen_s = timer.stop(&s)?;
        clock.times.fft_s += fft_s;
        clock.times.correct_s += screen_s;
        clock.settle()?;
        Ok(ImageTimings {
            fft_s,
            correct_s: screen_s,
        })
    }

    /// w-stacking: copies the device plane sum to the host and zeroes it (its copy time goes
    /// to `clock`).
    pub(super) fn take_w_sum(&mut self, clock: &mut StageClock) -> Result<Vec<f64>, GpuError> {
        let n = self.nx * self.ny;
        let Some(sum) = self.w_sum.as_mut() else {
            return Ok(vec![0.0; n]);
        };
        let s = self.stream.clone();
        let timer = Timer::new(&self.ctx)?;
        timer.start(&s)?;
        let mut out = vec![0.0f64; sum.len()];
        Bounce::get_or_make(&mut self.bounce, &s, BOUNCE_BYTES)?.download(&s, sum, &mut out)?;
        clock.times.d2h_s += timer.stop(&s)?;
        s.memset_zeros(sum)
            .map_err(drv("cuMemsetD8(w-plane sum)"))?;
        Ok(out)
    }
}
