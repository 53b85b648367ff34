//! `rimager info`: a summary of a visibility file, an image file (`.h5`) or a FITS image or
//! cube: shapes, uv range, and for images (the MFS image and every cube plane) the peak, its
//! pixel, its offset from the phase centre and its sky position (RA/Dec, sexagesimal and
//! degrees), and two noise figures: the rms over all finite pixels, and a robust rms,
//! 1.4826 × the median absolute deviation from the median (MAD; for Gaussian noise it equals
//! the standard deviation, and sources covering less than half of the image barely move it).
use std::fmt::Write as _;
use std::path::Path;

use crate::constants::{RAD_PER_ARCSEC, SPEED_OF_LIGHT_M_S};
use crate::output::fits::read_fits_cube;
use crate::output::h5image::read_image_h5;
use crate::output::OutputError;
use crate::vis::h5::{VisFileError, VisReader};

/// Errors of `rimager info`.
#[derive(Debug, thiserror::Error)]
pub enum InfoError {
    /// Reading an image failed.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// Reading visibilities failed.
    #[error(transparent)]
    Vis(#[from] VisFileError),
    /// The file is neither.
    #[error("{0}: not a rimager visibility file, image file or FITS image")]
    Unknown(String),
}

/// Peak, its pixel and rms of an image `[ny][nx]`; NaN/Inf pixels (blanked) are skipped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImageStats {
    /// Largest value (−∞ when no pixel is finite).
    pub peak: f64,
    /// Its column (0 = east edge).
    pub x: usize,
    /// Its row (0 = south edge).
    pub y: usize,
    /// Root mean square over all finite pixels (NaN when none is).
    pub rms: f64,
    /// Number of finite pixels.
    pub finite: usize,
}

/// Peak and rms of `image`, over its finite pixels.
pub fn image_stats(image: &[f32], nx: usize) -> ImageStats {
    let mut best = (f64::NEG_INFINITY, 0usize);
    let mut sq = 0.0;
    let mut finite = 0usize;
    for (i, &v) in image.iter().enumerate() {
        if !v.is_finite() {
            continue;
        }
        let v = v as f64;
        finite += 1;
        sq += v * v;
        if v > best.0 {
            best = (v, i);
        }
    }
    ImageStats {
        peak: best.0,
        x: best.1 % nx.max(1),
        y: best.1 / nx.max(1),
        rms: if finite > 0 {
            (sq / finite as f64).sqrt()
        } else {
            f64::NAN
        },
        finite,
    }
}

/// Robust rms of the finite pixels of `image`: 1.4826 × the median absolute deviation from
/// the median (the factor makes it the standard deviation for Gaussian noise; Rousseeuw &
/// Croux 1993). NaN when no pixel is finite.
pub fn robust_rms(image: &[f32]) -> f64 {
    let mut v: Vec<f64> = image
        .iter()
        .filter(|x| x.is_finite())
        .map(|&x| f64::from(x))
        .collect();
    if v.is_empty() {
        return f64::NAN;
    }
    let median = |v: &mut [f64]| -> f64 {
        let n = v.len();
        let hi = *v.select_nth_unstable_by(n / 2, f64::total_cmp).1;
        if n % 2 == 1 {
            hi
        } else {
            let lo = v[..n / 2].iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            0.5 * (lo + hi)
        }
    };
    let m = median(&mut v);
    for x in v.iter_mut() {
        *x = (*x - m).abs();
    }
    1.4826 * median(&mut v)
}

/// Right ascension in degrees as `hh:mm:ss.sss` (hours of 15°).
pub fn format_ra_hms(ra_deg: f64) -> String {
    let ms = (ra_deg.rem_euclid(360.0) / 15.0 * 3_600_000.0).round() as u64 % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms / 1000) % 60,
        ms % 1000
    )
}

/// Declination in degrees as `±dd:mm:ss.ss`.
pub fn format_dec_dms(dec_deg: f64) -> String {
    let sign = if dec_deg < 0.0 { '-' } else { '+' };
    let cs = (dec_deg.abs() * 360_000.0).round() as u64;
    format!(
        "{sign}{:02}:{:02}:{:02}.{:02}",
        cs / 360_000,
        (cs / 6000) % 60,
        (cs / 100) % 60,
        cs % 100
    )
}

/// Sky position (RA, Dec in degrees) of pixel `(x, y)`: direction cosines
/// `l = −(x − nx/2)·cell`, `m = (y − ny/2)·cell`, inverse SIN projection about the phase centre
/// (Greisen & Calabretta 2002).
pub fn pixel_to_radec(
    x: usize,
    y: usize,
    nx: usize,
    ny: usize,
    cell_rad: f64,
    ra0_deg: f64,
    dec0_deg: f64,
) -> (f64, f64) {
    let l = -(x as f64 - (nx / 2) as f64) * cell_rad;
    let m = (y as f64 - (ny / 2) as f64) * cell_rad;
    let n = (1.0 - l * l - m * m).max(0.0).sqrt();
    let (s0, c0) = dec0_deg.to_radians().sin_cos();
    let dec = (m * c0 + n * s0).asin();
    let ra = ra0_deg.to_radians() + l.atan2(n * c0 - m * s0);
    (ra.to_degrees().rem_euclid(360.0), dec.to_degrees())
}

