//! The rimager visibility file (HDF5, h5py-compatible).
//!
//! | path | type | shape | meaning |
//! |---|---|---|---|
//! | `/uvw` | float64 | `[nrow, 3]` | (u, v, w), metres, Measurement Set convention |
//! | `/vis` | complex64 (compound of float32 `r`, `i`, as h5py stores complex) | `[nrow, nchan]` | Stokes I, Jy |
//! | `/weight` | float32 | `[nrow, nchan]` | weights |
//! | `/flag` (optional) | uint8 or bool | `[nrow, nchan]` | non-zero = ignore the sample |
//! | `/freq` | float64 | `[nchan]` | channel frequencies, Hz, any order |
//! | attrs on `/` | `telescope` (string), `phase_centre_ra_deg`, `phase_centre_dec_deg` (float64) | | |
//!
//! Readers read only the rows they are asked for (hyperslab selections), so a rank's memory is
//! bounded by its chunk size whatever the file size.
use std::ops::Range;
use std::path::{Path, PathBuf};

use hdf5::types::{TypeDescriptor, VarLenUnicode};
use ndarray::{s, Array2};
use num_complex::Complex32;

use super::{VisChunk, VisMeta};

/// Errors reading or writing a visibility file.
#[derive(Debug, thiserror::Error)]
pub enum VisFileError {
    /// The file does not exist.
    #[error("visibility file {path} does not exist")]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// An HDF5 call failed (reported on one line with its cause).
    #[error("{path}: {what}: {}", super::h5diag::hdf5_cause(path, cause))]
    Hdf5 {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: String,
        /// HDF5's error.
        cause: hdf5::Error,
    },
    /// The file's layout is not the rimager format.
    #[error("{path}: {object}: {problem}")]
    Layout {
        /// The file.
        path: PathBuf,
        /// The dataset or attribute.
        object: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// Lowest channel frequency accepted, Hz.
pub const MIN_FREQ_HZ: f64 = 1e3;
/// Highest channel frequency accepted, Hz.
pub const MAX_FREQ_HZ: f64 = 1e15;

/// HDF5 compound matching h5py's complex64 (`r`, `i` float32 fields).
#[derive(hdf5::H5Type, Clone, Copy, Debug, Default, PartialEq)]
#[repr(C)]
pub struct H5Complex32 {
    /// Real part.
    pub r: f32,
    /// Imaginary part.
    pub i: f32,
}

/// An open visibility file.
pub struct VisReader {
    path: PathBuf,
    file: hdf5::File,
    meta: VisMeta,
    has_flag: bool,
    flag_is_bool: bool,
}

fn h5err(path: &Path, what: impl Into<String>) -> impl FnOnce(hdf5::Error) -> VisFileError {
    let path = path.to_path_buf();
    let what = what.into();
    move |cause| VisFileError::Hdf5 { path, what, cause }
}

fn layout(path: &Path, object: &str, problem: impl Into<String>) -> VisFileError {
    VisFileError::Layout {
        path: path.to_path_buf(),
        object: object.to_string(),
        problem: problem.into(),
    }
}

/// Reads a string attribute whatever string type h5py gave it.
fn read_string_attr(path: &Path, file: &hdf5::File, name: &str) -> Result<String, VisFileError> {
    let a = file
        .attr(name)
        .map_err(|_| layout(path, &format!("attribute {name}"), "is missing"))?;
    let d = a
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(h5err(path, format!("type of attribute {name}")))?;
    let read = |r: Result<String, hdf5::Error>| {
        r.map_err(h5err(path, format!("reading attribute {name}")))
    };
    match d {
        TypeDescriptor::VarLenUnicode => read(
            a.read_scalar::<VarLenUnicode>()
                .map(|s| s.as_str().to_string()),
        ),
        TypeDescriptor::VarLenAscii => read(
            a.read_scalar::<hdf5::types::VarLenAscii>()
                .map(|s| s.as_str().to_string()),
        ),
        TypeDescriptor::FixedAscii(_) | TypeDescriptor::FixedUnicode(_) => {
            // HDF5 converts between fixed string lengths; 256 bytes is ample for a name.
            let s = read(
                a.read_scalar::<hdf5::types::FixedAscii<256>>()
                    .map(|s| s.as_str().to_string()),
            )?;
            Ok(s.trim_end_matches('\0').trim_end().to_string())
        }
        other => Err(layout(
            path,
            &format!("attribute {name}"),
            format!("is {other}, expected a string"),
        )),
    }
}

fn read_f64_attr(path: &Path, file: &hdf5::File, name: &str) -> Result<f64, VisFileError> {
    let a = file
        .attr(name)
        .map_err(|_| layout(path, &format!("attribute {name}"), "is missing"))?;
    let v = a.read_scalar::<f64>().map_err(|e| {
        layout(
            path,
            &format!("attribute {name}"),
            format!("is not a float64 scalar ({e})"),
        )
    })?;
    if !v.is_finite() {
        return Err(layout(
            path,
            &format!("attribute {name}"),
            format!("= {v} is not finite"),
        ));
    }
    Ok(v)
}

impl VisReader {
    /// Opens and checks a visibility file: datasets present with consistent shapes and types.
    pub fn open(path: &Path) -> Result<Self, VisFileError> {
        if !path.exists() {
            return Err(VisFileError::Missing {
                path: path.to_path_buf(),
            });
        }
        if path.is_dir() {
            return Err(layout(
                path,
                "the path",
                "is a directory, not a visibility file",
            ));
        }
        let file = hdf5::File::open(path).map_err(h5err(path, "opening as HDF5"))?;
        let ds = |name: &str| {
            file.dataset(name)
                .map_err(|_| layout(path, &format!("dataset /{name}"), "is missing"))
        };
        let uvw = ds("uvw")?;
        let vis = ds("vis")?;
        let weight = ds("weight")?;
        let freq = ds("freq")?;
        let shape = uvw.shape();
        if shape.len() != 2 || shape[1] != 3 {
            return Err(layout(
                path,
                "dataset /uvw",
                format!("has shape {shape:?}, expected [nrow, 3]"),
            ));
        }
        let nrow = shape[0];
        let fshape = freq.shape();
        if fshape.len() != 1 || fshape[0] == 0 {
            return Err(layout(
                path,
                "dataset /freq",
                format!("has shape {fshape:?}, expected [nchan] with nchan ≥ 1"),
            ));
        }
        let nchan = fshape[0];
        // A corrupt header can claim any size: refuse sizes no real file has before anything
        // is allocated from them.
        if nchan > 1 << 24 || nrow.checked_mul(nchan).is_none_or(|n| n > 1 << 50) {
            return Err(layout(
                path,
                "dataset /freq",
                format!("{nrow} rows x {nchan} channels is beyond the supported size (at most 2^24 channels, 2^50 samples)"),
            ));
        }
        for (name, d) in [("vis", &vis), ("weight", &weight)] {
            if d.shape() != [nrow, nchan] {
                return Err(layout(
                    path,
                    &format!("dataset /{name}"),
                    format!(
                        "has shape {:?}, expected [nrow, nchan] = [{nrow}, {nchan}]",
                        d.shape()
                    ),
                ));
            }
        }
        let desc = |d: &hdf5::Dataset, name: &str| {
            d.dtype()
                .and_then(|t| t.to_descriptor())
                .map_err(h5err(path, format!("type of /{name}")))
        };
        match desc(&uvw, "uvw")? {
            TypeDescriptor::Float(_) => {}
            t => {
                return Err(layout(
                    path,
                    "dataset /uvw",
                    format!("has type {t}, expected float64"),
                ))
            }
        }
        match desc(&freq, "freq")? {
            TypeDescriptor::Float(_) => {}
            t => {
                return Err(layout(
                    path,
                    "dataset /freq",
                    format!("has type {t}, expected float64"),
                ))
            }
        }
        match desc(&weight, "weight")? {
            TypeDescriptor::Float(_) => {}
            t => {
                return Err(layout(
                    path,
                    "dataset /weight",
                    format!("has type {t}, expected float32"),
                ))
            }
        }
        match desc(&vis, "vis")? {
            TypeDescriptor::Compound(c)
                if c.fields.len() == 2 && c.fields[0].name == "r" && c.fields[1].name == "i" => {}
            t => {
                return Err(layout(
                    path,
                    "dataset /vis",
                    format!(
                    "has type {t}, expected complex64 (compound of float32 r, i, as h5py writes)"
                ),
                ))
            }
        }
        let (has_flag, flag_is_bool) = match file.dataset("flag") {
            Ok(f) => {
                if f.shape() != [nrow, nchan] {
                    return Err(layout(
                        path,
                        "dataset /flag",
                        format!("has shape {:?}, expected [{nrow}, {nchan}]", f.shape()),
                    ));
                }
                match desc(&f, "flag")? {
                    TypeDescriptor::Boolean => (true, true),
                    TypeDescriptor::Unsigned(_) | TypeDescriptor::Integer(_) => (true, false),
                    t => {
                        return Err(layout(
                            path,
                            "dataset /flag",
                            format!("has type {t}, expected uint8 or bool"),
                        ))
                    }
                }
            }
            Err(_) => (false, false),
        };
        let freq_hz: Vec<f64> = freq.read_raw().map_err(h5err(path, "reading /freq"))?;
        for (i, f) in freq_hz.iter().enumerate() {
            if !(f.is_finite() && (MIN_FREQ_HZ..=MAX_FREQ_HZ).contains(f)) {
                return Err(layout(
                    path,
                    "dataset /freq",
                    format!(
                        "channel {i} has frequency {f} Hz, outside [{MIN_FREQ_HZ:e}, {MAX_FREQ_HZ:e}] Hz"
                    ),
                ));
            }
        }
        let dec = read_f64_attr(path, &file, "phase_centre_dec_deg")?;
        if !(-90.0..=90.0).contains(&dec) {
            return Err(layout(
                path,
                "attribute phase_centre_dec_deg",
                format!("= {dec} is outside [-90, 90] degrees"),
            ));
        }
        let meta = VisMeta {
            telescope: read_string_attr(path, &file, "telescope")?,
            phase_centre_ra_deg: read_f64_attr(path, &file, "phase_centre_ra_deg")?,
            phase_centre_dec_deg: dec,
            freq_hz,
            nrow,
        };
        Ok(Self {
            path: path.to_path_buf(),
            file,
            meta,
            has_flag,
            flag_is_bool,
        })
    }

    /// The file's metadata.
    pub fn meta(&self) -> &VisMeta {
        &self.meta
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads rows `rows` (a hyperslab of every dataset).
    pub fn read_rows(&self, rows: Range<usize>) -> Result<VisChunk, VisFileError> {
        let p = &self.path;
        let sel = s![rows.start..rows.end, ..];
        let ds = |name: &str| {
            self.file
                .dataset(name)
                .map_err(h5err(p, format!("opening /{name}")))
        };
        let uvw: Array2<f64> = ds("uvw")?
            .read_slice_2d(sel)
            .map_err(h5err(p, format!("reading /uvw rows {rows:?}")))?;
        let vis: Array2<H5Complex32> = ds("vis")?
            .read_slice_2d(sel)
            .map_err(h5err(p, format!("reading /vis rows {rows:?}")))?;
        let weight: Array2<f32> = ds("weight")?
            .read_slice_2d(sel)
            .map_err(h5err(p, format!("reading /weight rows {rows:?}")))?;
        let flag: Vec<bool> = if !self.has_flag {
            Vec::new()
        } else if self.flag_is_bool {
            let f: Array2<bool> = ds("flag")?
                .read_slice_2d(sel)
                .map_err(h5err(p, format!("reading /flag rows {rows:?}")))?;
            f.into_iter().collect()
        } else {
            // Read as int64 whatever the stored integer type: HDF5's conversion to uint8 would
            // clamp a signed -1 to 0 (unflagged); non-zero means flagged.
            let f: Array2<i64> = ds("flag")?
                .read_slice_2d(sel)
                .map_err(h5err(p, format!("reading /flag rows {rows:?}")))?;
            f.into_iter().map(|x| x != 0).collect()
        };
        Ok(VisChunk {
            row0: rows.start,
            uvw_m: uvw.outer_iter().map(|r| [r[0], r[1], r[2]]).collect(),
            vis: vis.into_iter().map(|c| Complex32::new(c.r, c.i)).collect(),
            weight: weight.into_iter().collect(),
            flag,
        })
    }

    /// Reads only the uvw of rows `rows` (for the uv extent).
    pub fn read_uvw(&self, rows: Range<usize>) -> Result<Vec<[f64; 3]>, VisFileError> {
        let p = &self.path;
        let uvw: Array2<f64> = self
            .file
            .dataset("uvw")
            .map_err(h5err(p, "opening /uvw"))?
            .read_slice_2d(s![rows.start..rows.end, ..])
            .map_err(h5err(p, format!("reading /uvw rows {rows:?}")))?;
        Ok(uvw.outer_iter().map(|r| [r[0], r[1], r[2]]).collect())
    }
}

/// Writes a visibility file. Create it once (datasets sized for all rows), then write row
/// blocks with [`VisWriter::write_rows`], possibly from several processes in turn.
pub struct VisWriter {
    path: PathBuf,
    file: hdf5::File,
}

impl VisWriter {
    /// Creates `path` (truncating) with datasets for `meta.nrow` rows, chunked by rows.
    pub fn create(path: &Path, meta: &VisMeta, with_flag: bool) -> Result<Self, VisFileError> {
        let file = hdf5::File::create(path).map_err(h5err(path, "creating"))?;
        let (nrow, nchan) = (meta.nrow, meta.nchan());
        let chunk_rows = (1 << 20) / (8 * nchan).max(1);
        let chunk_rows = chunk_rows.clamp(1, nrow.max(1));
        let e = |what: &str| h5err(path, format!("creating {what}"));
        file.new_dataset::<f64>()
            .shape([nrow, 3])
            .chunk([chunk_rows, 3])
            .create("uvw")
            .map_err(e("/uvw"))?;
        file.new_dataset::<H5Complex32>()
            .shape([nrow, nchan])
            .chunk([chunk_rows, nchan])
            .create("vis")
            .map_err(e("/vis"))?;
        file.new_dataset::<f32>()
            .shape([nrow, nchan])
            .chunk([chunk_rows, nchan])
            .create("weight")
            .map_err(e("/weight"))?;
        if with_flag {
            file.new_dataset::<u8>()
                .shape([nrow, nchan])
                .chunk([chunk_rows, nchan])
                .create("flag")
                .map_err(e("/flag"))?;
        }
        let freq = file
            .new_dataset::<f64>()
            .shape([nchan])
            .create("freq")
            .map_err(e("/freq"))?;
        freq.write(&meta.freq_hz)
            .map_err(h5err(path, "writing /freq"))?;
        let tel: VarLenUnicode = meta
            .telescope
            .parse()
            .map_err(|_| layout(path, "attribute telescope", "contains a NUL character"))?;
        file.new_attr::<VarLenUnicode>()
            .create("telescope")
            .and_then(|a| a.write_scalar(&tel))
            .map_err(h5err(path, "writing attribute telescope"))?;
        for (name, v) in [
            ("phase_centre_ra_deg", meta.phase_centre_ra_deg),
            ("phase_centre_dec_deg", meta.phase_centre_dec_deg),
        ] {
            file.new_attr::<f64>()
                .create(name)
                .and_then(|a| a.write_scalar(&v))
                .map_err(h5err(path, format!("writing attribute {name}")))?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Opens an existing file for writing further row blocks.
    pub fn open_rw(path: &Path) -> Result<Self, VisFileError> {
        let file = hdf5::File::open_rw(path).map_err(h5err(path, "opening for writing"))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Writes `chunk` at rows `chunk.row0 ..`.
    pub fn write_rows(&self, chunk: &VisChunk) -> Result<(), VisFileError> {
        let p = &self.path;
        let n = chunk.nrow();
        if n == 0 {
            return Ok(());
        }
        let nchan = chunk.vis.len() / n;
        let r = chunk.row0..chunk.row0 + n;
        let ds = |name: &str| {
            self.file
                .dataset(name)
                .map_err(h5err(p, format!("opening /{name}")))
        };
        let uvw = Array2::from_shape_fn((n, 3), |(i, j)| chunk.uvw_m[i][j]);
        ds("uvw")?
            .write_slice(&uvw, s![r.clone(), ..])
            .map_err(h5err(p, "writing /uvw"))?;
        let vis = Array2::from_shape_fn((n, nchan), |(i, j)| {
            let c = chunk.vis[i * nchan + j];
            H5Complex32 { r: c.re, i: c.im }
        });
        ds("vis")?
            .write_slice(&vis, s![r.clone(), ..])
            .map_err(h5err(p, "writing /vis"))?;
        let w = Array2::from_shape_vec((n, nchan), chunk.weight.clone())
            .map_err(|e| layout(p, "dataset /weight", e.to_string()))?;
        ds("weight")?
            .write_slice(&w, s![r.clone(), ..])
            .map_err(h5err(p, "writing /weight"))?;
        if !chunk.flag.is_empty() {
            let f = Array2::from_shape_fn((n, nchan), |(i, j)| u8::from(chunk.flag[i * nchan + j]));
            ds("flag")?
                .write_slice(&f, s![r, ..])
                .map_err(h5err(p, "writing /flag"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(nrow: usize, nchan: usize, with_flag: bool) -> (VisMeta, VisChunk) {
        let meta = VisMeta {
            telescope: "TEST".into(),
            phase_centre_ra_deg: 12.5,
            phase_centre_dec_deg: -45.0,
            freq_hz: (0..nchan).map(|c| 1.4e9 - c as f64 * 1e6).collect(),
            nrow,
        };
        let chunk = VisChunk {
            row0: 0,
            uvw_m: (0..nrow)
                .map(|r| [r as f64 * 1.5, -(r as f64), 0.25 * r as f64])
                .collect(),
            vis: (0..nrow * nchan)
                .map(|i| Complex32::new(i as f32 * 0.5, -(i as f32)))
                .collect(),
            weight: (0..nrow * nchan).map(|i| 1.0 + (i % 7) as f32).collect(),
            flag: if with_flag {
                (0..nrow * nchan).map(|i| i % 3 == 0).collect()
            } else {
                vec![]
            },
        };
        (meta, chunk)
    }

    #[test]
    fn round_trip_in_two_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.h5");
        let (meta, chunk) = sample(50, 3, true);
        let w = VisWriter::create(&path, &meta, true).unwrap();
        let mut a = chunk.clone();
        let split = 20;
        a.uvw_m.truncate(split);
        a.vis.truncate(split * 3);
        a.weight.truncate(split * 3);
        a.flag.truncate(split * 3);
        w.write_rows(&a).unwrap();
        let b = VisChunk {
            row0: split,
            uvw_m: chunk.uvw_m[split..].to_vec(),
            vis: chunk.vis[split * 3..].to_vec(),
            weight: chunk.weight[split * 3..].to_vec(),
            flag: chunk.flag[split * 3..].to_vec(),
        };
        w.write_rows(&b).unwrap();
        drop(w);
        let r = VisReader::open(&path).unwrap();
        assert_eq!(r.meta(), &meta);
        let back = r.read_rows(0..50).unwrap();
        assert_eq!(back.uvw_m, chunk.uvw_m);
        assert_eq!(back.vis, chunk.vis);
        assert_eq!(back.weight, chunk.weight);
        assert_eq!(back.flag, chunk.flag);
        let part = r.read_rows(10..13).unwrap();
        assert_eq!(part.row0, 10);
        assert_eq!(part.vis[..], chunk.vis[30..39]);
    }

    #[test]
    fn missing_file_and_dataset_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = VisReader::open(&dir.path().join("nope.h5"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("nope.h5") && e.contains("does not exist"), "{e}");
        let path = dir.path().join("partial.h5");
        let f = hdf5::File::create(&path).unwrap();
        f.new_dataset::<f64>().shape([4, 3]).create("uvw").unwrap();
        drop(f);
        let e = VisReader::open(&path).err().unwrap().to_string();
        assert!(
            e.contains("partial.h5") && e.contains("/vis") && e.contains("missing"),
            "{e}"
        );
    }

    #[test]
    fn wrong_shape_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.h5");
        let f = hdf5::File::create(&path).unwrap();
        f.new_dataset::<f64>().shape([4, 2]).create("uvw").unwrap();
        for n in ["vis", "weight", "freq"] {
            f.new_dataset::<f64>().shape([4]).create(n).unwrap();
        }
        drop(f);
        let e = VisReader::open(&path).err().unwrap().to_string();
        assert!(e.contains("/uvw") && e.contains("[4, 2]"), "{e}");
    }
}
