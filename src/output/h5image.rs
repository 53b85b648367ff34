//! The rimager image file (HDF5): `/image` and `/psf`, float32 `[ny, nx]`, row 0 south and
//! column 0 east (the orientation FITS viewers show: east left, north up), phase centre at
//! pixel `(nx/2, ny/2)`; root attributes describe how it was made (see [`ImageInfo`]).
//!
//! With a channel cube (`image.channels_out > 1`) also `/cube` (and `/cube_psf`), float32
//! `[nplane, ny, nx]` (NaN planes where a channel group had no usable sample), and per plane
//! `/cube_freq_hz` (float64, centre frequency), `/cube_sum_weights` (float64),
//! `/cube_vis_used`, `/cube_chan_first`, `/cube_chan_count` (uint64).
use std::path::Path;

use hdf5::types::VarLenUnicode;
use ndarray::ArrayView2;

use super::cube::CubeArrays;
use super::{commit_temp, temp_path_for, OutputError};

/// Everything recorded about an image (all become root attributes of the same name).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImageInfo {
    /// Image width, pixels.
    pub nx: usize,
    /// Image height, pixels.
    pub ny: usize,
    /// Pixel size, arcsec.
    pub cell_arcsec: f64,
    /// Phase-centre RA, degrees.
    pub phase_centre_ra_deg: f64,
    /// Phase-centre Dec, degrees.
    pub phase_centre_dec_deg: f64,
    /// Lowest channel frequency, Hz.
    pub freq_min_hz: f64,
    /// Highest channel frequency, Hz.
    pub freq_max_hz: f64,
    /// Samples gridded.
    pub vis_used: u64,
    /// Samples flagged in the input.
    pub vis_flagged: u64,
    /// Samples dropped for NaN/Inf or non-positive weight.
    pub vis_invalid: u64,
    /// Samples dropped for lying beyond the grid.
    pub vis_outside: u64,
    /// Sum of the used weights.
    pub sum_weights: f64,
    /// Requested accuracy.
    pub epsilon: f64,
    /// Kernel width, cells.
    pub kernel_width: u64,
    /// Kernel β.
    pub kernel_beta: f64,
    /// Grid oversampling factor the kernel was chosen for.
    pub oversampling: f64,
    /// Grid size along u.
    pub grid_nu: u64,
    /// Grid size along v.
    pub grid_nv: u64,
    /// `"cpu"`, ...
    pub backend: String,
    /// `"float32"` or `"float64"`.
    pub precision: String,
    /// MPI ranks.
    pub ranks: u64,
    /// Threads per rank.
    pub threads: u64,
    /// rimager version.
    pub version: String,
    /// 1 if made with w-stacking ([`crate::wstack`]), 0 for 2-D imaging (also when absent).
    pub wstacking: u64,
    /// w-stacking: number of w-planes (0 without).
    pub w_planes: u64,
    /// w-stacking: w of plane 0, wavelengths.
    pub w_first_lambda: f64,
    /// w-stacking: plane spacing, wavelengths.
    pub w_step_lambda: f64,
    /// w-stacking: shift added to n − 1 in the phase screens.
    pub w_nshift: f64,
    /// Run metrics (JSON text, see [`crate::metrics::RunMetrics`]).
    pub metrics_json: String,
    /// `"natural"`, `"uniform"` or `"briggs"` (empty in files written before weighting
    /// existed: natural).
    pub weighting: String,
    /// Briggs robustness R.
    pub robust: f64,
    /// Gaussian taper FWHM, arcsec (0 = none).
    pub taper_arcsec: f64,
}

fn h5(path: &Path, what: impl Into<String>) -> impl FnOnce(hdf5::Error) -> OutputError {
    let path = path.to_path_buf();
    let what = what.into();
    move |source| OutputError::Hdf5 { path, what, source }
}

fn vlu(path: &Path, s: &str) -> Result<VarLenUnicode, OutputError> {
    s.parse().map_err(|_| OutputError::Invalid {
        path: path.to_path_buf(),
        reason: format!("string attribute contains a NUL character: {s:?}"),
    })
}

/// Writes the image file atomically (temporary name, then rename).
pub fn write_image_h5(
    path: &Path,
    image: &[f32],
    psf: Option<&[f32]>,
    info: &ImageInfo,
) -> Result<(), OutputError> {
    write_image_h5_with_cube(path, image, psf, info, None)
}

