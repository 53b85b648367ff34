//! Agreement checks before collectives: every rank must image the same data (metadata: rows,
//! channels, frequencies, phase centre) with the same settings and the same plan, or the
//! reductions would combine unrelated grids (or, with different grids or passes, wait
//! forever). Each check gathers a fixed-length vector of named values on rank 0, which finds
//! the first rank and value that differ and broadcasts the verdict, so every rank returns the
//! same error naming the rank and the mismatch. With one rank nothing is exchanged.
use std::hash::{Hash, Hasher};

use super::error::{Disagreement, ImagingError};
use super::plan::ImagingPlan;
use crate::config::Config;
use crate::dist::Dist;
use crate::vis::VisMeta;

/// A named value every rank must share (exact comparison of the bits).
pub type Named = (String, f64);

/// A 52-bit hash of `x`'s text, exact as an f64 (for values that are not numbers).
fn hash_value(text: &str) -> f64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    (h.finish() >> 12) as f64
}

/// The data's metadata as named values.
pub fn data_fields(meta: &VisMeta) -> Vec<Named> {
    let (fmin, fmax) = meta.freq_range_hz();
    let freqs: Vec<String> = meta
        .freq_hz
        .iter()
        .map(|f| f.to_bits().to_string())
        .collect();
    vec![
        ("nrow (rows of the data)".into(), meta.nrow as f64),
        ("nchan (channels)".into(), meta.nchan() as f64),
        ("lowest frequency, Hz".into(), fmin),
        ("highest frequency, Hz".into(), fmax),
        (
            "channel frequencies (hash)".into(),
            hash_value(&freqs.join(",")),
        ),
        ("phase_centre_ra_deg".into(), meta.phase_centre_ra_deg),
        ("phase_centre_dec_deg".into(), meta.phase_centre_dec_deg),
    ]
}

/// The settings that decide the passes and the grids, as named values: every `[image]` key
/// but `output`, `threads`, `force_threads`, `backend` and `png`, and `input.source`, `input.chunk_rows`.
pub fn settings_fields(cfg: &Config) -> Vec<Named> {
    let mut out = Vec::new();
    let mut add = |section: &str, value: Result<toml::Value, toml::ser::Error>, skip: &[&str]| {
        if let Ok(toml::Value::Table(t)) = value {
            for (k, v) in t.iter().filter(|(k, _)| !skip.contains(&k.as_str())) {
                let x = match v {
                    toml::Value::Integer(i) => *i as f64,
                    toml::Value::Float(f) => *f,
                    other => hash_value(&other.to_string()),
                };
                out.push((format!("{section}.{k}"), x));
            }
        }
    };
    add(
        "image",
        toml::Value::try_from(&cfg.image),
        &["output", "threads", "force_threads", "backend", "png"],
    );
    add("input", toml::Value::try_from(&cfg.input), &["path"]);
    out
}

/// The resolved plan as named values (pixel size, grid, kernel, w-planes, products).
pub fn plan_fields(plan: &ImagingPlan) -> Vec<Named> {
    let g = &plan.geom;
    let w = plan.wplanes;
    vec![
        ("image nx".into(), plan.params.nx as f64),
        ("image ny".into(), plan.params.ny as f64),
        ("cell, rad".into(), plan.params.cell_rad),
        ("grid nu".into(), g.nu as f64),
        ("grid nv".into(), g.nv as f64),
        ("kernel width".into(), g.kernel.width as f64),
        ("kernel beta".into(), g.kernel.beta),
        ("oversampling".into(), g.kernel.oversampling),
        ("precision".into(), hash_value(plan.precision.as_str())),
        ("w-planes".into(), w.map_or(0.0, |p| p.nplanes as f64)),
        ("first w-plane".into(), w.map_or(0.0, |p| p.w0)),
        ("w-plane step".into(), w.map_or(0.0, |p| p.dw)),
        ("psf".into(), f64::from(u8::from(plan.psf))),
        ("channels_out".into(), plan.channels_out as f64),
        (
            "reduction".into(),
            match plan.reduction {
                super::reduce::Reduction::ToRoot => 0.0,
                super::reduce::Reduction::Slab => 1.0,
                super::reduce::Reduction::Route => 2.0,
            },
        ),
        (
            "reproducible".into(),
            f64::from(u8::from(plan.reproducible)),
        ),
    ]
}

/// Checks that every rank has the same `fields` (`what`: "data", "settings", "plan");
/// `here` names this rank's data in the error.
pub fn check(dist: &Dist, what: &str, here: &str, fields: &[Named]) -> Result<(), ImagingError> {
    if dist.size() == 1 {
        return Ok(());
    }
    // The length first: the gather needs equally long vectors on every rank.
    let n = fields.len() as f64;
    let (lo, hi) = (dist.all_min_f64(n), dist.all_max_f64(n));
    if lo != hi {
        return Err(ImagingError::Disagree(Box::new(Disagreement {
            what: what.into(),
            rank: None,
            field: "number of checked values".into(),
            root_value: String::new(),
            value: format!("{lo} to {hi}"),
            here: here.into(),
        })));
    }
    let values: Vec<f64> = fields.iter().map(|f| f.1).collect();
    // [rank, field index, rank 0's value, that rank's value], rank = -1 when all agree.
    let mut verdict = [-1.0, 0.0, 0.0, 0.0];
    if let Some(all) = dist.gather_f64(&values) {
        let k = values.len();
        'ranks: for r in 1..dist.size() {
            for i in 0..k {
                let (a, b) = (all[i], all[r * k + i]);
                if a.to_bits() != b.to_bits() {
                    verdict = [r as f64, i as f64, a, b];
                    break 'ranks;
                }
            }
        }
    }
    dist.broadcast_f64(&mut verdict);
    if verdict[0] < 0.0 {
        return Ok(());
    }
    let i = verdict[1] as usize;
    let name = fields.get(i).map_or("?", |f| f.0.as_str());
    Err(ImagingError::Disagree(Box::new(Disagreement {
        what: what.into(),
        rank: Some(verdict[0] as usize),
        field: name.into(),
        root_value: format!("{}", verdict[2]),
        value: format!("{}", verdict[3]),
        here: here.into(),
    })))
}
