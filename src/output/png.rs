//! PNG quick looks of an image or PSF (`<output>.png`, `<output>-psf.png`; `image.png`),
//! drawn with plotters (see [`crate::plot`]) into memory and written atomically.
//!
//! What is drawn:
//! * the image, one screen pixel sampled from the nearest image pixel, square image pixels,
//!   **east left, north up** (as the FITS file displays), through the perceptually uniform
//!   **viridis** colour map (van der Walt & Smith, matplotlib 2.0) with a **linear stretch
//!   clipped at the 0.05th and 99.95th percentiles** of the finite pixels (CARTA's default
//!   "99.9 %" clip): everything at or above the upper limit — the peak included — is the
//!   colour map's top colour, everything at or below the lower limit its bottom colour; NaN
//!   pixels (blanked) are grey;
//! * a colour bar with labelled ticks, Jy/beam;
//! * axes labelled as offsets from the phase centre: "RA offset" (positive = east, increasing
//!   to the left) and "Dec offset" (positive = north), in arcsec when the field is at most
//!   1° across, else in degrees;
//! * a title with the file name and what it is, and a second line with the peak (Jy/beam, and
//!   its offset) and the rms over all finite pixels.
use std::path::Path;

use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;

use super::error::{OutputError, PngError};
use super::write_atomically;
use crate::image::coords::pixel_offset;
use crate::image::stats::image_stats;
use crate::plot::{register_fonts, FONT};

/// Default figure size, pixels (width, height).
pub const DEFAULT_SIZE: (u32, u32) = (900, 760);

/// Lower and upper clip percentiles of the colour stretch (CARTA's default 99.9 % clip).
pub const CLIP_PERCENTILES: (f64, f64) = (0.05, 99.95);

/// Colour of NaN (blanked) pixels.
pub const NAN_COLOUR: RGBColor = RGBColor(128, 128, 128);

/// Height of the title band, pixels.
const TITLE_H: u32 = 64;
/// Width of the band right of the image holding the colour bar, pixels.
const BAR_BAND_W: u32 = 150;
/// Space for the y-axis tick labels and description, pixels.
const Y_LABEL_W: u32 = 80;
/// Space for the x-axis tick labels and description, pixels.
const X_LABEL_H: u32 = 56;
/// Margin around the image, pixels.
const MARGIN: u32 = 12;

/// Where the image lies in the figure: screen columns `x0..x1`, rows `y0..y1` (row 0 at the
/// top); image column `x` covers screen columns `x0 + x·(x1−x0)/nx ..`, image row `y` (0 =
/// south) the screen rows counted from the bottom edge `y1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlotRect {
    /// First screen column of the image.
    pub x0: i32,
    /// One past its last screen column.
    pub x1: i32,
    /// First (top) screen row.
    pub y0: i32,
    /// One past its last (bottom) screen row.
    pub y1: i32,
}

impl PlotRect {
    /// The screen pixel at the centre of image pixel `(x, y)`.
    pub fn screen_of(&self, x: usize, y: usize, nx: usize, ny: usize) -> (i32, i32) {
        let w = f64::from(self.x1 - self.x0);
        let h = f64::from(self.y1 - self.y0);
        let sx = f64::from(self.x0) + (x as f64 + 0.5) * w / nx as f64;
        let sy = f64::from(self.y1) - (y as f64 + 0.5) * h / ny as f64;
        (sx.floor() as i32, sy.floor() as i32)
    }

    /// The image pixel drawn at screen pixel `(sx, sy)` (inside the rectangle).
    fn image_of(&self, sx: i32, sy: i32, nx: usize, ny: usize) -> (usize, usize) {
        let fx = f64::from(sx - self.x0) + 0.5;
        let fy = f64::from(self.y1 - sy) - 0.5;
        let x = (fx * nx as f64 / f64::from(self.x1 - self.x0)).floor() as usize;
        let y = (fy * ny as f64 / f64::from(self.y1 - self.y0)).floor() as usize;
        (x.min(nx - 1), y.min(ny - 1))
    }
}

