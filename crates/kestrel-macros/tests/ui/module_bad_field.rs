use kestrel_macros::Module;
use kestrel_modules::Predict;

#[derive(Module)]
struct Program {
    step: Predict,
    #[module(ignore)]
    other: Predict,
}

fn main() {}
