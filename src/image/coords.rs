//! Sky coordinates of image pixels: the inverse SIN (orthographic) projection about the phase
//! centre (Greisen & Calabretta 2002; Calabretta & Greisen 2002), and RA/Dec as sexagesimal
//! text.
//!
//! Pixel `(x, y)` of an `nx × ny` image with pixel size `cell` has direction cosines
//! `l = −(x − nx/2)·cell` (east is left, column 0 the eastern edge) and `m = (y − ny/2)·cell`
//! (north is up, row 0 the southern edge).

/// The offset of pixel `(x, y)` from the phase centre pixel `(nx/2, ny/2)`, in units of
/// `cell`: `(east, north)`, positive east and north.
pub fn pixel_offset(x: usize, y: usize, nx: usize, ny: usize, cell: f64) -> (f64, f64) {
    (
        -(x as f64 - (nx / 2) as f64) * cell,
        (y as f64 - (ny / 2) as f64) * cell,
    )
}

/// Sky position (RA, Dec in degrees) of pixel `(x, y)`: direction cosines
/// `l = −(x − nx/2)·cell`, `m = (y − ny/2)·cell`, inverse SIN projection about the phase centre
/// (Greisen & Calabretta 2002).
pub fn pixel_to_radec(
    x: usize,
    y: usize,
    nx: usize,
    ny: usize,
    cell_rad: f64,
    ra0_deg: f64,
    dec0_deg: f64,
) -> (f64, f64) {
    let (l, m) = pixel_offset(x, y, nx, ny, cell_rad);
    let n = (1.0 - l * l - m * m).max(0.0).sqrt();
    let (s0, c0) = dec0_deg.to_radians().sin_cos();
    let dec = (m * c0 + n * s0).asin();
    let ra = ra0_deg.to_radians() + l.atan2(n * c0 - m * s0);
    (ra.to_degrees().rem_euclid(360.0), dec.to_degrees())
}

/// Right ascension in degrees as `hh:mm:ss.sss` (hours of 15°).
pub fn format_ra_hms(ra_deg: f64) -> String {
    let ms = (ra_deg.rem_euclid(360.0) / 15.0 * 3_600_000.0).round() as u64 % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms / 1000) % 60,
        ms % 1000
    )
}

/// Declination in degrees as `±dd:mm:ss.ss`.
pub fn format_dec_dms(dec_deg: f64) -> String {
    let sign = if dec_deg < 0.0 { '-' } else { '+' };
    let cs = (dec_deg.abs() * 360_000.0).round() as u64;
    format!(
        "{sign}{:02}:{:02}:{:02}.{:02}",
        cs / 360_000,
        (cs / 6000) % 60,
        (cs / 100) % 60,
        cs % 100
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sexagesimal() {
        assert_eq!(format_ra_hms(150.0), "10:00:00.000");
        assert_eq!(format_ra_hms(150.0 + 15.0 / 3600.0 * 1.5), "10:00:01.500");
        assert_eq!(format_ra_hms(359.999_999_9), "00:00:00.000");
        assert_eq!(format_ra_hms(-15.0), "23:00:00.000");
        assert_eq!(format_dec_dms(-30.0), "-30:00:00.00");
        assert_eq!(
            format_dec_dms(-(29.0 + 59.0 / 60.0 + 28.0 / 3600.0)),
            "-29:59:28.00"
        );
        assert_eq!(format_dec_dms(0.5 / 3600.0), "+00:00:00.50");
        assert_eq!(format_dec_dms(89.999_999_99), "+90:00:00.00");
    }

    #[test]
    fn centre_pixel_is_phase_centre_and_east_is_left() {
        let (ra, dec) = pixel_to_radec(50, 40, 100, 80, 1e-4, 150.0, -30.0);
        assert!((ra - 150.0).abs() < 1e-12 && (dec + 30.0).abs() < 1e-12);
        let (ra1, _) = pixel_to_radec(49, 40, 100, 80, 1e-4, 150.0, -30.0);
        assert!(ra1 > ra, "one pixel left (lower x) is east, larger RA");
        let (_, dec1) = pixel_to_radec(50, 41, 100, 80, 1e-4, 150.0, -30.0);
        assert!(dec1 > dec, "one pixel up is north");
    }

    #[test]
    fn offsets_are_east_and_north_of_the_centre() {
        assert_eq!(pixel_offset(50, 40, 100, 80, 2.0), (0.0, 0.0));
        assert_eq!(pixel_offset(49, 41, 100, 80, 2.0), (2.0, 2.0));
    }
}