/// The image rectangle for an `nx × ny` image in a figure of `size`: the largest one with
/// square image pixels that fits left of the colour-bar band and below the title, centred
/// there. `None` if the figure is too small to hold one screen pixel per image row/column
/// side.
pub fn plot_rect(nx: usize, ny: usize, size: (u32, u32)) -> Option<PlotRect> {
    let avail_w = size.0.checked_sub(BAR_BAND_W + Y_LABEL_W + 2 * MARGIN)?;
    let avail_h = size.1.checked_sub(TITLE_H + X_LABEL_H + 2 * MARGIN)?;
    if avail_w == 0 || avail_h == 0 || nx == 0 || ny == 0 {
        return None;
    }
    let scale = (f64::from(avail_w) / nx as f64).min(f64::from(avail_h) / ny as f64);
    let w = ((nx as f64 * scale).floor() as u32).max(1);
    let h = ((ny as f64 * scale).floor() as u32).max(1);
    let x0 = (Y_LABEL_W + MARGIN + (avail_w - w) / 2) as i32;
    let y0 = (TITLE_H + MARGIN + (avail_h - h) / 2) as i32;
    Some(PlotRect {
        x0,
        x1: x0 + w as i32,
        y0,
        y1: y0 + h as i32,
    })
}

/// The colour stretch `(low, high)`: the [`CLIP_PERCENTILES`] of the finite values (nearest
/// rank), widened to `low ± 0.5` (or `± 1`) when the image is constant; `None` when no value
/// is finite.
pub fn clip_range(data: &[f32]) -> Option<(f64, f64)> {
    let mut v: Vec<f32> = data.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    let n = v.len();
    let rank = |p: f64| (((p / 100.0) * (n - 1) as f64).round() as usize).min(n - 1);
    let (ilo, ihi) = (rank(CLIP_PERCENTILES.0), rank(CLIP_PERCENTILES.1));
    let hi = f64::from(*v.select_nth_unstable_by(ihi, f32::total_cmp).1);
    let lo = f64::from(*v[..=ihi].select_nth_unstable_by(ilo, f32::total_cmp).1);
    if hi > lo {
        Some((lo, hi))
    } else {
        let d = if lo == 0.0 { 1.0 } else { 0.5 * lo.abs() };
        Some((lo - d, lo + d))
    }
}

/// The colour of `value` under the stretch `(lo, hi)` (viridis; NaN grey).
pub fn colour_of(value: f64, (lo, hi): (f64, f64)) -> RGBColor {
    if value.is_nan() {
        return NAN_COLOUR;
    }
    ViridisRGB::get_color_normalized(value.clamp(lo, hi), lo, hi)
}

/// Offset unit for a field `field_arcsec` across: `("arcsec", 1.0)` up to 1°, else
/// `("deg", 3600.0)` (arcsec per unit).
fn offset_unit(field_arcsec: f64) -> (&'static str, f64) {
    if field_arcsec <= 3600.0 {
        ("arcsec", 1.0)
    } else {
        ("deg", 3600.0)
    }
}

/// A value for a label: fixed-point for magnitudes in [0.01, 10⁴) (or 0), else exponent
/// notation; `-0` printed as `0`.
fn fmt_value(v: f64, digits: usize) -> String {
    let v = v + 0.0;
    let a = v.abs();
    if a == 0.0 || (0.01..1e4).contains(&a) {
        format!("{v:.digits$}")
    } else {
        format!("{v:.digits$e}")
    }
}

fn draw_err(e: impl std::fmt::Display) -> PngError {
    PngError::Draw(e.to_string())
}

