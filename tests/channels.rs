//! Channels: multi-frequency synthesis against the direct Fourier transform (widely spread
//! channels, ascending and descending order), channel cubes (`image.channels_out`) end to end
//! (every plane against the DFT of its channels, N ranks = 1 rank, FITS cube axis), fully
//! flagged channel groups (blanked plane, MFS image intact), and the PNG quick looks.

mod common;

use std::path::Path;

use common::cli::*;
use common::data::{dft_image, random_chunk};
use common::image::image_chunks;
use rimager::constants::RAD_PER_ARCSEC;
use rimager::dft::relative_l2;
use rimager::grid::GridMode;
use rimager::imaging::ImageParams;
use rimager::output::fits::read_fits_cube;
use rimager::output::h5image::read_image_h5;
use rimager::vis::channels::{channel_groups, group_centre_hz, select_channels};
use rimager::vis::h5::VisReader;
use rimager::vis::VisChunk;

/// Widely spread channels (a factor 4 in frequency) in no particular order.
const FREQ_HZ: [f64; 4] = [0.5e9, 1.45e9, 0.9e9, 2.1e9];

fn params(eps: f64) -> ImageParams {
    ImageParams {
        nx: 64,
        ny: 48,
        cell_rad: 1e-5,
        epsilon: eps,
        tile: 32,
    }
}

/// The same data with the channel axis reversed (and the frequencies with it).
fn reversed(c: &VisChunk, nchan: usize) -> VisChunk {
    let mut r = c.clone();
    for row in 0..c.nrow() {
        for ch in 0..nchan {
            r.vis[row * nchan + ch] = c.vis[row * nchan + nchan - 1 - ch];
            r.weight[row * nchan + ch] = c.weight[row * nchan + nchan - 1 - ch];
        }
    }
    r
}

#[test]
fn mfs_grids_every_channel_at_its_own_wavelength() {
    let p = params(1e-6);
    let chunks = vec![
        random_chunk(1500, &FREQ_HZ, p.cell_rad, 21),
        random_chunk(900, &FREQ_HZ, p.cell_rad, 22),
    ];
    let want = dft_image(&chunks, &FREQ_HZ, p.nx, p.ny, p.cell_rad);
    let geom = p.grid_2d(9600).unwrap();
    let (img, counts) = image_chunks(true, geom, &chunks, &FREQ_HZ, GridMode::Dirty);
    assert_eq!(counts.used, 2400 * 4);
    let err = relative_l2(&img, &want);
    eprintln!("MFS over 0.5-2.1 GHz, float64, eps 1e-6: relative L2 error {err:e}");
    assert!(err <= 1e-6, "{err}");

    // Gridding every channel at one (the mean) wavelength instead would be far off: the test
    // can tell the difference.
    let mean = FREQ_HZ.iter().sum::<f64>() / 4.0;
    let wrong = dft_image(&chunks, &[mean; 4], p.nx, p.ny, p.cell_rad);
    assert!(relative_l2(&wrong, &want) > 0.1);

    let p4 = params(1e-4);
    let (img32, _) = image_chunks(
        false,
        p4.grid_2d(9600).unwrap(),
        &chunks,
        &FREQ_HZ,
        GridMode::Dirty,
    );
    let err = relative_l2(&img32, &want);
    eprintln!("MFS float32, eps 1e-4: relative L2 error {err:e}");
    assert!(err <= 1e-4, "{err}");
}

