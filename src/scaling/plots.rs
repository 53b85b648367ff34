//! Scaling plots (plotters, PNG): speedup and parallel efficiency against ideal, and stacked
//! stage times per configuration, for each mode present in the CSV rows.
//!
//! * Workers: CPU cores (`ranks × threads`) on the CPU backend, GPUs (= ranks) on the GPU one.
//! * Time: `compute_wall_s` (grid + reduce + FFT + correct, slowest rank), the fastest repeat.
//! * Strong scaling: speedup `S = T_b / T × w_b` against the base run b with the fewest
//!   workers (ideal `S = w`), efficiency `S / w`. Weak scaling: efficiency `T_b / T` (ideal 1),
//!   scaled speedup `efficiency × w`.
//! * Stage bars: mean over ranks of each stage (simulate+read, grid, reduce, FFT, correct,
//!   other = psf + write), fastest repeat.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::csv::Row;
use super::ScalingError;
use crate::metrics::STAGES;
use crate::plot::{register_fonts, FONT};

/// One configuration's point, from its fastest repeat.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Backend.
    pub backend: String,
    /// Ranks.
    pub ranks: usize,
    /// Threads per rank.
    pub threads: usize,
    /// Workers (cores or GPUs).
    pub workers: usize,
    /// Compute time, s.
    pub time_s: f64,
    /// Speedup (strong) or scaled speedup (weak).
    pub speedup: f64,
    /// Parallel efficiency.
    pub efficiency: f64,
    /// Mean over ranks of each stage group ([`GROUPS`]), s.
    pub stage_s: Vec<f64>,
}

/// Stage groups of the stacked bars and the stages each sums.
pub const GROUPS: [(&str, &[&str]); 6] = [
    ("simulate/read", &["simulate", "read"]),
    ("grid", &["grid"]),
    ("reduce", &["reduce"]),
    ("fft", &["fft"]),
    ("correct", &["correct"]),
    ("other (psf, write)", &["psf", "write"]),
];

/// Points of one mode, ordered by backend, workers, ranks.
pub fn points(rows: &[Row], mode: &str) -> Vec<Point> {
    // (backend, ranks, threads) -> (repeat -> rows)
    let mut runs: BTreeMap<(String, usize, usize), BTreeMap<usize, Vec<&Row>>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.mode == mode) {
        runs.entry((r.backend.clone(), r.ranks, r.threads))
            .or_default()
            .entry(r.repeat)
            .or_default()
            .push(r);
    }
    let mut pts: Vec<Point> = runs
        .into_iter()
        .filter_map(|((backend, ranks, threads), reps)| {
            let best = reps
                .into_values()
                .min_by(|a, b| a[0].compute_wall_s.total_cmp(&b[0].compute_wall_s))?;
            let n = best.len() as f64;
            let stage_s = GROUPS
                .iter()
                .map(|(_, names)| {
                    best.iter()
                        .map(|r| {
                            names
                                .iter()
                                .filter_map(|s| STAGES.iter().position(|x| x == s))
                                .map(|i| r.stage_s[i])
                                .sum::<f64>()
                        })
                        .sum::<f64>()
                        / n
                })
                .collect();
            let workers = if backend == "gpu" {
                ranks
            } else {
                ranks * threads
            };
            Some(Point {
                backend,
                ranks,
                threads,
                workers,
                time_s: best[0].compute_wall_s,
                speedup: 0.0,
                efficiency: 0.0,
                stage_s,
            })
        })
        .collect();
    pts.sort_by_key(|p| (p.backend.clone(), p.workers, p.ranks));
    let backends: Vec<String> = pts.iter().map(|p| p.backend.clone()).collect();
    for b in backends {
        let Some(base) = pts
            .iter()
            .filter(|p| p.backend == b)
            .min_by_key(|p| p.workers)
            .cloned()
        else {
            continue;
        };
        for p in pts.iter_mut().filter(|p| p.backend == b) {
            let ratio = if p.time_s > 0.0 {
                base.time_s / p.time_s
            } else {
                0.0
            };
            if mode == "weak" {
                p.efficiency = ratio;
                p.speedup = ratio * p.workers as f64;
            } else {
                p.speedup = ratio * base.workers as f64;
                p.efficiency = p.speedup / p.workers as f64;
            }
        }
    }
    pts
}

fn plot_err(path: &Path) -> impl Fn(String) -> ScalingError + '_ {
    move |reason| ScalingError::Plot {
        path: path.to_path_buf(),
        reason,
    }
}

