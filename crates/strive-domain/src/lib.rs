//! Strive's business rules, written once and called by both the central server and the
//! device replica: entity ids and validated values, the enums of the platform, the validation
//! of every mutation, and the one permissions matrix.
//!
//! This crate does no I/O. Optional features only add database derives.

pub mod documents;
pub mod entities;
pub mod enums;
pub mod ids;
pub mod mutations;
pub mod permissions;
pub mod rules;
pub mod validation;
pub mod values;

pub use enums::*;
pub use ids::*;
pub use validation::{FieldError, Valid, ValidationError};
