//! GPU throughput benchmark (issue 3): `N` uniformly distributed visibilities (default 1e8)
//! onto an `npix × npix` image (default 8192) at ε = 1e-4 (float32) and 1e-5 (float64).
//!
//! Prints the GPU stage times (CUDA events) of the second of two runs: bucketing + gridding +
//! FFT + correction ("GPU compute", host-to-device copy excluded, the bar), the
//! host-to-device copy, and the end-to-end wall time from visibilities in host memory to the
//! image in host memory (host record preparation included), with the error achieved against
//! the float64 DFT on sampled pixels.
//!
//! `cargo run --release --example gpu_bench -- [nvis] [npix] [tile ...]` (tile sizes, default 32)
use std::time::Instant;

use num_complex::Complex32;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use rimager::constants::SPEED_OF_LIGHT_M_S;
use rimager::dft::{self, relative_l2};
use rimager::grid::gpu::GpuGridder;
use rimager::grid::{GridMode, Gridder, Real};
use rimager::imaging::{plan, ImageParams};
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

fn run<T: Real>(
    eps: f64,
    npix: usize,
    tile: usize,
    chunk: &VisChunk,
    freq: &[f64],
    cell: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    let nvis = (chunk.nrow() * freq.len()) as u64;
    let p = ImageParams {
        nx: npix,
        ny: npix,
        cell_rad: cell,
        epsilon: eps,
        tile,
    };
    let geom = plan(&p, nvis)?;
    let (w, nu, nv) = (geom.kernel.width, geom.nu, geom.nv);
    let t = Instant::now();
    let mut g = GpuGridder::<T>::new(geom, 0)?;
    println!(
        "{} eps {eps:e} tile {tile}: W={w} grid {nu}x{nv}, setup (NVRTC + cuFFT plan + allocation) {:.3} s on {}",
        T::NAME,
        t.elapsed().as_secs_f64(),
        g.device_name()
    );
    let mut image = Vec::new();
    let mut sumw = 0.0;
    let mut last = None;
    for rep in 0..2 {
        g.clear()?;
        let before = g.stage_times();
        let t = Instant::now();
        let counts = g.grid_chunk(chunk, freq, GridMode::Dirty)?;
        let (img, _) = g.to_image(1.0 / counts.sum_weights)?;
        let wall = t.elapsed().as_secs_f64();
        let after = g.stage_times();
        let d = |a: f64, b: f64| a - b;
        let h2d = d(after.h2d_s, before.h2d_s);
        let bucket = d(after.bucket_s, before.bucket_s);
        let grid = d(after.grid_s, before.grid_s);
        let fft = d(after.fft_s, before.fft_s);
        let corr = d(after.correct_s, before.correct_s);
        let d2h = d(after.d2h_s, before.d2h_s);
        let compute = bucket + grid + fft + corr;
        println!(
            "  run {rep}: {} used; H2D {:.1} ms, bucketing {:.1} ms, gridding {:.1} ms, FFT {:.1} ms, \
             correction {:.1} ms, D2H {:.1} ms",
            counts.used,
            h2d * 1e3,
            bucket * 1e3,
            grid * 1e3,
            fft * 1e3,
            corr * 1e3,
            d2h * 1e3
        );
        println!(
            "  run {rep}: GPU compute (bucket+grid+FFT+correct) {:.1} ms = {:.3e} vis/s; gridding only \
             (bucket+grid) {:.3e} vis/s; end to end (host records + H2D + all + D2H) {:.3} s = {:.3e} vis/s",
            compute * 1e3,
            counts.used as f64 / compute,
            counts.used as f64 / (bucket + grid),
            wall,
            counts.used as f64 / wall
        );
        image = img;
        sumw = counts.sum_weights;
        last = Some(compute);
    }
    // Error against the DFT at 4 runs of 32 pixels.
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let mut pixels = Vec::new();
    for _ in 0..4 {
        let y = rng.random_range(0..npix);
        let x0 = rng.random_range(0..npix - 32);
        pixels.extend((x0..x0 + 32).map(|x| (x, y)));
    }
    let t = Instant::now();
    let mut sums = vec![0.0; pixels.len()];
    let sw = dft::accumulate(
        chunk,
        freq,
        dft::PixelGrid {
            nx: npix,
            ny: npix,
            cell_rad: cell,
        },
        &pixels,
        GridMode::Dirty,
        &mut sums,
    );
    let want: Vec<f64> = sums.iter().map(|s| s / sw).collect();
    let got: Vec<f64> = pixels.iter().map(|&(x, y)| image[y * npix + x]).collect();
    let err = relative_l2(&got, &want);
    let nan = image.iter().filter(|v| !v.is_finite()).count();
    println!(
        "  error vs DFT on {} sampled pixels: {err:.3e} (requested {eps:e}); non-finite pixels {nan}; \
         sum of weights {sumw} vs DFT {sw} (DFT {:.1} s)",
        pixels.len(),
        t.elapsed().as_secs_f64()
    );
    if let Some(c) = last {
        println!(
            "SUMMARY {} eps {eps:e} tile {tile}: GPU compute {:.1} ms ({:.2e} vis/s), achieved error {err:.2e}",
            T::NAME,
            c * 1e3,
            nvis as f64 / c
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
    for &tile in &tiles {
        run::<f32>(1e-4, npix, tile, &chunk, &freq, cell)?;
        run::<f64>(1e-5, npix, tile, &chunk, &freq, cell)?;
    }
    Ok(())
}
