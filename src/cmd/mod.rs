//! The commands besides `image` ([`crate::imaging::run_image`]): `simulate`, `verify` and
//! `info`.
pub mod info;
pub mod simulate;
pub mod verify;
