//! GPU backend against the CPU backend and the float64 direct Fourier transform on seeded
//! random data, at ε = 1e-2 … 1e-5: relative L2 error ≤ ε against the DFT and GPU vs CPU ≤ ε.
//! The GPU poisons its image buffer with NaN before the crop kernel, so an unwritten pixel
//! fails the finiteness check.
//!
//! Where no usable CUDA GPU is present each test prints
//! `SKIPPED: <name>: no usable CUDA GPU (<reason>)` to stderr and passes.

mod common;

use common::data::{dft_image, random_chunk};
use common::image::{image, How};
use rimager::dft::relative_l2;
use rimager::grid::cpu::CpuGridder;
use rimager::grid::gpu::{probe, GpuGridder, GpuReal};
use rimager::grid::{GridMode, Gridder, ImageTransform, ImagingBackend};
use rimager::imaging::ImageParams;
use rimager::vis::VisChunk;

/// Whether a GPU is usable; prints the skip line if not.
fn gpu_or_skip(name: &str) -> bool {
    match probe() {
        Ok(_) => true,
        Err(e) => {
            let e = e.to_string();
            let reason = e.trim_start_matches("no usable CUDA GPU: ");
            eprintln!("SKIPPED: {name}: no usable CUDA GPU ({reason})");
            false
        }
    }
}

/// Returns (GPU vs DFT, CPU vs DFT, GPU vs CPU) relative L2 errors.
fn check<T: GpuReal>(eps: f64, nx: usize, ny: usize, seed: u64) -> (f64, f64, f64) {
    let freq_hz = [1.0e9, 1.1e9, 1.3e9];
    let cell_rad = 1e-5;
    let chunks = vec![
        random_chunk(2000, &freq_hz, cell_rad, seed),
        random_chunk(1500, &freq_hz, cell_rad, seed + 1),
    ];
    let p = ImageParams {
        nx,
        ny,
        cell_rad,
        epsilon: eps,
        tile: 32,
    };
    let geom = p.grid_2d(10_500).expect("plan");
    // Through the driver, as `rimager image --backend gpu|cpu` runs it.
    let (img_gpu, counts_gpu) = image(
        How::gpu(T::IS_DOUBLE),
        geom.clone(),
        None,
        &chunks,
        &freq_hz,
        GridMode::Dirty,
    )
    .expect("GPU imaging");
    let (img_cpu, counts_cpu) = image(
        How::cpu(T::IS_DOUBLE),
        geom,
        None,
        &chunks,
        &freq_hz,
        GridMode::Dirty,
    )
    .expect("CPU imaging");
    assert_eq!(counts_gpu, counts_cpu);
    assert_eq!(counts_gpu.used, 3500 * 3);
    let unwritten = img_gpu.iter().filter(|v| !v.is_finite()).count();
    assert_eq!(
        unwritten, 0,
        "{unwritten} GPU pixels not written (NaN poison)"
    );
    let want = dft_image(&chunks, &freq_hz, nx, ny, cell_rad);
    let e_gpu = relative_l2(&img_gpu, &want);
    let e_cpu = relative_l2(&img_cpu, &want);
    let e_gc = relative_l2(&img_gpu, &img_cpu);
    eprintln!(
        "{} epsilon {eps:e} {}x{ny} (driver, --backend gpu vs cpu): GPU vs DFT {e_gpu:.3e}, CPU vs DFT {e_cpu:.3e}, \
         GPU vs CPU {e_gc:.3e}",
        std::any::type_name::<T>(),
        nx
    );
    (e_gpu, e_cpu, e_gc)
}

fn run<T: GpuReal>(name: &str, eps: f64) {
    if !gpu_or_skip(name) {
        return;
    }
    for (nx, ny, seed) in [(64, 48, 1), (96, 128, 11)] {
        let (e_gpu, e_cpu, e_gc) = check::<T>(eps, nx, ny, seed);
        assert!(e_gpu <= eps, "GPU vs DFT {e_gpu} > {eps}");
        assert!(e_cpu <= eps, "CPU vs DFT {e_cpu} > {eps}");
        assert!(e_gc <= eps, "GPU vs CPU {e_gc} > {eps}");
    }
}

#[test]
fn gpu_meets_epsilon_1e2_f32() {
    run::<f32>("gpu_meets_epsilon_1e2_f32", 1e-2);
}

#[test]
fn gpu_meets_epsilon_1e3_f32() {
    run::<f32>("gpu_meets_epsilon_1e3_f32", 1e-3);
}

