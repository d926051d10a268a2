use kestrel_macros::Signature;

#[derive(Signature)]
struct Qa {
    #[input(default = "x")]
    question: String,
    #[output(default)]
    answer: String,
}

fn main() {}
