//! Interoperability: FITS images written by `rimager::output::fits` are read by astropy
//! (`astropy.io.fits` + `astropy.wcs.WCS`) with the expected data, orientation and WCS.
//! Skipped (or, with `RIMAGER_REQUIRE_PYTHON=1`, failed) when astropy/numpy are missing.

mod common;

use common::python::{python_with, run_python};
use rand::{Rng, SeedableRng};
use rimager::output::cube::{write_cube_fits, CubeArrays};
use rimager::output::fits::{write_fits_image, Card, FitsValue, SkyWcs};

const SCRIPT: &str = r#"
import json, math, sys, warnings
import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

path, raw, nx, ny, freq, cell = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
expected = np.fromfile(raw, dtype='<f4').reshape(ny, nx)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    with fits.open(path) as hdul:
        hdul.verify('exception')   # any FITS-standard violation astropy knows about is an error
        hdr = hdul[0].header
        data = hdul[0].data.copy()
        w = WCS(hdr)
res = {}
res['warnings'] = [f'{x.category.__name__}: {x.message}' for x in caught]
res['header'] = hdr.tostring(sep='\n')
res['shape'] = list(data.shape)
res['dtype'] = str(data.dtype)
res['data_equal'] = bool(np.array_equal(data[0, 0], expected))
px = lambda x, y: w.wcs_pix2world([[x, y, 0, 0]], 0)[0]
c = px(nx // 2, ny // 2)
res['centre'] = [float(c[0]), float(c[1])]
res['freq'] = float(c[2])
res['stokes'] = float(c[3])
dx = px(nx // 2 + 1, ny // 2)
dy = px(nx // 2, ny // 2 + 1)
res['dra_for_dx_deg'] = float(dx[0] - c[0])
res['ddec_for_dx_deg'] = float(dx[1] - c[1])
res['dra_for_dy_deg'] = float(dy[0] - c[0])
res['ddec_for_dy_deg'] = float(dy[1] - c[1])
# Independent SIN (orthographic) check of a corner pixel using the radio direction-cosine
# formulas: l = -CDELT1-scaled offset eastward, m northward (Calabretta & Greisen 2002, 5.1.5).
ra0, dec0 = math.radians(hdr['CRVAL1']), math.radians(hdr['CRVAL2'])
l = math.radians(hdr['CDELT1'] * (0 + 1 - hdr['CRPIX1']))
m = math.radians(hdr['CDELT2'] * (0 + 1 - hdr['CRPIX2']))
n = math.sqrt(1 - l * l - m * m)
dec = math.asin(m * math.cos(dec0) + n * math.sin(dec0))
ra = ra0 + math.atan2(l, n * math.cos(dec0) - m * math.sin(dec0))
corner = px(0, 0)
res['corner_err_deg'] = max(abs(math.degrees(ra) - corner[0]), abs(math.degrees(dec) - corner[1]))
res['bunit'] = hdr['BUNIT']
res['ctype'] = [hdr['CTYPE%d' % i] for i in range(1, 5)]
res['object'] = hdr['OBJECT']
res['history'] = [str(h) for h in hdr['HISTORY']]
print(json.dumps(res))
"#;

#[test]
fn astropy_reads_our_fits() {
    let Some(python) = python_with(
        &["numpy", "astropy"],
        "fits_astropy::astropy_reads_our_fits",
    ) else {
        return;
    };
    let (nx, ny) = (64usize, 48usize);
    let cell_deg = 1.0 / 3600.0;
    let wcs = SkyWcs {
        ra_deg: 150.0,
        dec_deg: -30.0,
        cell_deg,
        freq_hz: 1.4e9,
        bandwidth_hz: 2e6,
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20240229);
    let data: Vec<f32> = (0..nx * ny)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("img.fits");
    let raw = dir.path().join("expected.f32le");
    std::fs::write(
        &raw,
        data.iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let extra = [
        Card::new("OBJECT", FitsValue::Str("O'Brien field".into())),
        Card::new("BMAJ", FitsValue::Float(2.0 / 3600.0)),
        Card::new(
            "HISTORY",
            FitsValue::Str("rimager fits_astropy test".into()),
        ),
    ];
    write_fits_image(&path, &data, nx, ny, &wcs, "JY/BEAM", &extra).unwrap();

    let out = run_python(
        &python,
        SCRIPT,
        &[
            path.to_str().unwrap(),
            raw.to_str().unwrap(),
            &nx.to_string(),
            &ny.to_string(),
            &wcs.freq_hz.to_string(),
            &cell_deg.to_string(),
        ],
    );
    let mut r: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let header = r["header"].take();
    println!(
        "header as astropy sees it:\n{}",
        header.as_str().unwrap().trim_end()
    );
    println!("astropy says: {r}");
    assert_eq!(r["warnings"], serde_json::json!([]), "astropy warned");
    let f = |k: &str| r[k].as_f64().unwrap();

    assert_eq!(r["shape"], serde_json::json!([1, 1, ny, nx]));
    assert_eq!(r["data_equal"], true, "pixel values differ");
    let centre = &r["centre"];
    assert!(
        (centre[0].as_f64().unwrap() - 150.0).abs() < 1e-9,
        "{centre}"
    );
    assert!(
        (centre[1].as_f64().unwrap() + 30.0).abs() < 1e-9,
        "{centre}"
    );
    // +1 pixel in x: RA decreases (east is left), by one cell on the sky.
    let dra = f("dra_for_dx_deg");
    assert!(dra < 0.0, "RA must decrease with x, got {dra}");
    let on_sky = -dra * (30f64).to_radians().cos();
    assert!(
        (on_sky / cell_deg - 1.0).abs() < 1e-6,
        "x step is {on_sky} deg on the sky"
    );
    // Not exactly 0: the SIN projection curves lines of constant y on the sky; one arcsec off
    // the centre at Dec -30 that is ~4e-10 deg.
    assert!(f("ddec_for_dx_deg").abs() < 1e-8);
    // +1 pixel in y: Dec increases (north is up) by one cell.
    let ddec = f("ddec_for_dy_deg");
    assert!(ddec > 0.0, "Dec must increase with y, got {ddec}");
    assert!((ddec / cell_deg - 1.0).abs() < 1e-6);
    assert!(f("dra_for_dy_deg").abs() < 1e-9);
    assert!(f("corner_err_deg") < 1e-9, "SIN projection mismatch: {r}");
    assert_eq!(f("freq"), 1.4e9);
    assert_eq!(f("stokes"), 1.0);
    assert_eq!(r["bunit"], "JY/BEAM");
    assert_eq!(
        r["ctype"],
        serde_json::json!(["RA---SIN", "DEC--SIN", "FREQ", "STOKES"])
    );
    assert_eq!(r["object"], "O'Brien field");
    assert_eq!(
        r["history"],
        serde_json::json!(["rimager fits_astropy test"])
    );
}

const CUBE_SCRIPT: &str = r#"
import json, sys, warnings
import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

path, raw, nx, ny, nz = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
expected = np.fromfile(raw, dtype='<f4').reshape(nz, ny, nx)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    with fits.open(path) as hdul:
        hdul.verify('exception')
        hdr = hdul[0].header
        data = hdul[0].data.copy()
        w = WCS(hdr)
res = {'warnings': [f'{x.category.__name__}: {x.message}' for x in caught]}
res['shape'] = list(data.shape)
res['data_equal'] = bool(np.array_equal(data[0], expected, equal_nan=True))
res['nan_planes'] = [int(k) for k in range(nz) if np.isnan(data[0, k]).all()]
res['axis_freq'] = [float(w.wcs_pix2world([[nx // 2, ny // 2, k, 0]], 0)[0][2]) for k in range(nz)]
res['spectral_type'] = w.wcs.ctype[2]
res['plane_freq'] = [float(hdr['FREQ%04d' % (k + 1)]) for k in range(nz)]
res['freqreg'] = bool(hdr['FREQREG'])
c = w.wcs_pix2world([[nx // 2, ny // 2, 0, 0]], 0)[0]
res['centre'] = [float(c[0]), float(c[1])]
print(json.dumps(res))
"#;

/// A FITS cube with a descending FREQ axis and a blanked (NaN) plane reads back in astropy
/// with the right shape, data, NaNs and per-plane frequencies; an irregular one says so.
#[test]
fn astropy_reads_our_fits_cube() {
    let Some(python) = python_with(
        &["numpy", "astropy"],
        "fits_astropy::astropy_reads_our_fits_cube",
    ) else {
        return;
    };
    let (nx, ny) = (32usize, 24usize);
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(77);
    let wcs = SkyWcs {
        ra_deg: 150.0,
        dec_deg: -30.0,
        cell_deg: 2.0 / 3600.0,
        freq_hz: 1.37e9,
        bandwidth_hz: 6e7,
    };
    for (name, freq_hz, regular) in [
        ("desc.fits", vec![1.39e9, 1.37e9, 1.35e9], true),
        ("irregular.fits", vec![1.3e9, 1.35e9, 1.5e9], false),
    ] {
        let nz = freq_hz.len();
        let mut image: Vec<f32> = (0..nz * nx * ny)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect();
        image[nx * ny..2 * nx * ny].fill(f32::NAN);
        let cube = CubeArrays {
            nx,
            ny,
            sum_weights: vec![1.0, 0.0, 2.0],
            freq_hz: freq_hz.clone(),
            image: image.clone(),
            ..Default::default()
        };
        let path = dir.path().join(name);
        let raw = dir.path().join("expected.f32le");
        std::fs::write(
            &raw,
            image
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>(),
        )
        .unwrap();
        write_cube_fits(&path, &cube, &image, &wcs, &[]).unwrap();
        let out = run_python(
            &python,
            CUBE_SCRIPT,
            &[
                path.to_str().unwrap(),
                raw.to_str().unwrap(),
                &nx.to_string(),
                &ny.to_string(),
                &nz.to_string(),
            ],
        );
        let r: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        println!("{name}: astropy says {r}");
        assert_eq!(r["warnings"], serde_json::json!([]), "astropy warned");
        assert_eq!(r["shape"], serde_json::json!([1, nz, ny, nx]));
        assert_eq!(r["data_equal"], true);
        assert_eq!(r["nan_planes"], serde_json::json!([1]));
        assert_eq!(r["spectral_type"], "FREQ");
        assert_eq!(r["freqreg"], regular);
        let centre = &r["centre"];
        assert!(
            (centre[0].as_f64().unwrap() - 150.0).abs() < 1e-9,
            "{centre}"
        );
        let axis: Vec<f64> = r["axis_freq"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let plane: Vec<f64> = r["plane_freq"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(plane, freq_hz, "FREQnnnn cards");
        // The linear axis goes through the first two planes; for regular spacing through all.
        for k in 0..nz {
            let off = (axis[k] - freq_hz[k]).abs();
            if regular || k < 2 {
                assert!(
                    off < 1e-3,
                    "{name}: plane {k} axis {} vs {}",
                    axis[k],
                    freq_hz[k]
                );
            } else {
                assert!(
                    off > 1e6,
                    "{name}: irregular plane {k} unexpectedly on the axis"
                );
            }
        }
    }
}