#[test]
fn gpu_meets_epsilon_1e4_f32() {
    run::<f32>("gpu_meets_epsilon_1e4_f32", 1e-4);
}

#[test]
fn gpu_meets_epsilon_1e4_f64() {
    run::<f64>("gpu_meets_epsilon_1e4_f64", 1e-4);
}

#[test]
fn gpu_meets_epsilon_1e5_f64() {
    run::<f64>("gpu_meets_epsilon_1e5_f64", 1e-5);
}

/// Gridding in several chunks, handing the grid out (`host_grid`, as the MPI reduction does)
/// and changing it there must be taken into account by `to_image`.
#[test]
fn gpu_host_grid_round_trip() {
    let name = "gpu_host_grid_round_trip";
    if !gpu_or_skip(name) {
        return;
    }
    let freq_hz = [1.0e9, 1.2e9];
    let cell_rad = 1e-5;
    let chunk = random_chunk(3000, &freq_hz, cell_rad, 5);
    let p = ImageParams {
        nx: 64,
        ny: 64,
        cell_rad,
        epsilon: 1e-4,
        tile: 32,
    };
    let geom = p.grid_2d(6000).expect("plan");
    let mut gpu = GpuGridder::<f64>::new(geom.clone(), 0).expect("GPU gridder");
    // Pieces of 1000 bytes: the grid (and image) cross the bus in many pieces through both
    // pinned bounce buffers, the last one short.
    gpu.set_bounce_bytes(1000).expect("bounce buffers");
    let mut cpu = CpuGridder::<f64>::new(geom).expect("CPU gridder");
    for g in [&mut gpu as &mut dyn ImagingBackend<f64>, &mut cpu] {
        g.grid(&chunk, &freq_hz, GridMode::Dirty, None)
            .expect("grid");
        // Doubling the grid through the host copy doubles the image.
        for c in g.host_grid().expect("host_grid").iter_mut() {
            *c = *c + *c;
        }
    }
    let (a, _) = gpu.to_image(1.0).expect("GPU image");
    let (b, _) = cpu.to_image(1.0).expect("CPU image");
    let e = relative_l2(&a, &b);
    eprintln!("{name}: GPU vs CPU after host_grid {e:.3e}");
    assert!(e <= 1e-6, "{e}");
    // clear() then the PSF.
    gpu.clear().expect("clear");
    cpu.clear().expect("clear");
    gpu.grid(&chunk, &freq_hz, GridMode::Psf, None)
        .expect("grid");
    cpu.grid(&chunk, &freq_hz, GridMode::Psf, None)
        .expect("grid");
    let (a, _) = gpu.to_image(1.0).expect("GPU image");
    let (b, _) = cpu.to_image(1.0).expect("CPU image");
    let e = relative_l2(&a, &b);
    eprintln!("{name}: PSF GPU vs CPU {e:.3e}");
    assert!(e <= 1e-6, "{e}");
}

/// Grids `chunks` into backend `g` and transforms, normalised by the sum of weights (the
/// backend alone, for a backend setting the driver does not expose).
fn image_backend<T: GpuReal>(
    g: &mut dyn ImagingBackend<T>,
    chunks: &[VisChunk],
    freq_hz: &[f64],
) -> (Vec<f64>, rimager::grid::GridCounts) {
    let mut counts = rimager::grid::GridCounts::default();
    for c in chunks {
        counts.merge(&g.grid(c, freq_hz, GridMode::Dirty, None).expect("grid"));
    }
    let (img, _) = g.to_image(1.0 / counts.sum_weights).expect("image");
    (img, counts)
}

