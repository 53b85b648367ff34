//! `[metrics]`: the assumptions of the energy and CO2 estimate of `rimager image` (the
//! estimate itself is the `energy` module's).
use serde::{Deserialize, Serialize};

use super::error::{check, FieldError};

/// Default CPU power per core, W: the Intel Xeon Platinum 8480+ (the host CPU of NVIDIA DGX
/// H100 systems) has a TDP of 350 W for 56 cores (Intel ARK), 6.25 W per core.
pub const DEFAULT_CPU_WATTS_PER_CORE: f64 = 6.25;
/// Default GPU power when NVML cannot measure it, W: the NVIDIA H100 SXM5 maximum power
/// (TDP) of 700 W (NVIDIA H100 Tensor Core GPU datasheet).
pub const DEFAULT_GPU_WATTS: f64 = 700.0;
/// Default carbon intensity, kg CO2e per kWh: the 2019 world average of 475 g CO2e/kWh
/// (IEA, Global Energy & CO2 Status Report 2019), the default of the Green Algorithms
/// calculator.
pub const DEFAULT_KG_CO2_PER_KWH: f64 = 0.475;

/// `[metrics]` section: the assumptions of the energy and CO2 estimate.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// CPU power per core in use, W ([`DEFAULT_CPU_WATTS_PER_CORE`]).
    #[serde(default = "default_cpu_watts")]
    pub cpu_watts_per_core: f64,
    /// GPU power per GPU when NVML cannot measure it, W ([`DEFAULT_GPU_WATTS`]).
    #[serde(default = "default_gpu_watts")]
    pub gpu_watts: f64,
    /// Power usage effectiveness of the data centre (≥ 1; 1 = energy at the node).
    #[serde(default = "default_pue")]
    pub pue: f64,
    /// Carbon intensity of the electricity, kg CO2e per kWh ([`DEFAULT_KG_CO2_PER_KWH`]).
    #[serde(default = "default_co2")]
    pub kg_co2_per_kwh: f64,
    /// GPU power sampling period, milliseconds.
    #[serde(default = "default_sample_ms")]
    pub gpu_sample_ms: u64,
}

fn default_cpu_watts() -> f64 {
    DEFAULT_CPU_WATTS_PER_CORE
}
fn default_gpu_watts() -> f64 {
    DEFAULT_GPU_WATTS
}
fn default_pue() -> f64 {
    1.0
}
fn default_co2() -> f64 {
    DEFAULT_KG_CO2_PER_KWH
}
fn default_sample_ms() -> u64 {
    100
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            cpu_watts_per_core: default_cpu_watts(),
            gpu_watts: default_gpu_watts(),
            pue: default_pue(),
            kg_co2_per_kwh: default_co2(),
            gpu_sample_ms: default_sample_ms(),
        }
    }
}

impl MetricsConfig {
    /// Checks value ranges.
    pub fn validate(&self) -> Result<(), FieldError> {
        for (field, v) in [
            ("metrics.cpu_watts_per_core", self.cpu_watts_per_core),
            ("metrics.gpu_watts", self.gpu_watts),
            ("metrics.kg_co2_per_kwh", self.kg_co2_per_kwh),
        ] {
            check(
                v.is_finite() && v >= 0.0,
                field,
                v,
                "must be finite and >= 0",
            )?;
        }
        check(
            self.pue.is_finite() && self.pue >= 1.0,
            "metrics.pue",
            self.pue,
            "must be >= 1",
        )?;
        check(
            (1..=60_000).contains(&self.gpu_sample_ms),
            "metrics.gpu_sample_ms",
            self.gpu_sample_ms,
            "must be in [1, 60000]",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_named() {
        let c = MetricsConfig {
            pue: 0.5,
            ..Default::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "metrics.pue");
        let c = MetricsConfig {
            cpu_watts_per_core: -1.0,
            ..Default::default()
        };
        assert_eq!(
            c.validate().unwrap_err().field,
            "metrics.cpu_watts_per_core"
        );
    }
}
