//! Tests of the simulator against independent computations.
use std::f64::consts::PI;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::layout::Layout;
use super::*;
use crate::config::{SkyComponent, SourceKind};
use crate::constants::{RAD_PER_ARCSEC, SPEED_OF_LIGHT_M_S};

fn layout_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/layouts")
        .join(name)
}

fn cfg(layout: &str) -> SimConfig {
    SimConfig {
        layout: layout_path(layout),
        dec_deg: -45.0,
        ha_start_h: -3.0,
        ha_end_h: 3.0,
        integration_s: 600.0,
        nchan: 4,
        ..SimConfig::default()
    }
}

fn point(flux_jy: f64, l_arcsec: f64, m_arcsec: f64) -> SkyComponent {
    SkyComponent {
        kind: SourceKind::Point,
        flux_jy,
        l_arcsec,
        m_arcsec,
        major_arcsec: 0.0,
        minor_arcsec: 0.0,
        pa_deg: 0.0,
    }
}

/// Baselines (j − i, i < j) in ENU from the layout file, in the documented row order.
fn enu_baselines(path: &Path) -> (f64, Vec<[f64; 3]>) {
    let l = Layout::from_file(path).unwrap();
    let mut out = Vec::new();
    for i in 0..l.antennas.len() {
        for j in i + 1..l.antennas.len() {
            let (a, b) = (l.antennas[i].enu_m, l.antennas[j].enu_m);
            out.push([b[0] - a[0], b[1] - a[1], b[2] - a[2]]);
        }
    }
    (l.latitude_deg, out)
}