/// Draws into a temporary `.png` beside `path`, then renames it over `path`.
fn atomically(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<(), String>,
) -> Result<(), ScalingError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}.png", std::process::id()));
    {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        let r = draw(&root).and_then(|_| root.present().map_err(|e| e.to_string()));
        if let Err(e) = r {
            let _ = std::fs::remove_file(&tmp);
            return Err(plot_err(path)(e));
        }
    }
    crate::output::commit_temp(&tmp, path)?;
    Ok(())
}

const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draws `speedup-<mode>.png`: speedup (log-log) and efficiency against workers, with ideal
/// lines; one series per backend and threads-per-rank.
pub fn draw_speedup(path: &Path, mode: &str, pts: &[Point]) -> Result<(), ScalingError> {
    register_fonts();
    let wmax = pts.iter().map(|p| p.workers).max().unwrap_or(1).max(2) as f64;
    let smax = pts.iter().map(|p| p.speedup).fold(wmax, f64::max);
    let emax = pts.iter().map(|p| p.efficiency).fold(1.2, f64::max) * 1.05;
    let mut series: BTreeMap<(String, usize), Vec<&Point>> = BTreeMap::new();
    for p in pts {
        let key = (
            p.backend.clone(),
            if p.backend == "gpu" { 0 } else { p.threads },
        );
        series.entry(key).or_default().push(p);
    }
    let label = |b: &str, t: usize| {
        if b == "gpu" {
            "gpu (1 GPU/rank)".to_string()
        } else {
            format!("{b}, {t} thread(s)/rank")
        }
    };
    atomically(path, (1400, 600), |root| {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (left, right) = root.split_horizontally(700);
        let what = if mode == "weak" {
            "scaled speedup"
        } else {
            "speedup"
        };
        let mut c = ChartBuilder::on(&left)
            .caption(format!("{mode} scaling: {what}"), (FONT, 24))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(
                (0.8f64..wmax * 1.25).log_scale(),
                (0.5f64.min(pts.iter().map(|p| p.speedup).fold(1.0, f64::min) * 0.8)..smax * 1.25)
                    .log_scale(),
            )
            .map_err(|e| e.to_string())?;
        c.configure_mesh()
            .x_desc("workers (CPU cores, or GPUs)")
            .y_desc(what)
            .label_style((FONT, 15))
            .draw()
            .map_err(|e| e.to_string())?;
        c.draw_series(LineSeries::new(
            [(1.0, 1.0), (wmax, wmax)],
            ShapeStyle::from(&BLACK.mix(0.5)).stroke_width(1),
        ))
        .map_err(|e| e.to_string())?
        .label("ideal")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.mix(0.5)));
        for (i, ((b, t), ps)) in series.iter().enumerate() {
            let col = COLOURS[i % COLOURS.len()];
            let xy: Vec<(f64, f64)> = ps.iter().map(|p| (p.workers as f64, p.speedup)).collect();
            c.draw_series(LineSeries::new(xy.clone(), col.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(label(b, *t))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], col.stroke_width(2)));
            c.draw_series(
                xy.iter()
                    .map(|&(x, y)| Circle::new((x, y), 5, col.filled())),
            )
            .map_err(|e| e.to_string())?;
        }
        c.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FONT, 15))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;

        let mut c = ChartBuilder::on(&right)
            .caption(format!("{mode} scaling: parallel efficiency"), (FONT, 24))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d((0.8f64..wmax * 1.25).log_scale(), 0f64..emax)
            .map_err(|e| e.to_string())?;
        c.configure_mesh()
            .x_desc("workers (CPU cores, or GPUs)")
            .y_desc("efficiency")
            .label_style((FONT, 15))
            .draw()
            .map_err(|e| e.to_string())?;
        c.draw_series(LineSeries::new(
            [(0.8, 1.0), (wmax * 1.25, 1.0)],
            ShapeStyle::from(&BLACK.mix(0.5)).stroke_width(1),
        ))
        .map_err(|e| e.to_string())?;
        for (i, ps) in series.values().enumerate() {
            let col = COLOURS[i % COLOURS.len()];
            let xy: Vec<(f64, f64)> = ps
                .iter()
                .map(|p| (p.workers as f64, p.efficiency))
                .collect();
            c.draw_series(LineSeries::new(xy.clone(), col.stroke_width(2)))
                .map_err(|e| e.to_string())?;
            c.draw_series(
                xy.iter()
                    .map(|&(x, y)| Circle::new((x, y), 5, col.filled())),
            )
            .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
}

