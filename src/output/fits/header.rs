//! FITS header cards (FITS Standard 4.0 §4): the card types callers pass ([`Card`],
//! [`FitsValue`]), keyword and value validation and formatting, the `DATE` calendar
//! arithmetic, and the building of a complete primary header for a sky image or cube
//! ([`SkyWcs`]).
use crate::output::error::FitsError;

/// FITS logical record length in bytes (FITS 4.0 §3.1).
pub const BLOCK: usize = 2880;
/// Length of a header card image (FITS 4.0 §4.1.1).
pub const CARD: usize = 80;

/// Celestial and spectral coordinates of an image (FITS WCS, papers I and II).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkyWcs {
    /// Right ascension of the phase centre, degrees (`CRVAL1`).
    pub ra_deg: f64,
    /// Declination of the phase centre, degrees (`CRVAL2`).
    pub dec_deg: f64,
    /// Pixel size, degrees; written as `CDELT1 = -cell`, `CDELT2 = +cell`.
    pub cell_deg: f64,
    /// Reference frequency, Hz (`CRVAL3`).
    pub freq_hz: f64,
    /// Bandwidth, Hz (`CDELT3`).
    pub bandwidth_hz: f64,
}

/// A value for an extra header card.
#[derive(Debug, Clone, PartialEq)]
pub enum FitsValue {
    /// Integer (FITS 4.0 §4.2.3), right-justified in columns 11–30.
    Int(i64),
    /// Real (§4.2.4), right-justified in columns 11–30; must be finite.
    Float(f64),
    /// Character string (§4.2.1.1): printable ASCII, at most 68 characters after doubling
    /// embedded quotes. With keyword `COMMENT` or `HISTORY` it is written as commentary
    /// text (§4.4.2.4) of at most 72 characters instead.
    Str(String),
    /// Logical (§4.2.2), `T` or `F` in column 30.
    Bool(bool),
}

/// Which of the files written with one card list a [`Card`] belongs in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CardScope {
    /// Every image and cube.
    #[default]
    Shared,
    /// Only whole-band (single-plane) images: a value that a channel cube has per plane
    /// instead (e.g. `WSUM`, which the cube writes as `WSUMnnnn`), so the cube writer
    /// (`output::cube::write_cube_fits`) leaves it out.
    WholeBand,
}

/// An extra header card: keyword, value and the files it belongs in.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    /// The keyword (FITS 4.0 §4.1.2.1: 1–8 characters from `A–Z`, `0–9`, `-`, `_`; checked
    /// when written). `COMMENT` and `HISTORY` make commentary cards and may repeat.
    pub key: String,
    /// The value.
    pub value: FitsValue,
    /// Which files it belongs in.
    pub scope: CardScope,
}

impl Card {
    /// A card for every file.
    pub fn new(key: impl Into<String>, value: FitsValue) -> Self {
        Card {
            key: key.into(),
            value,
            scope: CardScope::Shared,
        }
    }

    /// A `COMMENT` card with `text` (at most 72 characters).
    pub fn comment(text: impl Into<String>) -> Self {
        Card::new("COMMENT", FitsValue::Str(text.into()))
    }

    /// The same card, for whole-band images only ([`CardScope::WholeBand`]).
    pub fn whole_band(self) -> Self {
        Card {
            scope: CardScope::WholeBand,
            ..self
        }
    }
}

/// Keywords this writer emits itself; callers may not repeat them (a duplicated keyword would
/// make the header ambiguous, and the structural ones would corrupt the file).
const RESERVED: &[&str] = &[
    "SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "NAXIS4", "EXTEND", "END", "BSCALE",
    "BZERO", "BUNIT", "EQUINOX", "RADESYS", "CTYPE1", "CRPIX1", "CRVAL1", "CDELT1", "CUNIT1",
    "CTYPE2", "CRPIX2", "CRVAL2", "CDELT2", "CUNIT2", "CTYPE3", "CRPIX3", "CRVAL3", "CDELT3",
    "CUNIT3", "CTYPE4", "CRPIX4", "CRVAL4", "CDELT4", "CUNIT4", "SPECSYS", "ORIGIN", "DATE",
    "BLANK", "PCOUNT", "GCOUNT", "XTENSION",
];

