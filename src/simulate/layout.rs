//! Antenna layout files (format: `data/layouts/README.md`) and the conversion of local
//! east/north/up offsets to local equatorial XYZ (Thompson, Moran & Swenson 2017,
//! *Interferometry and Synthesis in Radio Astronomy*, 3rd ed., §4.1).
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::error::SimError;

/// One antenna: name and local ENU offset from the array centre, metres.
#[derive(Clone, Debug, PartialEq)]
pub struct Antenna {
    /// Antenna name (unique within the file).
    pub name: String,
    /// (east, north, up) offset from the array centre, metres.
    pub enu_m: [f64; 3],
}

/// A parsed layout file.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// Telescope name (`# telescope:` line, else the file stem).
    pub telescope: String,
    /// Latitude of the array centre, degrees.
    pub latitude_deg: f64,
    /// Antennas in file order.
    pub antennas: Vec<Antenna>,
}

impl Layout {
    /// Reads and validates a layout file. A relative path is resolved against the CWD.
    pub fn from_file(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses layout text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, SimError> {
        let bad = |line: usize, field: &str, value: &str, reason: &str| SimError::Layout {
            path: path.to_path_buf(),
            line,
            field: field.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let mut telescope: Option<String> = None;
        let mut latitude_deg: Option<f64> = None;
        let mut antennas = Vec::new();
        let mut names = HashSet::new();
        for (idx, raw) in text.lines().enumerate() {
            let line_no = idx + 1;
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                let Some((key, value)) = comment.split_once(':') else {
                    continue;
                };
                let value = value.trim();
                match key.trim() {
                    "telescope" => {
                        if value.is_empty() {
                            return Err(bad(line_no, "telescope", value, "must not be empty"));
                        }
                        telescope = Some(value.to_string());
                    }
                    "latitude_deg" => {
                        let lat = parse_f64(value)
                            .filter(|v| (-90.0..=90.0).contains(v))
                            .ok_or_else(|| {
                                bad(
                                    line_no,
                                    "latitude_deg",
                                    value,
                                    "must be a number in [-90, 90]",
                                )
                            })?;
                        if latitude_deg.is_some() {
                            return Err(bad(
                                line_no,
                                "latitude_deg",
                                value,
                                "appears more than once",
                            ));
                        }
                        latitude_deg = Some(lat);
                    }
                    _ => {}
                }
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if fields == ["name", "east_m", "north_m", "up_m"] {
                continue;
            }
            if fields.len() != 4 {
                return Err(bad(
                    line_no,
                    "row",
                    line,
                    &format!(
                        "expected 4 comma-separated fields name,east_m,north_m,up_m, found {}",
                        fields.len()
                    ),
                ));
            }
            let name = fields[0];
            if name.is_empty() {
                return Err(bad(line_no, "name", name, "must not be empty"));
            }
            let mut enu_m = [0.0; 3];
            for (k, field) in ["east_m", "north_m", "up_m"].iter().enumerate() {
                enu_m[k] = parse_f64(fields[k + 1])
                    .ok_or_else(|| bad(line_no, field, fields[k + 1], "must be a finite number"))?;
            }
            if !names.insert(name.to_string()) {
                return Err(bad(line_no, "name", name, "duplicate antenna name"));
            }
            antennas.push(Antenna {
                name: name.to_string(),
                enu_m,
            });
        }
        let latitude_deg = latitude_deg.ok_or_else(|| SimError::MissingKey {
            path: path.to_path_buf(),
            key: "latitude_deg".to_string(),
        })?;
        if antennas.len() < 2 {
            return Err(SimError::TooFewAntennas {
                path: path.to_path_buf(),
                count: antennas.len(),
            });
        }
        let telescope = telescope.unwrap_or_else(|| file_stem(path));
        Ok(Self {
            telescope,
            latitude_deg,
            antennas,
        })
    }

    /// Antenna positions in local equatorial coordinates (X, Y, Z), metres:
    /// X = −sin(lat)·N + cos(lat)·U, Y = E, Z = cos(lat)·N + sin(lat)·U
    /// (Thompson, Moran & Swenson 2017, §4.1: X towards H = 0, δ = 0; Y towards H = −6 h,
    /// δ = 0; Z towards the north celestial pole).
    pub fn xyz_m(&self) -> Vec<[f64; 3]> {
        let (sin_lat, cos_lat) = (self.latitude_deg * crate::constants::RAD_PER_DEG).sin_cos();
        self.antennas
            .iter()
            .map(|a| enu_to_xyz(a.enu_m, sin_lat, cos_lat))
            .collect()
    }
}

/// ENU → local equatorial XYZ for a site with the given sin/cos latitude.
#[inline]
pub fn enu_to_xyz([e, n, u]: [f64; 3], sin_lat: f64, cos_lat: f64) -> [f64; 3] {
    [-sin_lat * n + cos_lat * u, e, cos_lat * n + sin_lat * u]
}

fn parse_f64(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| PathBuf::from(path).display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Layout, SimError> {
        Layout::parse(text, Path::new("arr.csv"))
    }

    #[test]
    fn parses_keys_rows_and_header() {
        let l = parse("# telescope: T\n# latitude_deg: -30\n# other: x\n\nname,east_m,north_m,up_m\na,1,2,3\nb, 4 ,5,6\n")
            .unwrap();
        assert_eq!(l.telescope, "T");
        assert_eq!(l.latitude_deg, -30.0);
        assert_eq!(l.antennas.len(), 2);
        assert_eq!(l.antennas[1].enu_m, [4.0, 5.0, 6.0]);
        let l = parse("# latitude_deg: 10\na,1,2,3\nb,4,5,6\n").unwrap();
        assert_eq!(l.telescope, "arr");
    }

    #[test]
    fn errors_name_file_line_field_and_value() {
        let e = parse("# latitude_deg: 10\na,1,2,3\nb,4,nan,6\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("arr.csv") && e.contains(":3") && e.contains("north_m") && e.contains("nan"),
            "{e}"
        );
        let e = parse("# latitude_deg: 10\na,1,2,3\nb,4,5\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("arr.csv:3") && e.contains("b,4,5"), "{e}");
        let e = parse("# latitude_deg: 100\na,1,2,3\nb,4,5,6\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("arr.csv:1") && e.contains("latitude_deg") && e.contains("100"),
            "{e}"
        );
        let e = parse("# latitude_deg: 1\na,1,2,3\na,4,5,6\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("arr.csv:3") && e.contains("duplicate"), "{e}");
        let e = parse("a,1,2,3\nb,4,5,6\n").unwrap_err().to_string();
        assert!(e.contains("arr.csv") && e.contains("latitude_deg"), "{e}");
        let e = parse("# latitude_deg: 1\na,1,2,3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("arr.csv") && e.contains("2 antennas"), "{e}");
    }

    #[test]
    fn missing_file_names_the_path() {
        let e = Layout::from_file(Path::new("no/such/layout.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no/such/layout.csv"), "{e}");
    }

    #[test]
    fn shipped_layouts_parse_with_expected_sizes() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/layouts");
        for (file, n) in [
            ("meerkat.csv", 64),
            ("vla_a.csv", 27),
            ("vla_d.csv", 27),
            ("ska_mid.csv", 197),
            ("ska_low.csv", 512),
            ("small_test.csv", 8),
        ] {
            let l = Layout::from_file(&dir.join(file)).unwrap();
            assert_eq!(l.antennas.len(), n, "{file}");
        }
    }

    #[test]
    fn enu_to_xyz_at_pole_and_equator() {
        // At the north pole, up points at the celestial pole (Z) and north points to −X.
        let p = enu_to_xyz([1.0, 2.0, 3.0], 1.0, 0.0);
        assert_eq!(p, [-2.0, 1.0, 3.0]);
        // At the equator, up is X (towards H = 0) and north is Z.
        let p = enu_to_xyz([1.0, 2.0, 3.0], 0.0, 1.0);
        assert_eq!(p, [3.0, 1.0, 2.0]);
    }
}
