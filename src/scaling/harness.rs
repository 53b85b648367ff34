//! Running a sweep: sizing the observation, launching `rimager image` per configuration,
//! collecting the metrics into the CSV and drawing the plots.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{csv, plots, Layout, Mode, ScalingError};
use crate::config::{Backend, Config, Source};
use crate::metrics::RunMetrics;
use crate::simulate::Simulator;

/// What to run.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// Template configuration (its `[simulate]` observation is resized per run).
    pub config: PathBuf,
    /// Strong or weak scaling.
    pub mode: Mode,
    /// Total visibilities (strong) or visibilities per rank (weak).
    pub vis: u64,
    /// Ranks × threads layouts.
    pub layouts: Vec<Layout>,
    /// Backends (`cpu`, `gpu`).
    pub backends: Vec<Backend>,
    /// Image size (`image.nx = image.ny`), if not the template's.
    pub npix: Option<usize>,
    /// Runs per configuration.
    pub repeat: usize,
    /// Output directory (CSV, plots, and `runs/` with per-run configs, metrics and logs).
    pub out: PathBuf,
    /// Launcher template, split on whitespace; `{ranks}` and `{threads}` are replaced.
    pub launcher: String,
    /// The rimager binary the launcher starts.
    pub rimager: PathBuf,
    /// Print the commands without running them.
    pub dry_run: bool,
    /// Image from an HDF5 file of each observation (written once per visibility count under
    /// `out/data/`) instead of simulating it in memory.
    pub from_file: bool,
}

/// The number of baselines × channels of the template, i.e. visibilities per dump.
fn vis_per_dump(cfg: &Config) -> Result<u64, ScalingError> {
    let mut one = cfg.simulate.clone();
    one.ha_end_h = one.ha_start_h;
    let sim = Simulator::new(&one).map_err(|source| ScalingError::Sim {
        path: cfg.origin.clone(),
        source: Box::new(source),
    })?;
    Ok((sim.nrow() * sim.nchan()) as u64)
}

/// The template with `input.source = "simulate"` and the dump interval `integration_s`
/// chosen so that the observation has the smallest number of dumps `ntime` over the same
/// hour-angle track with `ntime × nbaseline × nchan ≥ target` visibilities; returns it with
/// its exact visibility count. The uv coverage (track, channels) stays that of the template.
pub fn sized_config(template: &Config, target: u64) -> Result<(Config, u64), ScalingError> {
    let size_err = |reason: String| ScalingError::Size {
        path: template.origin.clone(),
        target,
        reason,
    };
    let per_dump = vis_per_dump(template)?;
    let ntime = target.div_ceil(per_dump).max(1);
    let mut cfg = template.clone();
    cfg.input.source = Source::Simulate;
    let s = &mut cfg.simulate;
    let span_s = (s.ha_end_h - s.ha_start_h) * 3600.0;
    if ntime == 1 {
        s.ha_end_h = s.ha_start_h;
    } else if span_s > 0.0 {
        s.integration_s = span_s / (ntime - 1) as f64;
    } else {
        return Err(size_err(
            "simulate.ha_end_h equals ha_start_h: the track has no span to fill with more dumps"
                .into(),
        ));
    }
    let sim = Simulator::new(&cfg.simulate).map_err(|source| ScalingError::Sim {
        path: template.origin.clone(),
        source: Box::new(source),
    })?;
    let got = (sim.nrow() * sim.nchan()) as u64;
    if got != ntime * per_dump {
        return Err(size_err(format!(
            "{ntime} dumps of {per_dump} visibilities wanted, the simulator made {got}"
        )));
    }
    Ok((cfg, got))
}

