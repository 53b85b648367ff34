//! Quick single-thread gridding throughput probe (not a benchmark of record; see benches/ and
//! scripts/bench_vs_ducc0.py): `cargo run --release --example grid_speed [nsamples] [npix]`.
use num_complex::Complex32;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rimager::constants::SPEED_OF_LIGHT_M_S;
use rimager::grid::cpu::CpuGridder;
use rimager::grid::{GridMode, Gridder};
use rimager::imaging::{plan, ImageParams};
use rimager::vis::VisChunk;
/// Process CPU time in seconds (all threads): robust to other load on the machine, unlike wall
/// time, when the pool has one thread.
fn cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass; CLOCK_PROCESS_CPUTIME_ID is valid.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

struct Instant(f64);
impl Instant {
    fn now() -> Self {
        Instant(cpu_s())
    }
    fn elapsed(&self) -> Self {
        Instant(cpu_s() - self.0)
    }
    fn as_secs_f64(&self) -> f64 {
        self.0
    }
}

fn main() -> Result<(), rimager::grid::GridError> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let nsamp = args.first().copied().unwrap_or(2_000_000);
    let npix = args.get(1).copied().unwrap_or(4096);
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global()
        .ok();
    let nchan = 8;
    let nrow = nsamp / nchan;
    let freq: Vec<f64> = (0..nchan).map(|c| 1.4e9 + c as f64 * 1e6).collect();
    let cell = (1.0f64 / 3600.0).to_radians();
    let max_uv_m = 0.45 / cell * SPEED_OF_LIGHT_M_S / freq[nchan - 1];
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut c = VisChunk::default();
    for _ in 0..nrow {
        let r = max_uv_m * rng.random::<f64>().sqrt();
        let t = rng.random::<f64>() * std::f64::consts::TAU;
        c.uvw_m.push([r * t.cos(), r * t.sin(), 0.0]);
        for _ in 0..nchan {
            c.vis.push(Complex32::new(
                rng.random::<f32>() - 0.5,
                rng.random::<f32>() - 0.5,
            ));
            c.weight.push(1.0);
        }
    }
    for (eps, double) in [(1e-4, false), (1e-6, true)] {
        let p = ImageParams {
            nx: npix,
            ny: npix,
            cell_rad: cell,
            epsilon: eps,
            tile: 32,
        };
        let geom = plan(&p, (nrow * nchan) as u64).unwrap();
        let (w, nu) = (geom.kernel.width, geom.nu);
        let t = Instant::now();
        let (img_s, grid_s) = if double {
            let mut g = CpuGridder::<f64>::new(geom);
            g.grid_chunk(&c, &freq, GridMode::Dirty)?;
            let ms = t.elapsed().as_secs_f64();
            let _ = g.grid_mut();
            let gs = t.elapsed().as_secs_f64();
            println!("  records {ms:.3} s, tile gridding {:.3} s", gs - ms);
            let t2 = Instant::now();
            g.to_image(1.0)?;
            (t2.elapsed().as_secs_f64(), gs)
        } else {
            let mut g = CpuGridder::<f32>::new(geom);
            g.grid_chunk(&c, &freq, GridMode::Dirty)?;
            let ms = t.elapsed().as_secs_f64();
            let _ = g.grid_mut();
            let gs = t.elapsed().as_secs_f64();
            println!("  records {ms:.3} s, tile gridding {:.3} s", gs - ms);
            let t2 = Instant::now();
            g.to_image(1.0)?;
            (t2.elapsed().as_secs_f64(), gs)
        };
        println!(
            "eps {eps:e} {}: W={w} grid {nu}: gridding {:.3} s = {:.3e} samples/s/thread; fft+correct {:.3} s",
            if double { "f64" } else { "f32" },
            grid_s,
            nsamp as f64 / grid_s,
            img_s
        );
    }
    Ok(())
}
