//! Kestrel facade (being written).
pub use kestrel_core as core;
