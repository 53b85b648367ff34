//! A small FITS writer (primary HDU only) and a matching minimal reader ([`read`]); the
//! header cards are built in [`header`].
//!
//! Written against the FITS Standard 4.0 (IAU FITS Working Group, 2016) and, for the
//! celestial coordinates, Greisen & Calabretta 2002 (A&A 395, 1061, "WCS paper I") and
//! Calabretta & Greisen 2002 (A&A 395, 1077, "WCS paper II", the `SIN` projection). We avoid
//! `fitsio`/cfitsio so that the shipped binary stays statically linked.
//!
//! What is written (FITS 4.0 §3.3, §4):
//! * a header of 80-character ASCII "card images" (§4.1), padded with blanks to a multiple
//!   of 2880 bytes (§3.3.1, §4.4.1);
//! * the mandatory keywords `SIMPLE`, `BITPIX`, `NAXIS`, `NAXISn` first and in that order
//!   (§4.4.1.1), then the WCS and descriptive keywords, then caller-supplied cards, then `END`;
//! * the data array as big-endian IEEE-754 binary32 (`BITPIX = -32`, §5.3), first axis
//!   varying fastest (§5.1), padded with zero bytes to a multiple of 2880 (§3.3.2).
//!
//! The image is a 4-axis cube like WSClean's: `RA---SIN`, `DEC--SIN`, `FREQ`, `STOKES`, with
//! the last two of length 1 (the third is the number of planes of a cube).

pub mod header;
pub mod read;

pub use header::{Card, CardScope, FitsValue, SkyWcs, BLOCK, CARD};
pub use read::{read_fits_cube, read_fits_image, FitsCube, FitsImage};

use std::io::Write;
use std::path::Path;

use self::header::{build_header, now_iso_utc};
use crate::output::error::{FitsError, OutputError};
use crate::output::write_atomically;

/// The data of a FITS image or cube to write: `nz` planes of `ny` rows of `nx` float32
/// values, `[nz][ny][nx]`, in FITS storage order (row 0 the SOUTHERN-most row, column 0 the
/// EASTERN-most column: east left, north up as viewers display; phase centre at 0-based
/// pixel `(nx/2, ny/2)`). NaN values are FITS's undefined (blanked) pixels (FITS 4.0 §5.3).
#[derive(Clone, Copy, Debug)]
pub struct FitsPlanes<'a> {
    /// The values, plane after plane.
    pub data: &'a [f32],
    /// `NAXIS1`, pixels.
    pub nx: usize,
    /// `NAXIS2`, pixels.
    pub ny: usize,
    /// `NAXIS3`, planes (1 for a single image).
    pub nz: usize,
}

fn validate_image(p: &FitsPlanes<'_>, wcs: &SkyWcs) -> Result<(), FitsError> {
    let FitsPlanes { data, nx, ny, nz } = *p;
    if nx == 0 || ny == 0 || nz == 0 {
        return Err(FitsError::EmptyShape { nx, ny, nz });
    }
    match nx.checked_mul(ny).and_then(|n| n.checked_mul(nz)) {
        Some(n) if n == data.len() => {}
        _ => {
            return Err(FitsError::DataLength {
                len: data.len(),
                nx,
                ny,
                nz,
            })
        }
    }
    let finite = [
        ("ra_deg", wcs.ra_deg),
        ("dec_deg", wcs.dec_deg),
        ("cell_deg", wcs.cell_deg),
        ("freq_hz", wcs.freq_hz),
        ("bandwidth_hz", wcs.bandwidth_hz),
    ];
    if let Some(&(name, value)) = finite.iter().find(|(_, v)| !v.is_finite()) {
        return Err(FitsError::WcsNotFinite { name, value });
    }
    if !(-90.0..=90.0).contains(&wcs.dec_deg) {
        return Err(FitsError::Declination(wcs.dec_deg));
    }
    if wcs.cell_deg <= 0.0 || wcs.freq_hz <= 0.0 {
        return Err(FitsError::NonPositiveCellOrFrequency);
    }
    // A single plane's CDELT3 is its bandwidth; a cube's is the plane spacing, negative for
    // descending frequencies but never zero (the axis would be degenerate).
    if (nz == 1 && wcs.bandwidth_hz <= 0.0) || wcs.bandwidth_hz == 0.0 {
        return Err(FitsError::SpectralStep(wcs.bandwidth_hz));
    }
    Ok(())
}

/// Writes a single-plane image as a FITS primary HDU, atomically (see
/// [`crate::output::write_atomically`]).
///
/// `data` is row-major `[ny][nx]` float32 in FITS storage order (see [`FitsPlanes`]).
/// `bunit` is e.g. `"JY/BEAM"`. Every card of `extra` follows the standard ones, whatever its
/// [`CardScope`]; keys must be valid FITS keywords (§4.1.2.1) not already written by this
/// function, except `COMMENT`/`HISTORY` which may repeat.
pub fn write_fits_image(
    path: &Path,
    data: &[f32],
    nx: usize,
    ny: usize,
    wcs: &SkyWcs,
    bunit: &str,
    extra: &[Card],
) -> Result<(), OutputError> {
    let planes = FitsPlanes {
        data,
        nx,
        ny,
        nz: 1,
    };
    write_fits_cube(path, planes, wcs, bunit, extra)
}

