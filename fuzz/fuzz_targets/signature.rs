//! Fuzz target: the signature-string parser (`SignatureSpec::parse`, with
//! its Python type annotations). Any input must give a spec or a typed
//! error, never a panic; a parsed spec must then format a prompt with both
//! adapters (an error is fine, a panic is not).

#![no_main]

use kestrel_core::{Adapter, ChatAdapter, Example, JsonAdapter, SignatureSpec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(spec) = SignatureSpec::parse(text) {
        let inputs = Example::default();
        let _ = ChatAdapter.format(&spec, &[], &inputs);
        let _ = JsonAdapter.format(&spec, &[], &inputs);
    }
});
