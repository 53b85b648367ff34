//! Criterion benchmarks of the CPU imaging path on seeded random data generated in memory.
//!
//! * `grid_only/{f32 eps1e-4, f64 eps1e-6}`: [`Gridder::grid`] of [`CpuGridder`] of ~1e6 samples onto
//!   the grid planned for a 2048² image (throughput in samples/s).
//! * `dirty_end_to_end/{f32 eps1e-4, f64 eps1e-6}`: [`rimager::imaging::image_in_memory`] (the
//!   driver `rimager image` runs, on one rank: grid + FFT + grid correction + crop) of the same samples.
//! * `fft_only/{f32 eps1e-4, f64 eps1e-6}`: [`Fft2d::grid_to_image`] (the two FFT passes and the
//!   crop, without grid correction) on the planned grid.
//!
//! The data: uvw uniform in a disc whose radius at the highest frequency is 0.45 / cell
//! wavelengths (90% of the |u·cell| < 1/2 the pixel size allows, so no sample is dropped),
//! visibilities complex normal, weights uniform in [0.5, 1.5]. Thread count: rayon's default
//! (all cores, or `RAYON_NUM_THREADS`).
//!
//! Run: `cargo bench --bench imaging` (about two minutes on 2 cores).
use std::hint::black_box;
use std::time::Duration;

use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use num_complex::{Complex, Complex32};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use rimager::constants::SPEED_OF_LIGHT_M_S;
use rimager::fft::Fft2d;
use rimager::grid::cpu::CpuGridder;
use rimager::grid::{GridGeometry, GridMode, Gridder};
use rimager::imaging::{image_in_memory, ImageParams, ImagingPlan};
use rimager::real::Real;
use rimager::vis::{VisChunk, VisMeta};

/// Image side, pixels.
const NPIX: usize = 2048;
/// Rows × channels = samples (1 048 576).
const NROW: usize = 131_072;
const NCHAN: usize = 8;
/// Pixel size, arcsec.
const CELL_ARCSEC: f64 = 1.0;
/// Fraction of the uv extent the pixel size allows (|u·cell| < 1/2) that the data fill.
const UV_FILL: f64 = 0.9;
/// Tile side, cells (the pipeline's default).
const TILE: usize = 32;

/// The two precision / accuracy cases (label, float64?, ε).
const CASES: [(&str, bool, f64); 2] = [("f32 eps1e-4", false, 1e-4), ("f64 eps1e-6", true, 1e-6)];

fn cell_rad() -> f64 {
    (CELL_ARCSEC / 3600.0).to_radians()
}

fn freqs() -> Vec<f64> {
    (0..NCHAN).map(|c| 1.4e9 + c as f64 * 1.0e6).collect()
}

/// Seeded random data set: one chunk of `NROW` rows.
fn make_data(seed: u64) -> (VisChunk, Vec<f64>) {
    let freq = freqs();
    let fmax = freq.iter().cloned().fold(f64::MIN, f64::max);
    // Largest |uv| in wavelengths is 0.5·UV_FILL / cell at the highest frequency.
    let max_uv_m = 0.5 * UV_FILL / cell_rad() * SPEED_OF_LIGHT_M_S / fmax;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut uvw_m = Vec::with_capacity(NROW);
    for _ in 0..NROW {
        let r = max_uv_m * rng.random::<f64>().sqrt();
        let th = std::f64::consts::TAU * rng.random::<f64>();
        let w = rng.random_range(-100.0..100.0);
        uvw_m.push([r * th.cos(), r * th.sin(), w]);
    }
    let n = NROW * NCHAN;
    let vis: Vec<Complex32> = (0..n)
        .map(|_| {
            Complex::new(
                rng.sample::<f32, _>(StandardNormal),
                rng.sample::<f32, _>(StandardNormal),
            )
        })
        .collect();
    let weight: Vec<f32> = (0..n).map(|_| rng.random_range(0.5f32..1.5)).collect();
    let chunk = VisChunk {
        row0: 0,
        uvw_m,
        vis,
        weight,
        flag: Vec::new(),
    };
    (chunk, freq)
}

fn geometry(epsilon: f64, nvis: u64) -> GridGeometry {
    let p = ImageParams {
        nx: NPIX,
        ny: NPIX,
        cell_rad: cell_rad(),
        epsilon,
        tile: TILE,
    };
    p.grid_2d(nvis).expect("plan")
}

