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

/// A wide-field test set for w-stacking: `nx × ny` pixels of `cell_rad` (the field is
/// `nx·cell × ny·cell`), low frequencies, random uv in a disc reaching 0.45/cell and random w
/// in `[−w_max_m, w_max_m]` metres.
pub struct WideField {
    /// Channel frequencies, Hz.
    pub freq_hz: Vec<f64>,
    /// Pixel size, radians.
    pub cell_rad: f64,
    /// Image width.
    pub nx: usize,
    /// Image height.
    pub ny: usize,
    /// The data.
    pub chunks: Vec<VisChunk>,
}

/// The standard wide field: 192 × 160 pixels of 0.03125° (6° × 5°), 150–175 MHz, |w| up to
/// 600 m (≈ 350 wavelengths; the w-term phase reaches ≈ 5 rad at the corners).
pub fn wide_field(seed: u64) -> WideField {
    let freq_hz = vec![150.0e6, 160.0e6, 175.0e6];
    let (nx, ny) = (192, 160);
    let cell_rad = (6.0f64 / nx as f64).to_radians();
    let mut chunks = vec![
        random_chunk(500, &freq_hz, cell_rad, seed),
        random_chunk(300, &freq_hz, cell_rad, seed + 1),
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 1000);
    for c in &mut chunks {
        for uvw in &mut c.uvw_m {
            uvw[2] = (rng.random::<f64>() * 2.0 - 1.0) * 600.0;
        }
    }
    WideField {
        freq_hz,
        cell_rad,
        nx,
        ny,
        chunks,
    }
}

/// The float64 DFT with the w-term (not divided by n) of `chunks` at every pixel, normalised
/// by the sum of weights: the reference for w-stacked images.
pub fn dft_image_w_term(
    chunks: &[VisChunk],
    freq_hz: &[f64],
    nx: usize,
    ny: usize,
    cell_rad: f64,
    mode: GridMode,
) -> Vec<f64> {
    let pixels: Vec<(usize, usize)> = (0..ny).flat_map(|y| (0..nx).map(move |x| (x, y))).collect();
    let mut sums = vec![0.0; pixels.len()];
    let mut sumw = 0.0;
    for c in chunks {
        sumw += dft::accumulate_w_term(
            c,
            freq_hz,
            dft::PixelGrid { nx, ny, cell_rad },
            &pixels,
            mode,
            &mut sums,
        );
    }
    sums.iter().map(|s| s / sumw).collect()
}