/// Streams the records in many small chunks (several flushes, several chunks per flush, both
/// staging slots reused many times): the image must match the CPU's, and the device stage
/// times must have been taken.
fn streamed<T: GpuReal>(name: &str, eps: f64, chunk_records: usize) {
    if !gpu_or_skip(name) {
        return;
    }
    let freq_hz = [1.0e9, 1.1e9, 1.3e9];
    let cell_rad = 1e-5;
    let chunks: Vec<VisChunk> = (0..4)
        .map(|i| random_chunk(1700 + 300 * i, &freq_hz, cell_rad, 40 + i as u64))
        .collect();
    let nvis: usize = chunks.iter().map(|c| c.nrow() * freq_hz.len()).sum();
    let p = ImageParams {
        nx: 96,
        ny: 128,
        cell_rad,
        epsilon: eps,
        tile: 32,
    };
    let geom = p.grid_2d(nvis as u64).expect("plan");
    let mut gpu = GpuGridder::<T>::new(geom.clone(), 0).expect("GPU gridder");
    gpu.set_chunk_records(chunk_records).expect("chunk size");
    assert_eq!(gpu.chunk_records(), chunk_records);
    let (img_gpu, counts_gpu) = image_backend(&mut gpu, &chunks, &freq_hz);
    let mut cpu = CpuGridder::<T>::new(geom).expect("CPU gridder");
    let (img_cpu, counts_cpu) = image_backend(&mut cpu, &chunks, &freq_hz);
    assert_eq!(counts_gpu, counts_cpu);
    let nan = img_gpu.iter().filter(|v| !v.is_finite()).count();
    assert_eq!(nan, 0, "{nan} GPU pixels not written (NaN poison)");
    let e = relative_l2(&img_gpu, &img_cpu);
    let report = gpu.report();
    assert_eq!(report.kind, rimager::grid::BackendKind::Gpu);
    let t = report.stage_times.expect("GPU stage times");
    eprintln!("{name}: {nvis} records in chunks of {chunk_records}: GPU vs CPU {e:.3e}; {t:?}");
    assert!(e <= eps, "GPU vs CPU {e} > {eps}");
    assert!(t.h2d_s > 0.0 && t.bucket_s > 0.0 && t.grid_s > 0.0, "{t:?}");
}

#[test]
fn gpu_streamed_small_chunks_f32() {
    streamed::<f32>("gpu_streamed_small_chunks_f32", 1e-4, 700);
}

#[test]
fn gpu_streamed_small_chunks_f64() {
    streamed::<f64>("gpu_streamed_small_chunks_f64", 1e-5, 4099);
}

/// w-stacking on the GPU (Arras et al. 2021; gridding per plane through the shared record
/// builder, phase screen and plane sum on the device) against the DFT with the w-term and
/// against the CPU's w-stacking, on the 6° × 5° wide field of `tests/wstack_accuracy.rs`.
fn wstack<T: GpuReal>(name: &str, eps: f64, mode: GridMode) {
    if !gpu_or_skip(name) {
        return;
    }
    let f = common::data::wide_field(21);
    let n: u64 = f
        .chunks
        .iter()
        .map(|c| (c.nrow() * f.freq_hz.len()) as u64)
        .sum();
    let p = ImageParams {
        nx: f.nx,
        ny: f.ny,
        cell_rad: f.cell_rad,
        epsilon: eps,
        tile: 32,
    };
    let fmax = f.freq_hz.iter().cloned().fold(0.0, f64::max);
    let wl = 600.0 * fmax / rimager::constants::SPEED_OF_LIGHT_M_S;
    let (geom, planes) = p.grid_wstack(n, (-wl, wl)).expect("plan_w");
    let run = |how| image(how, geom.clone(), Some(planes), &f.chunks, &f.freq_hz, mode);
    let (img_gpu, c_gpu) = run(How::gpu(T::IS_DOUBLE)).expect("GPU w-stacking");
    let (img_cpu, c_cpu) = run(How::cpu(T::IS_DOUBLE)).expect("CPU w-stacking");
    assert_eq!(c_gpu, c_cpu);
    assert_eq!(c_gpu.used, n);
    let nan = img_gpu.iter().filter(|v| !v.is_finite()).count();
    assert_eq!(nan, 0, "{nan} non-finite GPU pixels");
    let want = common::data::dft_image_w_term(&f.chunks, &f.freq_hz, f.nx, f.ny, f.cell_rad, mode);
    let e_gpu = relative_l2(&img_gpu, &want);
    let e_cpu = relative_l2(&img_cpu, &want);
    let e_gc = relative_l2(&img_gpu, &img_cpu);
    eprintln!(
        "{name}: {} {mode:?} epsilon {eps:e}, {} planes: GPU vs w-term DFT {e_gpu:.3e}, CPU vs w-term DFT \
         {e_cpu:.3e}, GPU vs CPU {e_gc:.3e}",
        std::any::type_name::<T>(),
        planes.nplanes
    );
    assert!(e_gpu <= eps, "GPU vs w-term DFT {e_gpu} > {eps}");
    assert!(e_cpu <= eps, "CPU vs w-term DFT {e_cpu} > {eps}");
    assert!(e_gc <= eps, "GPU vs CPU {e_gc} > {eps}");
}

#[test]
fn gpu_wstack_meets_epsilon_1e4_f32() {
    wstack::<f32>("gpu_wstack_meets_epsilon_1e4_f32", 1e-4, GridMode::Dirty);
}

#[test]
fn gpu_wstack_meets_epsilon_1e6_f64() {
    wstack::<f64>("gpu_wstack_meets_epsilon_1e6_f64", 1e-6, GridMode::Dirty);
}

