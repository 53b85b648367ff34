//! `rimager info`: a summary of a visibility file, an image file (`.h5`) or a FITS image or
//! cube: shapes, uv range, and for images (the MFS image and every cube plane) the peak, its
//! pixel, its offset from the phase centre and its sky position (RA/Dec, sexagesimal and
//! degrees), and two noise figures: the rms over all finite pixels, and a robust rms,
//! 1.4826 × the median absolute deviation from the median (MAD; for Gaussian noise it equals
//! the standard deviation, and sources covering less than half of the image barely move it).
use std::fmt::Write as _;
use std::path::Path;

use crate::constants::{RAD_PER_ARCSEC, SPEED_OF_LIGHT_M_S};
use crate::image::coords::{format_dec_dms, format_ra_hms, pixel_offset, pixel_to_radec};
use crate::image::stats::{image_stats, robust_rms};
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
    /// The file cannot be opened as HDF5 (truncated, not HDF5, a directory, …).
    #[error("{0}: cannot be read: {1}")]
    Unreadable(String, String),
}

/// Where the planes being described lie on the sky.
#[derive(Clone, Copy, Debug)]
struct PlaneGeometry {
    /// Image width, pixels.
    nx: usize,
    /// Image height, pixels.
    ny: usize,
    /// Pixel size, arcsec.
    cell_arcsec: f64,
    /// Phase-centre RA, degrees.
    ra_deg: f64,
    /// Phase-centre Dec, degrees.
    dec_deg: f64,
}

fn describe_image(out: &mut String, image: &[f32], g: &PlaneGeometry) {
    let _ = writeln!(
        out,
        "  shape          {} x {} (ny x nx), cell {:.6} arcsec",
        g.ny, g.nx, g.cell_arcsec
    );
    describe_plane(out, "", image, g);
}

/// The peak line (value, pixel, offset, RA/Dec) and the rms line of one image plane, each
/// label prefixed with `label` (e.g. "plane 2 ").
fn describe_plane(out: &mut String, label: &str, image: &[f32], g: &PlaneGeometry) {
    let (nx, ny) = (g.nx, g.ny);
    let s = image_stats(image, nx);
    if s.finite == 0 {
        let _ = writeln!(
            out,
            "  {:<15}blanked: no finite pixel (no usable samples)",
            format!("{label}peak")
        );
        return;
    }
    let (dx, dy) = pixel_offset(s.x, s.y, nx, ny, g.cell_arcsec);
    let (pra, pdec) = pixel_to_radec(
        s.x,
        s.y,
        nx,
        ny,
        g.cell_arcsec * RAD_PER_ARCSEC,
        g.ra_deg,
        g.dec_deg,
    );
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

/// The planes of a cube to describe: `data` `[nplane][ny][nx]`, each plane's frequency and,
/// when known, its channels (first, count).
struct CubeView<'a> {
    data: &'a [f32],
    freq_hz: &'a [f64],
    channels: Option<(&'a [u64], &'a [u64])>,
}

/// Per-plane lines of a cube: frequency, channels (when known) and [`describe_plane`].
fn describe_cube(out: &mut String, cube: &CubeView<'_>, g: &PlaneGeometry) {
    let npix = g.nx * g.ny;
    let freq_hz = cube.freq_hz;
    let _ = writeln!(
        out,
        "  cube           {} planes, {:.6e} .. {:.6e} Hz",
        freq_hz.len(),
        freq_hz.first().copied().unwrap_or(f64::NAN),
        freq_hz.last().copied().unwrap_or(f64::NAN)
    );
    for (k, plane) in cube.data.chunks_exact(npix.max(1)).enumerate() {
        let chans = cube.channels.map_or(String::new(), |(first, count)| {
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
        describe_plane(out, &format!("plane {k} "), plane, g);
    }
}

/// A multi-line summary of `path`.
pub fn describe(path: &Path) -> Result<String, InfoError> {
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
        return describe_fits(path, &name);
    }
    let f = hdf5::File::open(path).map_err(|e| {
        InfoError::Unreadable(name.clone(), crate::vis::h5diag::hdf5_cause(path, &e))
    })?;
    let is_image = f.dataset("image").is_ok();
    let is_vis = f.dataset("uvw").is_ok();
    drop(f);
    if is_image {
        return describe_image_file(path, &name);
    }
    if is_vis {
        return describe_vis_file(path, &name);
    }
    Err(InfoError::Unknown(name))
}

/// A FITS image or cube.
fn describe_fits(path: &Path, name: &str) -> Result<String, InfoError> {
    let mut out = String::new();
    let c = read_fits_cube(path)?;
    let card = |k: &str| {
        c.card(k)
            .and_then(|v| v.trim().trim_matches('\'').trim().parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    let g = PlaneGeometry {
        nx: c.nx,
        ny: c.ny,
        cell_arcsec: card("CDELT2") * 3600.0,
        ra_deg: card("CRVAL1"),
        dec_deg: card("CRVAL2"),
    };
    if c.nz == 1 {
        let _ = writeln!(out, "{name}: FITS image");
        describe_image(&mut out, &c.data, &g);
    } else {
        let _ = writeln!(out, "{name}: FITS cube");
        let _ = writeln!(
            out,
            "  shape          {} x {} x {} (nfreq x ny x nx), cell {:.6} arcsec",
            c.nz, c.ny, c.nx, g.cell_arcsec
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
        let cube = CubeView {
            data: &c.data,
            freq_hz: &freq,
            channels: None,
        };
        describe_cube(&mut out, &cube, &g);
    }
    Ok(out)
}

/// A rimager image file (`.h5`).
fn describe_image_file(path: &Path, name: &str) -> Result<String, InfoError> {
    let mut out = String::new();
    let img = read_image_h5(path)?;
    let i = &img.info;
    let g = PlaneGeometry {
        nx: i.nx,
        ny: i.ny,
        cell_arcsec: i.cell_arcsec,
        ra_deg: i.phase_centre_ra_deg,
        dec_deg: i.phase_centre_dec_deg,
    };
    let _ = writeln!(out, "{name}: rimager image");
    describe_image(&mut out, &img.image, &g);
    if let Some(psf) = &img.psf {
        let s = image_stats(psf, i.nx);
        let _ = writeln!(
            out,
            "  psf peak       {:.6e} at pixel (x={}, y={})",
            s.peak, s.x, s.y
        );
    }
    if let Some(c) = &img.cube {
        let cube = CubeView {
            data: &c.image,
            freq_hz: &c.freq_hz,
            channels: Some((&c.chan_first, &c.chan_count)),
        };
        describe_cube(&mut out, &cube, &g);
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
        i.epsilon,
        i.kernel_width,
        i.kernel_beta,
        i.oversampling,
        i.grid_nu,
        i.grid_nv,
        i.backend,
        i.precision.as_str()
    );
    let _ = writeln!(
        out,
        "  run            {} rank(s) x {} thread(s), rimager {}",
        i.ranks, i.threads, i.version
    );
    Ok(out)
}

/// A rimager visibility file: shape, frequencies, uv range, flags and weights.
fn describe_vis_file(path: &Path, name: &str) -> Result<String, InfoError> {
    let mut out = String::new();
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
    Ok(out)
}
