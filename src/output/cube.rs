//! Channel-cube outputs (`image.channels_out > 1`, made by the channel stage): the planes as
//! flat arrays for the HDF5 image file, and the FITS cube `<output>-cube.fits` (and
//! `<output>-psf-cube.fits`). The planes come in as plain data ([`PlaneData`]); converting an
//! imaging stage's result into it is the caller's business.
//!
//! FITS spectral axis (Greisen et al. 2006, A&A 446, 747, "WCS paper III"): `CTYPE3 = 'FREQ'`,
//! `CRPIX3 = 1`, `CRVAL3` = the first plane's centre frequency, `CDELT3` = the second minus the
//! first (negative when the channels descend in the file). When the plane frequencies are not
//! equally spaced (groups of unequal size, or irregular channels) a linear axis cannot describe
//! them: the axis is still written from the first two planes, `FREQREG = F` says it is only
//! approximate, and — always — every plane's exact centre frequency and sum of weights are in
//! the cards `FREQnnnn` (Hz) and `WSUMnnnn` (nnnn = 1-based plane number, for the first 9999
//! planes), as well as in the HDF5 image file.
use std::ops::Range;
use std::path::Path;

use super::error::OutputError;
use super::fits::header::{Card, CardScope, FitsValue, SkyWcs};
use super::fits::{write_fits_cube, FitsPlanes};

/// Relative tolerance on the plane spacing below which the planes count as equally spaced.
pub const SPACING_RTOL: f64 = 1e-6;

/// Most planes whose frequency and weight get their own FITS cards (4-digit keyword suffix).
pub const MAX_PLANE_CARDS: usize = 9999;

/// A cube's planes as flat arrays (float32 planes `[nplane][ny][nx]`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CubeArrays {
    /// Image width, pixels.
    pub nx: usize,
    /// Image height, pixels.
    pub ny: usize,
    /// Centre frequency of each plane, Hz.
    pub freq_hz: Vec<f64>,
    /// Sum of weights of each plane (0 for a blanked plane).
    pub sum_weights: Vec<f64>,
    /// Samples gridded into each plane.
    pub vis_used: Vec<u64>,
    /// First channel (file order, 0-based) of each plane.
    pub chan_first: Vec<u64>,
    /// Number of channels of each plane.
    pub chan_count: Vec<u64>,
    /// Dirty-image planes, Jy/beam; NaN in planes without data.
    pub image: Vec<f32>,
    /// PSF planes, if made.
    pub psf: Option<Vec<f32>>,
}

/// One plane of a cube as plain data: what [`CubeArrays::from_planes`] flattens.
#[derive(Clone, Debug)]
pub struct PlaneData<'a> {
    /// Channels (indices in file order) imaged into this plane.
    pub channels: Range<usize>,
    /// Centre frequency, Hz.
    pub freq_hz: f64,
    /// Sum of weights (0 for a blanked plane).
    pub sum_weights: f64,
    /// Samples gridded into the plane.
    pub vis_used: u64,
    /// `[ny][nx]` dirty image, Jy/beam (NaN where blanked).
    pub image: &'a [f64],
    /// `[ny][nx]` PSF, if made.
    pub psf: Option<&'a [f64]>,
}

