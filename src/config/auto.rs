//! Settings that are either a value or the string `"auto"`: the pixel size
//! (`image.cell_arcsec`, `--cell-arcsec`) and w-stacking (`image.wstacking`, `--wstacking`).
//!
//! In TOML they are untagged (`cell_arcsec = 2.5` or `"auto"`, `wstacking = true` or
//! `"auto"`); on the command line they parse with [`std::str::FromStr`].
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The literal string `"auto"`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AutoTag {
    /// `"auto"`.
    Auto,
}

/// Pixel size: a number of arcseconds or `"auto"`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Cell {
    /// Fixed pixel size, arcsec.
    Arcsec(f64),
    /// `"auto"`: a third of the finest fringe, 1/(3 |uv|max) radians.
    Auto(AutoTag),
}

impl Default for Cell {
    fn default() -> Self {
        Cell::Auto(AutoTag::Auto)
    }
}

/// Why a string is not a [`Cell`] or a [`WStacking`] value: the accepted forms.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected {0}")]
pub struct ParseAutoError(&'static str);

impl FromStr for Cell {
    type Err = ParseAutoError;

    /// `"auto"` or any number (its range is checked by `validate`, like the TOML value's).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "auto" {
            return Ok(Cell::Auto(AutoTag::Auto));
        }
        s.parse()
            .map(Cell::Arcsec)
            .map_err(|_| ParseAutoError("a number of arcseconds or \"auto\""))
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Arcsec(c) => write!(f, "{c}"),
            Cell::Auto(_) => f.write_str("auto"),
        }
    }
}

/// w-stacking (`image.wstacking`): `true`, `false` or `"auto"`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum WStacking {
    /// Always (`true`) or never (`false`, 2-D imaging that ignores w).
    Bool(bool),
    /// `"auto"`: on when the w-term's largest phase `2π max|w| max|n − 1|` exceeds ε.
    Auto(AutoTag),
}

impl Default for WStacking {
    fn default() -> Self {
        WStacking::Bool(false)
    }
}

impl FromStr for WStacking {
    type Err = ParseAutoError;

    /// `true` (or `on`), `false` (or `off`) or `auto`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "true" | "on" => Ok(WStacking::Bool(true)),
            "false" | "off" => Ok(WStacking::Bool(false)),
            "auto" => Ok(WStacking::Auto(AutoTag::Auto)),
            _ => Err(ParseAutoError("\"true\", \"false\" or \"auto\"")),
        }
    }
}

impl fmt::Display for WStacking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WStacking::Bool(b) => write!(f, "{b}"),
            WStacking::Auto(_) => f.write_str("auto"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_and_wstacking_parse_and_display_round_trip() {
        assert_eq!("auto".parse::<Cell>(), Ok(Cell::Auto(AutoTag::Auto)));
        assert_eq!("2.5".parse::<Cell>(), Ok(Cell::Arcsec(2.5)));
        let e = "banana".parse::<Cell>().unwrap_err().to_string();
        assert_eq!(e, "expected a number of arcseconds or \"auto\"");
        for w in ["true", "false", "auto"] {
            assert_eq!(w.parse::<WStacking>().unwrap().to_string(), w);
        }
        assert_eq!("on".parse::<WStacking>(), Ok(WStacking::Bool(true)));
        assert_eq!("off".parse::<WStacking>(), Ok(WStacking::Bool(false)));
        assert!("yes".parse::<WStacking>().is_err());
        assert_eq!(Cell::Arcsec(2.5).to_string(), "2.5");
    }
}
