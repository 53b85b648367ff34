//! `rimager simulate`: every rank simulates its share of rows ([`crate::simulate`]) and writes
//! them into one visibility file in turn; rank 0 creates it under a temporary name and
//! renames it once all are done, so no half-written file appears under the final name.
use tracing::info;

use crate::config::Config;
use crate::dist::Dist;
use crate::output::OutputError;
use crate::simulate::{SimError, Simulator};
use crate::vis::h5::{VisFileError, VisWriter};
use crate::vis::row_chunks;

/// Errors of `rimager simulate`.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// The observation could not be set up.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// Writing the visibility file failed.
    #[error(transparent)]
    Vis(#[from] VisFileError),
    /// Renaming the finished file failed.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The output directory could not be created.
    #[error("cannot create output directory {path}")]
    OutputDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Runs `rimager simulate`: every rank simulates its share of rows and writes them into one
/// file in turn (rank 0 creates it under a temporary name and renames it once all are done).
pub fn run_simulate(cfg: &Config, dist: &Dist) -> Result<(), SimulateError> {
    let t0 = std::time::Instant::now();
    let sim = Simulator::new(&cfg.simulate)?;
    let meta = sim.meta();
    let out = &cfg.simulate.output;
    if dist.is_root() {
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| SimulateError::OutputDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
    }
    // Every rank writes to rank 0's temporary file.
    let mut id = [f64::from(std::process::id())];
    dist.broadcast_f64(&mut id);
    let tmp = crate::output::temp_path_with_id(out, id[0] as u32);
    // Rank 0 owns the file: removed on a signal (the SIGTERM of an abort included) or error.
    let _guard = dist
        .is_root()
        .then(|| crate::output::cleanup::TempFile::new(&tmp));
    if dist.is_root() {
        VisWriter::create(&tmp, &meta, false)?;
    }
    dist.barrier();
    let rows = dist.my_rows(meta.nrow);
    for r in 0..dist.size() {
        if r == dist.rank() {
            let w = VisWriter::open_rw(&tmp)?;
            for r in row_chunks(rows.clone(), cfg.input.chunk_rows) {
                w.write_rows(&sim.chunk(r))?;
            }
        }
        dist.barrier();
    }
    if dist.is_root() {
        crate::output::commit_temp(&tmp, out)?;
        info!(
            "wrote {}: {} rows x {} channels ({} visibilities, {}) in {:.2} s on {} rank(s)",
            out.display(),
            meta.nrow,
            meta.nchan(),
            meta.nrow * meta.nchan(),
            meta.telescope,
            t0.elapsed().as_secs_f64(),
            dist.size()
        );
    }
    dist.barrier();
    Ok(())
}