/// Draws the quick look of `data` (`[ny][nx]`, row 0 south, column 0 east, pixel size
/// `cell_arcsec`) into an RGB buffer of `size`; `title` is its first title line. Returns the
/// buffer (`width · height · 3` bytes, rows top to bottom) and where the image is.
pub fn render_quick_look(
    data: &[f32],
    nx: usize,
    ny: usize,
    cell_arcsec: f64,
    title: &str,
    size: (u32, u32),
) -> Result<(Vec<u8>, PlotRect), PngError> {
    if data.len() != nx * ny {
        return Err(PngError::DataLength {
            len: data.len(),
            nx,
            ny,
        });
    }
    let rect = plot_rect(nx, ny, size).ok_or(PngError::TooSmall {
        width: size.0,
        height: size.1,
    })?;
    register_fonts();
    let stretch = clip_range(data);
    let stats = image_stats(data, nx);
    let (unit, per_unit) = offset_unit(nx.max(ny) as f64 * cell_arcsec);
    let cell_u = cell_arcsec / per_unit;
    let mut buf = vec![255u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        // Title: name, then peak and rms.
        let line2 = if stats.peak.is_finite() {
            let (dx, dy) = pixel_offset(stats.x, stats.y, nx, ny, cell_u);
            format!(
                "peak {} Jy/beam at ({dx:+.4}, {dy:+.4}) {unit};  rms {} Jy/beam",
                fmt_value(stats.peak, 4),
                fmt_value(stats.rms, 4)
            )
        } else {
            "no finite pixels (blanked)".to_string()
        };
        let centre_x = size.0 as i32 / 2;
        let style = |px: u32| {
            TextStyle::from((FONT, px).into_font()).color(&BLACK).pos(
                plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Top,
                ),
            )
        };
        root.draw(&Text::new(title.to_string(), (centre_x, 8), style(20)))
            .map_err(draw_err)?;
        root.draw(&Text::new(line2, (centre_x, 36), style(16)))
            .map_err(draw_err)?;

        // The image: every screen pixel of the rectangle from its nearest image pixel.
        for sy in rect.y0..rect.y1 {
            for sx in rect.x0..rect.x1 {
                let (x, y) = rect.image_of(sx, sy, nx, ny);
                let v = f64::from(data[y * nx + x]);
                let c = stretch.map_or(NAN_COLOUR, |s| colour_of(v, s));
                root.draw_pixel((sx, sy), &c).map_err(draw_err)?;
            }
        }

        // Axes over the image: x is the west offset t = −l, so that labels −t (east offset)
        // increase to the left; pixel edges at (i − n/2 ∓ 1/2)·cell.
        let tx = (
            (-((nx / 2) as f64) - 0.5) * cell_u,
            ((nx - nx / 2) as f64 - 0.5) * cell_u,
        );
        let ty = (
            (-((ny / 2) as f64) - 0.5) * cell_u,
            ((ny - ny / 2) as f64 - 0.5) * cell_u,
        );
        let area = root.clone().shrink(
            (rect.x0 - Y_LABEL_W as i32, rect.y0),
            (
                (rect.x1 - rect.x0) as u32 + Y_LABEL_W,
                (rect.y1 - rect.y0) as u32 + X_LABEL_H,
            ),
        );
        let mut chart = ChartBuilder::on(&area)
            .x_label_area_size(X_LABEL_H)
            .y_label_area_size(Y_LABEL_W)
            .build_cartesian_2d(tx.0..tx.1, ty.0..ty.1)
            .map_err(draw_err)?;
        let xfmt = |t: &f64| format!("{}", -t + 0.0);
        let yfmt = |t: &f64| format!("{}", t + 0.0);
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(7)
            .y_labels(7)
            .x_label_formatter(&xfmt)
            .y_label_formatter(&yfmt)
            .x_desc(format!("RA offset ({unit}), east left"))
            .y_desc(format!("Dec offset ({unit}), north up"))
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 15))
            .draw()
            .map_err(draw_err)?;

        // Colour bar, as tall as the image, in the band to its right.
        if let Some((lo, hi)) = stretch {
            let bar_x0 = size.0 as i32 - BAR_BAND_W as i32 + 10;
            let bar = root.clone().shrink(
                (bar_x0, rect.y0),
                (BAR_BAND_W - 16, (rect.y1 - rect.y0) as u32 + 8),
            );
            let mut cb = ChartBuilder::on(&bar)
                .margin_bottom(8)
                .right_y_label_area_size(BAR_BAND_W - 16 - 30)
                .build_cartesian_2d(0.0..1.0, lo..hi)
                .map_err(draw_err)?;
            // 256 steps; step i has the colour of lo + i/255·(hi − lo), so the ends are the
            // colour map's ends.
            let steps = 256;
            cb.draw_series((0..steps).map(|i| {
                let a = lo + (hi - lo) * i as f64 / steps as f64;
                let b = lo + (hi - lo) * (i + 1) as f64 / steps as f64;
                let v = lo + (hi - lo) * i as f64 / (steps - 1) as f64;
                Rectangle::new([(0.0, a), (1.0, b)], colour_of(v, (lo, hi)).filled())
            }))
            .map_err(draw_err)?;
            let cfmt = |v: &f64| fmt_value(*v, 3);
            cb.configure_mesh()
                .disable_mesh()
                .disable_x_axis()
                .y_labels(8)
                .y_label_formatter(&cfmt)
                .y_desc("Jy/beam")
                .label_style((FONT, 12))
                .axis_desc_style((FONT, 14))
                .draw()
                .map_err(draw_err)?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok((buf, rect))
}

