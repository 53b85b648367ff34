//! Image arithmetic shared by the readers, the quick looks and `rimager info`: statistics of a
//! plane ([`stats`]: peak, rms, robust rms) and the sky coordinates of its pixels ([`coords`]:
//! SIN projection, sexagesimal formatting).
//!
//! A leaf of the layout: it works on plain `[ny][nx]` float32 planes (row 0 south, column 0
//! east, phase centre at pixel `(nx/2, ny/2)`) and imports nothing from the crate but
//! [`crate::constants`].

pub mod coords;
pub mod stats;
