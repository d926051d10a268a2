//! Kestrel's criterion benches live in `benches/` beside this file; this
//! library is empty. Run them with `cargo bench -p kestrel-benches`.
