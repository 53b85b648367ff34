//! Command-line interface (clap): `simulate`, `image`, `verify`, `info`, `scaling`.
//!
//! Configuration keys given as flags are typed like the keys ([`overrides`]). `main` prints
//! the whole error chain (`error: … caused by: …`), prefixed by the rank when there are
//! several, and a failing rank ends the whole MPI job with `MPI_Abort`, so no rank is left
//! waiting in a collective. Malformed arguments are reported the same way
//! (`rimager: error: invalid value …`), before MPI starts.
mod overrides;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::config::{Backend, Config};
use crate::dist::Dist;
use crate::scaling::harness::Sweep;
use crate::scaling::{Layout, Mode};
use overrides::{ImageOverrides, VerifyOverrides};

/// rimager: MPI + rayon radio-interferometric imaging (ES-kernel gridding, 2-D FFT), verified
/// against the direct Fourier transform.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate an observation (`[simulate]`) and write it as a visibility file.
    Simulate {
        /// Configuration file (TOML, see configs/README.md).
        #[arg(long)]
        config: PathBuf,
        /// Output file (overrides simulate.output).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Make the dirty image and PSF (run under mpirun for several ranks).
    Image {
        /// Configuration file (TOML, see configs/README.md).
        #[arg(long)]
        config: PathBuf,
        #[command(flatten)]
        overrides: ImageOverrides,
        /// Write the run's metrics (per-stage times per rank, throughput, imbalance,
        /// communication share, memory, energy) as JSON here.
        #[arg(long, visible_alias = "metrics-json")]
        metrics: Option<PathBuf>,
        /// Write the effective configuration (the file's, with the overrides above) as TOML
        /// here, then make the image.
        #[arg(long)]
        save_config: Option<PathBuf>,
    },
    /// Compare an image with the exact direct Fourier transform of the same visibilities.
    Verify {
        /// Configuration file naming the visibilities (`[input]`, `[simulate]`) and `[verify]`.
        #[arg(long)]
        config: PathBuf,
        /// Image file written by `rimager image` (`.h5`).
        #[arg(long)]
        image: PathBuf,
        #[command(flatten)]
        overrides: ImageOverrides,
        #[command(flatten)]
        verify: VerifyOverrides,
    },
    /// Summarise a visibility file, an image file (.h5) or a FITS image.
    Info {
        /// The file.
        path: PathBuf,
    },
    /// Strong/weak scaling sweeps (CSV + PNG plots); see README "Scaling".
    Scaling {
        #[command(subcommand)]
        cmd: ScalingCmd,
    },
}

#[derive(Subcommand, Debug)]
enum ScalingCmd {
    /// Run a sweep over ranks x threads x backend of in-memory simulated observations.
    Run(ScalingRun),
    /// Draw the plots of existing scaling CSV files.
    Plot {
        /// CSV files written by `rimager scaling run`.
        #[arg(long, required = true)]
        csv: Vec<PathBuf>,
        /// Output directory for the PNGs.
        #[arg(long)]
        out: PathBuf,
    },
    /// Predict time and efficiency on 1 ... 4096 nodes from one node's measured rates and a
    /// network model (writes model.csv and model.png).
    Model(ScalingModel),
}

