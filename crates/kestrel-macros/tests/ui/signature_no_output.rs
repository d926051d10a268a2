use kestrel_macros::Signature;

/// Only inputs: nothing for the LM to produce.
#[derive(Signature)]
struct OnlyInputs {
    #[input]
    question: String,
}

fn main() {}