#[test]
fn descending_channel_order_gives_the_same_image() {
    let p = params(1e-6);
    // Ascending frequencies, then the same data with the channel axis reversed.
    let asc = [0.6e9, 0.95e9, 1.3e9, 1.9e9];
    let desc: Vec<f64> = asc.iter().rev().copied().collect();
    let chunks = vec![random_chunk(2000, &asc, p.cell_rad, 31)];
    let rchunks: Vec<VisChunk> = chunks.iter().map(|c| reversed(c, 4)).collect();
    let geom = p.grid_2d(8000).unwrap();
    let (a, _) = image_chunks(true, geom.clone(), &chunks, &asc, GridMode::Dirty);
    let (d, _) = image_chunks(true, geom.clone(), &rchunks, &desc, GridMode::Dirty);
    let diff = relative_l2(&d, &a);
    eprintln!("descending vs ascending: relative L2 difference {diff:e}");
    assert!(diff <= 1e-12, "{diff}");
    let want = dft_image(&chunks, &asc, p.nx, p.ny, p.cell_rad);
    assert!(relative_l2(&d, &want) <= 1e-6);
    // The PSF too.
    let (pa, _) = image_chunks(true, geom.clone(), &chunks, &asc, GridMode::Psf);
    let (pd, _) = image_chunks(true, geom, &rchunks, &desc, GridMode::Psf);
    assert!(relative_l2(&pd, &pa) <= 1e-12);
}

#[test]
fn a_channel_group_images_only_its_channels() {
    let p = params(1e-6);
    let chunks = vec![random_chunk(1200, &FREQ_HZ, p.cell_rad, 41)];
    for (k, chans) in channel_groups(4, 3).into_iter().enumerate() {
        let sub: Vec<VisChunk> = chunks
            .iter()
            .map(|c| select_channels(c, 4, chans.clone()))
            .collect();
        let f = &FREQ_HZ[chans.clone()];
        let (img, counts) = image_chunks(true, p.grid_2d(4800).unwrap(), &sub, f, GridMode::Dirty);
        assert_eq!(counts.used as usize, 1200 * chans.len());
        let want = dft_image(&sub, f, p.nx, p.ny, p.cell_rad);
        let err = relative_l2(&img, &want);
        eprintln!("group {k} (channels {chans:?}): relative L2 error {err:e}");
        assert!(err <= 1e-6, "group {k}: {err}");
        // And it differs from the MFS image (the other channels are not in it).
        let all = dft_image(&chunks, &FREQ_HZ, p.nx, p.ny, p.cell_rad);
        assert!(relative_l2(&img, &all) > 0.05);
    }
}

/// The `[ny][nx]` DFT image of channels `chans` of the whole visibility file `vis`.
fn dft_of_file(vis: &Path, chans: std::ops::Range<usize>, n: usize, cell_arcsec: f64) -> Vec<f32> {
    let r = VisReader::open(vis).unwrap();
    let meta = r.meta().clone();
    let all = r.read_rows(0..meta.nrow).unwrap();
    let sub = select_channels(&all, meta.nchan(), chans.clone());
    dft_image(
        &[sub],
        &meta.freq_hz[chans],
        n,
        n,
        cell_arcsec * RAD_PER_ARCSEC,
    )
    .iter()
    .map(|&v| v as f32)
    .collect()
}

/// Simulates 4 descending channels (1.4 GHz down to 1.34 GHz) with two sources and noise,
/// returns (config path, vis path).
fn simulate_descending(
    d: &Path,
    extra_image_keys: &str,
    out: &Path,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let vis = d.join("vis.h5");
    let text = image_section(&vis, 128, Some(4.0), 1e-4, out)
        + extra_image_keys
        + "\n"
        + &simulate_section(4, 0.02, &[(1.0, 60.0, 32.0), (0.4, -100.0, -44.0)], &vis)
            .replace("freq_step_hz = 20.0e6", "freq_step_hz = -20.0e6");
    let cfg = write_file(d, "c.toml", &text);
    rimager(&["simulate", "--config", s(&cfg)], &[]).assert_ok();
    (cfg, vis)
}