/// `rimager scaling model`: the flags of a [`crate::scaling::model_run::ModelSpec`].
#[derive(clap::Args, Debug)]
struct ScalingModel {
    /// Strong-scaling CSV of the slab mode on one node (1xT, 1x1, 2x1 and other Rx1 runs).
    #[arg(long)]
    csv: PathBuf,
    /// The sweep's template configuration (image size, epsilon, precision).
    #[arg(long)]
    config: PathBuf,
    /// Visibilities of the strong-scaling prediction.
    #[arg(long, default_value = "1e8", value_parser = crate::scaling::parse_vis)]
    vis: u64,
    /// Visibilities per node of the weak-scaling prediction.
    #[arg(long, default_value = "1.6e8", value_parser = crate::scaling::parse_vis)]
    vis_per_node: u64,
    /// Threads of the one-rank run whose rates a node has (one rank per node).
    #[arg(long, default_value_t = 16)]
    threads: usize,
    /// Largest node count.
    #[arg(long, default_value_t = 4096)]
    max_nodes: usize,
    /// Network bandwidth per node, GB/s (25: HDR InfiniBand, 200 Gb/s).
    #[arg(long, default_value_t = 25.0)]
    bw_gbs: f64,
    /// Latency per message, microseconds (1: MPI ping-pong on HDR InfiniBand).
    #[arg(long, default_value_t = 1.0)]
    latency_us: f64,
    /// Memory bandwidth of a rank, GB/s (100: a two-socket DDR5 node).
    #[arg(long, default_value_t = 100.0)]
    mem_bw_gbs: f64,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
}

// The comma-separated lists are parsed whole (items trimmed, empty items skipped), so clap
// must see each as one value: through these aliases, not as `Vec<T>` (which clap would
// split itself with `value_delimiter`, passing empty items on).
type Layouts = Vec<Layout>;
type Backends = Vec<Backend>;

/// `rimager scaling run`: the flags of a [`Sweep`].
#[derive(clap::Args, Debug)]
struct ScalingRun {
    /// Template configuration; its `[simulate]` observation is resized per run.
    #[arg(long)]
    config: PathBuf,
    /// strong: fixed total visibilities; weak: fixed visibilities per rank.
    #[arg(long, value_enum)]
    mode: Mode,
    /// Total visibilities (strong) or visibilities per rank (weak), e.g. 1e8.
    #[arg(long, value_parser = crate::scaling::parse_vis)]
    vis: u64,
    /// Layouts RANKSxTHREADS, comma-separated, e.g. 1x16,2x8,4x4.
    #[arg(long, value_parser = crate::scaling::parse_layouts)]
    layouts: Layouts,
    /// Backends, comma-separated: cpu, gpu.
    #[arg(long, default_value = "cpu", value_parser = parse_backends)]
    backends: Backends,
    /// Image size in pixels (sets image.nx and image.ny of the template).
    #[arg(long)]
    npix: Option<usize>,
    /// Runs per configuration (the plots use the fastest).
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Output directory (CSV, plots, runs/ with per-run configs, metrics and logs).
    #[arg(long)]
    out: PathBuf,
    /// Launcher template; {ranks} and {threads} are replaced, e.g.
    /// "srun --nodes={ranks} --ntasks={ranks} --ntasks-per-node=1 --cpus-per-task={threads}".
    #[arg(long, default_value = "mpirun -n {ranks} --bind-to none")]
    launcher: String,
    /// rimager binary to launch (default: this one).
    #[arg(long)]
    rimager: Option<PathBuf>,
    /// Print the commands only.
    #[arg(long)]
    dry_run: bool,
    /// Write each run's observation to an HDF5 file under OUT/data/ first (`rimager simulate`,
    /// once per visibility count) and image from the file, so the times include reading.
    #[arg(long)]
    from_file: bool,
}

/// `--backends`: `cpu`, `gpu` or both, comma-separated.
fn parse_backends(s: &str) -> Result<Backends, String> {
    crate::scaling::parse_list(s, "backends", |item| {
        [Backend::Cpu, Backend::Gpu]
            .into_iter()
            .find(|b| b.name() == item)
            .ok_or_else(|| format!("{item:?}: expected cpu, gpu or cpu,gpu"))
    })
}

impl TryFrom<ScalingRun> for Sweep {
    type Error = anyhow::Error;

