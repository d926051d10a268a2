//! Fuzz target: the saved-program loader (`ProgramState::load_state`, DSPy's
//! JSON state) for a Predict and a ChainOfThought. Any JSON must load or
//! fail with a typed error; a state that loads must dump and load again.

#![no_main]

use kestrel_core::SignatureSpec;
use kestrel_modules::{ChainOfThought, Predict, ProgramState};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let Ok(spec) = SignatureSpec::parse("question, context: list[str] -> answer: int") else { return };
    let mut predict = Predict::with_spec(spec.clone());
    if predict.load_state(&value).is_ok() {
        let dumped = predict.dump_state();
        let mut again = Predict::with_spec(spec.clone());
        if let Err(e) = again.load_state(&dumped) {
            panic!("a loaded Predict state does not load again: {e}\n{dumped}");
        }
    }
    let Ok(mut cot) = ChainOfThought::with_spec(spec) else { return };
    let _ = cot.load_state(&value);
});
