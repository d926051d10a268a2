//! The two-level LM response cache (being written).
