//! `rimager scaling model`: reads the measured CSV, sizes the grid from the template
//! configuration, prints the one-node check and the predictions, and writes `model.csv` and
//! `model.png` ([`super::model`]).
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::model::{
    band_fraction, banded, check_one_node, node_counts, predict, rates_from_rows, table_csv,
    Network, Prediction, Scheme, Sizes,
};
use super::ScalingError;
use crate::config::Config;
use crate::plot::{register_fonts, FONT};

/// What the model is asked.
#[derive(Clone, Debug)]
pub struct ModelSpec {
    /// Strong-scaling CSV of the slab mode on one node (with `1 × threads`, `1 × 1`, `2 × 1`
    /// and other `R × 1` runs).
    pub csv: PathBuf,
    /// The template configuration of that sweep (image size, ε, precision).
    pub config: PathBuf,
    /// Visibilities of the strong-scaling prediction.
    pub vis: f64,
    /// Visibilities per node of the weak-scaling prediction.
    pub vis_per_node: f64,
    /// Threads per rank (one rank per node) of the node's measured run.
    pub threads: usize,
    /// Largest node count.
    pub max_nodes: usize,
    /// The network.
    pub net: Network,
    /// Output directory.
    pub out: PathBuf,
}

/// The grid, kept-column and image sizes of the template for `vis` visibilities.
fn sizes(cfg: &Config, vis: f64) -> Result<Sizes, ScalingError> {
    let im = &cfg.image;
    let spec = crate::kernel::choose_grid(im.nx, im.ny, vis as u64, im.epsilon, im.tile_size)
        .map_err(|e| ScalingError::Size {
            path: cfg.origin.clone(),
            target: vis as u64,
            reason: e.to_string(),
        })?;
    let complex = if cfg.use_double() { 16.0 } else { 8.0 };
    Ok(Sizes {
        local: (spec.nu * spec.nv) as f64 * complex,
        grid: (spec.nu * spec.nv) as f64 * complex,
        kept: (spec.nv * im.nx) as f64 * complex,
        image: (im.nx * im.ny) as f64 * 8.0,
    })
}

/// Runs the model; returns the files written.
pub fn run(spec: &ModelSpec) -> Result<Vec<PathBuf>, ScalingError> {
    let rows = super::csv::read_csv(&spec.csv)?;
    let cfg = Config::from_file(&spec.config)?;
    let full = sizes(&cfg, spec.vis)?;
    let frac = band_fraction(&rows, &full);
    let s = banded(&full, frac);
    let net = spec.net;
    println!(
        "grid {:.0} MB, band {:.0} % of it (from the 2-rank run's bytes): {:.0} MB, kept columns {:.0} MB, image {:.0} MB; \
         network {:.1} GB/s, {:.1} us per message, memory {:.0} GB/s",
        full.grid / 1e6,
        100.0 * frac,
        s.grid / 1e6,
        s.kept / 1e6,
        s.image / 1e6,
        net.bw_bytes_s / 1e9,
        net.latency_s * 1e6,
        net.mem_bytes_s / 1e9
    );
    let mut lines: Vec<(Scheme, &str, Prediction, f64)> = Vec::new();
    match check_one_node(&rows, &s, &net, &spec.csv) {
        Ok((bw, check)) => {
            println!(
                "check on one node (R ranks x 1 thread, bandwidth calibrated on 2 ranks: {:.2} GB/s per rank):",
                bw / 1e9
            );
            println!("ranks  measured_s  predicted_s  miss   comm_measured_s  comm_predicted_s");
            for c in check {
                println!(
                    "{:5}  {:10.3}  {:11.3}  {:+5.0}%  {:15.3}  {:16.3}",
                    c.ranks,
                    c.measured_s,
                    c.predicted_s,
                    100.0 * (c.predicted_s / c.measured_s - 1.0),
                    c.measured_comm_s,
                    c.predicted_comm_s
                );
            }
        }
        Err(e) => println!("no one-node check: {e}"),
    }
    let rates = rates_from_rows(&rows, spec.threads, &spec.csv)?;
    let nodes = node_counts(spec.max_nodes);
    for scheme in [Scheme::Slab, Scheme::Root] {
        let strong1 = predict(&rates, &s, &net, scheme, 1, spec.vis).compute_s();
        let weak1 = predict(&rates, &s, &net, scheme, 1, spec.vis_per_node).compute_s();
        for &n in &nodes {
            let p = predict(&rates, &s, &net, scheme, n, spec.vis);
            lines.push((scheme, "strong", p, strong1 / (n as f64 * p.compute_s())));
            let vis = spec.vis_per_node * n as f64;
            let sw = banded(&sizes(&cfg, vis)?, frac);
            let p = predict(&rates, &sw, &net, scheme, n, vis);
            lines.push((scheme, "weak", p, weak1 / p.compute_s()));
        }
    }
    println!("scheme mode    nodes   grid_s    comm_s     fft_s  compute_s  efficiency");
    for (scheme, mode, p, eff) in &lines {
        println!(
            "{:6} {:6} {:6} {:8.4} {:9.4} {:9.4} {:10.4} {:10.3}",
            if *scheme == Scheme::Slab {
                "slab"
            } else {
                "root"
            },
            mode,
            p.nodes,
            p.grid_s,
            p.comm_s,
            p.fft_s,
            p.compute_s(),
            eff
        );
    }
    for scheme in [Scheme::Slab, Scheme::Root] {
        for mode in ["strong", "weak"] {
            let name = if scheme == Scheme::Slab {
                "slab"
            } else {
                "root"
            };
            match lines
                .iter()
                .find(|l| l.0 == scheme && l.1 == mode && l.3 < 0.5)
            {
                Some(l) => println!(
                    "{name} {mode}: efficiency below 50 % from {} nodes",
                    l.2.nodes
                ),
                None => println!(
                    "{name} {mode}: efficiency at least 50 % up to {} nodes",
                    spec.max_nodes
                ),
            }
        }
    }
    std::fs::create_dir_all(&spec.out).map_err(|source| ScalingError::Io {
        op: "cannot create directory",
        path: spec.out.clone(),
        source,
    })?;
    let csv = spec.out.join("model.csv");
    let text = table_csv(&lines);
    crate::output::write_atomically(&csv, |w| std::io::Write::write_all(w, text.as_bytes()))?;
    let png = spec.out.join("model.png");
    draw(&png, &lines, spec)?;
    Ok(vec![csv, png])
}

