//! The memory a run will need, estimated from the plan before anything large is allocated,
//! against what the node has available (`MemAvailable` of `/proc/meminfo`, shared by the
//! ranks on the node): too large an image ends with an error naming the keys, the size, the
//! memory needed and the memory available, instead of an allocation failure or a swap storm.
use super::error::{ImagingError, MemoryShortfall};
use super::plan::{ImagingPlan, Precision};
use crate::dist::Dist;

/// What the memory estimate needs to know of the data: channels, rows of the whole data set
/// and ranks sharing them.
#[derive(Clone, Copy, Debug)]
pub struct DataSize {
    /// Channels per row.
    pub nchan: usize,
    /// Rows of the whole data set (all ranks).
    pub nrow: usize,
    /// Ranks the rows are split over.
    pub ranks: usize,
}

/// The lower bound of bytes one rank allocates for `plan`: the image planes and the chunk
/// buffers, and the grids — with the backends, a full dirty grid (and PSF grid) per rank;
/// with record routing ([`ImagingPlan::routes`]), [`routed_bytes`] instead.
pub fn bytes_per_rank(plan: &ImagingPlan, data: DataSize) -> f64 {
    let g = &plan.geom;
    let complex = match plan.precision {
        Precision::Float32 => 8.0,
        Precision::Float64 => 16.0,
    };
    let grids = 1.0 + f64::from(u8::from(plan.psf));
    let grid = if plan.routes(data.ranks) {
        routed_bytes(plan, data)
    } else {
        g.nu as f64 * g.nv as f64 * complex * grids
    };
    let cube = if plan.channels_out > 1 {
        plan.channels_out as f64
    } else {
        0.0
    };
    let planes = grids * (1.0 + cube);
    let image = g.nx as f64 * g.ny as f64 * 8.0 * planes;
    let chunk = plan.chunk_rows as f64 * data.nchan as f64 * 2.0 * 24.0;
    grid + image + chunk
}

/// Received records per rank and round in the plain `route` mode (as
/// `super::routed`'s default).
const ROUND_BYTES: f64 = (16u64 << 20) as f64;

/// The peak of record routing on one rank ([`super::routed`]): every product's records of
/// this rank's samples are held until routed (a record: tile, offsets, footprint position and
/// value, 24 bytes in float32, 40 in float64, per visibility and product); while one product
/// is routed and gridded, the send buffer, the records received and their sorted copy — all
/// of them in reproducible mode (one exchange), a round of at most [`ROUND_BYTES`] received
/// in plain `route` mode — and the rank's slab (`nv / ranks` rows of `nu` cells, a balanced
/// layout may give a rank more); then the slab FFT's buffers (the slab's kept columns twice
/// and the transposed block, `3 nx nv / ranks` cells).
pub fn routed_bytes(plan: &ImagingPlan, data: DataSize) -> f64 {
    let g = &plan.geom;
    let (complex, record) = match plan.precision {
        Precision::Float32 => (8.0, 24.0),
        Precision::Float64 => (16.0, 40.0),
    };
    let ranks = data.ranks.max(1) as f64;
    let products = 1.0 + f64::from(u8::from(plan.psf));
    let own = data.nrow as f64 * data.nchan as f64 / ranks * record;
    let moving = if plan.reproducible || data.ranks <= 1 {
        own
    } else {
        own.min(ROUND_BYTES)
    };
    // Send buffer and received records (not on one rank), and the sorted copy.
    let copies = if data.ranks <= 1 { 1.0 } else { 3.0 };
    let slab = g.nu as f64 * g.nv as f64 / ranks * complex;
    let gridding = own * products + moving * copies + slab;
    let transform =
        own * (products - 1.0) + slab + 3.0 * g.nx as f64 * g.nv as f64 / ranks * complex;
    gridding.max(transform)
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
pub fn check(plan: &ImagingPlan, data: DataSize, dist: &Dist) -> Result<(), ImagingError> {
    let Some(avail) = available_bytes() else {
        return Ok(());
    };
    let need = bytes_per_rank(plan, data);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::plan::ImageParams;
    use crate::imaging::reduce::Reduction;

    fn plan(n: usize, reduction: Reduction, reproducible: bool) -> ImagingPlan {
        let params = ImageParams {
            nx: n,
            ny: n,
            cell_rad: 1e-5,
            epsilon: 1e-4,
            tile: 32,
        };
        let geom = params.grid_2d(2_000_000).unwrap();
        let mut p = ImagingPlan::for_geometry(geom, Precision::Float32);
        p.psf = true;
        p.reduction = reduction;
        p.reproducible = reproducible;
        p
    }

    #[test]
    fn routing_needs_a_slab_and_records_not_full_grids() {
        let data = |ranks| DataSize {
            nchan: 8,
            nrow: 250_000,
            ranks,
        };
        let slab = plan(4096, Reduction::Slab, false);
        let route = plan(4096, Reduction::Route, false);
        let repro = plan(4096, Reduction::Route, true);
        let full = bytes_per_rank(&slab, data(4));
        let routed = bytes_per_rank(&route, data(4));
        assert!(routed < full, "{routed:e} vs {full:e}");
        // The grids' part: a quarter of each grid and the records, against two full grids.
        let grids = (route.geom.nu * route.geom.nv * 8 * 2) as f64;
        let r = routed_bytes(&route, data(4));
        assert!(r < 0.5 * grids, "{r:e} vs {grids:e}");
        // Reproducible holds every received record at once; plain route a round of them.
        // (1e7 rows × 8 channels: more than a round per rank.)
        let big = DataSize {
            nrow: 10_000_000,
            ..data(4)
        };
        assert!(bytes_per_rank(&repro, big) > bytes_per_rank(&route, big));
        // One rank: route is the backends' engine, reproducible routes.
        assert_eq!(
            bytes_per_rank(&route, data(1)),
            bytes_per_rank(&slab, data(1))
        );
        let one = bytes_per_rank(&repro, data(1));
        assert!(one > 2_000_000.0 * 24.0, "records counted: {one:e}");
        // More ranks: less per rank.
        assert!(bytes_per_rank(&route, data(8)) < routed);
    }
}
