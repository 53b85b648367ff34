//! Property tests of the two parsers of user input: the configuration (TOML text, any key
//! with any value, and arbitrary text) and the HDF5 visibility reader (a good file with bytes
//! overwritten or cut off). Neither may panic; every rejection is an error naming the file.
//! The case counts are bounded (a few seconds in all) so that the suite stays in CI.

mod common;

use std::path::Path;

use num_complex::Complex32;
use proptest::prelude::*;
use rimager::config::Config;
use rimager::vis::h5::VisWriter;
use rimager::vis::{VisChunk, VisMeta};

/// Integer, float, string and boolean keys of the configuration with values chosen to hit
/// the edges of their ranges.
fn key_value() -> impl Strategy<Value = (String, String)> {
    let keys = prop::sample::select(vec![
        ("image", "nx"),
        ("image", "ny"),
        ("image", "threads"),
        ("image", "tile_size"),
        ("image", "channels_out"),
        ("image", "epsilon"),
        ("image", "cell_arcsec"),
        ("image", "robust"),
        ("image", "taper_arcsec"),
        ("image", "precision"),
        ("image", "wstacking"),
        ("image", "weighting"),
        ("image", "psf"),
        ("input", "chunk_rows"),
        ("input", "source"),
        ("simulate", "nchan"),
        ("simulate", "integration_s"),
        ("simulate", "freq_start_hz"),
        ("verify", "threshold"),
        ("metrics", "gpu_sample_ms"),
    ]);
    let values = prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        (0i64..=70).prop_map(|e| format!("{}", 1i128 << e.min(62))),
        any::<f64>().prop_map(|v| format!("{v:?}")),
        prop::sample::select(vec![
            "nan",
            "inf",
            "-inf",
            "0",
            "-0.0",
            "1e308",
            "\"auto\"",
            "\"\"",
            "true",
            "false",
            "[]",
            "{}",
            "\"single\"",
            "\"x\"",
            "9223372036854775807",
            "-9223372036854775808",
        ])
        .prop_map(str::to_string),
    ];
    (keys, values).prop_map(|((s, k), v)| (format!("[{s}]\n"), format!("{k} = {v}\n")))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn config_values_are_accepted_in_range_or_rejected_by_name(kvs in prop::collection::vec(key_value(), 1..4)) {
        let mut text = String::new();
        for (section, line) in &kvs {
            text += section;
            text += line;
        }
        match Config::from_toml_str(&text, Path::new("p.toml")) {
            Ok(c) => {
                prop_assert!((8..=1 << 20).contains(&c.image.nx) && c.image.nx % 2 == 0);
                prop_assert!((8..=1 << 20).contains(&c.image.ny) && c.image.ny % 2 == 0);
                prop_assert!(c.image.threads <= 1 << 16);
                prop_assert!((1..=1 << 24).contains(&c.input.chunk_rows));
                prop_assert!(c.image.epsilon.is_finite());
            }
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.contains("p.toml"), "{}", msg);
                prop_assert!(!msg.contains('\n'), "{}", msg);
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics_the_config_parser(text in "(\\PC|\n|\\[|\\]|=|\"){0,200}") {
        if let Err(e) = Config::from_toml_str(&text, Path::new("p.toml")) {
            prop_assert!(e.to_string().contains("p.toml"));
        }
    }
}

/// A good visibility file's bytes (written once per test binary).
fn good_file_bytes() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.h5");
        let meta = VisMeta {
            telescope: "T".into(),
            phase_centre_ra_deg: 1.0,
            phase_centre_dec_deg: 2.0,
            freq_hz: vec![1e9, 1.1e9],
            nrow: 64,
        };
        let chunk = VisChunk {
            row0: 0,
            uvw_m: (0..64).map(|r| [r as f64, -(r as f64), 0.5]).collect(),
            vis: (0..128).map(|i| Complex32::new(i as f32, 1.0)).collect(),
            weight: vec![1.0; 128],
            flag: (0..128).map(|i| i % 5 == 0).collect(),
        };
        {
            let _g = common::cli::hdf5_write_guard();
            let w = VisWriter::create(&path, &meta, true).unwrap();
            w.write_rows(&chunk).unwrap();
        }
        std::fs::read(&path).unwrap()
    })
}

/// Whether `rimager info` on a corrupt file gave a clean outcome: read, or one error line
/// naming the file (or the fatal-signal line), never a panic.
fn clean_outcome(r: &common::cli::Run) -> Result<(), String> {
    if r.stderr.contains("panicked") {
        return Err(format!("panic: {r}"));
    }
    if r.ok() {
        return Ok(());
    }
    let line = r
        .stderr
        .lines()
        .find(|l| l.starts_with("rimager") && l.contains("error:"));
    match line {
        Some(l) if l.contains("c.h5") || l.contains("fatal signal") => Ok(()),
        _ => Err(format!("no error line naming the file: {r}")),
    }
}

static CRASHES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

proptest! {
    // Each case is one process (the HDF5 C library can crash on corrupt files; see below).
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    /// A corrupt file gives a clean error naming it, or is read; never a panic or a hang.
    /// The HDF5 C library itself can crash (SIGSEGV) on some corruptions (which is why this runs
    /// `rimager info` as a process rather than the reader in this one): rimager then prints one
    /// "fatal signal" error line and removes its temporary files; such cases are printed.
    #[test]
    fn corrupt_visibility_files_are_errors_not_panics(
        cut in prop::option::of(0usize..6000),
        writes in prop::collection::vec((0usize..6000, any::<u8>()), 0..24),
    ) {
        let mut bytes = good_file_bytes().to_vec();
        for (at, b) in writes {
            let n = bytes.len();
            bytes[at % n] = b;
        }
        if let Some(c) = cut {
            bytes.truncate(c.min(bytes.len()));
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.h5");
        std::fs::write(&path, &bytes).unwrap();
        let r = common::cli::rimager(&["info", common::cli::s(&path)], &[]);
        if r.stderr.contains("fatal signal") {
            let n = CRASHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            println!("HDF5 library crash on a corrupt file ({n} so far): {}", r.stderr.trim());
        }
        prop_assert!(clean_outcome(&r).is_ok(), "{}", clean_outcome(&r).unwrap_err());
    }
}