fn label(name: &str, g: &GridGeometry) -> String {
    format!("{name} (W={} grid {}x{})", g.kernel.width, g.nu, g.nv)
}

fn bench_grid_only_t<T: Real>(
    c: &mut Criterion,
    name: &str,
    epsilon: f64,
    data: &(VisChunk, Vec<f64>),
) {
    let (chunk, freq) = data;
    let nvis = (chunk.nrow() * freq.len()) as u64;
    let geom = geometry(epsilon, nvis);
    eprintln!("grid_only/{}", label(name, &geom));
    let mut gridder = CpuGridder::<T>::new(geom).expect("CPU gridder");
    let mut group = c.benchmark_group("grid_only");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(nvis));
    group.bench_function(BenchmarkId::from_parameter(name), |b| {
        // Accumulates onto the same grid every iteration, as a multi-chunk run does.
        b.iter(|| black_box(gridder.grid(chunk, freq, GridMode::Dirty, None).ok()))
    });
    group.finish();
}

fn bench_end_to_end_t<T: Real>(
    c: &mut Criterion,
    name: &str,
    epsilon: f64,
    data: &(VisChunk, Vec<f64>),
) {
    let (chunk, freq) = data;
    let nvis = (chunk.nrow() * freq.len()) as u64;
    let geom = geometry(epsilon, nvis);
    eprintln!("dirty_end_to_end/{}", label(name, &geom));
    let chunks = std::slice::from_ref(chunk);
    let meta = VisMeta {
        telescope: "bench".into(),
        phase_centre_ra_deg: 0.0,
        phase_centre_dec_deg: 0.0,
        freq_hz: freq.clone(),
        nrow: chunk.nrow(),
    };
    let plan = ImagingPlan::for_geometry(geom.clone(), T::PRECISION);
    let mut group = c.benchmark_group("dirty_end_to_end");
    group.sample_size(10);
    // Long iterations: one per sample, no linear-regression sampling.
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(12));
    group.throughput(Throughput::Elements(nvis));
    group.bench_function(BenchmarkId::from_parameter(name), |b| {
        // Includes allocating the grid and planning the FFT, as a one-off imaging run does.
        b.iter(|| black_box(image_in_memory(&plan, meta.clone(), chunks).expect("imaging")))
    });
    group.finish();
}

fn bench_fft_only_t<T: Real>(c: &mut Criterion, name: &str, epsilon: f64, nvis: u64) {
    let geom = geometry(epsilon, nvis);
    eprintln!("fft_only/{}", label(name, &geom));
    let fft = Fft2d::<T>::new(geom.nu, geom.nv, geom.nx, geom.ny);
    // A grid with no all-zero rows (the FFT skips those), refilled before every transform.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let source: Vec<Complex<T>> = (0..geom.nu * geom.nv)
        .map(|_| {
            Complex::new(
                T::from_f64(rng.random::<f64>() - 0.5).unwrap(),
                T::from_f64(rng.random::<f64>() - 0.5).unwrap(),
            )
        })
        .collect();
    let mut group = c.benchmark_group("fft_only");
    group.sample_size(10);
    // Long iterations: one per sample, no linear-regression sampling.
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(6));
    group.bench_function(BenchmarkId::from_parameter(name), |b| {
        // The grid is refilled (untimed) before every transform, which destroys it.
        b.iter_batched_ref(
            || source.clone(),
            |grid| black_box(fft.grid_to_image(grid)),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn grid_only(c: &mut Criterion) {
    let data = make_data(1);
    for (name, double, eps) in CASES {
        if double {
            bench_grid_only_t::<f64>(c, name, eps, &data);
        } else {
            bench_grid_only_t::<f32>(c, name, eps, &data);
        }
    }
}

fn dirty_end_to_end(c: &mut Criterion) {
    let data = make_data(1);
    for (name, double, eps) in CASES {
        if double {
            bench_end_to_end_t::<f64>(c, name, eps, &data);
        } else {
            bench_end_to_end_t::<f32>(c, name, eps, &data);
        }
    }
}

fn fft_only(c: &mut Criterion) {
    let nvis = (NROW * NCHAN) as u64;
    for (name, double, eps) in CASES {
        if double {
            bench_fft_only_t::<f64>(c, name, eps, nvis);
        } else {
            bench_fft_only_t::<f32>(c, name, eps, nvis);
        }
    }
}

criterion_group!(benches, grid_only, dirty_end_to_end, fft_only);
criterion_main!(benches);