/// The launcher's words with `{ranks}` and `{threads}` filled in.
pub fn launcher_words(template: &str, l: Layout) -> Vec<String> {
    template
        .split_whitespace()
        .map(|w| {
            w.replace("{ranks}", &l.ranks.to_string())
                .replace("{threads}", &l.threads.to_string())
        })
        .collect()
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ScalingError + 'a {
    move |source| ScalingError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// The HDF5 file of the observation `cfg` (`nvis` visibilities) under `out/data/`, written by
/// `rimager simulate` if it is not there yet (not in a dry run). A file of the same name from an
/// earlier sweep is reused: the name holds the visibility count, and the template's other
/// settings are the caller's to keep fixed within one output directory.
fn observation_file(sweep: &Sweep, cfg: &Config, nvis: u64) -> Result<PathBuf, ScalingError> {
    let dir = sweep.out.join("data");
    let path = dir.join(format!("vis-{nvis}.h5"));
    if sweep.dry_run || path.is_file() {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir).map_err(io("cannot create directory", &dir))?;
    let mut sim = cfg.clone();
    sim.simulate.output = path.clone();
    let cfg_path = dir.join(format!("vis-{nvis}.toml"));
    let text = toml::to_string(&sim).map_err(|e| ScalingError::RunConfig {
        path: cfg_path.clone(),
        reason: e.to_string(),
    })?;
    crate::output::write_atomically(&cfg_path, |w| std::io::Write::write_all(w, text.as_bytes()))?;
    let log_path = dir.join(format!("vis-{nvis}.log"));
    let log = std::fs::File::create(&log_path).map_err(io("cannot create", &log_path))?;
    let log2 = log.try_clone().map_err(io("cannot reopen", &log_path))?;
    println!("writing {nvis} visibilities to {}", path.display());
    let status = Command::new(&sweep.rimager)
        .args(["simulate", "--config", &cfg_path.display().to_string()])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .status();
    if matches!(&status, Ok(s) if s.success()) && path.is_file() {
        return Ok(path);
    }
    Err(ScalingError::Simulate {
        path,
        log: log_path,
    })
}

/// Runs the sweep; returns the CSV path. Each finished run is added to the CSV at once, so an
/// interrupted sweep keeps what it measured. Failed runs are reported and skipped; the sweep
/// then ends with [`ScalingError::RunsFailed`] after writing the CSV and plots of the others.
pub fn run(sweep: &Sweep) -> Result<PathBuf, ScalingError> {
    let mut template = Config::from_file(&sweep.config)?;
    if let Some(n) = sweep.npix {
        template.image.nx = n;
        template.image.ny = n;
        template.validate()?;
    }
    let runs_dir = sweep.out.join("runs");
    std::fs::create_dir_all(&runs_dir).map_err(io("cannot create directory", &runs_dir))?;
    let csv_path = sweep.out.join(format!("scaling-{}.csv", sweep.mode.name()));
    let mut rows: Vec<csv::Row> = Vec::new();
    let (mut failed, mut total) = (0, 0);
    for backend in sweep.backends.iter().map(|b| b.name()) {
        for &l in &sweep.layouts {
            let target = match sweep.mode {
                Mode::Strong => sweep.vis,
                Mode::Weak => sweep.vis * l.ranks as u64,
            };
            let (mut cfg, nvis) = sized_config(&template, target)?;
            if sweep.from_file {
                let path = observation_file(sweep, &cfg, nvis)?;
                cfg.input.source = Source::File;
                cfg.input.path = path;
            }
            let source = if sweep.from_file { "-file" } else { "" };
            for rep in 1..=sweep.repeat {
                total += 1;
                let tag = format!(
                    "{}{source}-{backend}-{}x{}-r{rep}",
                    sweep.mode.name(),
                    l.ranks,
                    l.threads
                );
                let cfg_path = runs_dir.join(format!("{tag}.toml"));
                let text = toml::to_string(&cfg).map_err(|e| ScalingError::RunConfig {
                    path: cfg_path.clone(),
                    reason: e.to_string(),
                })?;
                crate::output::write_atomically(&cfg_path, |w| {
                    std::io::Write::write_all(w, text.as_bytes())
                })?;
                let metrics = runs_dir.join(format!("{tag}.json"));
                let prefix = runs_dir.join(&tag);
                let mut words = launcher_words(&sweep.launcher, l);
                words.push(sweep.rimager.display().to_string());
                for a in [
                    "image",
                    "--config",
                    &cfg_path.display().to_string(),
                    "--threads",
                    &l.threads.to_string(),
                    "--backend",
                    backend,
                    "--no-psf",
                    "--output",
                    &prefix.display().to_string(),
                    "--metrics",
                    &metrics.display().to_string(),
                ] {
                    words.push(a.to_string());
                }
                println!(
                    "[{tag}] {nvis} visibilities, {} rank(s) x {} thread(s), {backend}: {}",
                    l.ranks,
                    l.threads,
                    words.join(" ")
                );
                if sweep.dry_run {
                    continue;
                }
                let log_path = runs_dir.join(format!("{tag}.log"));
                let log =
                    std::fs::File::create(&log_path).map_err(io("cannot create", &log_path))?;
                let log2 = log.try_clone().map_err(io("cannot reopen", &log_path))?;
                let t0 = std::time::Instant::now();
                let status = Command::new(&words[0])
                    .args(&words[1..])
                    .env("RAYON_NUM_THREADS", l.threads.to_string())
                    // OpenMPI refuses root without these; they change nothing for other users.
                    .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
                    .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
                    .stdin(Stdio::null())
                    .stdout(log)
                    .stderr(log2)
                    .status();
                let ok = matches!(&status, Ok(s) if s.success()) && metrics.is_file();
                if !ok {
                    failed += 1;
                    let why = match status {
                        Ok(s) => format!("exit status {s}"),
                        Err(e) => format!("cannot start {}: {e}", words[0]),
                    };
                    println!("[{tag}] FAILED ({why}); log: {}", log_path.display());
                    continue;
                }
                for ext in [".h5", ".fits", "-psf.fits"] {
                    let mut p = prefix.clone().into_os_string();
                    p.push(ext);
                    let _ = std::fs::remove_file(PathBuf::from(p));
                }
                let text =
                    std::fs::read_to_string(&metrics).map_err(io("cannot read", &metrics))?;
                let m: RunMetrics =
                    serde_json::from_str(&text).map_err(|source| ScalingError::Metrics {
                        path: metrics.clone(),
                        source,
                    })?;
                println!(
                    "[{tag}] compute {:.3} s (imaging {:.3} s, run {:.1} s wall), comm {:.1} %, imbalance {:.2}",
                    csv::compute_wall_s(&m),
                    m.imaging_wall_s,
                    t0.elapsed().as_secs_f64(),
                    100.0 * m.comm_share,
                    m.load_imbalance
                );
                rows.extend(csv::rows_from_metrics(sweep.mode.name(), rep, &m));
                csv::write_csv(&csv_path, &rows)?;
            }
        }
    }
    if !sweep.dry_run && !rows.is_empty() {
        for p in plots::draw_all(&rows, &sweep.out)? {
            println!("wrote {}", p.display());
        }
        println!("wrote {}", csv_path.display());
    }
    if failed > 0 {
        return Err(ScalingError::RunsFailed {
            failed,
            total,
            dir: runs_dir,
        });
    }
    Ok(csv_path)
}

/// Draws the plots of one or more CSV files (rows of several sweeps together) into `out`.
pub fn plot_csvs(csvs: &[PathBuf], out: &Path) -> Result<Vec<PathBuf>, ScalingError> {
    let mut rows = Vec::new();
    for c in csvs {
        rows.extend(csv::read_csv(c)?);
    }
    std::fs::create_dir_all(out).map_err(io("cannot create directory", out))?;
    plots::draw_all(&rows, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Config {
        let text = "[simulate]\nlayout = \"data/layouts/small_test.csv\"\nnchan = 4\nha_start_h = -1.0\nha_end_h = 1.0\n";
        Config::from_toml_str(text, Path::new("t.toml")).unwrap()
    }

    #[test]
    fn sized_config_reaches_the_target_with_the_same_track() {
        let t = template();
        let per_dump = vis_per_dump(&t).unwrap();
        assert_eq!(per_dump, 28 * 4); // 8 antennas: 28 baselines x 4 channels
        for target in [1u64, 112, 113, 10_000, 1_000_003] {
            let (c, got) = sized_config(&t, target).unwrap();
            assert!(
                got >= target && got < target + per_dump,
                "{target} -> {got}"
            );
            assert_eq!(c.input.source, Source::Simulate);
            assert_eq!(c.simulate.nchan, 4);
            assert_eq!(c.simulate.ha_start_h, -1.0);
        }
    }

    #[test]
    fn launcher_placeholders() {
        let w = launcher_words(
            "srun --ntasks={ranks}  --cpus-per-task={threads}",
            Layout {
                ranks: 4,
                threads: 8,
            },
        );
        assert_eq!(w, vec!["srun", "--ntasks=4", "--cpus-per-task=8"]);
    }
}