    fn try_from(a: ScalingRun) -> anyhow::Result<Sweep> {
        if a.repeat == 0 {
            anyhow::bail!("--repeat 0: must be at least 1");
        }
        let rimager = match a.rimager {
            Some(r) => r,
            None => std::env::current_exe()
                .map_err(|e| anyhow::anyhow!("cannot find this executable: {e}"))?,
        };
        Ok(Sweep {
            config: a.config,
            mode: a.mode,
            vis: a.vis,
            layouts: a.layouts,
            backends: a.backends,
            npix: a.npix,
            repeat: a.repeat,
            out: a.out,
            launcher: a.launcher,
            rimager,
            dry_run: a.dry_run,
            from_file: a.from_file,
        })
    }
}

fn run_scaling(cmd: ScalingCmd) -> anyhow::Result<()> {
    match cmd {
        ScalingCmd::Run(args) => {
            crate::scaling::harness::run(&Sweep::try_from(args)?)?;
        }
        ScalingCmd::Plot { csv, out } => {
            for p in crate::scaling::harness::plot_csvs(&csv, &out)? {
                println!("wrote {}", p.display());
            }
        }
        ScalingCmd::Model(m) => {
            for (name, v) in [
                ("--bw-gbs", m.bw_gbs),
                ("--latency-us", m.latency_us),
                ("--mem-bw-gbs", m.mem_bw_gbs),
            ] {
                if !(v.is_finite() && v > 0.0) {
                    anyhow::bail!("{name} {v}: must be a positive number");
                }
            }
            let spec = crate::scaling::model_run::ModelSpec {
                csv: m.csv,
                config: m.config,
                vis: m.vis as f64,
                vis_per_node: m.vis_per_node as f64,
                threads: m.threads.max(1),
                max_nodes: m.max_nodes.max(1),
                net: crate::scaling::model::Network {
                    bw_bytes_s: m.bw_gbs * 1e9,
                    latency_s: m.latency_us * 1e-6,
                    mem_bytes_s: m.mem_bw_gbs * 1e9,
                },
                out: m.out,
            };
            for p in crate::scaling::model_run::run(&spec)? {
                println!("wrote {}", p.display());
            }
        }
    }
    Ok(())
}

/// Threads per rank: `image.threads`, else `RAYON_NUM_THREADS`, else `SLURM_CPUS_PER_TASK`,
/// else every core; above the cores this process may run on, capped with a warning unless
/// `image.force_threads`.
fn thread_count(cfg: &Config) -> usize {
    let env = |k: &str| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0)
    };
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let (n, from) = if cfg.image.threads > 0 {
        (cfg.image.threads, "image.threads")
    } else if let Some(n) = env("RAYON_NUM_THREADS") {
        (n, "RAYON_NUM_THREADS")
    } else if let Some(n) = env("SLURM_CPUS_PER_TASK") {
        (n, "SLURM_CPUS_PER_TASK")
    } else {
        (cores, "")
    };
    if n > cores && !cfg.image.force_threads {
        tracing::warn!(
            "{from} = {n} threads but this process may use {cores} core(s): using {cores} (set image.force_threads = \
             true or --force-threads to use {n})"
        );
        return cores;
    }
    n.min(crate::config::MAX_THREADS)
}

