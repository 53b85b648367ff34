//! Making the backend the plan asks for, sampling its GPU power, and gathering the run's
//! metrics with what the backends report.
use tracing::info;

use super::context::{Run, Scalar};
use super::error::ImagingError;
use crate::config::Backend;
use crate::energy::GpuPowerSampler;
use crate::grid::cpu::CpuGridder;
use crate::grid::gpu::GpuGridder;
use crate::grid::{BackendKind, BackendReport, ImagingBackend};
use crate::metrics::{RunMetrics, Stage};

/// A backend of precision `T`.
pub type BoxedBackend<T> = Box<dyn ImagingBackend<T>>;

/// Makes the backend `plan.backend` asks for. `gpu` takes the GPU of this rank's node-local
/// rank (modulo the devices present) and fails where none is usable; `auto` falls back to the
/// CPU with a notice.
pub fn make_backend<T: Scalar>(run: &Run) -> Result<BoxedBackend<T>, ImagingError> {
    let geom = run.plan.geom.clone();
    let cpu = |geom| -> Result<BoxedBackend<T>, ImagingError> {
        Ok(Box::new(CpuGridder::<T>::new(geom)?))
    };
    let local = || run.dist.node_local_rank();
    let rank = run.dist.rank();
    match run.plan.backend {
        Backend::Cpu => cpu(geom),
        Backend::Gpu => {
            let g = GpuGridder::<T>::new(geom, local()).map_err(ImagingError::GpuSetup)?;
            info!(
                "rank {rank}: GPU backend on {} (node-local rank {})",
                g.device_name(),
                local()
            );
            Ok(Box::new(g))
        }
        Backend::Auto => match GpuGridder::<T>::new(geom.clone(), local()) {
            Ok(g) => {
                info!(
                    "rank {rank}: backend auto: GPU backend on {} (node-local rank {})",
                    g.device_name(),
                    local()
                );
                Ok(Box::new(g))
            }
            Err(e) => {
                info!("rank {rank}: backend auto: {e}; using the CPU backend");
                cpu(geom)
            }
        },
    }
}

/// Starts sampling this rank's GPU power through NVML while it works (`None` on the CPU
/// backend or without NVML).
pub fn start_power_sampler(run: &Run, kind: BackendKind) -> Option<GpuPowerSampler> {
    (kind == BackendKind::Gpu)
        .then(|| {
            GpuPowerSampler::start(
                run.dist.node_local_rank(),
                std::time::Duration::from_millis(run.plan.gpu_sample_ms),
            )
        })
        .flatten()
}

/// Adds the backends' device stage times and GPU memory and the measured GPU energy to the
/// run's times and gathers every rank's metrics to rank 0 (`None` elsewhere).
pub fn gather_metrics(
    run: &mut Run,
    reports: &[BackendReport],
    power: Option<GpuPowerSampler>,
    local_used: u64,
) -> Option<RunMetrics> {
    let kind = reports.first().map_or(BackendKind::Cpu, |r| r.kind);
    let mut mem = None;
    for r in reports {
        if let Some(t) = r.cpu_times {
            run.times.add(Stage::CpuSort, t.sort_s);
            run.times.add(Stage::CpuSpread, t.spread_s);
        }
        if let Some(t) = r.stage_times {
            info!(
                "rank {}: GPU stage times (CUDA events): H2D {:.4} s, bucketing {:.4} s, gridding {:.4} s, FFT {:.4} s, \
                 correction {:.4} s, D2H {:.4} s",
                run.dist.rank(),
                t.h2d_s,
                t.bucket_s,
                t.grid_s,
                t.fft_s,
                t.correct_s,
                t.d2h_s
            );
            for (stage, secs) in [
                (Stage::GpuH2d, t.h2d_s),
                (Stage::GpuBucket, t.bucket_s),
                (Stage::GpuGrid, t.grid_s),
                (Stage::GpuFft, t.fft_s),
                (Stage::GpuCorrect, t.correct_s),
                (Stage::GpuD2h, t.d2h_s),
            ] {
                run.times.add(stage, secs);
            }
        }
        // In use on the device (cuMemGetInfo), so the same for backends sharing a GPU.
        if let Some(b) = r.device_memory_bytes {
            mem = Some(mem.map_or(b, |m: u64| m.max(b)));
        }
    }
    run.times.gpu_mem_bytes = mem;
    run.times.gpu_energy_j = power.and_then(|p| p.finish()).map(|r| r.energy_j);
    RunMetrics::gather(
        run.dist,
        &run.times,
        local_used,
        rayon::current_num_threads(),
        kind.as_str(),
    )
}
