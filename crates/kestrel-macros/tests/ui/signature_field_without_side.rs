use kestrel_macros::Signature;

#[derive(Signature)]
struct Qa {
    #[input]
    question: String,
    context: Vec<String>,
    #[output]
    answer: String,
}

fn main() {}
