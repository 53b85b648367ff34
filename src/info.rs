//! `rimager info`: a summary of a visibility file, an image file (`.h5`) or a FITS image:
//! shapes, uv range, peak and its position on the sky, rms.
use std::fmt::Write as _;
use std::path::Path;

use crate::constants::{RAD_PER_ARCSEC, SPEED_OF_LIGHT_M_S};
use crate::output::fits::read_fits_image;
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

/// Peak, its pixel and rms of an image `[ny][nx]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImageStats {
    /// Largest value.
    pub peak: f64,
    /// Its column (0 = east edge).
    pub x: usize,
    /// Its row (0 = south edge).
    pub y: usize,
    /// Root mean square over all pixels.
    pub rms: f64,
}

/// Peak and rms of `image`.
pub fn image_stats(image: &[f32], nx: usize) -> ImageStats {
    let mut best = (f64::NEG_INFINITY, 0usize);
    let mut sq = 0.0;
    for (i, &v) in image.iter().enumerate() {
        let v = v as f64;
        sq += v * v;
        if v > best.0 {
            best = (v, i);
        }
    }
    ImageStats {
        peak: best.0,
        x: best.1 % nx.max(1),
        y: best.1 / nx.max(1),
        rms: (sq / image.len().max(1) as f64).sqrt(),
    }
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
    let s = image_stats(image, nx);
    let (dx, dy) = (
        -(s.x as f64 - (nx / 2) as f64) * cell_arcsec,
        (s.y as f64 - (ny / 2) as f64) * cell_arcsec,
    );
    let (pra, pdec) = pixel_to_radec(s.x, s.y, nx, ny, cell_arcsec * RAD_PER_ARCSEC, ra, dec);
    let _ = writeln!(
        out,
        "  shape          {ny} x {nx} (ny x nx), cell {cell_arcsec:.6} arcsec"
    );
    let _ = writeln!(
        out,
        "  peak           {:.6e} at pixel (x={}, y={}): {:+.3} arcsec east, {:+.3} arcsec north; RA {:.6} deg, Dec {:.6} deg",
        s.peak, s.x, s.y, dx, dy, pra, pdec
    );
    let _ = writeln!(out, "  rms            {:.6e}", s.rms);
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
        let (data, nx, ny, cards) = read_fits_image(path)?;
        let card = |k: &str| {
            cards
                .iter()
                .find(|(key, _)| key == k)
                .and_then(|(_, v)| v.trim().trim_matches('\'').trim().parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        };
        let _ = writeln!(out, "{name}: FITS image");
        describe_image(
            &mut out,
            &data,
            nx,
            ny,
            card("CDELT2") * 3600.0,
            card("CRVAL1"),
            card("CRVAL2"),
        );
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
    fn centre_pixel_is_phase_centre_and_east_is_left() {
        let (ra, dec) = pixel_to_radec(50, 40, 100, 80, 1e-4, 150.0, -30.0);
        assert!((ra - 150.0).abs() < 1e-12 && (dec + 30.0).abs() < 1e-12);
        let (ra1, _) = pixel_to_radec(49, 40, 100, 80, 1e-4, 150.0, -30.0);
        assert!(ra1 > ra, "one pixel left (lower x) is east, larger RA");
        let (_, dec1) = pixel_to_radec(50, 41, 100, 80, 1e-4, 150.0, -30.0);
        assert!(dec1 > dec, "one pixel up is north");
    }
}
