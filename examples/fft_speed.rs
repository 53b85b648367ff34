//! Single-thread probe of the 2-D FFT to the image (not a benchmark of record; see benches/
//! and scripts/bench_vs_ducc0.py): [`Fft2d::grid_to_image`] and [`Fft2d::add_screened`] on an
//! `nu × nu` grid whose non-zero cells fill a disc of radius 0.45 `nu` (as gridded data that
//! fill 90 % of the uv plane the pixel allows), cropped to `npix²`, against the floor of the
//! same transform's FFTs run by rustfft on contiguous rows (`nu/2 + 1` complex FFTs of length
//! `nv`, then `npix` complex-to-real FFTs of length `nu`), which no data movement is in.
//!
//! `cargo run --release --example fft_speed [npix] [nu] [reps]` (defaults 4096 8192 3);
//! prints the minimum over `reps` of process CPU time (robust to other load on the machine).
use num_complex::Complex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use realfft::RealFftPlanner;
use rimager::fft::Fft2d;
use rimager::real::Real;
use rustfft::FftPlanner;

/// Process CPU time in seconds (all threads).
fn cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass; CLOCK_PROCESS_CPUTIME_ID is valid.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Minimum CPU seconds of `reps` runs of `f`.
fn best(reps: usize, mut f: impl FnMut()) -> f64 {
    (0..reps)
        .map(|_| {
            let t = cpu_s();
            f();
            cpu_s() - t
        })
        .fold(f64::INFINITY, f64::min)
}

fn disc_grid<T: Real>(nu: usize) -> Vec<Complex<T>> {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let r2 = (0.45 * nu as f64).powi(2);
    let c = (nu / 2) as f64;
    let mut g = rimager::resources::zeroed_huge_vec::<Complex<T>>(nu * nu);
    for v in 0..nu {
        for u in 0..nu {
            if (u as f64 - c).powi(2) + (v as f64 - c).powi(2) < r2 {
                g[v * nu + u] = Complex::new(
                    T::from_f64(rng.random::<f64>() - 0.5).unwrap_or_default(),
                    T::from_f64(rng.random::<f64>() - 0.5).unwrap_or_default(),
                );
            }
        }
    }
    g
}

fn probe<T: Real>(label: &str, npix: usize, nu: usize, reps: usize) {
    let grid = disc_grid::<T>(nu);
    let fft = Fft2d::<T>::new(nu, nu, npix, npix);
    let mut work = rimager::resources::zeroed_huge_vec::<Complex<T>>(nu * nu);
    let t_img = best(reps, || {
        work.copy_from_slice(&grid);
        std::hint::black_box(fft.grid_to_image(&mut work));
    });
    let t_copy = best(reps, || work.copy_from_slice(&grid));
    let q = npix / 2 + 1;
    let quadrant = vec![Complex::new(0.6, 0.8); q * q];
    let mut sum = vec![0.0f64; npix * npix];
    let t_scr = best(reps, || {
        work.copy_from_slice(&grid);
        fft.add_screened(&mut work, &quadrant, &mut sum);
    });
    // Floor: the same FFTs on contiguous data.
    let nh = nu / 2 + 1;
    let col = FftPlanner::<T>::new().plan_fft_inverse(nu);
    let c2r = RealFftPlanner::<T>::new().plan_fft_inverse(nu);
    let mut scratch = vec![Complex::<T>::default(); col.get_inplace_scratch_len()];
    let mut rows = vec![Complex::<T>::default(); nh * nu];
    let t_cols = best(reps, || {
        rows.copy_from_slice(&grid[..nh * nu]);
        col.process_with_scratch(&mut rows, &mut scratch);
    });
    let mut half = vec![Complex::<T>::default(); npix * nh];
    let mut line = c2r.make_output_vec();
    let mut s2 = vec![Complex::<T>::default(); c2r.get_scratch_len()];
    let t_rows = best(reps, || {
        for h in half.chunks_exact_mut(nh) {
            h[0].im = T::zero();
            h[nh - 1].im = T::zero();
            c2r.process_with_scratch(h, &mut line, &mut s2).ok();
        }
    });
    println!(
        "{label} npix {npix} grid {nu}: grid_to_image {:.3} s, add_screened {:.3} s (grid copy of \
         {t_copy:.3} s taken off); floor: {nh} column FFTs {t_cols:.3} s + {npix} c2r rows \
         {t_rows:.3} s = {:.3} s",
        t_img - t_copy,
        t_scr - t_copy,
        t_cols + t_rows
    );
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let npix = args.first().copied().unwrap_or(4096);
    let nu = args.get(1).copied().unwrap_or(2 * npix);
    let reps = args.get(2).copied().unwrap_or(3);
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global()
        .ok();
    probe::<f32>("f32", npix, nu, reps);
    probe::<f64>("f64", npix, nu, reps);
}