/// Efficiency against nodes (log), strong and weak, slab and root.
fn draw(
    path: &Path,
    lines: &[(Scheme, &str, Prediction, f64)],
    spec: &ModelSpec,
) -> Result<(), ScalingError> {
    register_fonts();
    let nmax = spec.max_nodes.max(2) as f64;
    let tmp = path.with_file_name(format!(".model.tmp-{}.png", std::process::id()));
    let err = |e: String| ScalingError::Plot {
        path: path.to_path_buf(),
        reason: e,
    };
    {
        let root = BitMapBackend::new(&tmp, (900, 600)).into_drawing_area();
        let r = (|| -> Result<(), String> {
            root.fill(&WHITE).map_err(|e| e.to_string())?;
            let mut c = ChartBuilder::on(&root)
                .caption(
                    format!(
                        "model: efficiency, 1 rank x {} threads per node, {:.0} GB/s, {:.1} us",
                        spec.threads,
                        spec.net.bw_bytes_s / 1e9,
                        spec.net.latency_s * 1e6
                    ),
                    (FONT, 20),
                )
                .margin(15)
                .x_label_area_size(45)
                .y_label_area_size(60)
                .build_cartesian_2d((0.8f64..nmax * 1.25).log_scale(), 0f64..1.1)
                .map_err(|e| e.to_string())?;
            c.configure_mesh()
                .x_desc("nodes")
                .y_desc("parallel efficiency")
                .label_style((FONT, 15))
                .draw()
                .map_err(|e| e.to_string())?;
            let colours = [BLUE, RED, GREEN, MAGENTA];
            let mut k = 0;
            for scheme in [Scheme::Slab, Scheme::Root] {
                for mode in ["strong", "weak"] {
                    let col = colours[k % colours.len()];
                    k += 1;
                    let xy: Vec<(f64, f64)> = lines
                        .iter()
                        .filter(|l| l.0 == scheme && l.1 == mode)
                        .map(|l| (l.2.nodes as f64, l.3.min(1.1)))
                        .collect();
                    let name = format!(
                        "{} {mode}",
                        if scheme == Scheme::Slab {
                            "slab"
                        } else {
                            "root"
                        }
                    );
                    c.draw_series(LineSeries::new(xy.clone(), col.stroke_width(2)))
                        .map_err(|e| e.to_string())?
                        .label(name)
                        .legend(move |(x, y)| {
                            PathElement::new([(x, y), (x + 20, y)], col.stroke_width(2))
                        });
                    c.draw_series(xy.iter().map(|&p| Circle::new(p, 4, col.filled())))
                        .map_err(|e| e.to_string())?;
                }
            }
            c.configure_series_labels()
                .position(SeriesLabelPosition::LowerLeft)
                .label_font((FONT, 15))
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| e.to_string())?;
            root.present().map_err(|e| e.to_string())
        })();
        if let Err(e) = r {
            let _ = std::fs::remove_file(&tmp);
            return Err(err(e));
        }
    }
    crate::output::commit_temp(&tmp, path)?;
    Ok(())
}
