//! A small FITS writer (primary HDU only) and a matching minimal reader.
//!
//! Written against the FITS Standard 4.0 (IAU FITS Working Group, 2016) and, for the
//! celestial coordinates, Greisen & Calabretta 2002 (A&A 395, 1061, "WCS paper I") and
//! Calabretta & Greisen 2002 (A&A 395, 1077, "WCS paper II", the `SIN` projection). We avoid
//! `fitsio`/cfitsio so that the shipped binary stays statically linked.
//!
//! What is written (FITS 4.0 §3.3, §4):
//! * a header of 80-character ASCII "card images" (§4.1), padded with blanks to a multiple
//!   of 2880 bytes (§3.3.1, §4.4.1);
//! * the mandatory keywords `SIMPLE`, `BITPIX`, `NAXIS`, `NAXISn` first and in that order
//!   (§4.4.1.1), then the WCS and descriptive keywords, then caller-supplied cards, then `END`;
//! * the data array as big-endian IEEE-754 binary32 (`BITPIX = -32`, §5.3), first axis
//!   varying fastest (§5.1), padded with zero bytes to a multiple of 2880 (§3.3.2).
//!
//! The image is a 4-axis cube like WSClean's: `RA---SIN`, `DEC--SIN`, `FREQ`, `STOKES`, with
//! the last two of length 1.

use super::{write_atomically, OutputError};
use std::io::Write;
use std::path::{Path, PathBuf};

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
    fn value(&mut self, key: &str, value: &FitsValue, comment: &str) -> Result<(), String> {
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
    fn commentary(&mut self, key: &str, text: &str) -> Result<(), String> {
        validate_keyword(key)?;
        check_printable(key, text)?;
        if text.len() > CARD - 8 {
            return Err(format!(
                "{key} text is {} characters; at most {} fit on a card",
                text.len(),
                CARD - 8
            ));
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
fn validate_keyword(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > 8 {
        return Err(format!("keyword {key:?} must be 1 to 8 characters long"));
    }
    if !key
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "keyword {key:?} may only contain upper-case A-Z, 0-9, '-' and '_' (FITS 4.0 §4.1.2.1)"
        ));
    }
    Ok(())
}

/// Header text must be printable ASCII, 0x20–0x7E (FITS 4.0 §4.1.2.3, §4.2.1).
fn check_printable(key: &str, s: &str) -> Result<(), String> {
    if let Some(c) = s.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(format!(
            "value of {key} contains {c:?}; FITS header text must be printable ASCII"
        ));
    }
    Ok(())
}