fn describe_image(
    out: &mut String,
    image: &[f32],
    nx: usize,
    ny: usize,
    cell_arcsec: f64,
    ra: f64,
    dec: f64,
) {
    let _ = writeln!(
        out,
        "  shape          {ny} x {nx} (ny x nx), cell {cell_arcsec:.6} arcsec"
    );
    describe_plane(out, "", image, nx, ny, cell_arcsec, ra, dec);
}

/// The peak line (value, pixel, offset, RA/Dec) and the rms line of one image plane, each
/// label prefixed with `label` (e.g. "plane 2 ").
#[allow(clippy::too_many_arguments)]
fn describe_plane(
    out: &mut String,
    label: &str,
    image: &[f32],
    nx: usize,
    ny: usize,
    cell_arcsec: f64,
    ra: f64,
    dec: f64,
) {
    let s = image_stats(image, nx);
    if s.finite == 0 {
        let _ = writeln!(
            out,
            "  {:<15}blanked: no finite pixel (no usable samples)",
            format!("{label}peak")
        );
        return;
    }
    let (dx, dy) = (
        -(s.x as f64 - (nx / 2) as f64) * cell_arcsec,
        (s.y as f64 - (ny / 2) as f64) * cell_arcsec,
    );
    let (pra, pdec) = pixel_to_radec(s.x, s.y, nx, ny, cell_arcsec * RAD_PER_ARCSEC, ra, dec);
    let _ = writeln!(
        out,
        "  {:<15}{:.6e} Jy/beam at pixel (x={}, y={}): {:+.3} arcsec east, {:+.3} arcsec north; \
         RA {} Dec {} ({:.6} deg, {:.6} deg)",
        format!("{label}peak"),
        s.peak,
        s.x,
        s.y,
        dx,
        dy,
        format_ra_hms(pra),
        format_dec_dms(pdec),
        pra,
        pdec
    );
    let _ = writeln!(
        out,
        "  {:<15}{:.6e} Jy/beam over all finite pixels; robust {:.6e} Jy/beam (1.4826 x MAD)",
        format!("{label}rms"),
        s.rms,
        robust_rms(image)
    );
}

/// Per-plane lines of a cube: frequency, channels (when known) and [`describe_plane`].
#[allow(clippy::too_many_arguments)]
fn describe_cube(
    out: &mut String,
    data: &[f32],
    freq_hz: &[f64],
    channels: Option<(&[u64], &[u64])>,
    nx: usize,
    ny: usize,
    cell_arcsec: f64,
    ra: f64,
    dec: f64,
) {
    let npix = nx * ny;
    let _ = writeln!(
        out,
        "  cube           {} planes, {:.6e} .. {:.6e} Hz",
        freq_hz.len(),
        freq_hz.first().copied().unwrap_or(f64::NAN),
        freq_hz.last().copied().unwrap_or(f64::NAN)
    );
    for (k, plane) in data.chunks_exact(npix.max(1)).enumerate() {
        let chans = channels.map_or(String::new(), |(first, count)| {
            format!(
                ", channels {}..{}",
                first[k],
                (first[k] + count[k]).saturating_sub(1)
            )
        });
        let _ = writeln!(
            out,
            "  plane {k:<9}{:.6e} Hz{chans}",
            freq_hz.get(k).copied().unwrap_or(f64::NAN)
        );
        describe_plane(
            out,
            &format!("plane {k} "),
            plane,
            nx,
            ny,
            cell_arcsec,
            ra,
            dec,
        );
    }
}

