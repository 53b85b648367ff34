//! HDF5 visibility file format.