/// Formats a value for columns 11 onwards.
fn format_value(key: &str, value: &FitsValue) -> Result<String, String> {
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
fn format_string(key: &str, s: &str) -> Result<String, String> {
    check_printable(key, s)?;
    let escaped = s.replace('\'', "''");
    // Columns 11..=80 hold 70 characters, two of them the quotes.
    if escaped.len() > 68 {
        return Err(format!(
            "string value of {key} is {} characters (quotes doubled); at most 68 fit on a card",
            escaped.len()
        ));
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
pub(crate) fn format_real(key: &str, x: f64) -> Result<String, String> {
    if !x.is_finite() {
        return Err(format!(
            "value of {key} is {x}; FITS header reals must be finite"
        ));
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

fn now_iso_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2))
        .unwrap_or(0);
    iso_utc(secs)
}

/// Builds the complete primary header (padded to 2880 bytes) for an `nx × ny × nz` image
/// (`nz` frequency planes).
fn build_header(
    nx: usize,
    ny: usize,
    nz: usize,
    wcs: &SkyWcs,
    bunit: &str,
    extra: &[(String, FitsValue)],
    date: &str,
) -> Result<Vec<u8>, String> {
    use FitsValue::{Bool, Float, Int, Str};
    let s = |v: &str| Str(v.to_string());
    let int = |n: usize| i64::try_from(n).map(Int).map_err(|e| e.to_string());
    let mut h = Header::new();
    // Mandatory keywords, in order (FITS 4.0 §4.4.1.1).
    h.value("SIMPLE", &Bool(true), "conforms to FITS standard")?;
    h.value("BITPIX", &Int(-32), "IEEE single precision floating point")?;
    h.value("NAXIS", &Int(4), "")?;
    h.value("NAXIS1", &int(nx)?, "RA axis")?;
    h.value("NAXIS2", &int(ny)?, "Dec axis")?;
    h.value("NAXIS3", &int(nz)?, "frequency axis")?;
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
    h.value("CRPIX1", &int(nx / 2 + 1)?, "")?;
    h.value("CRVAL1", &Float(wcs.ra_deg), "")?;
    h.value("CDELT1", &Float(-wcs.cell_deg), "")?;
    h.value("CUNIT1", &s("deg"), "")?;
    h.value("CTYPE2", &s("DEC--SIN"), "")?;
    h.value("CRPIX2", &int(ny / 2 + 1)?, "")?;
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
    for (key, value) in extra {
        validate_keyword(key)?;
        if COMMENTARY.contains(&key.as_str()) {
            match value {
                Str(text) => h.commentary(key, text)?,
                _ => return Err(format!("{key} cards take a string value")),
            }
            continue;
        }
        if RESERVED.contains(&key.as_str()) {
            return Err(format!(
                "keyword {key} is written by the FITS writer itself and cannot be overridden"
            ));
        }
        if seen.contains(&key.as_str()) {
            return Err(format!("keyword {key} given twice"));
        }
        seen.push(key);
        h.value(key, value, "")?;
    }
    Ok(h.into_bytes())
}

fn validate_image(
    data: &[f32],
    nx: usize,
    ny: usize,
    nz: usize,
    wcs: &SkyWcs,
) -> Result<(), String> {
    if nx == 0 || ny == 0 || nz == 0 {
        return Err(format!(
            "image dimensions must be positive, got {nx} x {ny} x {nz}"
        ));
    }
    match nx.checked_mul(ny).and_then(|n| n.checked_mul(nz)) {
        Some(n) if n == data.len() => {}
        _ if nz == 1 => {
            return Err(format!(
                "data has {} values but the image is {nx} x {ny}",
                data.len()
            ))
        }
        _ => {
            return Err(format!(
                "data has {} values but the cube is {nx} x {ny} x {nz}",
                data.len()
            ))
        }
    }
    let finite = [
        ("ra_deg", wcs.ra_deg),
        ("dec_deg", wcs.dec_deg),
        ("cell_deg", wcs.cell_deg),
        ("freq_hz", wcs.freq_hz),
        ("bandwidth_hz", wcs.bandwidth_hz),
    ];
    if let Some((name, v)) = finite.iter().find(|(_, v)| !v.is_finite()) {
        return Err(format!("WCS {name} is {v}"));
    }
    if !(-90.0..=90.0).contains(&wcs.dec_deg) {
        return Err(format!("declination {} is outside [-90, 90]", wcs.dec_deg));
    }
    if wcs.cell_deg <= 0.0 || wcs.freq_hz <= 0.0 {
        return Err("cell size and frequency must be positive".into());
    }
    // A single plane's CDELT3 is its bandwidth; a cube's is the plane spacing, negative for
    // descending frequencies but never zero (the axis would be degenerate).
    if (nz == 1 && wcs.bandwidth_hz <= 0.0) || wcs.bandwidth_hz == 0.0 {
        return Err(format!(
            "CDELT3 = {} Hz: a bandwidth must be positive and a plane spacing non-zero",
            wcs.bandwidth_hz
        ));
    }
    Ok(())
}

/// Writes a single-plane image as a FITS primary HDU, atomically (see
/// [`super::write_atomically`]).
///
/// `data` is row-major `[ny][nx]` float32 with row 0 the SOUTHERN-most row and column 0 the
/// EASTERN-most column (i.e. already in FITS storage order: east left, north up as viewers
/// display), phase centre at 0-based pixel `(nx/2, ny/2)`. `bunit` is e.g. `"JY/BEAM"`.
/// `extra` cards follow the standard ones; keys must be valid FITS keywords (§4.1.2.1) not
/// already written by this function, except `COMMENT`/`HISTORY` which may repeat.
pub fn write_fits_image(
    path: &Path,
    data: &[f32],
    nx: usize,
    ny: usize,
    wcs: &SkyWcs,
    bunit: &str,
    extra: &[(String, FitsValue)],
) -> Result<(), OutputError> {
    write_fits_cube(path, data, nx, ny, 1, wcs, bunit, extra)
}

/// Writes an `nx × ny × nz` cube (`nz` frequency planes) as a FITS primary HDU, atomically:
/// as [`write_fits_image`], with `NAXIS3 = nz`, `data` plane after plane (`[nz][ny][nx]`), and
/// the spectral axis `FREQ` with `CRVAL3 = wcs.freq_hz` (plane 1, `CRPIX3 = 1`) and
/// `CDELT3 = wcs.bandwidth_hz` (the plane spacing; negative for descending frequencies;
/// Greisen et al. 2006, WCS paper III). NaN values are allowed: they are FITS's undefined
/// (blanked) floating-point pixels (FITS 4.0 §5.3).
#[allow(clippy::too_many_arguments)]
pub fn write_fits_cube(
    path: &Path,
    data: &[f32],
    nx: usize,
    ny: usize,
    nz: usize,
    wcs: &SkyWcs,
    bunit: &str,
    extra: &[(String, FitsValue)],
) -> Result<(), OutputError> {
    let invalid = |reason: String| OutputError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    validate_image(data, nx, ny, nz, wcs).map_err(invalid)?;
    let header = build_header(nx, ny, nz, wcs, bunit, extra, &now_iso_utc()).map_err(invalid)?;
    write_atomically(path, |w| {
        w.write_all(&header)?;
        // Big-endian IEEE-754 binary32, first axis (x) fastest (FITS 4.0 §5.1, §5.3).
        let mut buf = Vec::with_capacity(4 * 8192);
        for chunk in data.chunks(8192) {
            buf.clear();
            buf.extend(chunk.iter().flat_map(|v| v.to_be_bytes()));
            w.write_all(&buf)?;
        }
        // Pad the data unit with zero bytes to a whole number of records (§3.3.2).
        let data_bytes = 4 * data.len();
        let pad = data_bytes.div_ceil(BLOCK) * BLOCK - data_bytes;
        w.write_all(&vec![0u8; pad])?;
        Ok(())
    })
}

/// What [`read_fits_image`] returns: `(data, nx, ny, cards)`.
pub type FitsImage = (Vec<f32>, usize, usize, Vec<(String, String)>);

/// What [`read_fits_cube`] returns: data `[nz][ny][nx]`, its shape and the header cards.
#[derive(Clone, Debug)]
pub struct FitsCube {
    /// The values, plane after plane.
    pub data: Vec<f32>,
    /// `NAXIS1`.
    pub nx: usize,
    /// `NAXIS2`.
    pub ny: usize,
    /// `NAXIS3` (1 when absent).
    pub nz: usize,
    /// `(keyword, value text)` pairs in header order.
    pub cards: Vec<(String, String)>,
}

/// Parses a card's value field (columns 11–80): strings are unquoted with `''` → `'` and
/// trailing blanks removed (§4.2.1.1); other values are the text before any `/` comment,
/// trimmed.
fn parse_value(field: &str) -> Option<String> {
    let t = field.trim_start();
    if let Some(rest) = t.strip_prefix('\'') {
        let mut out = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    out.push('\'');
                } else {
                    return Some(out.trim_end().to_string());
                }
            } else {
                out.push(c);
            }
        }
        None // unterminated string
    } else {
        Some(t.split('/').next().unwrap_or("").trim().to_string())
    }
}