impl CubeArrays {
    /// Flattens `planes` (each `nx × ny`) into float32 arrays; the cube has a PSF when the
    /// first plane has one.
    pub fn from_planes(planes: &[PlaneData<'_>], nx: usize, ny: usize) -> Self {
        let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let has_psf = planes.first().is_some_and(|p| p.psf.is_some());
        CubeArrays {
            nx,
            ny,
            freq_hz: planes.iter().map(|p| p.freq_hz).collect(),
            sum_weights: planes.iter().map(|p| p.sum_weights).collect(),
            vis_used: planes.iter().map(|p| p.vis_used).collect(),
            chan_first: planes.iter().map(|p| p.channels.start as u64).collect(),
            chan_count: planes.iter().map(|p| p.channels.len() as u64).collect(),
            image: planes.iter().flat_map(|p| f32s(p.image)).collect(),
            psf: has_psf.then(|| {
                planes
                    .iter()
                    .flat_map(|p| p.psf.map(f32s).unwrap_or_default())
                    .collect()
            }),
        }
    }

    /// Number of planes.
    pub fn nplane(&self) -> usize {
        self.freq_hz.len()
    }
}

/// The linear FREQ axis for plane frequencies `freq_hz`: `(CRVAL3, CDELT3, regular)`, from the
/// first two planes; `regular` when every spacing equals the first within [`SPACING_RTOL`].
/// A zero first spacing (duplicate frequencies) gives `CDELT3 = 1 Hz`, irregular.
pub fn freq_axis(freq_hz: &[f64]) -> (f64, f64, bool) {
    let f0 = freq_hz.first().copied().unwrap_or(0.0);
    let Some(&f1) = freq_hz.get(1) else {
        return (f0, 1.0, true);
    };
    let d = f1 - f0;
    if d == 0.0 {
        return (f0, 1.0, false);
    }
    let regular = freq_hz
        .windows(2)
        .all(|w| ((w[1] - w[0]) - d).abs() <= SPACING_RTOL * d.abs());
    (f0, d, regular)
}

/// Writes `data` (the cube's image or PSF planes) as the FITS cube `path`: the sky WCS of
/// `wcs` with the FREQ axis of [`freq_axis`], the [`CardScope::Shared`] cards of `extra`
/// (whole-band ones such as the MFS image's `WSUM` are left out: the cube has them per plane),
/// then `FREQREG` and the per-plane `FREQnnnn` / `WSUMnnnn` cards.
pub fn write_cube_fits(
    path: &Path,
    cube: &CubeArrays,
    data: &[f32],
    wcs: &SkyWcs,
    extra: &[Card],
) -> Result<(), OutputError> {
    let (crval, cdelt, regular) = freq_axis(&cube.freq_hz);
    let cube_wcs = SkyWcs {
        freq_hz: crval,
        bandwidth_hz: cdelt,
        ..*wcs
    };
    let mut cards: Vec<Card> = extra
        .iter()
        .filter(|c| c.scope == CardScope::Shared)
        .cloned()
        .collect();
    cards.push(Card::new("FREQREG", FitsValue::Bool(regular)));
    if !regular {
        cards.push(Card::comment(
            "Planes are not equally spaced in frequency: the FREQ axis",
        ));
        cards.push(Card::comment(
            "is linear from planes 1-2 only; FREQnnnn has each plane's.",
        ));
    }
    for (k, (&f, &w)) in cube
        .freq_hz
        .iter()
        .zip(&cube.sum_weights)
        .enumerate()
        .take(MAX_PLANE_CARDS)
    {
        cards.push(Card::new(format!("FREQ{:04}", k + 1), FitsValue::Float(f)));
        cards.push(Card::new(format!("WSUM{:04}", k + 1), FitsValue::Float(w)));
    }
    let planes = FitsPlanes {
        data,
        nx: cube.nx,
        ny: cube.ny,
        nz: cube.nplane(),
    };
    write_fits_cube(path, planes, &cube_wcs, "JY/BEAM", &cards)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freq_axis_signs_and_regularity() {
        assert!(freq_axis(&[1.0e9, 1.1e9, 1.2e9]).2);
        let (c, d, r) = freq_axis(&[1.3e9, 1.2e9, 1.1e9]);
        assert_eq!(c, 1.3e9);
        assert!((d + 1e8).abs() < 1e-3 && r);
        let (_, d, r) = freq_axis(&[1.0e9, 1.1e9, 1.3e9]);
        assert!((d - 1e8).abs() < 1e-3 && !r);
        assert_eq!(freq_axis(&[1.0e9, 1.0e9]), (1.0e9, 1.0, false));
    }

    #[test]
    fn from_planes_flattens_plain_planes() {
        let (a, b) = ([1.0, 2.0], [f64::NAN, 4.0]);
        let psf = [0.5, 0.25];
        let plane = |channels, freq_hz, image, psf| PlaneData {
            channels,
            freq_hz,
            sum_weights: freq_hz / 1e9,
            vis_used: 7,
            image,
            psf,
        };
        let planes = [
            plane(0..2, 1.4e9, &a[..], Some(&psf[..])),
            plane(2..5, 1.3e9, &b[..], Some(&psf[..])),
        ];
        let c = CubeArrays::from_planes(&planes, 2, 1);
        assert_eq!(c.nplane(), 2);
        assert_eq!((c.chan_first, c.chan_count), (vec![0, 2], vec![2, 3]));
        assert_eq!(c.vis_used, vec![7, 7]);
        assert_eq!(c.sum_weights, vec![1.4, 1.3]);
        assert_eq!(c.image[..2], [1.0, 2.0]);
        assert!(c.image[2].is_nan() && c.image[3] == 4.0);
        assert_eq!(c.psf.unwrap(), vec![0.5, 0.25, 0.5, 0.25]);
        let no_psf = [plane(0..1, 1.4e9, &a[..], None)];
        assert!(CubeArrays::from_planes(&no_psf, 2, 1).psf.is_none());
    }

    #[test]
    fn cube_fits_round_trip_with_plane_cards() {
        use crate::output::fits::read_fits_cube;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.fits");
        let (nx, ny) = (6, 4);
        let mut image: Vec<f32> = (0..3 * nx * ny).map(|i| (i as f32 * 0.7).sin()).collect();
        image[nx * ny..2 * nx * ny].fill(f32::NAN);
        let cube = CubeArrays {
            nx,
            ny,
            freq_hz: vec![1.4e9, 1.3e9, 1.25e9],
            sum_weights: vec![5.0, 0.0, 2.5],
            image: image.clone(),
            ..Default::default()
        };
        let wcs = SkyWcs {
            ra_deg: 10.0,
            dec_deg: 20.0,
            cell_deg: 1e-3,
            freq_hz: 1.3e9,
            bandwidth_hz: 2e8,
        };
        let extra = [Card::new("WSUM", FitsValue::Float(7.5)).whole_band()];
        write_cube_fits(&path, &cube, &image, &wcs, &extra).unwrap();
        let back = read_fits_cube(&path).unwrap();
        assert_eq!((back.nx, back.ny, back.nz), (nx, ny, 3));
        assert_eq!(
            back.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            image.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        let get = |k: &str| {
            back.cards
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("no {k}"))
        };
        assert_eq!(get("NAXIS3"), "3");
        assert_eq!(get("CRVAL3").parse::<f64>().unwrap(), 1.4e9);
        assert!((get("CDELT3").parse::<f64>().unwrap() + 1e8).abs() < 1e-3);
        assert_eq!(get("FREQREG"), "F");
        assert_eq!(get("FREQ0003").parse::<f64>().unwrap(), 1.25e9);
        assert_eq!(get("WSUM0002").parse::<f64>().unwrap(), 0.0);
        // The MFS image's WSUM is not carried into the cube.
        assert!(back.cards.iter().all(|(k, _)| k != "WSUM"));
        // The single-plane reader refuses a cube, naming the file.
        let e = crate::output::fits::read_fits_image(&path).unwrap_err();
        assert!(e.to_string().contains("c.fits"), "{e}");
    }
}
