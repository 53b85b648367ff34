//! Command-line interface (clap): `simulate`, `image`, `verify`, `info`.
//!
//! `main` prints the whole error chain (`error: … caused by: …`), prefixed by the rank when
//! there are several, and a failing rank ends the whole MPI job with `MPI_Abort`, so no rank is
//! left waiting in a collective.
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{
    AutoTag, Backend, Cell, Config, Precision, Source, VerifyReference, WStacking,
};
use crate::dist::Dist;

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
        /// verify.reference: auto (the image's own model), 2d, wterm or both.
        #[arg(long, value_enum)]
        reference: Option<ReferenceArg>,
        /// Pass threshold on the relative L2 error (overrides verify.threshold).
        #[arg(long)]
        threshold: Option<f64>,
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
    Run {
        /// Template configuration; its `[simulate]` observation is resized per run.
        #[arg(long)]
        config: PathBuf,
        /// strong: fixed total visibilities; weak: fixed visibilities per rank.
        #[arg(long, value_enum)]
        mode: crate::scaling::Mode,
        /// Total visibilities (strong) or visibilities per rank (weak), e.g. 1e8.
        #[arg(long)]
        vis: String,
        /// Layouts RANKSxTHREADS, comma-separated, e.g. 1x16,2x8,4x4.
        #[arg(long)]
        layouts: String,
        /// Backends, comma-separated: cpu, gpu.
        #[arg(long, default_value = "cpu")]
        backends: String,
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
    },
    /// Draw the plots of existing scaling CSV files.
    Plot {
        /// CSV files written by `rimager scaling run`.
        #[arg(long, required = true)]
        csv: Vec<PathBuf>,
        /// Output directory for the PNGs.
        #[arg(long)]
        out: PathBuf,
    },
}

fn run_scaling(cmd: ScalingCmd) -> anyhow::Result<()> {
    match cmd {
        ScalingCmd::Run {
            config,
            mode,
            vis,
            layouts,
            backends,
            npix,
            repeat,
            out,
            launcher,
            rimager,
            dry_run,
        } => {
            let backends: Vec<String> = backends
                .split(',')
                .map(|b| b.trim().to_string())
                .filter(|b| !b.is_empty())
                .collect();
            if backends.is_empty() || backends.iter().any(|b| b != "cpu" && b != "gpu") {
                anyhow::bail!("--backends {backends:?}: expected cpu, gpu or cpu,gpu");
            }
            if repeat == 0 {
                anyhow::bail!("--repeat 0: must be at least 1");
            }
            let rimager = match rimager {
                Some(r) => r,
                None => std::env::current_exe()
                    .map_err(|e| anyhow::anyhow!("cannot find this executable: {e}"))?,
            };
            let sweep = crate::scaling::harness::Sweep {
                config,
                mode,
                vis: crate::scaling::parse_vis("--vis", &vis)?,
                layouts: crate::scaling::parse_layouts(&layouts)?,
                backends,
                npix,
                repeat,
                out,
                launcher,
                rimager,
                dry_run,
            };
            crate::scaling::harness::run(&sweep)?;
        }
        ScalingCmd::Plot { csv, out } => {
            for p in crate::scaling::harness::plot_csvs(&csv, &out)? {
                println!("wrote {}", p.display());
            }
        }
    }
    Ok(())
}

