//! Opening the visibilities `[input]` names: an HDF5 file or the in-memory simulation.
use super::error::ImagingError;
use crate::config::{Config, Source};
use crate::simulate::read::SimulatedVis;
use crate::simulate::Simulator;
use crate::vis::h5::VisReader;
use crate::vis::VisRead;

/// Opens the source the configuration names.
pub fn open(cfg: &Config) -> Result<Box<dyn VisRead>, ImagingError> {
    Ok(match cfg.input.source {
        Source::File => Box::new(VisReader::open(&cfg.input.path)?),
        Source::Simulate => Box::new(SimulatedVis::new(Simulator::new(&cfg.simulate)?)),
    })
}
