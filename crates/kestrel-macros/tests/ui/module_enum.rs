use kestrel_macros::Module;
use kestrel_modules::Predict;

#[derive(Module)]
enum Strategy {
    Fast(Predict),
    Careful(Predict),
}

fn main() {}