/// Writes an `nx × ny × nz` cube (`nz` frequency planes) as a FITS primary HDU, atomically:
/// as [`write_fits_image`], with `NAXIS3 = nz`, the data plane after plane (`[nz][ny][nx]`),
/// and the spectral axis `FREQ` with `CRVAL3 = wcs.freq_hz` (plane 1, `CRPIX3 = 1`) and
/// `CDELT3 = wcs.bandwidth_hz` (the plane spacing; negative for descending frequencies;
/// Greisen et al. 2006, WCS paper III). Every card of `extra` is written.
pub fn write_fits_cube(
    path: &Path,
    planes: FitsPlanes<'_>,
    wcs: &SkyWcs,
    bunit: &str,
    extra: &[Card],
) -> Result<(), OutputError> {
    let invalid = |reason: FitsError| OutputError::FitsWrite {
        path: path.to_path_buf(),
        reason,
    };
    validate_image(&planes, wcs).map_err(invalid)?;
    let FitsPlanes { data, nx, ny, nz } = planes;
    let header = build_header(nx, ny, nz, wcs, bunit, extra, &now_iso_utc()).map_err(invalid)?;
    write_atomically(path, |w| {
        w.write_all(&header)?;
        // Big-endian IEEE-754 binary32, first axis (x) fastest (FITS 4.0 §5.1, §5.3).
        let mut buf = Vec::with_capacity(4 * 8192);
        for chunk in data.chunks(8192) {
            buf.clear();
            buf.extend(chunk.iter().flat_map(|v| v.to_be_bytes()));
            w.write_all(&buf)?;
        }
        // Pad the data unit with zero bytes to a whole number of records (§3.3.2).
        let data_bytes = 4 * data.len();
        let pad = data_bytes.div_ceil(BLOCK) * BLOCK - data_bytes;
        w.write_all(&vec![0u8; pad])?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn wcs() -> SkyWcs {
        SkyWcs {
            ra_deg: 150.0,
            dec_deg: -30.0,
            cell_deg: 1.0 / 3600.0,
            freq_hz: 1.4e9,
            bandwidth_hz: 1e6,
        }
    }

    fn random_image(nx: usize, ny: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..nx * ny)
            .map(|_| rng.random_range(-10.0f32..10.0))
            .collect()
    }

    #[test]
    fn round_trip_through_reader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("img.fits");
        for (nx, ny) in [(64, 48), (7, 5), (1, 1), (720, 1)] {
            let data = random_image(nx, ny, 12345 + nx as u64);
            let extra = vec![Card::new("BMAJ", FitsValue::Float(0.1 + 0.2))];
            write_fits_image(&path, &data, nx, ny, &wcs(), "JY/BEAM", &extra).unwrap();
            let len = std::fs::metadata(&path).unwrap().len() as usize;
            assert_eq!(len % BLOCK, 0);
            let (back, bx, by, cards) = read_fits_image(&path).unwrap();
            assert_eq!((bx, by), (nx, ny));
            assert_eq!(
                back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                data.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            let get = |k: &str| cards.iter().find(|(key, _)| key == k).unwrap().1.clone();
            assert_eq!(get("BUNIT"), "JY/BEAM");
            assert_eq!(get("CTYPE2"), "DEC--SIN");
            assert_eq!(get("CDELT1").parse::<f64>().unwrap(), -1.0 / 3600.0);
            assert_eq!(get("CRVAL3").parse::<f64>().unwrap(), 1.4e9);
            assert_eq!(get("BMAJ").parse::<f64>().unwrap(), 0.1 + 0.2);
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn bad_inputs_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.fits");
        let data = random_image(4, 4, 1);
        let w = wcs();
        let try_extra = |k: &str, v: FitsValue| {
            write_fits_image(&path, &data, 4, 4, &w, "JY/BEAM", &[Card::new(k, v)])
                .unwrap_err()
                .to_string()
        };
        for k in ["TOOLONGKEY", "bmaj", "BM AJ", "", "BMAJ="] {
            let e = try_extra(k, FitsValue::Int(1));
            assert!(e.contains("keyword") && e.contains("bad.fits"), "{e}");
        }
        assert!(try_extra("NAXIS1", FitsValue::Int(3)).contains("cannot be overridden"));
        assert!(try_extra("OBJECT", FitsValue::Str("café".into())).contains("ASCII"));
        assert!(try_extra("OBJECT", FitsValue::Str("x".repeat(69))).contains("at most 68"));
        assert!(try_extra("BMAJ", FitsValue::Float(f64::NAN)).contains("finite"));
        assert!(try_extra("HISTORY", FitsValue::Int(1)).contains("string"));
        let e = write_fits_image(&path, &data, 5, 4, &w, "JY/BEAM", &[]).unwrap_err();
        assert!(e.to_string().contains("16 values"), "{e}");
        let e = write_fits_image(&path, &data, 4, 4, &w, "Jy/beam\u{e9}", &[]).unwrap_err();
        assert!(e.to_string().contains("ASCII"), "{e}");
        let dup = [
            Card::new("BMAJ", FitsValue::Int(1)),
            Card::new("BMAJ", FitsValue::Int(2)),
        ];
        let e = write_fits_image(&path, &data, 4, 4, &w, "JY/BEAM", &dup).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
        // Nothing was written by any failed call.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        // A 68-character string (the maximum) is accepted.
        let ok = [Card::new("OBJECT", FitsValue::Str("y".repeat(68)))];
        write_fits_image(&path, &data, 4, 4, &w, "JY/BEAM", &ok).unwrap();
        let (_, _, _, cards) = read_fits_image(&path).unwrap();
        assert!(cards.contains(&("OBJECT".to_string(), "y".repeat(68))));
    }
}