/// [`write_image_h5`] plus, if given, a channel cube (`/cube*` datasets).
pub fn write_image_h5_with_cube(
    path: &Path,
    image: &[f32],
    psf: Option<&[f32]>,
    info: &ImageInfo,
    cube: Option<&CubeArrays>,
) -> Result<(), OutputError> {
    let (nx, ny) = (info.nx, info.ny);
    let bad = |what: &str, n: usize| OutputError::Invalid {
        path: path.to_path_buf(),
        reason: format!("{what} has {n} values, expected ny × nx = {}", nx * ny),
    };
    if image.len() != nx * ny {
        return Err(bad("image", image.len()));
    }
    if let Some(p) = psf {
        if p.len() != nx * ny {
            return Err(bad("psf", p.len()));
        }
    }
    if let Some(c) = cube {
        let n = c.nplane() * nx * ny;
        let ok = (c.nx, c.ny) == (nx, ny)
            && c.image.len() == n
            && c.psf.as_ref().is_none_or(|p| p.len() == n)
            && [
                c.sum_weights.len(),
                c.vis_used.len(),
                c.chan_first.len(),
                c.chan_count.len(),
            ]
            .iter()
            .all(|&l| l == c.nplane());
        if !ok {
            return Err(OutputError::Invalid {
                path: path.to_path_buf(),
                reason: format!(
                    "cube arrays do not match {} planes of {nx} x {ny}",
                    c.nplane()
                ),
            });
        }
    }
    let tmp = temp_path_for(path);
    let result = (|| {
        let f = hdf5::File::create(&tmp).map_err(h5(path, "creating temporary image file"))?;
        let write = |name: &str, data: &[f32]| -> Result<(), OutputError> {
            let view =
                ArrayView2::from_shape((ny, nx), data).map_err(|e| OutputError::Invalid {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })?;
            f.new_dataset_builder()
                .with_data(&view)
                .create(name)
                .map_err(h5(path, format!("writing /{name}")))?;
            Ok(())
        };
        write("image", image)?;
        if let Some(p) = psf {
            write("psf", p)?;
        }
        if let Some(c) = cube {
            let write3 =
                |name: &str, data: &[f32]| -> Result<(), OutputError> {
                    let view = ndarray::ArrayView3::from_shape((c.nplane(), ny, nx), data)
                        .map_err(|e| OutputError::Invalid {
                            path: path.to_path_buf(),
                            reason: e.to_string(),
                        })?;
                    f.new_dataset_builder()
                        .with_data(&view)
                        .create(name)
                        .map_err(h5(path, format!("writing /{name}")))?;
                    Ok(())
                };
            write3("cube", &c.image)?;
            if let Some(p) = &c.psf {
                write3("cube_psf", p)?;
            }
            let w1f = |name: &str, v: &[f64]| {
                f.new_dataset_builder()
                    .with_data(v)
                    .create(name)
                    .map(|_| ())
                    .map_err(h5(path, format!("writing /{name}")))
            };
            let w1u = |name: &str, v: &[u64]| {
                f.new_dataset_builder()
                    .with_data(v)
                    .create(name)
                    .map(|_| ())
                    .map_err(h5(path, format!("writing /{name}")))
            };
            w1f("cube_freq_hz", &c.freq_hz)?;
            w1f("cube_sum_weights", &c.sum_weights)?;
            w1u("cube_vis_used", &c.vis_used)?;
            w1u("cube_chan_first", &c.chan_first)?;
            w1u("cube_chan_count", &c.chan_count)?;
        }
        let fa = |name: &str, v: f64| -> Result<(), OutputError> {
            f.new_attr::<f64>()
                .create(name)
                .and_then(|a| a.write_scalar(&v))
                .map_err(h5(path, format!("writing attribute {name}")))
        };
        let ia = |name: &str, v: u64| -> Result<(), OutputError> {
            f.new_attr::<u64>()
                .create(name)
                .and_then(|a| a.write_scalar(&v))
                .map_err(h5(path, format!("writing attribute {name}")))
        };
        let sa = |name: &str, v: &str| -> Result<(), OutputError> {
            let v = vlu(path, v)?;
            f.new_attr::<VarLenUnicode>()
                .create(name)
                .and_then(|a| a.write_scalar(&v))
                .map_err(h5(path, format!("writing attribute {name}")))
        };
        ia("nx", nx as u64)?;
        ia("ny", ny as u64)?;
        fa("cell_arcsec", info.cell_arcsec)?;
        fa("phase_centre_ra_deg", info.phase_centre_ra_deg)?;
        fa("phase_centre_dec_deg", info.phase_centre_dec_deg)?;
        fa("freq_min_hz", info.freq_min_hz)?;
        fa("freq_max_hz", info.freq_max_hz)?;
        ia("vis_used", info.vis_used)?;
        ia("vis_flagged", info.vis_flagged)?;
        ia("vis_invalid", info.vis_invalid)?;
        ia("vis_outside", info.vis_outside)?;
        fa("sum_weights", info.sum_weights)?;
        fa("epsilon", info.epsilon)?;
        ia("kernel_width", info.kernel_width)?;
        fa("kernel_beta", info.kernel_beta)?;
        fa("oversampling", info.oversampling)?;
        ia("grid_nu", info.grid_nu)?;
        ia("grid_nv", info.grid_nv)?;
        sa("backend", &info.backend)?;
        sa("precision", &info.precision)?;
        ia("ranks", info.ranks)?;
        ia("threads", info.threads)?;
        sa("version", &info.version)?;
        sa("metrics_json", &info.metrics_json)?;
        sa("weighting", &info.weighting)?;
        fa("robust", info.robust)?;
        fa("taper_arcsec", info.taper_arcsec)?;
        ia("wstacking", info.wstacking)?;
        if info.wstacking != 0 {
            ia("w_planes", info.w_planes)?;
            fa("w_first_lambda", info.w_first_lambda)?;
            fa("w_step_lambda", info.w_step_lambda)?;
            fa("w_nshift", info.w_nshift)?;
        }
        f.close()
            .map_err(h5(path, "closing temporary image file"))?;
        Ok(())
    })();
    match result {
        Ok(()) => commit_temp(&tmp, path),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// An image file read back.
#[derive(Clone, Debug)]
pub struct ImageFile {
    /// `[ny][nx]` image.
    pub image: Vec<f32>,
    /// `[ny][nx]` PSF, if written.
    pub psf: Option<Vec<f32>>,
    /// The attributes (string ones empty when absent).
    pub info: ImageInfo,
    /// The channel cube, if the file has one.
    pub cube: Option<CubeArrays>,
}

/// Reads an image file written by [`write_image_h5`].
pub fn read_image_h5(path: &Path) -> Result<ImageFile, OutputError> {
    let malformed = |reason: String| OutputError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    if !path.exists() {
        return Err(OutputError::Io {
            path: path.to_path_buf(),
            op: "open image file",
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    let f = hdf5::File::open(path).map_err(h5(path, "opening image file"))?;
    let ds = f
        .dataset("image")
        .map_err(|_| malformed("no /image dataset (is this a rimager image file?)".into()))?;
    let shape = ds.shape();
    if shape.len() != 2 {
        return Err(malformed(format!(
            "/image has shape {shape:?}, expected [ny, nx]"
        )));
    }
    let image: Vec<f32> = ds.read_raw().map_err(h5(path, "reading /image"))?;
    let psf = match f.dataset("psf") {
        Ok(p) => Some(p.read_raw::<f32>().map_err(h5(path, "reading /psf"))?),
        Err(_) => None,
    };
    let fa = |n: &str| {
        f.attr(n)
            .and_then(|a| a.read_scalar::<f64>())
            .unwrap_or(f64::NAN)
    };
    let ia = |n: &str| f.attr(n).and_then(|a| a.read_scalar::<u64>()).unwrap_or(0);
    let sa = |n: &str| {
        f.attr(n)
            .and_then(|a| a.read_scalar::<VarLenUnicode>())
            .map(|s| s.as_str().to_string())
            .unwrap_or_default()
    };
    let info = ImageInfo {
        nx: shape[1],
        ny: shape[0],
        cell_arcsec: fa("cell_arcsec"),
        phase_centre_ra_deg: fa("phase_centre_ra_deg"),
        phase_centre_dec_deg: fa("phase_centre_dec_deg"),
        freq_min_hz: fa("freq_min_hz"),
        freq_max_hz: fa("freq_max_hz"),
        vis_used: ia("vis_used"),
        vis_flagged: ia("vis_flagged"),
        vis_invalid: ia("vis_invalid"),
        vis_outside: ia("vis_outside"),
        sum_weights: fa("sum_weights"),
        epsilon: fa("epsilon"),
        kernel_width: ia("kernel_width"),
        kernel_beta: fa("kernel_beta"),
        oversampling: fa("oversampling"),
        grid_nu: ia("grid_nu"),
        grid_nv: ia("grid_nv"),
        backend: sa("backend"),
        precision: sa("precision"),
        ranks: ia("ranks"),
        threads: ia("threads"),
        version: sa("version"),
        metrics_json: sa("metrics_json"),
        weighting: sa("weighting"),
        robust: fa("robust"),
        taper_arcsec: fa("taper_arcsec"),
        wstacking: ia("wstacking"),
        w_planes: ia("w_planes"),
        w_first_lambda: fa("w_first_lambda"),
        w_step_lambda: fa("w_step_lambda"),
        w_nshift: fa("w_nshift"),
    };
    let cube = match f.dataset("cube") {
        Ok(ds) => {
            let shape = ds.shape();
            if shape.len() != 3 || shape[1] != info.ny || shape[2] != info.nx {
                return Err(malformed(format!(
                    "/cube has shape {shape:?}, expected [nplane, {}, {}]",
                    info.ny, info.nx
                )));
            }
            let r1f = |n: &str| -> Result<Vec<f64>, OutputError> {
                f.dataset(n)
                    .and_then(|d| d.read_raw::<f64>())
                    .map_err(h5(path, format!("reading /{n}")))
            };
            let r1u = |n: &str| -> Result<Vec<u64>, OutputError> {
                f.dataset(n)
                    .and_then(|d| d.read_raw::<u64>())
                    .map_err(h5(path, format!("reading /{n}")))
            };
            let c = CubeArrays {
                nx: info.nx,
                ny: info.ny,
                freq_hz: r1f("cube_freq_hz")?,
                sum_weights: r1f("cube_sum_weights")?,
                vis_used: r1u("cube_vis_used")?,
                chan_first: r1u("cube_chan_first")?,
                chan_count: r1u("cube_chan_count")?,
                image: ds.read_raw().map_err(h5(path, "reading /cube"))?,
                psf: match f.dataset("cube_psf") {
                    Ok(p) => Some(p.read_raw::<f32>().map_err(h5(path, "reading /cube_psf"))?),
                    Err(_) => None,
                },
            };
            if c.freq_hz.len() != shape[0] || c.sum_weights.len() != shape[0] {
                return Err(malformed(format!(
                    "/cube has {} planes but /cube_freq_hz has {} and /cube_sum_weights {}",
                    shape[0],
                    c.freq_hz.len(),
                    c.sum_weights.len()
                )));
            }
            Some(c)
        }
        Err(_) => None,
    };
    Ok(ImageFile {
        image,
        psf,
        info,
        cube,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_data_and_attributes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("img.h5");
        let (nx, ny) = (6, 4);
        let image: Vec<f32> = (0..nx * ny).map(|i| (i as f32 * 0.37).sin()).collect();
        let psf: Vec<f32> = (0..nx * ny).map(|i| (i as f32 * 0.11).cos()).collect();
        let info = ImageInfo {
            nx,
            ny,
            cell_arcsec: 1.5,
            epsilon: 1e-4,
            backend: "cpu".into(),
            vis_used: 17,
            ..Default::default()
        };
        let cube = CubeArrays {
            nx,
            ny,
            freq_hz: vec![1.4e9, 1.2e9],
            sum_weights: vec![3.0, 0.0],
            vis_used: vec![10, 0],
            chan_first: vec![0, 2],
            chan_count: vec![2, 1],
            image: (0..2 * nx * ny)
                .map(|i| if i < nx * ny { i as f32 } else { f32::NAN })
                .collect(),
            psf: None,
        };
        write_image_h5_with_cube(&path, &image, Some(&psf), &info, Some(&cube)).unwrap();
        let back = read_image_h5(&path).unwrap();
        let bc = back.cube.as_ref().unwrap();
        assert_eq!(bc.freq_hz, cube.freq_hz);
        assert_eq!(bc.chan_count, cube.chan_count);
        assert_eq!(bc.image[..nx * ny], cube.image[..nx * ny]);
        assert!(bc.image[nx * ny..].iter().all(|v| v.is_nan()));
        assert!(bc.psf.is_none());
        assert_eq!(back.image, image);
        assert_eq!(back.psf.unwrap(), psf);
        assert_eq!(back.info.cell_arcsec, 1.5);
        assert_eq!(back.info.vis_used, 17);
        assert_eq!(back.info.backend, "cpu");
        // No temporary file left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn wrong_size_is_rejected_and_old_file_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("img.h5");
        let info = ImageInfo {
            nx: 2,
            ny: 2,
            ..Default::default()
        };
        write_image_h5(&path, &[1.0; 4], None, &info).unwrap();
        assert!(write_image_h5(&path, &[1.0; 3], None, &info).is_err());
        assert_eq!(read_image_h5(&path).unwrap().image, vec![1.0; 4]);
    }
}