/// A multi-line summary of `path`.
pub fn describe(path: &Path) -> Result<String, InfoError> {
    let mut out = String::new();
    let name = path.display().to_string();
    if !path.exists() {
        return Err(InfoError::Vis(VisFileError::Missing {
            path: path.to_path_buf(),
        }));
    }
    let is_fits = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("fits") || e.eq_ignore_ascii_case("fit"));
    if is_fits {
        let c = read_fits_cube(path)?;
        let card = |k: &str| {
            c.cards
                .iter()
                .find(|(key, _)| key == k)
                .and_then(|(_, v)| v.trim().trim_matches('\'').trim().parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        };
        let (cell, ra, dec) = (card("CDELT2") * 3600.0, card("CRVAL1"), card("CRVAL2"));
        if c.nz == 1 {
            let _ = writeln!(out, "{name}: FITS image");
            describe_image(&mut out, &c.data, c.nx, c.ny, cell, ra, dec);
        } else {
            let _ = writeln!(out, "{name}: FITS cube");
            let _ = writeln!(
                out,
                "  shape          {} x {} x {} (nfreq x ny x nx), cell {cell:.6} arcsec",
                c.nz, c.ny, c.nx
            );
            // Exact plane frequencies from FREQnnnn where written, else the linear axis.
            let freq: Vec<f64> = (0..c.nz)
                .map(|k| {
                    let f = card(&format!("FREQ{:04}", k + 1));
                    if f.is_finite() {
                        f
                    } else {
                        card("CRVAL3") + (k as f64 + 1.0 - card("CRPIX3")) * card("CDELT3")
                    }
                })
                .collect();
            describe_cube(&mut out, &c.data, &freq, None, c.nx, c.ny, cell, ra, dec);
        }
        return Ok(out);
    }
    let f = hdf5::File::open(path).map_err(|_| InfoError::Unknown(name.clone()))?;
    let is_image = f.dataset("image").is_ok();
    let is_vis = f.dataset("uvw").is_ok();
    drop(f);
    if is_image {
        let img = read_image_h5(path)?;
        let i = &img.info;
        let _ = writeln!(out, "{name}: rimager image");
        describe_image(
            &mut out,
            &img.image,
            i.nx,
            i.ny,
            i.cell_arcsec,
            i.phase_centre_ra_deg,
            i.phase_centre_dec_deg,
        );
        if let Some(psf) = &img.psf {
            let s = image_stats(psf, i.nx);
            let _ = writeln!(
                out,
                "  psf peak       {:.6e} at pixel (x={}, y={})",
                s.peak, s.x, s.y
            );
        }
        if let Some(c) = &img.cube {
            describe_cube(
                &mut out,
                &c.image,
                &c.freq_hz,
                Some((&c.chan_first, &c.chan_count)),
                i.nx,
                i.ny,
                i.cell_arcsec,
                i.phase_centre_ra_deg,
                i.phase_centre_dec_deg,
            );
        }
        let _ = writeln!(
            out,
            "  phase centre   RA {:.6} deg, Dec {:.6} deg; frequencies {:.6e} .. {:.6e} Hz",
            i.phase_centre_ra_deg, i.phase_centre_dec_deg, i.freq_min_hz, i.freq_max_hz
        );
        let _ = writeln!(
            out,
            "  visibilities   {} used, {} flagged, {} invalid, {} beyond the grid; sum of weights {:.6e}",
            i.vis_used, i.vis_flagged, i.vis_invalid, i.vis_outside, i.sum_weights
        );
        let _ = writeln!(
            out,
            "  gridding       epsilon {:e}, kernel W={} beta={:.4}, oversampling {:.2}, grid {}x{}, {} {}",
            i.epsilon, i.kernel_width, i.kernel_beta, i.oversampling, i.grid_nu, i.grid_nv, i.backend, i.precision
        );
        let _ = writeln!(
            out,
            "  run            {} rank(s) x {} thread(s), rimager {}",
            i.ranks, i.threads, i.version
        );
        return Ok(out);
    }
    if is_vis {
        let r = VisReader::open(path)?;
        let m = r.meta().clone();
        let nchan = m.nchan();
        let (mut uv_min, mut uv_max, mut wmax) = (f64::INFINITY, 0.0f64, 0.0f64);
        let (mut flagged, mut bad, mut sumw) = (0u64, 0u64, 0.0f64);
        let step = (1 << 20) / nchan.max(1);
        for rows in crate::vis::row_chunks(0..m.nrow, step) {
            let c = r.read_rows(rows)?;
            for (row, [u, v, w]) in c.uvw_m.iter().enumerate() {
                let q = (u * u + v * v).sqrt();
                if q.is_finite() {
                    uv_min = uv_min.min(q);
                    uv_max = uv_max.max(q);
                    wmax = wmax.max(w.abs());
                }
                for ch in 0..nchan {
                    let i = row * nchan + ch;
                    if c.is_flagged(i) {
                        flagged += 1;
                    } else if !(c.vis[i].re.is_finite()
                        && c.vis[i].im.is_finite()
                        && c.weight[i].is_finite())
                    {
                        bad += 1;
                    } else if c.weight[i] > 0.0 {
                        sumw += c.weight[i] as f64;
                    }
                }
            }
        }
        let fmin = m.freq_hz.iter().cloned().fold(f64::INFINITY, f64::min);
        let fmax = m.freq_hz.iter().cloned().fold(0.0, f64::max);
        let order = if m.freq_hz.windows(2).all(|w| w[0] < w[1]) {
            "ascending"
        } else if m.freq_hz.windows(2).all(|w| w[0] > w[1]) {
            "descending"
        } else {
            "unordered"
        };
        let _ = writeln!(
            out,
            "{name}: rimager visibility file, telescope {}",
            m.telescope
        );
        let _ = writeln!(
            out,
            "  shape          {} rows x {} channels = {} samples",
            m.nrow,
            nchan,
            m.nrow * nchan
        );
        let _ = writeln!(
            out,
            "  frequencies    {fmin:.6e} .. {fmax:.6e} Hz ({order})"
        );
        let _ = writeln!(
            out,
            "  phase centre   RA {:.6} deg, Dec {:.6} deg",
            m.phase_centre_ra_deg, m.phase_centre_dec_deg
        );
        let _ = writeln!(
            out,
            "  uv range       {:.3} .. {:.3} m ({:.1} .. {:.1} wavelengths); |w| up to {:.3} m",
            uv_min,
            uv_max,
            uv_min * fmin / SPEED_OF_LIGHT_M_S,
            uv_max * fmax / SPEED_OF_LIGHT_M_S,
            wmax
        );
        let _ = writeln!(
            out,
            "  finest fringe  {:.4} arcsec (cell_arcsec = \"auto\" gives a third of it)",
            SPEED_OF_LIGHT_M_S / (uv_max * fmax) / RAD_PER_ARCSEC
        );
        let _ = writeln!(
            out,
            "  samples        {flagged} flagged, {bad} NaN/Inf; sum of usable weights {sumw:.6e}"
        );
        return Ok(out);
    }
    Err(InfoError::Unknown(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_find_peak_and_rms() {
        let img = [0.0f32, 1.0, -3.0, 2.0, 0.5, 0.0];
        let s = image_stats(&img, 3);
        assert_eq!((s.peak, s.x, s.y), (2.0, 0, 1));
        let rms = ((1.0 + 9.0 + 4.0 + 0.25) / 6.0f64).sqrt();
        assert!((s.rms - rms).abs() < 1e-12);
    }

    #[test]
    fn stats_skip_blanked_pixels() {
        let img = [f32::NAN, 1.0, -3.0, f32::INFINITY];
        let s = image_stats(&img, 2);
        assert_eq!((s.peak, s.x, s.y, s.finite), (1.0, 1, 0, 2));
        assert!((s.rms - 5f64.sqrt()).abs() < 1e-12);
        assert!(image_stats(&[f32::NAN; 4], 2).rms.is_nan());
    }

    #[test]
    fn robust_rms_is_noise_sigma_and_ignores_a_bright_source() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, Normal};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let noise = Normal::new(0.0, 0.25).unwrap();
        let mut img: Vec<f32> = (0..40_000).map(|_| noise.sample(&mut rng) as f32).collect();
        img[123] = 1000.0;
        img[7] = f32::NAN;
        let r = robust_rms(&img);
        assert!((r - 0.25).abs() < 0.01, "robust rms {r}");
        // The plain rms is dominated by the source.
        assert!(image_stats(&img, 200).rms > 4.0);
        assert_eq!(robust_rms(&[1.0, 2.0, 4.0, 8.0]), 1.4826 * 1.5);
        assert!(robust_rms(&[f32::NAN]).is_nan());
    }

    #[test]
    fn sexagesimal() {
        assert_eq!(format_ra_hms(150.0), "10:00:00.000");
        assert_eq!(format_ra_hms(150.0 + 15.0 / 3600.0 * 1.5), "10:00:01.500");
        assert_eq!(format_ra_hms(359.999_999_9), "00:00:00.000");
        assert_eq!(format_ra_hms(-15.0), "23:00:00.000");
        assert_eq!(format_dec_dms(-30.0), "-30:00:00.00");
        assert_eq!(
            format_dec_dms(-(29.0 + 59.0 / 60.0 + 28.0 / 3600.0)),
            "-29:59:28.00"
        );
        assert_eq!(format_dec_dms(0.5 / 3600.0), "+00:00:00.50");
        assert_eq!(format_dec_dms(89.999_999_99), "+90:00:00.00");
    }

    #[test]
    fn centre_pixel_is_phase_centre_and_east_is_left() {
        let (ra, dec) = pixel_to_radec(50, 40, 100, 80, 1e-4, 150.0, -30.0);
        assert!((ra - 150.0).abs() < 1e-12 && (dec + 30.0).abs() < 1e-12);
        let (ra1, _) = pixel_to_radec(49, 40, 100, 80, 1e-4, 150.0, -30.0);
        assert!(ra1 > ra, "one pixel left (lower x) is east, larger RA");
        let (_, dec1) = pixel_to_radec(50, 41, 100, 80, 1e-4, 150.0, -30.0);
        assert!(dec1 > dec, "one pixel up is north");
    }
}