/// Command-line overrides of configuration keys.
#[derive(clap::Args, Debug, Default)]
struct ImageOverrides {
    /// input.source
    #[arg(long, value_enum)]
    source: Option<SourceArg>,
    /// input.path
    #[arg(long)]
    input: Option<PathBuf>,
    /// input.chunk_rows
    #[arg(long)]
    chunk_rows: Option<usize>,
    /// image.nx
    #[arg(long)]
    nx: Option<usize>,
    /// image.ny
    #[arg(long)]
    ny: Option<usize>,
    /// image.cell_arcsec: a number or "auto"
    #[arg(long)]
    cell_arcsec: Option<String>,
    /// image.epsilon
    #[arg(long)]
    epsilon: Option<f64>,
    /// image.precision
    #[arg(long, value_enum)]
    precision: Option<PrecisionArg>,
    /// image.backend: cpu, gpu (CUDA; an error where none is usable) or auto (GPU where usable)
    #[arg(long, value_enum)]
    backend: Option<BackendArg>,
    /// image.threads (0 = automatic)
    #[arg(long)]
    threads: Option<usize>,
    /// image.output (path prefix)
    #[arg(long)]
    output: Option<PathBuf>,
    /// Do not make the PSF (image.psf = false)
    #[arg(long)]
    no_psf: bool,
    /// image.wstacking: true, false or auto (w-stacking for wide fields)
    #[arg(long)]
    wstacking: Option<String>,
    /// image.channels_out (1 = MFS image only; N > 1 = also an N-plane cube)
    #[arg(long)]
    channels_out: Option<usize>,
    /// Do not write the PNG quick looks (image.png = false)
    #[arg(long)]
    no_png: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SourceArg {
    File,
    Simulate,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BackendArg {
    Cpu,
    Gpu,
    Auto,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ReferenceArg {
    Auto,
    #[value(name = "2d")]
    TwoD,
    Wterm,
    Both,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum PrecisionArg {
    Auto,
    Single,
    Double,
}

impl ImageOverrides {
    fn apply(&self, cfg: &mut Config) -> anyhow::Result<()> {
        if let Some(s) = self.source {
            cfg.input.source = match s {
                SourceArg::File => Source::File,
                SourceArg::Simulate => Source::Simulate,
            };
        }
        if let Some(p) = &self.input {
            cfg.input.path = p.clone();
            if self.source.is_none() {
                cfg.input.source = Source::File;
            }
        }
        if let Some(n) = self.chunk_rows {
            cfg.input.chunk_rows = n;
        }
        if let Some(n) = self.nx {
            cfg.image.nx = n;
        }
        if let Some(n) = self.ny {
            cfg.image.ny = n;
        }
        if let Some(c) = &self.cell_arcsec {
            cfg.image.cell_arcsec = if c == "auto" {
                Cell::Auto(AutoTag::Auto)
            } else {
                Cell::Arcsec(c.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "--cell-arcsec {c:?}: expected a number of arcseconds or \"auto\""
                    )
                })?)
            };
        }
        if let Some(e) = self.epsilon {
            cfg.image.epsilon = e;
        }
        if let Some(p) = self.precision {
            cfg.image.precision = match p {
                PrecisionArg::Auto => Precision::Auto,
                PrecisionArg::Single => Precision::Single,
                PrecisionArg::Double => Precision::Double,
            };
        }
        if let Some(b) = self.backend {
            cfg.image.backend = match b {
                BackendArg::Cpu => Backend::Cpu,
                BackendArg::Gpu => Backend::Gpu,
                BackendArg::Auto => Backend::Auto,
            };
        }
        if let Some(t) = self.threads {
            cfg.image.threads = t;
        }
        if let Some(o) = &self.output {
            cfg.image.output = o.clone();
        }
        if self.no_psf {
            cfg.image.psf = false;
        }
        if let Some(w) = &self.wstacking {
            cfg.image.wstacking = match w.as_str() {
                "true" | "on" => WStacking::Bool(true),
                "false" | "off" => WStacking::Bool(false),
                "auto" => WStacking::Auto(AutoTag::Auto),
                other => {
                    anyhow::bail!("--wstacking {other:?}: expected \"true\", \"false\" or \"auto\"")
                }
            };
        }
        if let Some(n) = self.channels_out {
            cfg.image.channels_out = n;
        }
        if self.no_png {
            cfg.image.png = false;
        }
        cfg.validate()?;
        Ok(())
    }
}

/// Threads per rank: `image.threads`, else `RAYON_NUM_THREADS`, else `SLURM_CPUS_PER_TASK`,
/// else every core.
fn thread_count(cfg: &Config) -> usize {
    let env = |k: &str| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0)
    };
    if cfg.image.threads > 0 {
        cfg.image.threads
    } else if let Some(n) = env("RAYON_NUM_THREADS").or_else(|| env("SLURM_CPUS_PER_TASK")) {
        n
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    }
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

fn load(config: &std::path::Path, overrides: Option<&ImageOverrides>) -> anyhow::Result<Config> {
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
        } => {
            let cfg = load(&config, Some(&overrides))?;
            crate::imaging::run_image(&cfg, dist, metrics.as_deref())?;
        }
        Command::Verify {
            config,
            image,
            overrides,
            threshold,
            reference,
        } => {
            let mut cfg = load(&config, Some(&overrides))?;
            if let Some(r) = reference {
                cfg.verify.reference = match r {
                    ReferenceArg::Auto => VerifyReference::Auto,
                    ReferenceArg::TwoD => VerifyReference::TwoD,
                    ReferenceArg::Wterm => VerifyReference::Wterm,
                    ReferenceArg::Both => VerifyReference::Both,
                };
            }
            if let Some(t) = threshold {
                cfg.verify.threshold = t;
                cfg.validate()?;
            }
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

/// Entry point: parses arguments, sets up MPI where the command needs it, runs, and reports
/// errors (aborting the whole job if this rank failed). Returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
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
    crate::progress::enable(dist.is_root());
    match run(cli, &dist) {
        Ok(()) => 0,
        Err(e) => {
            let who = if dist.size() > 1 {
                format!("rimager (rank {} of {})", dist.rank(), dist.size())
            } else {
                "rimager".to_string()
            };
            let mut msg = format!("{who}: error: {e}");
            for cause in e.chain().skip(1) {
                msg += &format!("\n  caused by: {cause}");
            }
            // One write, so lines of several ranks do not interleave mid-line.
            let _ =
                std::io::Write::write_all(&mut std::io::stderr(), format!("{msg}\n").as_bytes());
            dist.abort(1)
        }
    }
}