/// Renders the quick look of `data` (see [`render_quick_look`]; the title names `path`'s file
/// and `what`, e.g. "dirty image") and writes it as an 8-bit RGB PNG, atomically.
pub fn write_quick_look(
    path: &Path,
    data: &[f32],
    nx: usize,
    ny: usize,
    cell_arcsec: f64,
    what: &str,
    size: (u32, u32),
) -> Result<(), OutputError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (rgb, _) = render_quick_look(data, nx, ny, cell_arcsec, &format!("{name}: {what}"), size)
        .map_err(|reason| OutputError::Png {
        path: path.to_path_buf(),
        reason,
    })?;
    write_atomically(path, |w| {
        let mut enc = png::Encoder::new(w, size.0, size.1);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(std::io::Error::other)?;
        writer
            .write_image_data(&rgb)
            .map_err(std::io::Error::other)?;
        writer.finish().map_err(std::io::Error::other)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn rgb_at(buf: &[u8], width: u32, (x, y): (i32, i32)) -> [u8; 3] {
        let i = (y as usize * width as usize + x as usize) * 3;
        [buf[i], buf[i + 1], buf[i + 2]]
    }

    fn random_image(nx: usize, ny: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..nx * ny)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect()
    }

    #[test]
    fn rect_is_square_pixelled_and_inside_the_figure() {
        for (nx, ny) in [(128, 128), (200, 100), (64, 256)] {
            let r = plot_rect(nx, ny, DEFAULT_SIZE).unwrap();
            let (w, h) = (f64::from(r.x1 - r.x0), f64::from(r.y1 - r.y0));
            assert!((w / nx as f64 - h / ny as f64).abs() < 2.0 / nx.min(ny) as f64);
            assert!(r.x0 > 0 && r.y0 > 0);
            assert!(r.x1 <= (DEFAULT_SIZE.0 - BAR_BAND_W) as i32);
            assert!(r.y1 < DEFAULT_SIZE.1 as i32);
        }
        assert!(plot_rect(10, 10, (100, 100)).is_none());
    }

    #[test]
    fn clip_is_the_percentile_range() {
        let data: Vec<f32> = (0..10_001).map(|i| i as f32).collect();
        let (lo, hi) = clip_range(&data).unwrap();
        assert_eq!((lo, hi), (5.0, 9995.0));
        assert_eq!(clip_range(&[f32::NAN]), None);
        assert_eq!(clip_range(&[2.0, 2.0, f32::NAN]), Some((1.0, 3.0)));
    }

    /// Every image pixel's plotted colour is the colour map's colour of its value, the
    /// brightest pixel is the top colour, the faintest the bottom one, and NaN is grey.
    #[test]
    fn plotted_colours_follow_the_data() {
        let (nx, ny) = (96, 64);
        let mut data = random_image(nx, ny, 11);
        // A bright source east of and above the centre, and a NaN pixel.
        data[40 * nx + 30] = 25.0;
        data[5 * nx + 90] = f32::NAN;
        let (buf, rect) =
            render_quick_look(&data, nx, ny, 2.0, "test", DEFAULT_SIZE).expect("render");
        assert_eq!(buf.len(), (DEFAULT_SIZE.0 * DEFAULT_SIZE.1 * 3) as usize);
        let stretch = clip_range(&data).unwrap();
        let mut mismatched = 0;
        for y in 0..ny {
            for x in 0..nx {
                let got = rgb_at(&buf, DEFAULT_SIZE.0, rect.screen_of(x, y, nx, ny));
                let want = colour_of(f64::from(data[y * nx + x]), stretch);
                if got != [want.0, want.1, want.2] {
                    mismatched += 1;
                }
            }
        }
        assert_eq!(mismatched, 0, "{mismatched} pixels off their colour");
        let top = ViridisRGB::get_color(1.0f64);
        let got = rgb_at(&buf, DEFAULT_SIZE.0, rect.screen_of(30, 40, nx, ny));
        assert_eq!(
            got,
            [top.0, top.1, top.2],
            "brightest pixel is not the top colour"
        );
        let (imin, _) = data
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .min_by(|a, b| a.1.total_cmp(b.1))
            .unwrap();
        let bottom = ViridisRGB::get_color(0.0f64);
        let got = rgb_at(
            &buf,
            DEFAULT_SIZE.0,
            rect.screen_of(imin % nx, imin / nx, nx, ny),
        );
        assert_eq!(got, [bottom.0, bottom.1, bottom.2]);
        let got = rgb_at(&buf, DEFAULT_SIZE.0, rect.screen_of(90, 5, nx, ny));
        assert_eq!(got, [NAN_COLOUR.0, NAN_COLOUR.1, NAN_COLOUR.2]);
        // East left: image column 0 is plotted left of column nx-1; row 0 (south) at the
        // bottom.
        assert!(rect.screen_of(0, 0, nx, ny).0 < rect.screen_of(nx - 1, 0, nx, ny).0);
        assert!(rect.screen_of(0, 0, nx, ny).1 > rect.screen_of(0, ny - 1, nx, ny).1);
        // Text and axes were drawn: dark pixels above the image (title) and left of it
        // (tick labels).
        let dark = |x0: i32, x1: i32, y0: i32, y1: i32| {
            (y0..y1)
                .flat_map(|y| (x0..x1).map(move |x| (x, y)))
                .filter(|&p| rgb_at(&buf, DEFAULT_SIZE.0, p).iter().all(|&c| c < 100))
                .count()
        };
        assert!(dark(0, DEFAULT_SIZE.0 as i32, 0, TITLE_H as i32) > 100);
        assert!(dark(0, rect.x0 - 2, rect.y0, rect.y1) > 50);
        // The colour bar: its top is the top colour somewhere right of the image.
        let bar_has_top = (rect.x1..DEFAULT_SIZE.0 as i32).any(|x| {
            (rect.y0..rect.y0 + 6)
                .any(|y| rgb_at(&buf, DEFAULT_SIZE.0, (x, y)) == [top.0, top.1, top.2])
        });
        assert!(bar_has_top, "no colour bar top colour beside the image");
    }

    #[test]
    fn written_png_decodes_to_the_rendered_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.png");
        let (nx, ny) = (40, 30);
        let data = random_image(nx, ny, 5);
        let size = (500, 400);
        write_quick_look(&path, &data, nx, ny, 7200.0, "PSF", size).unwrap();
        let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let mut reader = dec.read_info().unwrap();
        let mut img = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut img).unwrap();
        assert_eq!((info.width, info.height), size);
        assert_eq!(info.color_type, png::ColorType::Rgb);
        let (want, _) = render_quick_look(&data, nx, ny, 7200.0, "q.png: PSF", size).unwrap();
        assert!(
            img[..info.buffer_size()] == want[..],
            "file differs from the rendering"
        );
        // Bad sizes are errors naming the file, and leave nothing behind.
        let bad = dir.path().join("bad.png");
        let e = write_quick_look(&bad, &data, nx, ny, 1.0, "x", (50, 50)).unwrap_err();
        assert!(e.to_string().contains("bad.png"), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
