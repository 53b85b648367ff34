//! The minimal FITS reader matching the writer: a primary HDU with `BITPIX = -32`,
//! `NAXIS >= 2` and every axis beyond the third of length 1; the header comes back as
//! `(keyword, value text)` pairs.
use std::path::Path;

use super::header::{BLOCK, CARD};
use crate::output::error::{FitsError, OutputError};

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

impl FitsCube {
    /// The value text of the first card with keyword `key`, if any.
    pub fn card(&self, key: &str) -> Option<&str> {
        find_card(&self.cards, key)
    }
}

fn find_card<'a>(cards: &'a [(String, String)], key: &str) -> Option<&'a str> {
    cards
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
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

/// Reads back a FITS file as written by `write_fits_image`: a primary HDU with
/// `BITPIX = -32`, `NAXIS >= 2` and every axis beyond the second of length 1.
///
/// Returns `(data, nx, ny, cards)`, `data` in the same order `write_fits_image` takes it and
/// with `BSCALE`/`BZERO` applied, and `cards` as `(keyword, value text)` pairs in header
/// order (strings unquoted; `COMMENT`/`HISTORY` text as the value; `END` excluded).
pub fn read_fits_image(path: &Path) -> Result<FitsImage, OutputError> {
    let c = read_fits_cube(path)?;
    if c.nz != 1 {
        return Err(OutputError::FitsRead {
            path: path.to_path_buf(),
            reason: FitsError::ExtraAxes {
                image: true,
                found: format!("a cube of {} planes", c.nz),
            },
        });
    }
    Ok((c.data, c.nx, c.ny, c.cards))
}

/// Reads back a FITS file as written by `write_fits_cube` (or `write_fits_image`): a
/// primary HDU with `BITPIX = -32`, `NAXIS >= 2` and every axis beyond the third of length 1.
pub fn read_fits_cube(path: &Path) -> Result<FitsCube, OutputError> {
    let bytes = std::fs::read(path).map_err(|e| OutputError::io(path, "read FITS file", e))?;
    parse_fits(&bytes).map_err(|reason| OutputError::FitsRead {
        path: path.to_path_buf(),
        reason,
    })
}

/// The header cards and the length of the header in bytes (through the `END` card).
fn parse_header(bytes: &[u8]) -> Result<(Vec<(String, String)>, usize), FitsError> {
    let mut cards: Vec<(String, String)> = Vec::new();
    for (i, card) in bytes.chunks(CARD).enumerate() {
        if card.len() < CARD {
            break;
        }
        let card = std::str::from_utf8(card)
            .ok()
            .filter(|c| c.is_ascii())
            .ok_or(FitsError::NotAscii(i + 1))?;
        let key = card[..8].trim_end();
        if key == "END" {
            return Ok((cards, (i + 1) * CARD));
        }
        if &card[8..10] == "= " {
            let v = parse_value(&card[10..])
                .ok_or_else(|| FitsError::UnterminatedString(key.to_string()))?;
            cards.push((key.to_string(), v));
        } else if !key.is_empty() {
            cards.push((key.to_string(), card[8..].trim_end().to_string()));
        }
    }
    Err(FitsError::NoEnd)
}

fn parse_fits(bytes: &[u8]) -> Result<FitsCube, FitsError> {
    let (cards, header_len) = parse_header(bytes)?;
    let data_start = header_len.div_ceil(BLOCK) * BLOCK;
    let bad_value = |key: &str, e: &dyn std::fmt::Display| FitsError::BadValue {
        key: key.to_string(),
        message: e.to_string(),
    };
    let get_int = |k: &str| -> Result<i64, FitsError> {
        find_card(&cards, k)
            .ok_or_else(|| FitsError::Missing(k.to_string()))?
            .parse::<i64>()
            .map_err(|e| bad_value(k, &e))
    };
    let get_real = |k: &str, default: f64| -> Result<f64, FitsError> {
        find_card(&cards, k).map_or(Ok(default), |v| {
            v.replace('D', "E")
                .parse::<f64>()
                .map_err(|e| bad_value(k, &e))
        })
    };
    if cards.first().map(|(k, v)| (k.as_str(), v.as_str())) != Some(("SIMPLE", "T")) {
        return Err(FitsError::NotSimple);
    }
    if get_int("BITPIX")? != -32 {
        return Err(FitsError::Bitpix);
    }
    let naxis = get_int("NAXIS")?;
    if !(2..=999).contains(&naxis) {
        return Err(FitsError::Naxis(naxis));
    }
    let mut dims = Vec::new();
    for i in 1..=naxis {
        let n = get_int(&format!("NAXIS{i}"))?;
        let n = usize::try_from(n).map_err(|_| FitsError::AxisLength(i, n))?;
        dims.push(n);
    }
    if dims.len() > 3 && dims[3..].iter().any(|&n| n != 1) {
        return Err(FitsError::ExtraAxes {
            image: false,
            found: format!("{dims:?}"),
        });
    }
    let (nx, ny) = (dims[0], dims[1]);
    let nz = dims.get(2).copied().unwrap_or(1);
    let n = nx
        .checked_mul(ny)
        .and_then(|n| n.checked_mul(nz))
        .ok_or(FitsError::Overflow)?;
    let end = n
        .checked_mul(4)
        .and_then(|b| b.checked_add(data_start))
        .ok_or(FitsError::Overflow)?;
    if bytes.len() < end {
        return Err(FitsError::Truncated {
            len: bytes.len(),
            nx,
            ny,
            nz,
            need: end,
        });
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