/// Commentary keywords (FITS 4.0 §4.4.2.4): no value indicator, free text in columns 9–80.
const COMMENTARY: &[&str] = &["COMMENT", "HISTORY"];

/// Builds header card images, validating as it goes.
struct Header {
    cards: Vec<String>,
}

impl Header {
    fn new() -> Self {
        Header { cards: Vec::new() }
    }

    /// A value card (FITS 4.0 §4.1.2): keyword in columns 1–8, `= ` in 9–10, the value from
    /// column 11, optionally ` / comment`; padded with blanks to 80 columns. A comment that
    /// does not fit is truncated (comments are only ever ours).
    fn value(&mut self, key: &str, value: &FitsValue, comment: &str) -> Result<(), FitsError> {
        validate_keyword(key)?;
        let v = format_value(key, value)?;
        let mut card = format!("{key:<8}= {v}");
        if !comment.is_empty() && card.len() + 3 < CARD {
            card.push_str(" / ");
            card.push_str(comment);
            card.truncate(CARD);
        }
        self.push(card);
        Ok(())
    }

    /// A commentary card (§4.4.2.4): keyword then up to 72 characters of text.
    fn commentary(&mut self, key: &str, text: &str) -> Result<(), FitsError> {
        validate_keyword(key)?;
        check_printable(key, text)?;
        if text.len() > CARD - 8 {
            return Err(FitsError::CommentaryTooLong {
                key: key.to_string(),
                len: text.len(),
                max: CARD - 8,
            });
        }
        self.push(format!("{key:<8}{text}"));
        Ok(())
    }

    fn push(&mut self, card: String) {
        debug_assert!(card.len() <= CARD && card.is_ascii());
        self.cards.push(format!("{card:<80}"));
    }

    /// The header bytes: cards, `END`, blank padding to a multiple of 2880 (§4.4.1).
    fn into_bytes(mut self) -> Vec<u8> {
        self.cards.push(format!("{:<80}", "END"));
        let mut bytes: Vec<u8> = self.cards.concat().into_bytes();
        let padded = bytes.len().div_ceil(BLOCK) * BLOCK;
        bytes.resize(padded, b' ');
        bytes
    }
}

/// Keywords (FITS 4.0 §4.1.2.1): 1–8 characters from `A–Z`, `0–9`, `-`, `_`.
fn validate_keyword(key: &str) -> Result<(), FitsError> {
    if key.is_empty() || key.len() > 8 {
        return Err(FitsError::KeywordLength(key.to_string()));
    }
    if !key
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(FitsError::KeywordChars(key.to_string()));
    }
    Ok(())
}

/// Header text must be printable ASCII, 0x20–0x7E (FITS 4.0 §4.1.2.3, §4.2.1).
fn check_printable(key: &str, s: &str) -> Result<(), FitsError> {
    match s.chars().find(|c| !(' '..='~').contains(c)) {
        Some(found) => Err(FitsError::NotPrintable {
            key: key.to_string(),
            found,
        }),
        None => Ok(()),
    }
}

/// Formats a value for columns 11 onwards.
fn format_value(key: &str, value: &FitsValue) -> Result<String, FitsError> {
    Ok(match value {
        FitsValue::Int(i) => format!("{i:>20}"),
        FitsValue::Bool(b) => format!("{:>20}", if *b { "T" } else { "F" }),
        FitsValue::Float(x) => format!("{:>20}", format_real(key, *x)?),
        FitsValue::Str(s) => format_string(key, s)?,
    })
}

