//! GPU throughput benchmark (issue 3): `N` uniformly distributed visibilities (default 1e8)
//! onto an `npix × npix` image (default 8192) at ε = 1e-4 (float32) and 1e-5 (float64).
//!
//! For the records built on the device (the default) and, unless `GPU_BENCH_HOST=0`, on the
//! host (the earlier path), prints per run the GPU stage times (CUDA events): host-to-device
//! copy, bucketing (record building on the device included), gridding, FFT, correction,
//! device-to-host copy; "GPU compute" = bucketing + gridding + FFT + correction; and the
//! end-to-end wall time from visibilities in host memory (one `VisChunk`) to the image in
//! host memory, split into the `grid` and `to_image` calls. `GPU_BENCH_REPS` runs (default 6,
//! the first a warm-up) give the medians in the `SUMMARY` and `CSV` lines. The error against the
//! float64 DFT on sampled pixels, and the device-built against the host-built image.
//!
//! `cargo run --release --example gpu_bench -- [nvis] [npix] [tile ...]` (tile sizes, default 32)
use std::time::Instant;

use num_complex::Complex32;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use rimager::constants::SPEED_OF_LIGHT_M_S;
use rimager::dft::{self, relative_l2};
use rimager::grid::gpu::{GpuGridder, GpuReal};
use rimager::grid::{
    DeviceStageTimes, GridCounts, GridMode, Gridder, ImageTransform, ImagingBackend,
};
use rimager::imaging::ImageParams;
use rimager::vis::VisChunk;

/// `nrow` rows of `nchan` channels, uvw uniform in a disc reaching 0.45/cell at the highest
/// frequency, random values, unit weights; generated in parallel, seeded per block.
fn synth(nrow: usize, freq: &[f64], cell: f64) -> VisChunk {
    let nchan = freq.len();
    let max_uv_m = 0.45 / cell * SPEED_OF_LIGHT_M_S / freq[nchan - 1];
    let nblk = 256;
    let parts: Vec<VisChunk> = (0..nblk)
        .into_par_iter()
        .map(|b| {
            let r = rimager::vis::split_range(nrow, nblk, b);
            let mut rng = ChaCha8Rng::seed_from_u64(1000 + b as u64);
            let mut c = VisChunk::default();
            for _ in r {
                let rad = max_uv_m * rng.random::<f64>().sqrt();
                let t = rng.random::<f64>() * std::f64::consts::TAU;
                c.uvw_m.push([rad * t.cos(), rad * t.sin(), 0.0]);
                for _ in 0..nchan {
                    c.vis.push(Complex32::new(
                        rng.random::<f32>() - 0.5,
                        rng.random::<f32>() - 0.5,
                    ));
                    c.weight.push(1.0);
                }
            }
            c
        })
        .collect();
    let mut c = VisChunk::default();
    for p in parts {
        c.uvw_m.extend(p.uvw_m);
        c.vis.extend(p.vis);
        c.weight.extend(p.weight);
    }
    c
}

/// The device stage times so far.
fn stage_times<T: GpuReal>(g: &GpuGridder<T>) -> DeviceStageTimes {
    g.report().stage_times.unwrap_or_default()
}

/// One timed run's numbers (seconds).
#[derive(Clone, Copy, Default)]
struct Timed {
    /// Visibilities in host memory to the image in host memory.
    wall: f64,
    /// The `grid` call (host staging or host records, and waiting for the counts).
    grid_call: f64,
    /// The `to_image` call (the rest of the spreading, FFT, correction, image copy).
    to_image: f64,
    t: DeviceStageTimes,
}

impl Timed {
    /// Bucketing (device record building included) + gridding + FFT + correction.
    fn compute(&self) -> f64 {
        self.t.bucket_s + self.t.grid_s + self.t.fft_s + self.t.correct_s
    }
}

/// The kept runs, the last image and its counts.
type Runs = (Vec<Timed>, Vec<f64>, GridCounts);

