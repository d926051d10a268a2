use kestrel_macros::Signature;

#[derive(Signature)]
struct Qa {
    #[input(desc = 42)]
    question: String,
    #[output]
    _answer: String,
    #[output(prefix = "A:", prefix = "B:")]
    other: String,
}

fn main() {}