/// A character-string value (FITS 4.0 §4.2.1.1): opening quote in column 11, embedded quotes
/// doubled, closing quote by column 80. Padded to at least 8 characters inside the quotes,
/// as the standard requires of fixed-format keywords (and as cfitsio does for all).
fn format_string(key: &str, s: &str) -> Result<String, FitsError> {
    check_printable(key, s)?;
    let escaped = s.replace('\'', "''");
    // Columns 11..=80 hold 70 characters, two of them the quotes.
    if escaped.len() > 68 {
        return Err(FitsError::StringTooLong {
            key: key.to_string(),
            len: escaped.len(),
        });
    }
    Ok(format!("'{escaped:<8}'"))
}

/// A real value (FITS 4.0 §4.2.4): the shortest decimal that reads back as the same `f64`
/// (like Python's `repr`), always with a decimal point, and an upper-case `E` exponent where
/// one is used.
///
/// Plain notation is used when it fits the 20 fixed-format columns (11–30), else exponent
/// notation. A few values (e.g. `-2.777777777777778E-4`, or 17 significant digits with a
/// 3-digit exponent) need up to 24 characters; rather than lose precision these are written
/// in free format, starting in column 11 and extending past column 30, which §4.2.4 permits
/// for all but the mandatory keywords of §4.4.1 (all of which are integers or logicals here).
pub(crate) fn format_real(key: &str, x: f64) -> Result<String, FitsError> {
    if !x.is_finite() {
        return Err(FitsError::NotFinite {
            key: key.to_string(),
            value: x,
        });
    }
    let plain = format!("{x}");
    let plain = if plain.contains('.') {
        plain
    } else {
        plain + ".0"
    };
    if plain.len() <= 20 {
        return Ok(plain);
    }
    let exp = format!("{x:E}");
    Ok(match exp.split_once('E') {
        Some((m, e)) if !m.contains('.') => format!("{m}.0E{e}"),
        _ => exp,
    })
}

/// Days since 1970-01-01 → proleptic Gregorian (year, month, day); H. Hinnant's
/// `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `DATE` value (FITS 4.0 §4.4.2.1, §9.1.1): UTC `YYYY-MM-DDThh:mm:ss` for `secs` since the
/// Unix epoch.
fn iso_utc(secs: i64) -> String {
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

/// The `DATE` value for now.
pub(crate) fn now_iso_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2))
        .unwrap_or(0);
    iso_utc(secs)
}