/// `reps` runs (the first a warm-up, not kept) of gridding `chunk` and imaging it; returns the
/// kept runs, the last image and the counts.
fn timed_runs<T: GpuReal>(
    g: &mut GpuGridder<T>,
    chunk: &VisChunk,
    freq: &[f64],
    reps: usize,
) -> Result<Runs, Box<dyn std::error::Error>> {
    let mut kept = Vec::new();
    let mut image = Vec::new();
    let mut counts = GridCounts::default();
    for rep in 0..reps {
        g.clear()?;
        let before = stage_times(g);
        let t = Instant::now();
        counts = g.grid(chunk, freq, GridMode::Dirty, None)?;
        let grid_call = t.elapsed().as_secs_f64();
        let (img, _) = g.to_image(1.0 / counts.sum_weights)?;
        let wall = t.elapsed().as_secs_f64();
        let after = stage_times(g);
        let d = DeviceStageTimes {
            h2d_s: after.h2d_s - before.h2d_s,
            bucket_s: after.bucket_s - before.bucket_s,
            grid_s: after.grid_s - before.grid_s,
            fft_s: after.fft_s - before.fft_s,
            correct_s: after.correct_s - before.correct_s,
            d2h_s: after.d2h_s - before.d2h_s,
        };
        let r = Timed {
            wall,
            grid_call,
            to_image: wall - grid_call,
            t: d,
        };
        println!(
            "  run {rep}: {} used; grid() {:.1} ms, to_image() {:.1} ms; device stages: H2D {:.1} ms, \
             bucketing {:.1} ms, gridding {:.1} ms, FFT {:.1} ms, correction {:.1} ms, D2H {:.1} ms; \
             GPU compute {:.1} ms; end to end {:.1} ms = {:.3e} vis/s",
            counts.used,
            grid_call * 1e3,
            r.to_image * 1e3,
            d.h2d_s * 1e3,
            d.bucket_s * 1e3,
            d.grid_s * 1e3,
            d.fft_s * 1e3,
            d.correct_s * 1e3,
            d.d2h_s * 1e3,
            r.compute() * 1e3,
            wall * 1e3,
            counts.used as f64 / wall
        );
        if rep > 0 || reps == 1 {
            kept.push(r);
        }
        image = img;
    }
    Ok((kept, image, counts))
}

/// The run of median end-to-end time.
fn median(runs: &[Timed]) -> Timed {
    let mut v = runs.to_vec();
    v.sort_by(|a, b| a.wall.total_cmp(&b.wall));
    v[v.len() / 2]
}

/// Error of `image` against the float64 DFT at 4 runs of 32 pixels.
fn dft_error(image: &[f64], chunk: &VisChunk, freq: &[f64], npix: usize, cell: f64) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let mut pixels = Vec::new();
    for _ in 0..4 {
        let y = rng.random_range(0..npix);
        let x0 = rng.random_range(0..npix - 32);
        pixels.extend((x0..x0 + 32).map(|x| (x, y)));
    }
    let mut sums = vec![0.0; pixels.len()];
    let grid = dft::PixelGrid {
        nx: npix,
        ny: npix,
        cell_rad: cell,
    };
    let sw = dft::accumulate(chunk, freq, grid, &pixels, GridMode::Dirty, &mut sums);
    let want: Vec<f64> = sums.iter().map(|s| s / sw).collect();
    let got: Vec<f64> = pixels.iter().map(|&(x, y)| image[y * npix + x]).collect();
    relative_l2(&got, &want)
}

/// What one precision's benchmark needs.
struct Case<'a> {
    eps: f64,
    npix: usize,
    tile: usize,
    chunk: &'a VisChunk,
    freq: &'a [f64],
    cell: f64,
    /// Timed runs of the device-built records (the first is a warm-up).
    reps: usize,
    /// Also time the host-built records (the path before device record building).
    host_too: bool,
}

