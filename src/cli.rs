//! Command-line interface (clap): `simulate`, `image`, `verify`, `info`.
//!
//! `main` prints the whole error chain (`error: … caused by: …`), prefixed by the rank when
//! there are several, and a failing rank ends the whole MPI job with `MPI_Abort`, so no rank is
//! left waiting in a collective.
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{AutoTag, Backend, Cell, Config, Precision, Source};
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
        /// Write the run's metrics (per-stage times per rank, throughput) as JSON here.
        #[arg(long)]
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
        /// Pass threshold on the relative L2 error (overrides verify.threshold).
        #[arg(long)]
        threshold: Option<f64>,
    },
    /// Summarise a visibility file, an image file (.h5) or a FITS image.
    Info {
        /// The file.
        path: PathBuf,
    },
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
            crate::pipeline::run_simulate(&cfg, dist)?;
        }
        Command::Image {
            config,
            overrides,
            metrics,
        } => {
            let cfg = load(&config, Some(&overrides))?;
            crate::pipeline::run_image(&cfg, dist, metrics.as_deref())?;
        }
        Command::Verify {
            config,
            image,
            overrides,
            threshold,
        } => {
            let mut cfg = load(&config, Some(&overrides))?;
            if let Some(t) = threshold {
                cfg.verify.threshold = t;
                cfg.validate()?;
            }
            let passed = crate::verify::run_verify(&cfg, &image, dist)?;
            if !passed {
                anyhow::bail!("verification failed: the image differs from the direct Fourier transform by more than the threshold");
            }
        }
        Command::Info { path } => {
            print!("{}", crate::info::describe(&path)?);
        }
    }
    Ok(())
}

/// Entry point: parses arguments, sets up MPI where the command needs it, runs, and reports
/// errors (aborting the whole job if this rank failed). Returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let needs_mpi = !matches!(cli.command, Command::Info { .. });
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
