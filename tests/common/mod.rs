//! Helpers shared by the integration tests. Each test binary uses a subset of them.
#![allow(dead_code)]

pub mod cli;
pub mod data;
pub mod image;
pub mod python;