#[test]
fn gpu_wstack_psf_meets_epsilon_1e5_f64() {
    wstack::<f64>("gpu_wstack_psf_meets_epsilon_1e5_f64", 1e-5, GridMode::Psf);
}

/// Records built on the device from raw samples apply the host's selection rule: on data with
/// flags, NaN values, infinite uvw, zero and negative weights and samples beyond the grid,
/// streamed in small pieces and batches, the counts equal the CPU's (sum of weights too) and
/// the image matches the CPU's and the host-built records' at rounding level, dirty and PSF.
fn device_records<T: GpuReal>(name: &str, tol: f64) {
    if !gpu_or_skip(name) {
        return;
    }
    let freq_hz = [1.0e9, 1.1e9, 1.3e9];
    let cell_rad = 1e-5;
    let mut chunk = random_chunk(3001, &freq_hz, cell_rad, 77);
    let n = chunk.vis.len();
    chunk.flag = (0..n).map(|i| i % 7 == 3).collect();
    for i in (0..n).step_by(11) {
        chunk.vis[i].re = f32::NAN;
    }
    for i in (5..n).step_by(13) {
        chunk.weight[i] = 0.0;
    }
    for i in (2..n).step_by(17) {
        chunk.weight[i] = -1.0;
    }
    chunk.uvw_m[5][1] = f64::INFINITY;
    for r in (0..chunk.nrow()).step_by(9) {
        chunk.uvw_m[r][0] *= 2.5; // most of these rows beyond the grid at some channel
    }
    let chunks = vec![chunk.clone(), random_chunk(800, &freq_hz, cell_rad, 78)];
    let p = ImageParams {
        nx: 96,
        ny: 64,
        cell_rad,
        epsilon: 1e-5,
        tile: 32,
    };
    let geom = p.grid_2d(12_000).expect("plan");
    for mode in [GridMode::Dirty, GridMode::Psf] {
        let mut out = Vec::new();
        for on_device in [true, false] {
            let mut gpu = GpuGridder::<T>::new(geom.clone(), 0).expect("GPU gridder");
            gpu.set_device_records(on_device).expect("records");
            gpu.set_chunk_records(1000).expect("chunk size");
            out.push(image_mode(&mut gpu, &chunks, &freq_hz, mode));
        }
        let mut cpu = CpuGridder::<T>::new(geom.clone()).expect("CPU gridder");
        let (img_cpu, c_cpu) = image_mode(&mut cpu, &chunks, &freq_hz, mode);
        let (img_dev, c_dev) = &out[0];
        let (img_host, c_host) = &out[1];
        assert_eq!(*c_dev, c_cpu, "{mode:?}: device-built counts vs CPU");
        assert_eq!(*c_host, c_cpu, "{mode:?}: host-built counts vs CPU");
        assert!(
            c_cpu.flagged > 0 && c_cpu.invalid > 0 && c_cpu.outside > 0,
            "{c_cpu:?}"
        );
        let nan = img_dev.iter().filter(|v| !v.is_finite()).count();
        assert_eq!(nan, 0, "{nan} GPU pixels not written (NaN poison)");
        let e_cpu = relative_l2(img_dev, &img_cpu);
        let e_host = relative_l2(img_dev, img_host);
        eprintln!(
            "{name}: {mode:?} {c_cpu:?}: device-built vs CPU {e_cpu:.3e}, device-built vs host-built {e_host:.3e}"
        );
        assert!(e_cpu <= tol, "device-built vs CPU {e_cpu} > {tol}");
        assert!(e_host <= tol, "device-built vs host-built {e_host} > {tol}");
    }
}

/// Grids `chunks` in `mode` and transforms, normalised by the sum of weights.
fn image_mode<T: GpuReal>(
    g: &mut dyn ImagingBackend<T>,
    chunks: &[VisChunk],
    freq_hz: &[f64],
    mode: GridMode,
) -> (Vec<f64>, rimager::grid::GridCounts) {
    let mut counts = rimager::grid::GridCounts::default();
    for c in chunks {
        counts.merge(&g.grid(c, freq_hz, mode, None).expect("grid"));
    }
    let (img, _) = g.to_image(1.0 / counts.sum_weights).expect("image");
    (img, counts)
}

#[test]
fn gpu_device_records_rule_f32() {
    device_records::<f32>("gpu_device_records_rule_f32", 1e-6);
}

#[test]
fn gpu_device_records_rule_f64() {
    device_records::<f64>("gpu_device_records_rule_f64", 1e-12);
}