fn norm(v: [f64; 3]) -> f64 {
    (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
}

#[test]
fn row_count_follows_documented_formula() {
    let c = SimConfig {
        layout: layout_path("small_test.csv"),
        ha_start_h: -2.0,
        ha_end_h: 2.0,
        integration_s: 60.0,
        ..SimConfig::default()
    };
    let sim = Simulator::new(&c).unwrap();
    assert_eq!(sim.nrow(), 241 * 28);
    let meta = sim.meta();
    assert_eq!(meta.telescope, "small-test");
    assert_eq!(meta.nrow, sim.nrow());
    assert_eq!(meta.freq_hz, vec![1.28e9, 1.281e9, 1.282e9, 1.283e9]);
    assert_eq!(meta.phase_centre_dec_deg, -30.0);
    // 0.1 h at 7 s: 360/7 = 51.4 → 52 times; a single instant gives one time.
    let c2 = SimConfig {
        ha_start_h: 0.0,
        ha_end_h: 0.1,
        integration_s: 7.0,
        ..c.clone()
    };
    assert_eq!(Simulator::new(&c2).unwrap().nrow(), 52 * 28);
    let c3 = SimConfig {
        ha_start_h: 1.0,
        ha_end_h: 1.0,
        ..c
    };
    assert_eq!(Simulator::new(&c3).unwrap().nrow(), 28);
}

#[test]
fn uvw_length_equals_baseline_length() {
    for file in ["small_test.csv", "vla_a.csv", "meerkat.csv"] {
        let c = cfg(file);
        let sim = Simulator::new(&c).unwrap();
        let (_, bl) = enu_baselines(&c.layout);
        let ch = sim.chunk(0..sim.nrow());
        assert_eq!(ch.nrow(), sim.nrow());
        for (row, uvw) in ch.uvw_m.iter().enumerate() {
            let expect = norm(bl[row % bl.len()]);
            let got = norm(*uvw);
            assert!(
                (got - expect).abs() <= 1e-9 * expect,
                "{file} row {row}: |uvw| {got} vs |b| {expect}"
            );
        }
    }
}

#[test]
fn at_the_pole_w_is_constant_and_uv_circles() {
    let mut c = cfg("meerkat.csv");
    c.dec_deg = 90.0;
    let sim = Simulator::new(&c).unwrap();
    let (lat_deg, bl) = enu_baselines(&c.layout);
    let lat = lat_deg.to_radians();
    let nb = bl.len();
    let ch = sim.chunk(0..sim.nrow());
    let ntime = sim.nrow() / nb;
    assert!(ntime > 10);
    for (b, &[e, n, u]) in bl.iter().enumerate() {
        // Z component (towards the pole) and |(X, Y)| of the baseline, computed here.
        let z = lat.cos() * n + lat.sin() * u;
        let x = -lat.sin() * n + lat.cos() * u;
        let r2 = x * x + e * e;
        for t in 0..ntime {
            let [uu, vv, ww] = ch.uvw_m[t * nb + b];
            assert!((ww - z).abs() <= 1e-9 * norm(bl[b]), "w {ww} vs Z {z}");
            assert!(
                (uu * uu + vv * vv - r2).abs() <= 1e-9 * r2.max(1.0),
                "u²+v² {} vs {r2}",
                uu * uu + vv * vv
            );
        }
    }
}

#[test]
fn uv_track_rotates_with_hour_angle() {
    // Independent check of the u, v formulas at H = 0 and H = 6 h for δ = 0: at H = 0 the
    // baseline's (Y, Z) appear as (u, v); at H = 6 h, u = X.
    let mut c = cfg("small_test.csv");
    c.dec_deg = 0.0;
    c.ha_start_h = 0.0;
    c.ha_end_h = 6.0;
    c.integration_s = 6.0 * 3600.0;
    let sim = Simulator::new(&c).unwrap();
    let (lat_deg, bl) = enu_baselines(&c.layout);
    let lat = lat_deg.to_radians();
    let ch = sim.chunk(0..sim.nrow());
    let nb = bl.len();
    for (b, &[e, n, u]) in bl.iter().enumerate() {
        let x = -lat.sin() * n + lat.cos() * u;
        let z = lat.cos() * n + lat.sin() * u;
        let [u0, v0, w0] = ch.uvw_m[b];
        assert!((u0 - e).abs() < 1e-9 && (v0 - z).abs() < 1e-9 && (w0 - x).abs() < 1e-9);
        let [u6, _, w6] = ch.uvw_m[nb + b];
        assert!((u6 - x).abs() < 1e-9 && (w6 + e).abs() < 1e-9);
    }
}

#[test]
fn point_source_at_phase_centre_is_one() {
    let mut c = cfg("meerkat.csv");
    c.sources = vec![point(1.0, 0.0, 0.0)];
    c.nchan = 40;
    let sim = Simulator::new(&c).unwrap();
    let ch = sim.chunk(0..sim.nrow());
    assert_eq!(ch.vis.len(), sim.nrow() * 40);
    assert!(ch.vis.iter().all(|v| *v == Complex32::new(1.0, 0.0)));
    assert!(ch.weight.iter().all(|&w| w == 1.0));
    assert!(ch.flag.is_empty());
}

#[test]
fn offset_point_source_has_flux_amplitude_and_expected_phase() {
    // Long baselines, a far-off source and many channels stress the phase recurrence.
    let mut c = cfg("vla_a.csv");
    let (l_as, m_as) = (1800.0, -2500.0);
    c.sources = vec![point(2.5, l_as, m_as)];
    c.nchan = 70;
    c.freq_start_hz = 1.0e9;
    c.freq_step_hz = 7.3e6;
    let sim = Simulator::new(&c).unwrap();
    let ch = sim.chunk(0..sim.nrow());
    let (l, m) = (l_as * RAD_PER_ARCSEC, m_as * RAD_PER_ARCSEC);
    let n = (1.0 - l * l - m * m).sqrt();
    for v in &ch.vis {
        assert!((v.norm() as f64 - 2.5).abs() < 1e-5, "|V| = {}", v.norm());
    }
    let nchan = sim.nchan();
    for row in [0, 1, 17, 350, sim.nrow() / 2, sim.nrow() - 1] {
        for chan in [0, 1, 15, 16, 17, 40, 69] {
            let f = c.freq_start_hz + chan as f64 * c.freq_step_hz;
            let [u, v, w] = ch.uvw_m[row].map(|x| x * f / SPEED_OF_LIGHT_M_S);
            let phase = 2.0 * PI * (u * l + v * m + w * (n - 1.0));
            let expect = Complex64::from_polar(2.5, phase);
            let got = ch.vis[row * nchan + chan];
            let err =
                ((got.re as f64 - expect.re).powi(2) + (got.im as f64 - expect.im).powi(2)).sqrt();
            assert!(err < 2e-6 * 2.5, "row {row} chan {chan}: {got} vs {expect}");
        }
    }
}

#[test]
fn sum_of_sources_is_linear() {
    let mut c = cfg("small_test.csv");
    let a = point(1.0, 100.0, 50.0);
    let b = SkyComponent {
        kind: SourceKind::Gaussian,
        flux_jy: 0.5,
        l_arcsec: -300.0,
        m_arcsec: 20.0,
        major_arcsec: 40.0,
        minor_arcsec: 10.0,
        pa_deg: 70.0,
    };
    c.sources = vec![a.clone()];
    let va = Simulator::new(&c).unwrap().chunk(0..50).vis;
    c.sources = vec![b.clone()];
    let vb = Simulator::new(&c).unwrap().chunk(0..50).vis;
    c.sources = vec![a, b];
    let vab = Simulator::new(&c).unwrap().chunk(0..50).vis;
    for ((x, y), z) in va.iter().zip(&vb).zip(&vab) {
        assert!((x + y - z).norm() < 1e-6);
    }
}

/// Writes a layout at latitude 90° (where (u, v, w) = (E, N, U) at δ = 90°, H = 0).
fn polar_layout(rows: &[(f64, f64)]) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    writeln!(f, "# telescope: polar\n# latitude_deg: 90").unwrap();
    for (k, (e, n)) in rows.iter().enumerate() {
        writeln!(f, "a{k},{e},{n},0").unwrap();
    }
    f.flush().unwrap();
    f
}

