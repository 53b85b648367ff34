//! The rimager image file (HDF5): `/image` and `/psf`, float32 `[ny, nx]`, row 0 south and
//! column 0 east (the orientation FITS viewers show: east left, north up), phase centre at
//! pixel `(nx/2, ny/2)`; root attributes describe how it was made (see [`ImageInfo`]).
//!
//! With a channel cube (`image.channels_out > 1`) also `/cube` (and `/cube_psf`), float32
//! `[nplane, ny, nx]` (NaN planes where a channel group had no usable sample), and per plane
//! `/cube_freq_hz` (float64, centre frequency), `/cube_sum_weights` (float64),
//! `/cube_vis_used`, `/cube_chan_first`, `/cube_chan_count` (uint64).
//!
//! The root attributes are scalars: float64, uint64 or variable-length UTF-8 strings. One
//! table (`attribute_table!`) lists them, in the order written; the writer and the reader are
//! both generated from it, each field stored by its attribute codec (the `attributes`
//! submodule). Typed fields keep the file's plain types: `weighting` and `precision` are
//! strings, `wstacking` a uint64 flag (1 = w-stacked).
mod attributes;

use std::path::Path;

use hdf5::H5Type;
use ndarray::{ArrayViewD, IxDyn};

use self::attributes::{h5, read_attr, read_str, write_str, Attribute};
use crate::config::Weighting;
use crate::output::cube::CubeArrays;
use crate::output::error::OutputError;
use crate::output::{commit_temp, temp_path_for};

pub use crate::real::Precision;

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
    /// The gridding backend's name, `"cpu"` or `"gpu"` (empty when absent).
    pub backend: String,
    /// Precision of the grid and FFT.
    pub precision: Precision,
    /// MPI ranks.
    pub ranks: u64,
    /// Threads per rank.
    pub threads: u64,
    /// rimager version.
    pub version: String,
    /// Whether the image was made with w-stacking (attribute `wstacking`: 1, or 0 for 2-D
    /// imaging; absent = 0).
    pub wstacking: bool,
    /// w-stacking: number of w-planes (0 without).
    pub w_planes: u64,
    /// w-stacking: w of plane 0, wavelengths.
    pub w_first_lambda: f64,
    /// w-stacking: plane spacing, wavelengths.
    pub w_step_lambda: f64,
    /// w-stacking: shift added to n − 1 in the phase screens.
    pub w_nshift: f64,
    /// Run metrics (JSON text of the run's metrics record).
    pub metrics_json: String,
    /// Weighting scheme (attribute `"natural"`, `"uniform"` or `"briggs"`; empty in files
    /// written before weighting existed, read as natural).
    pub weighting: Weighting,
    /// Briggs robustness R.
    pub robust: f64,
    /// Gaussian taper FWHM, arcsec (0 = none).
    pub taper_arcsec: f64,
}

/// The attribute table: every root attribute after `nx` and `ny`, in the order written, each
/// named after the [`ImageInfo`] field it holds. `$m!` is given the attributes written for
/// every image, then those written for w-stacked images only.
macro_rules! attribute_table {
    ($m:ident) => {
        $m!(
            [
                cell_arcsec,
                phase_centre_ra_deg,
                phase_centre_dec_deg,
                freq_min_hz,
                freq_max_hz,
                vis_used,
                vis_flagged,
                vis_invalid,
                vis_outside,
                sum_weights,
                epsilon,
                kernel_width,
                kernel_beta,
                oversampling,
                grid_nu,
                grid_nv,
                backend,
                precision,
                ranks,
                threads,
                version,
                metrics_json,
                weighting,
                robust,
                taper_arcsec,
                wstacking
            ][w_planes, w_first_lambda, w_step_lambda, w_nshift]
        )
    };
}

/// [`Precision::as_str`]; required.
impl Attribute for Precision {
    fn write(&self, f: &hdf5::File, path: &Path, name: &str) -> Result<(), OutputError> {
        write_str(f, path, name, self.as_str())
    }
    fn read(f: &hdf5::File, name: &str) -> Result<Self, String> {
        let s = read_str(f, name);
        Precision::parse(&s)
            .ok_or_else(|| format!("attribute {name} = {s:?} is not \"float32\" or \"float64\""))
    }
}

