//! The memory a run will need, estimated from the plan before anything large is allocated,
//! against what the node has available (`MemAvailable` of `/proc/meminfo`, shared by the
//! ranks on the node): too large an image ends with an error naming the keys, the size, the
//! memory needed and the memory available, instead of an allocation failure or a swap storm.
use super::error::{ImagingError, MemoryShortfall};
use super::plan::{ImagingPlan, Precision};
use crate::dist::Dist;

/// The lower bound of bytes one rank allocates for `plan` (`nchan` channels): the dirty and
/// PSF grids (complex, at the plan's precision), the float64 image planes (and the cube's), and
/// the chunk buffers (read and gridded, twice).
pub fn bytes_per_rank(plan: &ImagingPlan, nchan: usize) -> f64 {
    let g = &plan.geom;
    let complex = match plan.precision {
        Precision::Float32 => 8.0,
        Precision::Float64 => 16.0,
    };
    let grids = 1.0 + f64::from(u8::from(plan.psf));
    let grid = g.nu as f64 * g.nv as f64 * complex * grids;
    let cube = if plan.channels_out > 1 {
        plan.channels_out as f64
    } else {
        0.0
    };
    let planes = grids * (1.0 + cube);
    let image = g.nx as f64 * g.ny as f64 * 8.0 * planes;
    let chunk = plan.chunk_rows as f64 * nchan as f64 * 2.0 * 24.0;
    grid + image + chunk
}

/// `MemAvailable` of `/proc/meminfo`, bytes (`None` where there is none).
pub fn available_bytes() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// Ranks on this node, from the launcher's environment (1 where it does not say).
fn ranks_on_node() -> usize {
    [
        "OMPI_COMM_WORLD_LOCAL_SIZE",
        "MPI_LOCALNRANKS",
        "SLURM_NTASKS_PER_NODE",
    ]
    .iter()
    .find_map(|k| std::env::var(k).ok()?.parse::<usize>().ok())
    .filter(|&n| n > 0)
    .unwrap_or(1)
}

/// Fails when the estimate for all ranks on this node exceeds its available memory.
pub fn check(plan: &ImagingPlan, nchan: usize, dist: &Dist) -> Result<(), ImagingError> {
    let Some(avail) = available_bytes() else {
        return Ok(());
    };
    let need = bytes_per_rank(plan, nchan);
    let local = ranks_on_node().min(dist.size());
    if need * local as f64 > avail {
        return Err(ImagingError::Memory(Box::new(MemoryShortfall {
            nx: plan.geom.nx,
            ny: plan.geom.ny,
            nu: plan.geom.nu,
            nv: plan.geom.nv,
            precision: plan.precision.as_str().to_string(),
            need_gib: need / f64::from(1u32 << 30),
            ranks: local,
            avail_gib: avail / f64::from(1u32 << 30),
        })));
    }
    Ok(())
}
