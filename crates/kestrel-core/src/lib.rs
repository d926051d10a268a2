//! Kestrel core: the data model every other Kestrel crate stands on.
//!
//! - [`SignatureSpec`] / [`FieldSpec`] / [`FieldType`]: what an LM step takes and
//!   produces, parsed from DSPy's string syntax ([`SignatureSpec::parse`]) or
//!   built by `#[derive(Signature)]` (see [`Signature`]).
//! - [`Example`] and [`Prediction`]: ordered field maps.
//! - [`adapter`]: [`ChatAdapter`], [`JsonAdapter`] and [`XmlAdapter`], which turn a signature,
//!   demos and inputs into chat messages exactly as DSPy 3.4.1 does, and parse
//!   LM replies back into typed field values.
//! - [`trace`]: the records a predictor call leaves behind while tracing is on.
//!
//! Invariant: this crate knows no HTTP, no async runtime and no LM provider.
//! It is pure data and text.

pub mod adapter;
pub mod content;
pub mod custom_type;
mod custom_values;
pub mod error;
pub mod example;
pub mod field;
mod image;
pub mod message;
pub mod pyrandom;
pub mod schema_type;
pub mod signature;
mod signature_parse;
pub mod text;
pub mod trace;
mod type_parse;
pub mod types;

pub use adapter::{Adapter, ChatAdapter, JsonAdapter, OutputStructure, StructuredField, ValueShape, XmlAdapter};
pub use content::ContentPart;
pub use custom_type::CustomType;
pub use custom_values::{History, ToolCall, ToolCalls, ToolSpec};
pub use error::{AdapterParseError, CoreError, Result};
pub use example::{Example, Fields, Prediction};
pub use field::{FieldSpec, Io};
pub use image::Image;
pub use message::{Message, Role, Usage};
pub use pyrandom::PyRandom;
#[doc(hidden)]
pub use schema_type::__private;
pub use schema_type::field_type_of;
pub use signature::{Dynamic, Signature, SignatureSpec, SignatureTypes};
pub use text::normalize_text;
pub use trace::{PredictorId, TraceEntry};
pub use types::FieldType;