/// Writes dataset `/name` of `shape` (row-major) from `data`.
fn write_dataset<T: H5Type>(
    f: &hdf5::File,
    path: &Path,
    name: &str,
    shape: &[usize],
    data: &[T],
) -> Result<(), OutputError> {
    let view = ArrayViewD::from_shape(IxDyn(shape), data).map_err(|e| OutputError::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    f.new_dataset_builder()
        .with_data(&view)
        .create(name)
        .map_err(h5(path, format!("writing /{name}")))?;
    Ok(())
}

/// Reads dataset `/name` as a flat vector.
fn read_dataset<T: H5Type>(f: &hdf5::File, path: &Path, name: &str) -> Result<Vec<T>, OutputError> {
    f.dataset(name)
        .and_then(|d| d.read_raw::<T>())
        .map_err(h5(path, format!("reading /{name}")))
}

/// Checks the array sizes against `info`'s `nx × ny` before anything is written.
fn check_sizes(
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
    Ok(())
}

/// Writes the image file atomically (temporary name, then rename): `/image`, `/psf` if
/// given, the channel cube (`/cube*` datasets) if given, and the attributes of `info`.
pub fn write_image_h5_with_cube(
    path: &Path,
    image: &[f32],
    psf: Option<&[f32]>,
    info: &ImageInfo,
    cube: Option<&CubeArrays>,
) -> Result<(), OutputError> {
    check_sizes(path, image, psf, info, cube)?;
    let (nx, ny) = (info.nx, info.ny);
    let tmp = temp_path_for(path);
    let _reg = crate::output::cleanup::register(&tmp);
    let result = (|| {
        let f = hdf5::File::create(&tmp).map_err(h5(path, "creating temporary image file"))?;
        write_dataset(&f, path, "image", &[ny, nx], image)?;
        if let Some(p) = psf {
            write_dataset(&f, path, "psf", &[ny, nx], p)?;
        }
        if let Some(c) = cube {
            let shape = [c.nplane(), ny, nx];
            write_dataset(&f, path, "cube", &shape, &c.image)?;
            if let Some(p) = &c.psf {
                write_dataset(&f, path, "cube_psf", &shape, p)?;
            }
            let n = [c.nplane()];
            write_dataset(&f, path, "cube_freq_hz", &n, &c.freq_hz)?;
            write_dataset(&f, path, "cube_sum_weights", &n, &c.sum_weights)?;
            write_dataset(&f, path, "cube_vis_used", &n, &c.vis_used)?;
            write_dataset(&f, path, "cube_chan_first", &n, &c.chan_first)?;
            write_dataset(&f, path, "cube_chan_count", &n, &c.chan_count)?;
        }
        (nx as u64).write(&f, path, "nx")?;
        (ny as u64).write(&f, path, "ny")?;
        macro_rules! write_attributes {
            ([$($a:ident),*][$($w:ident),*]) => {
                $( info.$a.write(&f, path, stringify!($a))?; )*
                if info.wstacking {
                    $( info.$w.write(&f, path, stringify!($w))?; )*
                }
            };
        }
        attribute_table!(write_attributes);
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
    /// The attributes (absent ones read as NaN, 0, empty, false or natural).
    pub info: ImageInfo,
    /// The channel cube, if the file has one.
    pub cube: Option<CubeArrays>,
}

/// Reads an image file written by [`write_image_h5_with_cube`]. A `weighting` or
/// `precision` attribute rimager does not know (or a missing `precision`) is an error.
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
    macro_rules! read_attributes {
        ([$($a:ident),*][$($w:ident),*]) => {
            ImageInfo {
                nx: shape[1],
                ny: shape[0],
                $( $a: read_attr(&f, path, stringify!($a))?, )*
                $( $w: read_attr(&f, path, stringify!($w))?, )*
            }
        };
    }
    let info = attribute_table!(read_attributes);
    let cube = match f.dataset("cube") {
        Ok(ds) => Some(read_cube(&f, path, &ds, &info)?),
        Err(_) => None,
    };
    Ok(ImageFile {
        image,
        psf,
        info,
        cube,
    })
}

/// The channel cube of an image file, `/cube` being `ds`.
fn read_cube(
    f: &hdf5::File,
    path: &Path,
    ds: &hdf5::Dataset,
    info: &ImageInfo,
) -> Result<CubeArrays, OutputError> {
    let malformed = |reason: String| OutputError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    let shape = ds.shape();
    if shape.len() != 3 || shape[1] != info.ny || shape[2] != info.nx {
        return Err(malformed(format!(
            "/cube has shape {shape:?}, expected [nplane, {}, {}]",
            info.ny, info.nx
        )));
    }
    let c = CubeArrays {
        nx: info.nx,
        ny: info.ny,
        freq_hz: read_dataset(f, path, "cube_freq_hz")?,
        sum_weights: read_dataset(f, path, "cube_sum_weights")?,
        vis_used: read_dataset(f, path, "cube_vis_used")?,
        chan_first: read_dataset(f, path, "cube_chan_first")?,
        chan_count: read_dataset(f, path, "cube_chan_count")?,
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
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdf5::types::VarLenUnicode;

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
        write_image_h5_with_cube(&path, &[1.0; 4], None, &info, None).unwrap();
        assert!(write_image_h5_with_cube(&path, &[1.0; 3], None, &info, None).is_err());
        assert_eq!(read_image_h5(&path).unwrap().image, vec![1.0; 4]);
    }

    /// Typed fields are stored in the file's plain types (strings and a uint64 flag), the
    /// w-stacking attributes only when w-stacked, and read back as written.
    #[test]
    fn typed_fields_keep_the_file_types() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("img.h5");
        let info = ImageInfo {
            nx: 2,
            ny: 2,
            weighting: Weighting::Briggs,
            precision: Precision::Float64,
            wstacking: true,
            w_planes: 5,
            ..Default::default()
        };
        write_image_h5_with_cube(&path, &[1.0; 4], None, &info, None).unwrap();
        let f = hdf5::File::open(&path).unwrap();
        let text = |n: &str| {
            f.attr(n)
                .unwrap()
                .read_scalar::<VarLenUnicode>()
                .unwrap()
                .to_string()
        };
        assert_eq!(text("weighting"), "briggs");
        assert_eq!(text("precision"), "float64");
        let flag = f.attr("wstacking").unwrap();
        assert_eq!(
            flag.dtype().unwrap().to_descriptor().unwrap(),
            u64::type_descriptor()
        );
        assert_eq!(flag.read_scalar::<u64>().unwrap(), 1);
        assert_eq!(f.attr("nx").unwrap().read_scalar::<u64>().unwrap(), 2);
        drop(f);
        let back = read_image_h5(&path).unwrap().info;
        assert_eq!(back.weighting, Weighting::Briggs);
        assert_eq!(back.precision, Precision::Float64);
        assert!(back.wstacking);
        assert_eq!(back.w_planes, 5);

        // 2-D imaging: wstacking = 0 and no w-plane attributes.
        let flat = ImageInfo {
            wstacking: false,
            ..info
        };
        write_image_h5_with_cube(&path, &[1.0; 4], None, &flat, None).unwrap();
        let f = hdf5::File::open(&path).unwrap();
        assert_eq!(
            f.attr("wstacking").unwrap().read_scalar::<u64>().unwrap(),
            0
        );
        assert!(f.attr("w_planes").is_err());
        drop(f);
        assert!(!read_image_h5(&path).unwrap().info.wstacking);
    }

    /// A file written before weighting existed (no `weighting` attribute) reads as natural;
    /// an unknown weighting or precision is an error naming the file.
    #[test]
    fn old_and_unknown_attribute_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.h5");
        let make = |attrs: &[(&str, &str)]| {
            let f = hdf5::File::create(&path).unwrap();
            f.new_dataset_builder()
                .with_data(&ndarray::Array2::<f32>::zeros((2, 3)))
                .create("image")
                .unwrap();
            for (name, value) in attrs {
                let v: VarLenUnicode = value.parse().unwrap();
                f.new_attr::<VarLenUnicode>()
                    .create(*name)
                    .unwrap()
                    .write_scalar(&v)
                    .unwrap();
            }
        };
        make(&[("precision", "float32")]);
        let info = read_image_h5(&path).unwrap().info;
        assert_eq!((info.nx, info.ny), (3, 2));
        assert_eq!(info.weighting, Weighting::Natural);
        assert_eq!(info.precision, Precision::Float32);
        assert!(!info.wstacking);
        make(&[("precision", "float32"), ("weighting", "super")]);
        let e = read_image_h5(&path).unwrap_err().to_string();
        assert!(e.contains("old.h5") && e.contains("super"), "{e}");
        make(&[("precision", "float16")]);
        let e = read_image_h5(&path).unwrap_err().to_string();
        assert!(e.contains("old.h5") && e.contains("float16"), "{e}");
    }
}