fn init_logging(rank: usize) {
    let default = if rank == 0 { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

fn load(config: &Path, overrides: Option<&ImageOverrides>) -> anyhow::Result<Config> {
    let mut cfg = Config::from_file(config)?;
    if let Some(o) = overrides {
        o.apply(&mut cfg)?;
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(thread_count(&cfg))
        .build_global()
        .ok();
    Ok(cfg)
}

/// `--save-config` must not replace the input, a product of the run or the metrics file.
fn check_save_config(cfg: &Config, path: &Path, metrics: Option<&Path>) -> anyhow::Result<()> {
    use crate::imaging::outset::{check_paths, product_suffixes, with_suffix};
    let mut outs = vec![("--save-config file".to_string(), path.to_path_buf())];
    outs.extend(metrics.map(|m| ("metrics file".to_string(), m.to_path_buf())));
    for sfx in product_suffixes(cfg) {
        outs.push((format!("output {sfx}"), with_suffix(&cfg.image.output, sfx)));
    }
    let inputs: Vec<&Path> = match cfg.input.source {
        crate::config::Source::File => vec![&cfg.input.path],
        crate::config::Source::Simulate => vec![],
    };
    check_paths(&outs, &inputs)?;
    Ok(())
}

/// Writes `cfg` as TOML to `path` (`--save-config`).
fn save_config(cfg: &Config, path: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let text = cfg.to_toml_string().with_context(|| {
        format!(
            "cannot write the configuration as TOML to {}",
            path.display()
        )
    })?;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    tracing::info!("wrote the effective configuration to {}", path.display());
    Ok(())
}

fn run(cli: Cli, dist: &Dist) -> anyhow::Result<()> {
    match cli.command {
        Command::Simulate { config, output } => {
            let mut cfg = load(&config, None)?;
            if let Some(o) = output {
                cfg.simulate.output = o;
            }
            crate::cmd::simulate::run_simulate(&cfg, dist)?;
        }
        Command::Image {
            config,
            overrides,
            metrics,
            save_config: save_to,
        } => {
            let cfg = load(&config, Some(&overrides))?;
            if let Some(path) = &save_to {
                check_save_config(&cfg, path, metrics.as_deref())?;
            }
            if let Some(path) = save_to.filter(|_| dist.is_root()) {
                save_config(&cfg, &path)?;
            }
            crate::imaging::run_image(&cfg, dist, metrics.as_deref())?;
        }
        Command::Verify {
            config,
            image,
            overrides,
            verify,
        } => {
            let mut cfg = load(&config, Some(&overrides))?;
            verify.apply(&mut cfg)?;
            let passed = crate::cmd::verify::run_verify(&cfg, &image, dist)?;
            if !passed {
                anyhow::bail!("verification failed: the image differs from the direct Fourier transform by more than the threshold");
            }
        }
        Command::Info { path } => {
            print!("{}", crate::cmd::info::describe(&path)?);
        }
        Command::Scaling { cmd } => run_scaling(cmd)?,
    }
    Ok(())
}

/// `rimager (rank r of n)` with several ranks, else `rimager`.
fn who(rank: usize, size: usize) -> String {
    if size > 1 {
        format!("rimager (rank {rank} of {size})")
    } else {
        "rimager".to_string()
    }
}

/// A panic anywhere (any thread) prints one error line with the panic's message and place,
/// removes the temporary files, and ends the whole job (`MPI_Abort`), so no rank is left
/// waiting in a collective for the one that panicked. Exit status 101, as for a Rust panic.
fn install_panic_abort(dist: &Dist) {
    let who = who(dist.rank(), dist.size());
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let line = format!("{who}: error: internal error (panic): {msg}{place}; ending the job\n");
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        crate::output::cleanup::remove_registered();
        crate::dist::abort_world(101);
    }));
}

/// The command line, or the exit code after clap has printed the help, the version or (as
/// `rimager: error: …`) why the arguments are malformed.
fn parse_args() -> Result<Cli, i32> {
    Cli::try_parse().map_err(|e| {
        if e.use_stderr() {
            // One write, like the errors of a run.
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("rimager: {}", e.render()).as_bytes(),
            );
        } else {
            let _ = e.print();
        }
        e.exit_code()
    })
}

