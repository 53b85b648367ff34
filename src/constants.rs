//! Physical and unit constants.

/// Speed of light in vacuum, m/s.
pub const SPEED_OF_LIGHT_M_S: f64 = 299_792_458.0;
/// Radians per arcsecond.
pub const RAD_PER_ARCSEC: f64 = std::f64::consts::PI / (180.0 * 3600.0);
/// Radians per degree.
pub const RAD_PER_DEG: f64 = std::f64::consts::PI / 180.0;