#[test]
fn gaussian_is_resolved_faster_along_its_sky_major_axis() {
    // Antenna 0 at the origin, then antennas along east and along north at equal distances.
    let dists = [0.0, 200.0, 400.0, 800.0, 1600.0];
    let mut rows = vec![(0.0, 0.0)];
    for &d in &dists[1..] {
        rows.push((d, 0.0));
    }
    for &d in &dists[1..] {
        rows.push((0.0, d));
    }
    rows.push((0.0, 0.0)); // a zero-spacing "baseline" with antenna 0
    let file = polar_layout(&rows);
    let (maj_as, min_as) = (30.0, 10.0);
    let c = SimConfig {
        layout: file.path().to_path_buf(),
        dec_deg: 90.0,
        ha_start_h: 0.0,
        ha_end_h: 0.0,
        nchan: 1,
        freq_start_hz: 1.4e9,
        sources: vec![SkyComponent {
            kind: SourceKind::Gaussian,
            flux_jy: 3.0,
            l_arcsec: 0.0,
            m_arcsec: 0.0,
            major_arcsec: maj_as,
            minor_arcsec: min_as,
            pa_deg: 0.0, // major axis north-south
        }],
        ..SimConfig::default()
    };
    let sim = Simulator::new(&c).unwrap();
    let ch = sim.chunk(0..sim.nrow());
    let nant = rows.len();
    // Rows of antenna 0 come first: baseline (0, k) is row k − 1.
    let amp = |k: usize| ch.vis[k - 1].re as f64;
    let uvw = |k: usize| ch.uvw_m[k - 1];
    assert_eq!(uvw(nant - 1), [0.0, 0.0, 0.0]);
    assert!(
        (amp(nant - 1) - 3.0).abs() < 1e-6,
        "zero spacing {}",
        amp(nant - 1)
    );
    let lambda = SPEED_OF_LIGHT_M_S / 1.4e9;
    let sigma = |fwhm_as: f64| fwhm_as * RAD_PER_ARCSEC / (2.0 * (2.0 * 2f64.ln()).sqrt());
    let mut prev = (3.0, 3.0);
    for k in 1..dists.len() {
        let (east, north) = (k, k + dists.len() - 1);
        assert!((uvw(east)[0] - dists[k]).abs() < 1e-9 && uvw(east)[1].abs() < 1e-9);
        assert!((uvw(north)[1] - dists[k]).abs() < 1e-9 && uvw(north)[0].abs() < 1e-9);
        let (a_e, a_n) = (amp(east), amp(north));
        // East-west baselines probe the narrow (minor, 10") sky axis: resolved slowly.
        // North-south baselines probe the wide (major, 30") sky axis: resolved faster.
        assert!(
            a_n < a_e,
            "d = {}: north {a_n} should be below east {a_e}",
            dists[k]
        );
        assert!(
            a_e < prev.0 && a_n < prev.1,
            "amplitudes must fall with baseline length"
        );
        let q = dists[k] / lambda;
        let expect_e = 3.0 * (-2.0 * PI * PI * sigma(min_as).powi(2) * q * q).exp();
        let expect_n = 3.0 * (-2.0 * PI * PI * sigma(maj_as).powi(2) * q * q).exp();
        assert!((a_e - expect_e).abs() < 1e-6 && (a_n - expect_n).abs() < 1e-6);
        prev = (a_e, a_n);
    }
    // The visibilities of a centred Gaussian are real and positive.
    assert!(ch.vis.iter().all(|v| v.im.abs() < 1e-7 && v.re > 0.0));
}