#[test]
fn cube_planes_match_the_dft_of_their_channels_on_any_number_of_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("c2");
    let (cfg, vis) = simulate_descending(d, "channels_out = 2\n", &out);
    let run = mpirun(2, &["image", "--config", s(&cfg)], &[]);
    run.assert_ok();
    let img = read_image_h5(&with_suffix(&out, ".h5")).unwrap();
    let cube = img.cube.as_ref().expect("no /cube in the image file");
    assert_eq!(cube.nplane(), 2);
    assert_eq!(cube.chan_first, vec![0, 2]);
    assert_eq!(cube.chan_count, vec![2, 2]);
    // File order is kept: descending frequencies give descending planes.
    let freqs = [1.4e9, 1.38e9, 1.36e9, 1.34e9];
    assert_eq!(
        cube.freq_hz,
        vec![group_centre_hz(&freqs[0..2]), group_centre_hz(&freqs[2..4])]
    );
    let npix = 128 * 128;
    for (k, chans) in [0..2usize, 2..4].into_iter().enumerate() {
        let want = dft_of_file(&vis, chans, 128, 4.0);
        let err = rel_l2(&cube.image[k * npix..(k + 1) * npix], &want);
        eprintln!("plane {k}: relative L2 error vs DFT {err:e}");
        assert!(err <= 1e-4, "plane {k}: {err}");
        assert!(cube.sum_weights[k] > 0.0);
        // PSF planes peak at 1 at the centre.
        let psf = &cube.psf.as_ref().unwrap()[k * npix..(k + 1) * npix];
        assert!((psf[64 * 128 + 64] - 1.0).abs() < 1e-4);
    }
    // The MFS image is still made, from all channels.
    let err = rel_l2(&img.image, &dft_of_file(&vis, 0..4, 128, 4.0));
    assert!(err <= 1e-4, "MFS: {err}");
    let sw: f64 = cube.sum_weights.iter().sum();
    assert!((sw - img.info.sum_weights).abs() <= 1e-9 * sw);

    // One rank gives the same cube.
    let out1 = d.join("c1");
    mpirun(
        1,
        &["image", "--config", s(&cfg), "--output", s(&out1)],
        &[],
    )
    .assert_ok();
    let one = read_image_h5(&with_suffix(&out1, ".h5")).unwrap();
    let diff = rel_l2(&cube.image, &one.cube.as_ref().unwrap().image);
    assert!(diff <= 1e-6, "2 ranks vs 1 rank: {diff}");

    // The FITS cube: 128 x 128 x 2 x 1, FREQ axis descending from the first plane.
    let fits = read_fits_cube(&with_suffix(&out, "-cube.fits")).unwrap();
    assert_eq!((fits.nx, fits.ny, fits.nz), (128, 128, 2));
    assert_eq!(fits.data, cube.image);
    let card = |k: &str| {
        fits.cards
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {k}"))
    };
    assert_eq!(card("CTYPE3"), "FREQ");
    assert_eq!(card("CRVAL3").parse::<f64>().unwrap(), cube.freq_hz[0]);
    let cdelt = card("CDELT3").parse::<f64>().unwrap();
    assert!((cdelt + 40e6).abs() < 1e-3, "CDELT3 {cdelt}");
    assert_eq!(card("FREQREG"), "T");
    assert!(with_suffix(&out, "-psf-cube.fits").is_file());

    // The PNG quick looks.
    for suffix in [".png", "-psf.png"] {
        let p = with_suffix(&out, suffix);
        let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&p).unwrap()));
        let info = dec.read_info().unwrap().info().clone();
        assert_eq!(
            (info.width, info.height),
            rimager::output::png::DEFAULT_SIZE,
            "{suffix}"
        );
    }
}

