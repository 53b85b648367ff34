//! The simulator as a [`VisRead`] source (`input.source = "simulate"`): rows are computed
//! when read, so nothing is stored.
use std::ops::Range;

use super::Simulator;
use crate::vis::{VisChunk, VisError, VisMeta, VisRead, Want};

/// A [`Simulator`] with its metadata, read like a file.
pub struct SimulatedVis {
    sim: Simulator,
    meta: VisMeta,
}

impl SimulatedVis {
    /// Wraps `sim`.
    pub fn new(sim: Simulator) -> Self {
        let meta = sim.meta();
        Self { sim, meta }
    }

    /// The simulator.
    pub fn simulator(&self) -> &Simulator {
        &self.sim
    }
}

impl VisRead for SimulatedVis {
    fn name(&self) -> String {
        "simulated observation".into()
    }

    fn meta(&self) -> &VisMeta {
        &self.meta
    }

    /// With [`Want::NoVis`] the measurement equation is skipped.
    fn read(&self, rows: Range<usize>, want: Want) -> Result<VisChunk, VisError> {
        Ok(match want {
            Want::All => self.sim.chunk(rows),
            Want::NoVis => self.sim.uvw_chunk(rows),
        })
    }

    fn read_uvw(&self, rows: Range<usize>) -> Result<Vec<[f64; 3]>, VisError> {
        Ok(self.sim.uvw_chunk(rows).uvw_m)
    }

    fn is_simulation(&self) -> bool {
        true
    }
}
