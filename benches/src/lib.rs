//! Kestrel benches (see benches/).
