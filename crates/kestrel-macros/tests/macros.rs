//! `#[derive(Signature)]` and `#[derive(Module)]`, end to end (one test
//! binary; one module per area), plus the compile-error cases in `tests/ui`.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod macros {
    pub mod field_types;
    pub mod module;
    pub mod signature;
}

#[test]
fn compile_errors_read_well() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