#[test]
fn fully_flagged_channels_blank_their_plane_and_leave_the_mfs_image() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("f");
    let (cfg, vis) = simulate_descending(d, "channels_out = 4\n", &out);
    // Flag channels 2 and 3 of every row.
    {
        let _guard = hdf5_write_guard();
        let f = hdf5::File::open_rw(&vis).unwrap();
        let nrow = f.dataset("uvw").unwrap().shape()[0];
        let mut flags = ndarray::Array2::<u8>::zeros((nrow, 4));
        flags.column_mut(2).fill(1);
        flags.column_mut(3).fill(1);
        f.new_dataset_builder()
            .with_data(&flags)
            .create("flag")
            .unwrap();
    }
    let run = mpirun(2, &["image", "--config", s(&cfg)], &[]);
    run.assert_ok();
    assert!(
        run.stderr.contains("cube plane 2") && run.stderr.contains("no usable samples"),
        "no warning about the flagged planes: {run}"
    );
    let img = read_image_h5(&with_suffix(&out, ".h5")).unwrap();
    let cube = img.cube.unwrap();
    let npix = 128 * 128;
    for k in 0..4 {
        let plane = &cube.image[k * npix..(k + 1) * npix];
        if k < 2 {
            assert!(plane.iter().all(|v| v.is_finite()), "plane {k} has NaN");
            let want = dft_of_file(&vis, k..k + 1, 128, 4.0);
            assert!(rel_l2(plane, &want) <= 1e-4);
        } else {
            assert!(plane.iter().all(|v| v.is_nan()), "plane {k} not blanked");
            assert_eq!(cube.sum_weights[k], 0.0);
            assert!(cube.psf.as_ref().unwrap()[k * npix..(k + 1) * npix]
                .iter()
                .all(|v| v.is_nan()));
        }
    }
    // The MFS image holds exactly the unflagged channels.
    assert!(rel_l2(&img.image, &dft_of_file(&vis, 0..2, 128, 4.0)) <= 1e-4);
    assert_eq!(img.info.vis_flagged, 2 * 868);
    // NaN planes survive into the FITS cube, and info says they are blanked.
    let fits = read_fits_cube(&with_suffix(&out, "-cube.fits")).unwrap();
    assert!(fits.data[3 * npix..].iter().all(|v| v.is_nan()));
    let info = rimager(&["info", s(&with_suffix(&out, ".h5"))], &[]);
    info.assert_ok();
    assert!(info.stdout.contains("plane 3 peak   blanked"), "{info}");
    assert!(info.stdout.contains("plane 1 rms"), "{info}");
}

#[test]
fn more_output_channels_than_channels_is_an_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (cfg, _) = simulate_descending(d, "channels_out = 5\n", &d.join("x"));
    let run = mpirun(1, &["image", "--config", s(&cfg)], &[]);
    run.assert_failed()
        .assert_stderr_has(&["image.channels_out", "= 5", "c.toml", "4 channel"]);
    assert!(!with_suffix(&d.join("x"), ".h5").exists());
}

/// The cube through the GPU backend (one pass per plane on the same device grid): every plane
/// against the DFT of its channels. Prints `SKIPPED: ...` and passes where no GPU is usable.
#[test]
fn gpu_cube_planes_match_the_dft_of_their_channels() {
    if let Err(e) = rimager::grid::gpu::probe() {
        eprintln!(
            "SKIPPED: channels::gpu_cube_planes_match_the_dft_of_their_channels: no usable CUDA GPU ({})",
            e.to_string().trim_start_matches("no usable CUDA GPU: ")
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("g");
    let (cfg, vis) = simulate_descending(d, "channels_out = 3\nbackend = \"gpu\"\n", &out);
    mpirun(1, &["image", "--config", s(&cfg)], &[]).assert_ok();
    let img = read_image_h5(&with_suffix(&out, ".h5")).unwrap();
    assert_eq!(img.info.backend, "gpu");
    let cube = img.cube.expect("no /cube");
    let npix = 128 * 128;
    for (k, chans) in channel_groups(4, 3).into_iter().enumerate() {
        let want = dft_of_file(&vis, chans, 128, 4.0);
        let err = rel_l2(&cube.image[k * npix..(k + 1) * npix], &want);
        eprintln!("GPU plane {k}: relative L2 error vs DFT {err:e}");
        assert!(err <= 1e-4, "GPU plane {k}: {err}");
    }
    assert!(rel_l2(&img.image, &dft_of_file(&vis, 0..4, 128, 4.0)) <= 1e-4);
}
