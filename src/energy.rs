//! Energy and CO2 estimate of a run, and GPU power sampling through NVML.
//!
//! The model is the one of the Green Algorithms calculator (Lannelongue, Grealey & Inouye,
//! "Green Algorithms: Quantifying the Carbon Footprint of Computation", Adv. Sci. 8, 2100707,
//! 2021): energy = wall time × (CPU cores × watts per core + GPU power) × PUE, and
//! CO2 = energy × carbon intensity of the electricity. GPU energy is **measured** where NVML
//! is available (the power of the rank's GPU sampled by a background thread during the run,
//! integrated with the trapezoidal rule); elsewhere it is estimated from `metrics.gpu_watts`.
//! CPU energy is always an estimate (no portable power counter without privileges).
//!
//! NVML (`libnvidia-ml.so`) is loaded at run time by `nvml-wrapper`; where it is missing
//! the sampler is simply not started: nothing fails and nothing panics.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::MetricsConfig;

/// The run's energy and CO2 estimate, with the assumptions it used.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct EnergyEstimate {
    /// CPU cores × wall time, hours.
    pub core_hours: f64,
    /// GPUs × wall time, hours.
    pub gpu_hours: f64,
    /// CPU energy, J (estimate: cores × `cpu_watts_per_core` × wall time).
    pub cpu_energy_j: f64,
    /// GPU energy, J (NVML measurement where every GPU rank had one, else estimate).
    pub gpu_energy_j: f64,
    /// Whether `gpu_energy_j` was measured by NVML.
    pub gpu_energy_measured: bool,
    /// (CPU + GPU energy) × PUE, kWh.
    pub energy_kwh: f64,
    /// `energy_kwh × kg_co2_per_kwh`, kg CO2e.
    pub co2_kg: f64,
    /// The assumptions (the `[metrics]` section).
    pub assumptions: MetricsConfig,
}

/// Energy and CO2 of a run of `wall_s` seconds on `cores` CPU cores and `gpus` GPUs;
/// `gpu_energy_j` is the measured GPU energy summed over ranks (`None` → estimated).
pub fn estimate(
    wall_s: f64,
    cores: usize,
    gpus: usize,
    gpu_energy_j: Option<f64>,
    cfg: &MetricsConfig,
) -> EnergyEstimate {
    let cpu_energy_j = cores as f64 * cfg.cpu_watts_per_core * wall_s;
    let (gpu_j, measured) = match gpu_energy_j {
        Some(j) if gpus > 0 => (j, true),
        _ => (gpus as f64 * cfg.gpu_watts * wall_s, false),
    };
    let energy_kwh = (cpu_energy_j + gpu_j) * cfg.pue / 3.6e6;
    EnergyEstimate {
        core_hours: cores as f64 * wall_s / 3600.0,
        gpu_hours: gpus as f64 * wall_s / 3600.0,
        cpu_energy_j,
        gpu_energy_j: gpu_j,
        gpu_energy_measured: measured,
        energy_kwh,
        co2_kg: energy_kwh * cfg.kg_co2_per_kwh,
        assumptions: cfg.clone(),
    }
}

/// Energy of power samples `(seconds since start, watts)` by the trapezoidal rule, J.
pub fn integrate_power(samples: &[(f64, f64)]) -> f64 {
    samples
        .windows(2)
        .map(|w| 0.5 * (w[0].1 + w[1].1) * (w[1].0 - w[0].0))
        .sum()
}

/// What the GPU power sampler measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PowerReport {
    /// Energy over the sampled interval, J.
    pub energy_j: f64,
    /// Number of samples.
    pub samples: usize,
    /// Highest sampled power, W.
    pub max_w: f64,
}

/// A background thread sampling one GPU's power through NVML.
pub struct GpuPowerSampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<PowerReport>,
}

impl GpuPowerSampler {
    /// Starts sampling NVML device `index` (modulo the device count) every `period`; `None`
    /// where NVML or the device is unavailable (no NVIDIA driver, no GPU).
    pub fn start(index: usize, period: Duration) -> Option<Self> {
        let nvml = nvml_wrapper::Nvml::init().ok()?;
        let count = nvml.device_count().ok()? as usize;
        if count == 0 {
            return None;
        }
        let index = (index % count) as u32;
        // Check once here, so that a device without power readings gives `None`.
        nvml.device_by_index(index).ok()?.power_usage().ok()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut samples = Vec::new();
            let t0 = Instant::now();
            let Ok(dev) = nvml.device_by_index(index) else {
                return PowerReport::default();
            };
            loop {
                let done = flag.load(Ordering::Relaxed);
                if let Ok(mw) = dev.power_usage() {
                    samples.push((t0.elapsed().as_secs_f64(), f64::from(mw) / 1e3));
                }
                if done {
                    break;
                }
                std::thread::park_timeout(period);
            }
            PowerReport {
                energy_j: integrate_power(&samples),
                samples: samples.len(),
                max_w: samples.iter().map(|s| s.1).fold(0.0, f64::max),
            }
        });
        Some(Self { stop, handle })
    }

    /// Stops sampling (after one last sample) and returns what was measured.
    pub fn finish(self) -> Option<PowerReport> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.thread().unpark();
        self.handle.join().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_arithmetic() {
        let cfg = MetricsConfig {
            cpu_watts_per_core: 10.0,
            gpu_watts: 500.0,
            pue: 1.5,
            kg_co2_per_kwh: 0.4,
            gpu_sample_ms: 100,
        };
        // 4 cores for 360 s: 0.4 core-hours, 14 400 J.
        let e = estimate(360.0, 4, 0, None, &cfg);
        assert!((e.core_hours - 0.4).abs() < 1e-12);
        assert_eq!(e.gpu_hours, 0.0);
        assert!((e.cpu_energy_j - 14_400.0).abs() < 1e-9);
        assert_eq!(e.gpu_energy_j, 0.0);
        let kwh = 14_400.0 * 1.5 / 3.6e6;
        assert!((e.energy_kwh - kwh).abs() < 1e-15);
        assert!((e.co2_kg - kwh * 0.4).abs() < 1e-15);
        // Two GPUs, not measured: 2 × 500 W × 360 s.
        let e = estimate(360.0, 4, 2, None, &cfg);
        assert!(!e.gpu_energy_measured);
        assert!((e.gpu_energy_j - 360_000.0).abs() < 1e-9);
        // Measured energy replaces the estimate.
        let e = estimate(360.0, 4, 2, Some(1234.0), &cfg);
        assert!(e.gpu_energy_measured);
        assert_eq!(e.gpu_energy_j, 1234.0);
        assert!((e.gpu_hours - 0.2).abs() < 1e-12);
    }

    #[test]
    fn trapezoid_integrates_a_ramp_exactly() {
        // Power rising linearly 100 → 300 W over 2 s: 400 J.
        let s: Vec<(f64, f64)> = (0..=20)
            .map(|i| (i as f64 * 0.1, 100.0 + 100.0 * i as f64 * 0.1))
            .collect();
        assert!((integrate_power(&s) - 400.0).abs() < 1e-9);
        assert_eq!(integrate_power(&s[..1]), 0.0);
    }

    #[test]
    fn sampler_without_nvml_is_none_or_measures() {
        // On machines without an NVIDIA driver this must be None (and must not panic).
        if let Some(s) = GpuPowerSampler::start(0, Duration::from_millis(5)) {
            std::thread::sleep(Duration::from_millis(30));
            let r = s.finish().expect("sampler thread");
            assert!(r.samples >= 2 && r.energy_j >= 0.0);
        }
    }
}
