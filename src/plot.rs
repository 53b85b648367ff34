//! Shared plotting set-up for the PNG outputs (quick-look images, scaling plots), drawn with
//! the `plotters` crate on its bitmap backend.
//!
//! Text needs a font: rather than depend on the fonts a machine happens to have (font-kit,
//! fontconfig), the DejaVu Sans font (`assets/fonts/`, Bitstream Vera licence, see
//! `DejaVuSans-LICENSE.txt` there) is compiled into the binary and registered with plotters
//! under the family name [`FONT`] once per process.
use std::sync::OnceLock;

use plotters::style::FontStyle;

/// The font family every plot uses.
pub const FONT: &str = "sans-serif";

static FONT_BYTES: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font with plotters (idempotent); call before drawing any text.
pub fn register_fonts() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        // The embedded font is a valid TrueType file; a failure here is a build defect, and
        // text would merely be missing, so it is logged rather than fatal.
        if plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_err() {
            tracing::warn!(
                "could not register the embedded DejaVu Sans font; plot text may be missing"
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::prelude::*;

    /// Draws a small chart with text into memory: fails if the font did not register
    /// (plotters reports a font error when drawing text in an unknown family).
    #[test]
    fn text_renders_with_embedded_font() {
        register_fonts();
        let mut buf = vec![0u8; 200 * 100 * 3];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (200, 100)).into_drawing_area();
            root.fill(&WHITE).expect("fill");
            root.draw(&Text::new(
                "rimager",
                (10, 40),
                (FONT, 20).into_font().color(&BLACK),
            ))
            .expect("text drawn");
            root.present().expect("present");
        }
        let dark = buf.chunks(3).filter(|p| p[0] < 128).count();
        assert!(dark > 20, "text left only {dark} dark pixels");
    }
}