/// Builds the complete primary header (padded to 2880 bytes) for an `nx × ny × nz` image
/// (`nz` frequency planes): the mandatory and WCS keywords, then every card of `extra` (all
/// of them, whatever their [`CardScope`]; choosing is the caller's business), then `END`.
pub(crate) fn build_header(
    nx: usize,
    ny: usize,
    nz: usize,
    wcs: &SkyWcs,
    bunit: &str,
    extra: &[Card],
    date: &str,
) -> Result<Vec<u8>, FitsError> {
    use FitsValue::{Bool, Float, Int, Str};
    let s = |v: &str| Str(v.to_string());
    let int = |key: &str, n: usize| {
        i64::try_from(n).map(Int).map_err(|_| FitsError::TooLarge {
            key: key.to_string(),
            value: n,
        })
    };
    let mut h = Header::new();
    // Mandatory keywords, in order (FITS 4.0 §4.4.1.1).
    h.value("SIMPLE", &Bool(true), "conforms to FITS standard")?;
    h.value("BITPIX", &Int(-32), "IEEE single precision floating point")?;
    h.value("NAXIS", &Int(4), "")?;
    h.value("NAXIS1", &int("NAXIS1", nx)?, "RA axis")?;
    h.value("NAXIS2", &int("NAXIS2", ny)?, "Dec axis")?;
    h.value("NAXIS3", &int("NAXIS3", nz)?, "frequency axis")?;
    h.value("NAXIS4", &Int(1), "Stokes axis")?;
    // Physical value = BZERO + BSCALE * array value (§5.3).
    h.value("BSCALE", &Float(1.0), "")?;
    h.value("BZERO", &Float(0.0), "")?;
    h.value("BUNIT", &s(bunit), "units of the data")?;
    // Celestial frame (WCS paper I §3.1; RADESYS/EQUINOX).
    h.value("EQUINOX", &Float(2000.0), "J2000")?;
    h.value("RADESYS", &s("FK5"), "")?;
    // Orthographic (SIN) projection about the phase centre (WCS paper II §5.1.5). CRPIXj is
    // 1-based, so 0-based pixel (nx/2, ny/2) is CRPIX = n/2 + 1. RA increases to the east,
    // i.e. to the left as displayed, hence CDELT1 < 0.
    h.value("CTYPE1", &s("RA---SIN"), "")?;
    h.value("CRPIX1", &int("CRPIX1", nx / 2 + 1)?, "")?;
    h.value("CRVAL1", &Float(wcs.ra_deg), "")?;
    h.value("CDELT1", &Float(-wcs.cell_deg), "")?;
    h.value("CUNIT1", &s("deg"), "")?;
    h.value("CTYPE2", &s("DEC--SIN"), "")?;
    h.value("CRPIX2", &int("CRPIX2", ny / 2 + 1)?, "")?;
    h.value("CRVAL2", &Float(wcs.dec_deg), "")?;
    h.value("CDELT2", &Float(wcs.cell_deg), "")?;
    h.value("CUNIT2", &s("deg"), "")?;
    // Spectral axis (Greisen et al. 2006, WCS paper III).
    h.value("CTYPE3", &s("FREQ"), "")?;
    h.value("CRPIX3", &Float(1.0), "")?;
    h.value("CRVAL3", &Float(wcs.freq_hz), "")?;
    h.value(
        "CDELT3",
        &Float(wcs.bandwidth_hz),
        if nz > 1 { "plane spacing" } else { "bandwidth" },
    )?;
    h.value("CUNIT3", &s("Hz"), "")?;
    // Stokes axis (WCS paper I, Table 7): 1 = I.
    h.value("CTYPE4", &s("STOKES"), "")?;
    h.value("CRPIX4", &Float(1.0), "")?;
    h.value("CRVAL4", &Float(1.0), "Stokes I")?;
    h.value("CDELT4", &Float(1.0), "")?;
    h.value("SPECSYS", &s("TOPOCENT"), "")?;
    h.value("ORIGIN", &s("rimager"), "")?;
    h.value("DATE", &s(date), "UTC date of file creation")?;
    let mut seen: Vec<&str> = Vec::new();
    for Card { key, value, .. } in extra {
        validate_keyword(key)?;
        if COMMENTARY.contains(&key.as_str()) {
            match value {
                Str(text) => h.commentary(key, text)?,
                _ => return Err(FitsError::CommentaryNotString(key.clone())),
            }
            continue;
        }
        if RESERVED.contains(&key.as_str()) {
            return Err(FitsError::Reserved(key.clone()));
        }
        if seen.contains(&key.as_str()) {
            return Err(FitsError::Duplicate(key.clone()));
        }
        seen.push(key);
        h.value(key, value, "")?;
    }
    Ok(h.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wcs() -> SkyWcs {
        SkyWcs {
            ra_deg: 150.0,
            dec_deg: -30.0,
            cell_deg: 1.0 / 3600.0,
            freq_hz: 1.4e9,
            bandwidth_hz: 1e6,
        }
    }

    #[test]
    fn header_is_whole_records_of_80_char_ascii_cards() {
        let extra = vec![
            Card::new("BMAJ", FitsValue::Float(1.5e-3)),
            Card::new("OBJECT", FitsValue::Str("it's a test".into())),
            Card::new("NITER", FitsValue::Int(-42)),
            Card::new("CLEANED", FitsValue::Bool(false)),
            Card::new("HISTORY", FitsValue::Str("made by a test".into())),
        ];
        let h = build_header(64, 48, 1, &wcs(), "JY/BEAM", &extra, "2024-01-02T03:04:05").unwrap();
        assert_eq!(h.len() % BLOCK, 0);
        assert!(h.iter().all(|&b| (0x20..=0x7E).contains(&b)));
        let cards: Vec<&str> = h
            .chunks(CARD)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        assert!(cards.iter().all(|c| c.len() == CARD));
        let end = cards.iter().position(|c| c.trim_end() == "END").unwrap();
        assert!(cards[end + 1..].iter().all(|c| c.trim().is_empty()));
        // Mandatory keywords first, in order (FITS 4.0 §4.4.1.1).
        let keys: Vec<&str> = cards[..7].iter().map(|c| c[..8].trim_end()).collect();
        assert_eq!(
            keys,
            ["SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "NAXIS4"]
        );
        // Fixed format: logical in column 30, integers right-justified ending in column 30,
        // strings starting with a quote in column 11.
        assert_eq!(&cards[0][..30], format!("SIMPLE  = {:>20}", "T"));
        assert_eq!(&cards[1][..30], format!("BITPIX  = {:>20}", "-32"));
        let find = |k: &str| *cards.iter().find(|c| c[..8].trim_end() == k).unwrap();
        assert_eq!(&find("CTYPE1")[..20], "CTYPE1  = 'RA---SIN'");
        assert_eq!(&find("CRPIX1")[10..30], format!("{:>20}", 33));
        assert_eq!(&find("CRPIX2")[10..30], format!("{:>20}", 25));
        assert!(find("OBJECT").starts_with("OBJECT  = 'it''s a test'"));
        assert_eq!(find("CLEANED").as_bytes()[29], b'F');
        assert!(find("HISTORY").starts_with("HISTORY made by a test"));
        assert!(find("DATE").starts_with("DATE    = '2024-01-02T03:04:05'"));
    }

    #[test]
    fn reals_round_trip() {
        let vals = [
            0.0,
            -0.0,
            1.0,
            -30.0,
            150.0,
            1.0 / 3600.0,
            -1.0 / 3600.0,
            0.1 + 0.2,
            1.4e9,
            1e16,
            1e20,
            -1.234_567_890_123_456_7e-300,
            -1.234_567_890_123_5e-310, // subnormal
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            std::f64::consts::PI,
            -123_456_789.123_456_79,
        ];
        for x in vals {
            let s = format_real("X", x).unwrap();
            // At most 24 characters: sign, 17 digits, point, "E-308".
            assert!(s.len() <= 24, "{s}");
            assert!(s.contains('.'), "{s} has no decimal point");
            assert!(!s.contains('e'));
            assert_eq!(s.parse::<f64>().unwrap().to_bits(), x.to_bits(), "{s}");
            // The whole card still fits in 80 columns with room to spare.
            let mut h = Header::new();
            h.value("CDELT1", &FitsValue::Float(x), "a comment")
                .unwrap();
            assert_eq!(h.cards[0].len(), CARD);
        }
        // Common values stay in fixed format (columns 11-30).
        assert_eq!(
            format_real("X", 1.0 / 3600.0).unwrap(),
            "2.777777777777778E-4"
        );
        assert_eq!(format_real("X", 0.001).unwrap(), "0.001");
        assert_eq!(format_real("X", 150.0).unwrap(), "150.0");
        assert_eq!(format_real("X", 1e20).unwrap(), "1.0E20");
        assert!(format_real("X", f64::NAN).is_err());
        assert!(format_real("X", f64::INFINITY).is_err());
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00");
        assert_eq!(iso_utc(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(iso_utc(1_709_251_199), "2024-02-29T23:59:59");
        assert_eq!(iso_utc(4_102_444_800), "2100-01-01T00:00:00");
        assert_eq!(iso_utc(-1), "1969-12-31T23:59:59");
        let now = now_iso_utc();
        assert_eq!(now.len(), 19);
        assert!(now.as_str() > "2024");
    }
}