/// Reads back a FITS file as written by [`write_fits_image`]: a primary HDU with
/// `BITPIX = -32`, `NAXIS >= 2` and every axis beyond the second of length 1.
///
/// Returns `(data, nx, ny, cards)`, `data` in the same order `write_fits_image` takes it and
/// with `BSCALE`/`BZERO` applied, and `cards` as `(keyword, value text)` pairs in header
/// order (strings unquoted; `COMMENT`/`HISTORY` text as the value; `END` excluded).
pub fn read_fits_image(path: &Path) -> Result<FitsImage, OutputError> {
    let c = read_fits_cube(path)?;
    if c.nz != 1 {
        return Err(OutputError::Malformed {
            path: path.to_path_buf(),
            reason: format!(
                "axes beyond the second must have length 1, got a cube of {} planes",
                c.nz
            ),
        });
    }
    Ok((c.data, c.nx, c.ny, c.cards))
}

/// Reads back a FITS file as written by [`write_fits_cube`] (or [`write_fits_image`]): a
/// primary HDU with `BITPIX = -32`, `NAXIS >= 2` and every axis beyond the third of length 1.
pub fn read_fits_cube(path: &Path) -> Result<FitsCube, OutputError> {
    let bytes = std::fs::read(path).map_err(|e| OutputError::Io {
        path: path.to_path_buf(),
        op: "read FITS file",
        source: e,
    })?;
    let bad = |reason: String| OutputError::Malformed {
        path: PathBuf::from(path),
        reason,
    };
    let mut cards: Vec<(String, String)> = Vec::new();
    let mut header_len = None;
    for (i, card) in bytes.chunks(CARD).enumerate() {
        if card.len() < CARD {
            break;
        }
        let card = std::str::from_utf8(card)
            .ok()
            .filter(|c| c.is_ascii())
            .ok_or_else(|| bad(format!("header card {} is not ASCII", i + 1)))?;
        let key = card[..8].trim_end();
        if key == "END" {
            header_len = Some((i + 1) * CARD);
            break;
        }
        if &card[8..10] == "= " {
            let v = parse_value(&card[10..])
                .ok_or_else(|| bad(format!("unterminated string in card {key}")))?;
            cards.push((key.to_string(), v));
        } else if !key.is_empty() {
            cards.push((key.to_string(), card[8..].trim_end().to_string()));
        }
    }
    let header_len = header_len.ok_or_else(|| bad("no END card".into()))?;
    let data_start = header_len.div_ceil(BLOCK) * BLOCK;
    let get = |k: &str| {
        cards
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let get_int = |k: &str| -> Result<i64, OutputError> {
        get(k)
            .ok_or_else(|| bad(format!("missing {k}")))?
            .parse::<i64>()
            .map_err(|e| bad(format!("{k}: {e}")))
    };
    let get_real = |k: &str, default: f64| -> Result<f64, OutputError> {
        get(k).map_or(Ok(default), |v| {
            v.replace('D', "E")
                .parse::<f64>()
                .map_err(|e| bad(format!("{k}: {e}")))
        })
    };
    if cards.first().map(|(k, v)| (k.as_str(), v.as_str())) != Some(("SIMPLE", "T")) {
        return Err(bad("first card is not SIMPLE = T".into()));
    }
    if get_int("BITPIX")? != -32 {
        return Err(bad("only BITPIX = -32 is supported".into()));
    }
    let naxis = get_int("NAXIS")?;
    if !(2..=999).contains(&naxis) {
        return Err(bad(format!("NAXIS = {naxis}; need at least 2")));
    }
    let mut dims = Vec::new();
    for i in 1..=naxis {
        let n = get_int(&format!("NAXIS{i}"))?;
        let n = usize::try_from(n).map_err(|_| bad(format!("NAXIS{i} = {n}")))?;
        dims.push(n);
    }
    if dims.len() > 3 && dims[3..].iter().any(|&n| n != 1) {
        return Err(bad(format!(
            "axes beyond the third must have length 1, got {dims:?}"
        )));
    }
    let (nx, ny) = (dims[0], dims[1]);
    let nz = dims.get(2).copied().unwrap_or(1);
    let n = nx
        .checked_mul(ny)
        .and_then(|n| n.checked_mul(nz))
        .ok_or_else(|| bad("image size overflows".into()))?;
    let end = n
        .checked_mul(4)
        .and_then(|b| b.checked_add(data_start))
        .ok_or_else(|| bad("image size overflows".into()))?;
    if bytes.len() < end {
        return Err(bad(format!(
            "file is {} bytes, but the header and {nx} x {ny} x {nz} data need {end}",
            bytes.len()
        )));
    }
    let bscale = get_real("BSCALE", 1.0)?;
    let bzero = get_real("BZERO", 0.0)?;
    let data: Vec<f32> = bytes[data_start..end]
        .chunks_exact(4)
        .map(|b| f32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .map(|v| {
            if bscale == 1.0 && bzero == 0.0 {
                v
            } else {
                (bzero + bscale * f64::from(v)) as f32
            }
        })
        .collect();
    Ok(FitsCube {
        data,
        nx,
        ny,
        nz,
        cards,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn wcs() -> SkyWcs {
        SkyWcs {
            ra_deg: 150.0,
            dec_deg: -30.0,
            cell_deg: 1.0 / 3600.0,
            freq_hz: 1.4e9,
            bandwidth_hz: 1e6,
        }
    }

    fn random_image(nx: usize, ny: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..nx * ny)
            .map(|_| rng.random_range(-10.0f32..10.0))
            .collect()
    }

    #[test]
    fn header_is_whole_records_of_80_char_ascii_cards() {
        let extra = vec![
            ("BMAJ".to_string(), FitsValue::Float(1.5e-3)),
            ("OBJECT".to_string(), FitsValue::Str("it's a test".into())),
            ("NITER".to_string(), FitsValue::Int(-42)),
            ("CLEANED".to_string(), FitsValue::Bool(false)),
            (
                "HISTORY".to_string(),
                FitsValue::Str("made by a test".into()),
            ),
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
    fn round_trip_through_reader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("img.fits");
        for (nx, ny) in [(64, 48), (7, 5), (1, 1), (720, 1)] {
            let data = random_image(nx, ny, 12345 + nx as u64);
            let extra = vec![("BMAJ".to_string(), FitsValue::Float(0.1 + 0.2))];
            write_fits_image(&path, &data, nx, ny, &wcs(), "JY/BEAM", &extra).unwrap();
            let len = std::fs::metadata(&path).unwrap().len() as usize;
            assert_eq!(len % BLOCK, 0);
            let (back, bx, by, cards) = read_fits_image(&path).unwrap();
            assert_eq!((bx, by), (nx, ny));
            assert_eq!(
                back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                data.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            let get = |k: &str| cards.iter().find(|(key, _)| key == k).unwrap().1.clone();
            assert_eq!(get("BUNIT"), "JY/BEAM");
            assert_eq!(get("CTYPE2"), "DEC--SIN");
            assert_eq!(get("CDELT1").parse::<f64>().unwrap(), -1.0 / 3600.0);
            assert_eq!(get("CRVAL3").parse::<f64>().unwrap(), 1.4e9);
            assert_eq!(get("BMAJ").parse::<f64>().unwrap(), 0.1 + 0.2);
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
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

    #[test]
    fn atomic_write_keeps_old_file_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.fits");
        std::fs::write(&path, b"old good content").unwrap();
        let err = write_atomically(&path, |w| {
            w.write_all(&[1u8; 10_000])?;
            Err(std::io::Error::other("disk on fire"))
        })
        .unwrap_err();
        // The message names the file; the cause follows in the error chain.
        let msg = err.to_string();
        let cause = std::error::Error::source(&err)
            .map(|c| c.to_string())
            .unwrap_or_default();
        assert!(
            cause.contains("disk on fire") && msg.contains("out.fits"),
            "{msg} / {cause}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"old good content");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.fits")]);

        // A panic in the writer also leaves no temporary file.
        let r = std::panic::catch_unwind(|| {
            let _ = write_atomically(&path, |_| panic!("boom"));
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        // And a successful write replaces the content.
        write_atomically(&path, |w| w.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn commit_temp_renames() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.h5");
        let tmp = super::super::temp_path_for(&path);
        assert_eq!(
            tmp.file_name().unwrap().to_str().unwrap(),
            format!(".x.h5.tmp-{}", std::process::id())
        );
        std::fs::write(&tmp, b"abc").unwrap();
        super::super::commit_temp(&tmp, &path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");
        assert!(!tmp.exists());
        // Committing a missing temp file fails and names it.
        let err = super::super::commit_temp(&tmp, &path).unwrap_err();
        assert!(err.to_string().contains(".x.h5.tmp-"), "{err}");
    }

    #[test]
    fn bad_inputs_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.fits");
        let data = random_image(4, 4, 1);
        let w = wcs();
        let try_extra = |k: &str, v: FitsValue| {
            write_fits_image(&path, &data, 4, 4, &w, "JY/BEAM", &[(k.to_string(), v)])
                .unwrap_err()
                .to_string()
        };
        for k in ["TOOLONGKEY", "bmaj", "BM AJ", "", "BMAJ="] {
            let e = try_extra(k, FitsValue::Int(1));
            assert!(e.contains("keyword") && e.contains("bad.fits"), "{e}");
        }
        assert!(try_extra("NAXIS1", FitsValue::Int(3)).contains("cannot be overridden"));
        assert!(try_extra("OBJECT", FitsValue::Str("café".into())).contains("ASCII"));
        assert!(try_extra("OBJECT", FitsValue::Str("x".repeat(69))).contains("at most 68"));
        assert!(try_extra("BMAJ", FitsValue::Float(f64::NAN)).contains("finite"));
        assert!(try_extra("HISTORY", FitsValue::Int(1)).contains("string"));
        let e = write_fits_image(&path, &data, 5, 4, &w, "JY/BEAM", &[]).unwrap_err();
        assert!(e.to_string().contains("16 values"), "{e}");
        let e = write_fits_image(&path, &data, 4, 4, &w, "Jy/beam\u{e9}", &[]).unwrap_err();
        assert!(e.to_string().contains("ASCII"), "{e}");
        let dup = [
            ("BMAJ".to_string(), FitsValue::Int(1)),
            ("BMAJ".to_string(), FitsValue::Int(2)),
        ];
        let e = write_fits_image(&path, &data, 4, 4, &w, "JY/BEAM", &dup).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
        // Nothing was written by any failed call.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        // A 68-character string (the maximum) is accepted.
        let ok = [("OBJECT".to_string(), FitsValue::Str("y".repeat(68)))];
        write_fits_image(&path, &data, 4, 4, &w, "JY/BEAM", &ok).unwrap();
        let (_, _, _, cards) = read_fits_image(&path).unwrap();
        assert!(cards.contains(&("OBJECT".to_string(), "y".repeat(68))));
    }
}