/// Draws `stages-<mode>.png`: one stacked bar of stage times per configuration.
pub fn draw_stages(path: &Path, mode: &str, pts: &[Point]) -> Result<(), ScalingError> {
    register_fonts();
    let n = pts.len().max(1);
    let tmax = pts
        .iter()
        .map(|p| p.stage_s.iter().sum::<f64>())
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.3;
    let labels: Vec<String> = pts
        .iter()
        .map(|p| format!("{}x{} {}", p.ranks, p.threads, p.backend))
        .collect();
    atomically(path, ((220 + 110 * n).max(760) as u32, 600), |root| {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut c = ChartBuilder::on(root)
            .caption(
                format!("{mode} scaling: time per stage (mean over ranks)"),
                (FONT, 22),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(65)
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..tmax)
            .map_err(|e| e.to_string())?;
        c.configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_desc("ranks x threads, backend")
            .y_desc("seconds")
            .label_style((FONT, 15))
            .draw()
            .map_err(|e| e.to_string())?;
        for (g, (name, _)) in GROUPS.iter().enumerate() {
            let col = COLOURS[g % COLOURS.len()];
            c.draw_series(pts.iter().enumerate().map(|(i, p)| {
                let below: f64 = p.stage_s[..g].iter().sum();
                let x = i as f64;
                Rectangle::new(
                    [(x - 0.35, below), (x + 0.35, below + p.stage_s[g])],
                    col.filled(),
                )
            }))
            .map_err(|e| e.to_string())?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], col.filled()));
        }
        c.configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// Draws both plots for every mode in `rows` into `dir`; returns the files written.
pub fn draw_all(rows: &[Row], dir: &Path) -> Result<Vec<PathBuf>, ScalingError> {
    let mut out = Vec::new();
    for mode in ["strong", "weak"] {
        let pts = points(rows, mode);
        if pts.is_empty() {
            continue;
        }
        let p = dir.join(format!("speedup-{mode}.png"));
        draw_speedup(&p, mode, &pts)?;
        out.push(p);
        let p = dir.join(format!("stages-{mode}.png"));
        draw_stages(&p, mode, &pts)?;
        out.push(p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::csv::tests::row;
    use super::*;

    #[test]
    fn strong_and_weak_points() {
        // Strong: 1x1 takes 8 s, 2x1 4 s (ideal), 4x1 4 s (half efficiency).
        let rows = vec![
            row("strong", "cpu", 1, 1, 0, 8.0),
            row("strong", "cpu", 2, 1, 0, 4.0),
            row("strong", "cpu", 2, 1, 1, 4.0),
            row("strong", "cpu", 4, 1, 0, 4.0),
            row("weak", "cpu", 1, 2, 0, 2.0),
            row("weak", "cpu", 2, 2, 0, 2.5),
        ];
        let s = points(&rows, "strong");
        assert_eq!(s.len(), 3);
        assert_eq!((s[1].speedup, s[1].efficiency), (2.0, 1.0));
        assert_eq!((s[2].speedup, s[2].efficiency), (2.0, 0.5));
        // Stage groups: simulate 0.5 t, grid 0.7 t, reduce 0.1 t, fft 0.2 t.
        assert_eq!(s[0].stage_s, vec![4.0, 5.6, 0.8, 1.6, 0.0, 0.0]);
        let w = points(&rows, "weak");
        assert_eq!(w[1].workers, 4);
        assert!((w[1].efficiency - 0.8).abs() < 1e-12);
        assert!((w[1].speedup - 3.2).abs() < 1e-12);
    }

    #[test]
    fn plots_are_written_and_decode() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![
            row("strong", "cpu", 1, 1, 0, 8.0),
            row("strong", "cpu", 2, 1, 0, 4.5),
            row("strong", "cpu", 2, 1, 1, 4.5),
            row("strong", "cpu", 1, 2, 0, 4.2),
            row("weak", "cpu", 1, 1, 0, 2.0),
            row("weak", "cpu", 2, 1, 0, 2.2),
        ];
        let files = draw_all(&rows, dir.path()).unwrap();
        assert_eq!(files.len(), 4);
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", f.display());
            // IHDR width/height are big-endian u32 at bytes 16..24.
            let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
            let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
            assert!(w >= 400 && h == 600, "{}: {w}x{h}", f.display());
            assert!(bytes.len() > 5000, "{}: {} bytes", f.display(), bytes.len());
        }
        // No temporary files are left behind.
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(left.is_empty());
    }
}