#[test]
fn chunking_is_deterministic_with_noise() {
    let mut c = cfg("small_test.csv");
    c.noise_jy = 0.3;
    c.seed = 7;
    c.nchan = 5;
    c.sources = vec![point(1.0, 40.0, -20.0)];
    let sim = Simulator::new(&c).unwrap();
    let n = sim.nrow();
    let whole = sim.chunk(0..n);
    for k in [0, 1, 13, n / 2, n - 1, n] {
        let (a, b) = (sim.chunk(0..k), sim.chunk(k..n));
        assert_eq!(b.row0, k);
        let vis: Vec<_> = a.vis.iter().chain(&b.vis).copied().collect();
        let uvw: Vec<_> = a.uvw_m.iter().chain(&b.uvw_m).copied().collect();
        assert_eq!(vis, whole.vis, "split at {k}");
        assert_eq!(uvw, whole.uvw_m);
    }
    // Three-way split too, as on three ranks.
    let parts: Vec<_> = (0..3)
        .map(|r| sim.chunk(crate::vis::split_range(n, 3, r)))
        .collect();
    let vis: Vec<_> = parts.iter().flat_map(|p| p.vis.iter().copied()).collect();
    assert_eq!(vis, whole.vis);

    // The noise is really there, with the requested standard deviation, and changes with
    // the seed.
    c.noise_jy = 0.0;
    let clean = Simulator::new(&c).unwrap().chunk(0..n);
    let resid: Vec<f64> = whole
        .vis
        .iter()
        .zip(&clean.vis)
        .flat_map(|(a, b)| [(a.re - b.re) as f64, (a.im - b.im) as f64])
        .collect();
    let rms = (resid.iter().map(|x| x * x).sum::<f64>() / resid.len() as f64).sqrt();
    assert!(
        (rms - 0.3).abs() < 0.3 * 0.1,
        "noise rms {rms} for {} samples",
        resid.len()
    );
    // Rows get independent noise (not one stream reused for every row).
    let nchan = c.nchan;
    let max_diff = (0..2 * nchan)
        .map(|k| (resid[k] - resid[2 * nchan + k]).abs())
        .fold(0.0, f64::max);
    assert!(max_diff > 0.01, "rows 0 and 1 have the same noise");
    c.noise_jy = 0.3;
    c.seed = 8;
    let other = Simulator::new(&c).unwrap().chunk(0..n);
    assert_ne!(other.vis, whole.vis);
}

#[test]
fn config_and_layout_errors_are_reported() {
    let mut c = cfg("small_test.csv");
    c.layout = PathBuf::from("does/not/exist.csv");
    let e = Simulator::new(&c).unwrap_err().to_string();
    assert!(e.contains("does/not/exist.csv"), "{e}");

    let mut f = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    writeln!(f, "# latitude_deg: 10\na,1,2,3\nb,4,5,x\n").unwrap();
    f.flush().unwrap();
    c.layout = f.path().to_path_buf();
    let e = Simulator::new(&c).unwrap_err().to_string();
    let name = f.path().display().to_string();
    assert!(
        e.contains(&name) && e.contains(":3") && e.contains("up_m") && e.contains('x'),
        "{e}"
    );

    let mut c = cfg("small_test.csv");
    c.nchan = 0;
    let e = Simulator::new(&c).unwrap_err().to_string();
    assert!(e.contains("simulate.nchan"), "{e}");
    let mut c = cfg("small_test.csv");
    c.sources = vec![point(1.0, 3.0e5, 0.0)];
    let e = Simulator::new(&c).unwrap_err().to_string();
    assert!(
        e.contains("sources[0].l_arcsec") && e.contains("300000"),
        "{e}"
    );
}

/// Throughput of `chunk()`; run with
/// `cargo test --release --lib simulate::tests::throughput -- --ignored --nocapture`.
#[test]
#[ignore = "timing report, not a correctness test"]
fn throughput() {
    for (label, nchan, sources) in [
        (
            "default (meerkat, 4 ch), 1 point",
            4,
            vec![point(1.0, 30.0, 40.0)],
        ),
        ("meerkat, 64 ch, 1 point", 64, vec![point(1.0, 30.0, 40.0)]),
        (
            "meerkat, 64 ch, 10 points",
            64,
            (0..10)
                .map(|k| point(1.0, 30.0 * k as f64, -20.0 * k as f64))
                .collect(),
        ),
    ] {
        let c = SimConfig {
            nchan,
            sources,
            noise_jy: 0.1,
            ..SimConfig::default()
        };
        let c = SimConfig {
            layout: layout_path("meerkat.csv"),
            ..c
        };
        let sim = Simulator::new(&c).unwrap();
        let _ = sim.chunk(0..sim.nrow().min(10_000));
        let t = std::time::Instant::now();
        let ch = sim.chunk(0..sim.nrow());
        let secs = t.elapsed().as_secs_f64();
        let nvis = ch.vis.len() as f64;
        println!(
            "{label}: {} rows × {nchan} ch = {nvis:.3e} vis in {secs:.3} s = {:.3e} vis/s ({} threads)",
            sim.nrow(),
            nvis / secs,
            rayon::current_num_threads()
        );
    }
}
