//! kestrel-core's integration tests (one binary; one module per area).

mod fixture_support;
mod fixtures_format;
mod fixtures_parse;
mod signatures;
