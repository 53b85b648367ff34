//! Seeded random visibilities shared by the accuracy tests.
use num_complex::Complex32;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rimager::constants::SPEED_OF_LIGHT_M_S;
use rimager::dft;
use rimager::grid::GridMode;
use rimager::vis::VisChunk;

/// Random uvw in a disc reaching 0.45/cell at the highest frequency, random values and weights.
pub fn random_chunk(nrow: usize, freq_hz: &[f64], cell_rad: f64, seed: u64) -> VisChunk {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let fmax = freq_hz.iter().cloned().fold(0.0, f64::max);
    let uv_max_m = 0.45 / cell_rad * SPEED_OF_LIGHT_M_S / fmax;
    let nchan = freq_hz.len();
    let mut c = VisChunk::default();
    for _ in 0..nrow {
        let r = uv_max_m * rng.random::<f64>().sqrt();
        let t = rng.random::<f64>() * std::f64::consts::TAU;
        c.uvw_m
            .push([r * t.cos(), r * t.sin(), rng.random::<f64>() * 100.0]);
        for _ in 0..nchan {
            c.vis.push(Complex32::new(
                rng.random::<f32>() - 0.5,
                rng.random::<f32>() - 0.5,
            ));
            c.weight.push(0.5 + rng.random::<f32>());
        }
    }
    c
}

/// The float64 direct Fourier transform of `chunks` at every pixel of an `nx × ny` image,
/// normalised by the sum of weights: the reference the accuracy tests compare with.
pub fn dft_image(
    chunks: &[VisChunk],
    freq_hz: &[f64],
    nx: usize,
    ny: usize,
    cell_rad: f64,
) -> Vec<f64> {
    let pixels: Vec<(usize, usize)> = (0..ny).flat_map(|y| (0..nx).map(move |x| (x, y))).collect();
    let mut sums = vec![0.0; pixels.len()];
    let mut sumw = 0.0;
    for c in chunks {
        sumw += dft::accumulate(
            c,
            freq_hz,
            dft::PixelGrid { nx, ny, cell_rad },
            &pixels,
            GridMode::Dirty,
            &mut sums,
        );
    }
    sums.iter().map(|s| s / sumw).collect()
}