/// Entry point: parses arguments, sets up MPI where the command needs it, runs, and reports
/// errors (aborting the whole job if this rank failed). Returns the process exit code.
pub fn main() -> i32 {
    let cli = match parse_args() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    // `info` and the scaling harness (which launches MPI jobs) are plain processes.
    let needs_mpi = !matches!(cli.command, Command::Info { .. } | Command::Scaling { .. });
    let dist = if needs_mpi {
        match Dist::init() {
            Ok(d) => d,
            Err(e) => {
                eprintln!("rimager: error: {e}");
                return 1;
            }
        }
    } else {
        Dist::single()
    };
    init_logging(dist.rank());
    install_panic_abort(&dist);
    crate::output::cleanup::install_signal_cleanup();
    crate::output::cleanup::install_crash_cleanup();
    crate::progress::enable(dist.is_root());
    match run(cli, &dist) {
        Ok(()) => 0,
        Err(e) => {
            let who = who(dist.rank(), dist.size());
            let mut msg = format!("{who}: error: {e}");
            for cause in e.chain().skip(1) {
                msg += &format!("\n  caused by: {cause}");
            }
            // One write, so lines of several ranks do not interleave mid-line.
            let _ =
                std::io::Write::write_all(&mut std::io::stderr(), format!("{msg}\n").as_bytes());
            crate::output::cleanup::remove_registered();
            dist.abort(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, String> {
        Cli::try_parse_from(std::iter::once("rimager").chain(args.iter().copied()))
            .map_err(|e| e.render().to_string())
    }

    fn sweep(extra: &[&str]) -> Result<Sweep, String> {
        let mut args = vec!["scaling", "run", "--config", "t.toml", "--mode", "weak"];
        args.extend_from_slice(&["--out", "o", "--rimager", "r"]);
        args.extend_from_slice(extra);
        match parse(&args)?.command {
            Command::Scaling {
                cmd: ScalingCmd::Run(a),
            } => Sweep::try_from(a).map_err(|e| e.to_string()),
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn scaling_flags_parse_into_a_sweep() {
        let s = sweep(&["--vis", "1e8", "--layouts", "1x16, 2x8,4X4,"]).unwrap();
        assert_eq!(s.vis, 100_000_000);
        assert_eq!(s.layouts.len(), 3);
        assert_eq!((s.layouts[1].ranks, s.layouts[1].threads), (2, 8));
        assert_eq!(s.backends, vec![Backend::Cpu]);
        let s = sweep(&["--vis", "5", "--layouts", "1x1", "--backends", "cpu,gpu"]).unwrap();
        assert_eq!(s.backends, vec![Backend::Cpu, Backend::Gpu]);
        let e = sweep(&["--vis", "5", "--layouts", "2x8,3"]).unwrap_err();
        assert!(e.contains("--layouts") && e.contains("\"3\""), "{e}");
        let e = sweep(&["--vis", "5", "--layouts", "1x1", "--backends", "auto"]).unwrap_err();
        assert!(
            e.contains("--backends") && e.contains("expected cpu, gpu"),
            "{e}"
        );
        let e = sweep(&["--vis", "0", "--layouts", "1x1"]).unwrap_err();
        assert!(e.contains("--vis") && e.contains("[1, 1e15]"), "{e}");
        let e = sweep(&["--vis", "5", "--layouts", "1x1", "--repeat", "0"]).unwrap_err();
        assert_eq!(e, "--repeat 0: must be at least 1");
    }

    #[test]
    fn typed_overrides_name_the_flag_and_value() {
        let e = parse(&["image", "--config", "c.toml", "--cell-arcsec", "banana"]).unwrap_err();
        assert!(e.contains("--cell-arcsec") && e.contains("banana"), "{e}");
        assert!(e.contains("a number of arcseconds or \"auto\""), "{e}");
        let e = parse(&["image", "--config", "c.toml", "--wstacking", "maybe"]).unwrap_err();
        assert!(e.contains("--wstacking") && e.contains("maybe"), "{e}");
        for ok in [
            &[
                "image",
                "--config",
                "c",
                "--cell-arcsec",
                "auto",
                "--wstacking",
                "on",
            ][..],
            &[
                "image",
                "--config",
                "c",
                "--backend",
                "auto",
                "--precision",
                "double",
            ],
            &[
                "verify",
                "--config",
                "c",
                "--image",
                "i.h5",
                "--reference",
                "2d",
            ],
            &[
                "image",
                "--config",
                "c",
                "--source",
                "simulate",
                "--save-config",
                "s.toml",
            ],
        ] {
            parse(ok).unwrap();
        }
    }
}