fn run<T: GpuReal>(c: &Case) -> Result<(), Box<dyn std::error::Error>> {
    let (eps, npix, tile) = (c.eps, c.npix, c.tile);
    let nvis = (c.chunk.nrow() * c.freq.len()) as u64;
    let p = ImageParams {
        nx: npix,
        ny: npix,
        cell_rad: c.cell,
        epsilon: eps,
        tile,
    };
    let geom = p.grid_2d(nvis)?;
    let (w, nu, nv) = (geom.kernel.width, geom.nu, geom.nv);
    let t = Instant::now();
    let mut g = GpuGridder::<T>::new(geom, 0)?;
    let ty = std::any::type_name::<T>();
    println!(
        "{ty} eps {eps:e} tile {tile}: W={w} grid {nu}x{nv}, setup (NVRTC + cuFFT plan + allocation) {:.3} s on {}",
        t.elapsed().as_secs_f64(),
        g.device_name()
    );
    let mut modes = vec![true];
    if c.host_too {
        modes.push(false);
    }
    let mut images: Vec<(Vec<f64>, GridCounts)> = Vec::new();
    for &on_device in &modes {
        g.set_device_records(on_device)?;
        let name = if on_device { "device" } else { "host" };
        let reps = if on_device { c.reps } else { 2 };
        println!("  records built on the {name}:");
        let (runs, image, counts) = timed_runs(&mut g, c.chunk, c.freq, reps)?;
        let m = median(&runs);
        let best = runs.iter().map(|r| r.wall).fold(f64::INFINITY, f64::min);
        let best_c = runs
            .iter()
            .map(Timed::compute)
            .fold(f64::INFINITY, f64::min);
        let err = if on_device {
            let t = Instant::now();
            let e = dft_error(&image, c.chunk, c.freq, npix, c.cell);
            println!(
                "  error vs DFT on 128 sampled pixels: {e:.3e} (requested {eps:e}; DFT {:.1} s)",
                t.elapsed().as_secs_f64()
            );
            e
        } else {
            f64::NAN
        };
        let nan = image.iter().filter(|v| !v.is_finite()).count();
        println!(
            "SUMMARY {ty} eps {eps:e} tile {tile} records {name}: end to end median {:.1} ms (best {:.1}) = \
             {:.3e} vis/s; GPU compute median {:.1} ms (best {:.1}); error vs DFT {err:.2e}; non-finite {nan}",
            m.wall * 1e3,
            best * 1e3,
            nvis as f64 / m.wall,
            m.compute() * 1e3,
            best_c * 1e3
        );
        println!(
            "CSV,{ty},{eps:e},{npix},{nu},{w},{tile},{nvis},{name},{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{err:.3e}",
            runs.len(),
            m.wall,
            m.compute(),
            m.grid_call,
            m.to_image,
            m.t.h2d_s,
            m.t.bucket_s,
            m.t.grid_s,
            m.t.fft_s,
            m.t.correct_s,
            m.t.d2h_s,
            best
        );
        images.push((image, counts));
    }
    if let [(a, ca), (b, cb)] = &images[..] {
        println!(
            "  device-built vs host-built records: image relative L2 {:.3e}; counts equal: {} ({:?} vs {:?})",
            relative_l2(a, b),
            ca == cb,
            ca,
            cb
        );
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<f64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let nvis = args.first().copied().unwrap_or(1e8) as usize;
    let npix = args.get(1).copied().unwrap_or(8192.0) as usize;
    let nchan = 8;
    let freq: Vec<f64> = (0..nchan).map(|c| 1.4e9 + c as f64 * 1e6).collect();
    let cell = (1.0f64 / 3600.0).to_radians();
    let t = Instant::now();
    let chunk = synth(nvis / nchan, &freq, cell);
    println!(
        "{} visibilities ({} rows x {nchan} channels) made in {:.1} s; image {npix}x{npix}",
        chunk.vis.len(),
        chunk.nrow(),
        t.elapsed().as_secs_f64()
    );
    let tiles: Vec<usize> = if args.len() > 2 {
        args[2..].iter().map(|&t| t as usize).collect()
    } else {
        vec![32]
    };
    let reps = std::env::var("GPU_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let host_too = std::env::var("GPU_BENCH_HOST").as_deref() != Ok("0");
    println!(
        "CSV,type,eps,npix,nu,w,tile,nvis,records,runs,e2e_s,compute_s,grid_call_s,to_image_s,\
         h2d_s,bucket_s,grid_s,fft_s,correct_s,d2h_s,e2e_best_s,err_dft"
    );
    for &tile in &tiles {
        let case = |eps| Case {
            eps,
            npix,
            tile,
            chunk: &chunk,
            freq: &freq,
            cell,
            reps,
            host_too,
        };
        run::<f32>(&case(1e-4))?;
        run::<f64>(&case(1e-5))?;
    }
    Ok(())
}
